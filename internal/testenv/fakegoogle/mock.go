package fakegoogle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	mockStartTimeout = 15 * time.Second
	mockStopTimeout  = 5 * time.Second
)

// mock is a running mockgcp-server: its plain listener answers
// http://ADDR/<host>/<path>, the custom-endpoint style of its routing.
type mock struct {
	base   string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	log    *tail
	done   chan struct{}
	client *http.Client
}

// startMock runs the server and waits for its ready file.
func startMock(bin, dir string, o Options) (*mock, error) {
	ready := filepath.Join(dir, "mockgcp-ready")
	args := []string{
		"-addr", "127.0.0.1:0",
		"-ready-file", ready,
		"-ca-out", filepath.Join(dir, "mockgcp-ca.pem"),
		"-project", strings.Join(o.Projects, ","),
	}
	if o.ClusterEndpoint != "" || o.ClusterCAFile != "" {
		args = append(args, "-cluster-endpoint", o.ClusterEndpoint, "-cluster-ca-file", o.ClusterCAFile)
	}
	m := &mock{log: newTail(256 << 10), done: make(chan struct{})}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Dir = dir
	m.cmd.Stdout = m.log
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	deadline := time.Now().Add(mockStartTimeout)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			m.base = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
			break
		}
		select {
		case <-m.done:
			return nil, fmt.Errorf("mockgcp-server exited before it was ready (%v):\n%s", m.cmd.ProcessState, m.log.lastLines(40))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("mockgcp-server not ready after %s:\n%s", mockStartTimeout, m.log.lastLines(40))
		}
	}
	if !strings.HasPrefix(m.base, "http://") {
		m.stop()
		return nil, fmt.Errorf("mockgcp-server's ready file names %q, not an http:// listener", m.base)
	}
	m.client = &http.Client{
		// The mock is on loopback: never through a proxy of the test's
		// environment, and its redirects (none expected) go back as they are.
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}
	return m, nil
}

// stop kills the server (this process only) and waits for it.
func (m *mock) stop() {
	if m.client != nil {
		m.client.CloseIdleConnections()
	}
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	select {
	case <-m.done:
	case <-time.After(mockStopTimeout):
	}
}

// url is where the mock serves host's path (already escaped) and query.
func (m *mock) url(host, escapedPath, rawQuery string) string {
	u := m.base + "/" + host + escapedPath
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// forward sends x to the mock and returns its answer unread, so that it
// streams back unless a rule reads it.
func (m *mock) forward(x *exchange) *reply {
	req, err := http.NewRequest(x.method, m.url(x.host, x.escapedPath(), x.rawQuery), bytes.NewReader(x.body))
	if err != nil {
		return googleError("", http.StatusBadGateway, "UNAVAILABLE", "fakegoogle: "+err.Error())
	}
	for k, vs := range x.header {
		if !hopByHop(k) {
			req.Header[k] = vs
		}
	}
	req.ContentLength = int64(len(x.body))
	resp, err := m.client.Do(req)
	if err != nil {
		return googleError("", http.StatusBadGateway, "UNAVAILABLE", "fakegoogle: the mock did not answer: "+err.Error())
	}
	return &reply{status: resp.StatusCode, header: resp.Header, stream: resp.Body}
}

// call is a rule's own request to the mock (no rule applies to it): the
// status, the decoded JSON object of the answer (nil when it is none), and
// an error when the mock could not be reached.
func (m *mock) call(method, host, pathAndQuery string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.base+"/"+host+pathAndQuery, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	obj, _ := decodeObject(b)
	return resp.StatusCode, obj, nil
}

// exists asks the mock whether GET host path answers 200.
func (m *mock) exists(host, path string) (bool, error) {
	status, _, err := m.call(http.MethodGet, host, path, nil)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, errors.New("the mock answered GET " + host + path + " with " + http.StatusText(status))
	}
}

// project resolves a project ID or number through the mock: its ID and
// number, or "" when it does not exist.
func (m *mock) project(p string) (id, number string, err error) {
	status, obj, err := m.call(http.MethodGet, "cloudresourcemanager.googleapis.com", "/v1/projects/"+url.PathEscape(p), nil)
	if err != nil {
		return "", "", err
	}
	if status != http.StatusOK {
		return "", "", nil
	}
	id, _ = obj["projectId"].(string)
	number = fmt.Sprint(obj["projectNumber"])
	return id, number, nil
}

// hopByHop reports headers that belong to one connection, not the request.
func hopByHop(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
