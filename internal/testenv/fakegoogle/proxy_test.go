package fakegoogle

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestLayerPlumbing: Env names the proxy and the CA; requests tunnel over
// TLS (HTTP/1.1, a certificate of the layer's CA for the host asked for)
// to the mock, which answers them; only CONNECT to Google's hosts is
// served; every request is recorded.
func TestLayerPlumbing(t *testing.T) {
	g := start(t, Options{})
	env := map[string]string{}
	for _, kv := range g.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["HTTPS_PROXY"] != "http://"+g.proxy.addr() {
		t.Errorf("HTTPS_PROXY = %q, want http://%s", env["HTTPS_PROXY"], g.proxy.addr())
	}
	pemBytes, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatalf("SSL_CERT_FILE: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("SSL_CERT_FILE holds no certificate")
	}

	c := g.Client(deployer)
	req, err := http.NewRequest(http.MethodGet, "https://cloudresourcemanager.googleapis.com/v1/projects/"+project, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" || resp.TLS == nil {
		t.Fatalf("GET project: %d %s (TLS %v), want 200 over HTTP/1.1 and TLS", resp.StatusCode, resp.Proto, resp.TLS != nil)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "cloudresourcemanager.googleapis.com", Roots: pool}); err != nil {
		t.Errorf("the layer's certificate does not verify against SSL_CERT_FILE: %v", err)
	}
	if got := lastRule(t, g, http.MethodGet, "/v1/projects/"+project); got != "" {
		t.Errorf("a request the mock answered is recorded with rule %q", got)
	}

	// Another host gets its own certificate, through the same CA.
	a := do(t, c, http.MethodGet, "pubsub.googleapis.com", "/v1/projects/"+project+"/topics/none", nil)
	must(t, "GET a missing topic", a, http.StatusNotFound)

	// Only Google's hosts, only CONNECT.
	for _, tc := range []struct {
		name, request string
		want          int
	}{
		{"CONNECT elsewhere", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", http.StatusForbidden},
		{"plain proxying", "GET http://pubsub.googleapis.com/v1/x HTTP/1.1\r\nHost: pubsub.googleapis.com\r\n\r\n", http.StatusMethodNotAllowed},
	} {
		conn, err := net.Dial("tcp", g.proxy.addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(tc.request)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_ = resp.Body.Close()
		_ = conn.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}

	// A client that sends its TLS hello without waiting for the CONNECT
	// answer is served too.
	conn, err := net.Dial("tcp", g.proxy.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: "iam.googleapis.com", RootCAs: pool, MinVersion: tls.VersionTLS12})
	if _, err := conn.Write([]byte("CONNECT iam.googleapis.com:443 HTTP/1.1\r\nHost: iam.googleapis.com:443\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	connectResp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || connectResp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v", connectResp, err)
	}
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through the tunnel: %v", err)
	}
}

// TestAuthentication: the layer answers Google's 401 for a request without
// a token it issued; the mock takes anything.
func TestAuthentication(t *testing.T) {
	g := start(t, Options{})
	path := "/v1/projects/" + project
	anon := g.anonymousClient()
	for _, tc := range []struct {
		name   string
		header string
		want   int
		msg    string
	}{
		{"no token", "", http.StatusUnauthorized, "Request is missing required authentication credential"},
		{"a token the layer never issued", "Bearer made-up", http.StatusUnauthorized, "Request had invalid authentication credentials"},
		{"the deployer's token", "Bearer " + g.Token(deployer), http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "https://cloudresourcemanager.googleapis.com"+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := anon.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				if got := lastRule(t, g, http.MethodGet, path); got != "authentication" {
					t.Errorf("rule %q, want authentication", got)
				}
				a := answer{status: resp.StatusCode}
				var b strings.Builder
				_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
				a.raw = b.String()
				a.obj, _ = decodeObject([]byte(a.raw))
				wantError(t, tc.name, a, http.StatusUnauthorized, "UNAUTHENTICATED", tc.msg)
			}
		})
	}
	t.Run("the mock alone", func(t *testing.T) {
		// The mock never looks at credentials.
		must(t, "GET project from the mock without a token", direct(t, g, http.MethodGet, "cloudresourcemanager.googleapis.com", path, nil), http.StatusOK)
	})
}

// TestTokenInfo: userinfo and tokeninfo say who a token stands for; the
// mock says test@example.com whoever asks.
func TestTokenInfo(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	const email = "pulumi-dev@asyncjobs-ci.iam.gserviceaccount.com"
	for _, tc := range []struct{ host, path string }{
		{"openidconnect.googleapis.com", "/v1/userinfo"},
		{"oauth2.googleapis.com", "/tokeninfo?access_token=" + g.Token(deployer)},
		{"www.googleapis.com", "/oauth2/v3/tokeninfo?access_token=" + g.Token(deployer)},
	} {
		a := must(t, tc.host, do(t, c, http.MethodGet, tc.host, tc.path, nil), http.StatusOK)
		if a.obj["email"] != email {
			t.Errorf("%s%s: email %v, want %s", tc.host, tc.path, a.obj["email"], email)
		}
	}
	a := do(t, g.anonymousClient(), http.MethodGet, "oauth2.googleapis.com", "/tokeninfo?access_token=made-up", nil)
	if a.status != http.StatusBadRequest || a.obj["error"] != "invalid_token" {
		t.Errorf("tokeninfo of an unknown token: %d %s, want 400 invalid_token", a.status, a.raw)
	}
	if got := direct(t, g, http.MethodGet, "openidconnect.googleapis.com", "/v1/userinfo", nil); got.obj["email"] == email {
		t.Errorf("the mock alone knows the token's identity (%v): the rule is not needed", got.obj)
	}
}
