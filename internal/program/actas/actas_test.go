package actas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// iamServer plays the IAM API's projects.serviceAccounts.testIamPermissions:
// answer(account, n) gives the HTTP status of the n-th call (1-based) for
// an account and whether actAs is granted. It fails the test on any other
// request.
type iamServer struct {
	t      *testing.T
	url    string
	answer func(account string, n int) (status int, granted bool)

	mu    sync.Mutex
	calls map[string]int
}

func newIAMServer(t *testing.T, answer func(account string, n int) (int, bool)) *iamServer {
	t.Helper()
	s := &iamServer{t: t, answer: answer, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *iamServer) serve(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/v1/projects/-/serviceAccounts/", ":testIamPermissions"
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, prefix) || !strings.HasSuffix(r.URL.Path, suffix) {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.Error(w, "unexpected", http.StatusBadRequest)
		return
	}
	if h := r.Header.Get("Authorization"); h != "" {
		s.t.Errorf("the endpoint override sent credentials: %q", h)
	}
	var body struct {
		Permissions []string `json:"permissions"`
	}
	err := json.NewDecoder(r.Body).Decode(&body)
	if errors.Is(err, io.ErrUnexpectedEOF) || r.Context().Err() != nil {
		return // the client gave up mid-request (the bound passed)
	}
	if err != nil || len(body.Permissions) != 1 || body.Permissions[0] != Permission {
		s.t.Errorf("request body asks for %v (%v), want [%s]", body.Permissions, err, Permission)
	}
	account := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, prefix), suffix)
	s.mu.Lock()
	s.calls[account]++
	n := s.calls[account]
	s.mu.Unlock()
	status, ok := s.answer(account, n)
	if status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"scripted %d","status":"SCRIPTED"}}`, status, status)
		return
	}
	resp := map[string]any{}
	if ok {
		resp["permissions"] = []string{Permission}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *iamServer) count(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[account]
}

// checker is the real gate (FromEnv) pointed at the server, fast.
func checker(t *testing.T, url string, timeout time.Duration) *Checker {
	t.Helper()
	env := map[string]string{EndpointEnv: url, IntervalEnv: "5ms"}
	c, err := FromEnv(func(k string) string { return env[k] }, Provider{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 5*time.Millisecond {
		t.Fatalf("%s not applied: interval %s", IntervalEnv, c.Interval)
	}
	c.Timeout = timeout
	c.DeployersKey = "asyncjobs:deployers"
	return c
}

const account = "worker-run@p.iam.gserviceaccount.com"

// script answers the n-th call with steps[n-1], the last step repeating.
// A step is "yes", "no" or an HTTP status code.
func script(steps ...string) func(string, int) (int, bool) {
	return func(_ string, n int) (int, bool) {
		step := steps[min(n, len(steps))-1]
		switch step {
		case "yes":
			return http.StatusOK, true
		case "no":
			return http.StatusOK, false
		}
		var code int
		if _, err := fmt.Sscan(step, &code); err != nil {
			panic(fmt.Sprintf("script step %q: %v", step, err))
		}
		return code, false
	}
}

func TestWaitPasses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []string
		calls int
	}{
		{"already propagated: two confirming calls", []string{"yes"}, 2},
		{"appears after three calls", []string{"no", "no", "no", "yes"}, 5},
		{"a flap restarts the run", []string{"yes", "no", "yes"}, 4},
		{"5xx then success", []string{"503", "500", "yes"}, 4},
		{"429 inside a run does not break it", []string{"yes", "429", "yes"}, 3},
		{"account not visible yet (404)", []string{"404", "yes"}, 3},
		{"caller cannot get the account yet (403)", []string{"403", "403", "yes"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newIAMServer(t, script(tc.steps...))
			var logged []string
			c := checker(t, srv.url, 10*time.Second)
			c.Log = func(m string) { logged = append(logged, m) }
			if err := c.Wait(context.Background(), account); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if got := srv.count(account); got != tc.calls {
				t.Errorf("%d calls, want %d", got, tc.calls)
			}
			negative := false
			for _, s := range tc.steps {
				negative = negative || s == "no" || s == "403" || s == "404"
			}
			if negative != (len(logged) == 1) || len(logged) > 1 {
				t.Errorf("logged %q (a negative answer: %v); want one line exactly when it had to wait", logged, negative)
			}
		})
	}
}

func TestWaitGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []string
		want  []string
	}{
		{"never granted", []string{"no"}, []string{"lacks " + Permission}},
		{"testIamPermissions refused", []string{"403"}, []string{"cannot even get the account", "scripted 403"}},
		{"IAM API down", []string{"503"}, []string{"kept failing", "scripted 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newIAMServer(t, script(tc.steps...))
			c := checker(t, srv.url, 150*time.Millisecond)
			start := time.Now()
			err := c.Wait(context.Background(), account)
			if err == nil {
				t.Fatal("Wait passed")
			}
			if took := time.Since(start); took < 150*time.Millisecond || took > 5*time.Second {
				t.Errorf("gave up after %s, want the 150ms bound", took)
			}
			identity := "the caller of " + srv.url
			for _, w := range append(tc.want,
				"service account "+account,
				identity+" still may not act as",
				"add "+identity+" to asyncjobs:deployers",
				"grant it "+Role+" on "+account,
				PropagationURL,
			) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if srv.count(account) < 3 {
				t.Errorf("only %d calls within the bound", srv.count(account))
			}
		})
	}
}

func TestWaitFailsAtOnceOnABadRequest(t *testing.T) {
	srv := newIAMServer(t, script("400"))
	err := checker(t, srv.url, 10*time.Second).Wait(context.Background(), account)
	if err == nil || !strings.Contains(err.Error(), "scripted 400") {
		t.Fatalf("Wait: %v, want the 400", err)
	}
	if n := srv.count(account); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestOneCheckPerAccount: resources that wait for the same account share
// one check; another account gets its own.
func TestOneCheckPerAccount(t *testing.T) {
	srv := newIAMServer(t, script("no", "yes"))
	c := checker(t, srv.url, 10*time.Second)
	other := "push@p.iam.gserviceaccount.com"
	var wg sync.WaitGroup
	var failed atomic.Int32
	for _, a := range []string{account, account, account, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Wait(context.Background(), a); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := c.Wait(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	if failed.Load() > 0 {
		return
	}
	if n, m := srv.count(account), srv.count(other); n != 3 || m != 3 {
		t.Errorf("calls: %d for %s, %d for %s; want 3 each (no, yes, yes)", n, account, m, other)
	}
}

func TestWaitStopsWithTheContext(t *testing.T) {
	srv := newIAMServer(t, script("no"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := checker(t, srv.url, time.Minute).Wait(ctx, account)
	if err == nil || !strings.Contains(err.Error(), "stopped waiting") {
		t.Fatalf("Wait: %v, want it stopped by the context", err)
	}
}

func TestFromEnvRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"remote endpoint", map[string]string{EndpointEnv: "https://iam.example.com"}, "only loopback hosts"},
		{"endpoint without scheme", map[string]string{EndpointEnv: "127.0.0.1:8080"}, "want an http"},
		{"bad interval", map[string]string{IntervalEnv: "soon"}, IntervalEnv},
		{"zero interval", map[string]string{IntervalEnv: "0s"}, IntervalEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromEnv(func(k string) string { return tc.env[k] }, Provider{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FromEnv: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestDefaults: without knobs the gate polls every few seconds for the
// documented 7 minutes and wants two answers in a row.
func TestDefaults(t *testing.T) {
	c, err := FromEnv(func(string) string { return "" }, Provider{})
	if err != nil {
		t.Fatal(err)
	}
	interval, timeout, confirmations := c.settings()
	if interval != 5*time.Second || timeout != 7*time.Minute || confirmations != 2 {
		t.Errorf("defaults: every %s for %s, %d in a row", interval, timeout, confirmations)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"key file", `{"type":"service_account","client_email":"ci@p.iam.gserviceaccount.com"}`, "serviceAccount:ci@p.iam.gserviceaccount.com"},
		{"workload identity federation", `{"type":"external_account","service_account_impersonation_url":` +
			`"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/pulumi-dev@ci.iam.gserviceaccount.com:generateAccessToken"}`,
			"serviceAccount:pulumi-dev@ci.iam.gserviceaccount.com"},
		{"gcloud user", `{"type":"authorized_user","client_id":"x"}`, "your user account"},
		{"federation without a service account", `{"type":"external_account"}`, "the identity of your external_account credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeJSON([]byte(tc.json)); !strings.Contains(got, tc.want) {
				t.Errorf("describe: %q, want %q", got, tc.want)
			}
		})
	}
}
