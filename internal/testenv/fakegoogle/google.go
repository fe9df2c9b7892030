package fakegoogle

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// Defaults of Options.
const (
	// DefaultMetricDelay is the figure of Cloud Monitoring's own message:
	// "it could take up to 10 minutes to become available".
	DefaultMetricDelay = 10 * time.Minute
	// DefaultPropagation is the upper bound Google documents for an IAM
	// change to take effect (https://cloud.google.com/iam/docs/access-change-propagation).
	DefaultPropagation = 7 * time.Minute
)

// Options configure a fake Google.
type Options struct {
	// Projects exist from the start (the mock creates them).
	Projects []string
	// ClusterEndpoint is the HOST:PORT every GKE cluster reports (a local
	// kube-apiserver); optional.
	ClusterEndpoint string
	// ClusterCAFile is the PEM file the clusters report as their CA; optional.
	ClusterCAFile string
	// MetricDelay is how long Cloud Monitoring refuses alert policies on a
	// new log-based metric (0: DefaultMetricDelay).
	MetricDelay time.Duration
	// Propagation is how long a new actAs grant takes to take effect
	// (0: DefaultPropagation).
	Propagation time.Duration
}

// Request is one request the layer served, as the Requests log keeps it.
type Request struct {
	Method string
	Host   string
	// Path is the URL path, without the query.
	Path   string
	Status int
	// Rule names the rule that answered the request or changed its outcome;
	// "" when the mock's answer went back untouched.
	Rule string
}

// Google is mockgcp behind the layer of rules: an HTTPS proxy that a
// `pulumi` process (or any Google client) reaches through Env.
type Google struct {
	t      testing.TB
	opts   Options
	mock   *mock
	proxy  *proxy
	caFile string
	ca     *authority

	ids     *identities
	iam     *iamBook
	metrics *metricClock
	rules   []rule

	log *tail

	mu       sync.Mutex
	requests []Request
}

// Start runs the mock and the layer in front of it for the rest of the
// test. Everything stops at t.Cleanup; when the test failed, the tails of
// the mock's and the layer's logs are logged first.
func Start(t testing.TB, o Options) *Google {
	t.Helper()
	bin := toolcache.Path(t, "mockgcp-server")
	if o.MetricDelay <= 0 {
		o.MetricDelay = DefaultMetricDelay
	}
	if o.Propagation <= 0 {
		o.Propagation = DefaultPropagation
	}
	dir := t.TempDir()
	g := &Google{t: t, opts: o, log: newTail(64 << 10), ids: newIdentities()}
	m, err := startMock(bin, dir, o)
	if err != nil {
		t.Fatalf("fakegoogle: %v", err)
	}
	g.mock = m
	t.Cleanup(func() {
		if g.proxy != nil {
			g.proxy.close()
		}
		m.stop()
		if t.Failed() {
			t.Logf("fakegoogle: last lines of the mock's log:\n%s", m.log.lastLines(40))
			t.Logf("fakegoogle: last lines of the layer's log:\n%s", g.log.lastLines(40))
		}
	})
	if g.ca, err = newAuthority(); err != nil {
		t.Fatalf("fakegoogle: %v", err)
	}
	g.caFile = filepath.Join(dir, "fakegoogle-ca.pem")
	if err := os.WriteFile(g.caFile, g.ca.certPEM, 0o600); err != nil {
		t.Fatalf("fakegoogle: %v", err)
	}
	g.iam = newIAMBook(g.mock)
	g.metrics = newMetricClock()
	g.rules = g.newRules()
	if g.proxy, err = startProxy(g.ca, http.HandlerFunc(g.serveHTTP), g.logf); err != nil {
		t.Fatalf("fakegoogle: %v", err)
	}
	return g
}

// Env is what a process needs to reach Google through the layer:
// HTTPS_PROXY (Go does not proxy loopback addresses, so a local
// kube-apiserver and the engine's own gRPC are unaffected) and
// SSL_CERT_FILE, the layer's CA. SSL_CERT_FILE replaces the system roots of
// every Go program started with it.
func (g *Google) Env() []string {
	return []string{"HTTPS_PROXY=" + g.proxyURL(), "SSL_CERT_FILE=" + g.caFile}
}

// proxyURL is the layer's address as an HTTPS_PROXY value.
func (g *Google) proxyURL() string { return "http://" + g.proxy.addr() }

// Token returns an access token that the layer knows as the IAM member
// (such as "serviceAccount:pulumi-dev@asyncjobs-ci.iam.gserviceaccount.com"
// or "user:alice@example.com"): set it as GOOGLE_OAUTH_ACCESS_TOKEN or
// gcp:accessToken. The same member always gets the same token.
func (g *Google) Token(member string) string {
	g.t.Helper()
	if kind, rest, ok := strings.Cut(member, ":"); !ok || kind == "" || rest == "" {
		g.t.Fatalf("fakegoogle: Token(%q): want an IAM member such as serviceAccount:NAME@PROJECT.iam.gserviceaccount.com", member)
	}
	return g.ids.token(member)
}

// Client returns an HTTP client that reaches Google through the layer,
// authenticated as member (for tests and for seeding what the bootstrap
// made).
func (g *Google) Client(member string) *http.Client {
	g.t.Helper()
	token := g.Token(member)
	c := g.anonymousClient()
	c.Transport = bearer{token: token, next: c.Transport}
	return c
}

// anonymousClient reaches Google through the layer without credentials.
func (g *Google) anonymousClient() *http.Client {
	g.t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(g.ca.certPEM)
	proxyURL, err := url.Parse(g.proxyURL())
	if err != nil {
		g.t.Fatalf("fakegoogle: %v", err)
	}
	tr := &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		// The layer speaks HTTP/1.1 only.
		ForceAttemptHTTP2: false,
	}
	g.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// bearer adds an access token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Backdate marks a log-based metric of project as created long ago, as the
// bootstrap's metric is by the time a stack reads it: Cloud Monitoring
// knows it. The metric must exist (create it first, through Client).
func (g *Google) Backdate(project, metric string) {
	g.t.Helper()
	status, _, err := g.mock.call(http.MethodGet, "logging.googleapis.com", "/v2/projects/"+project+"/metrics/"+url.PathEscape(metric), nil)
	if err != nil || status != http.StatusOK {
		g.t.Errorf("fakegoogle: Backdate(%q, %q): the mock has no such log-based metric (status %d, %v)", project, metric, status, err)
		return
	}
	g.metrics.backdate(project, metric)
}

// Requests returns every request the layer has served so far, in order.
func (g *Google) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Request(nil), g.requests...)
}

func (g *Google) record(r Request) {
	g.mu.Lock()
	g.requests = append(g.requests, r)
	g.mu.Unlock()
}

// logf writes one line to the layer's log.
func (g *Google) logf(format string, args ...any) {
	var b bytes.Buffer
	b.WriteString(time.Now().Format("15:04:05.000000 "))
	fmt.Fprintf(&b, format, args...)
	b.WriteByte('\n')
	_, _ = g.log.Write(b.Bytes())
}
