package fakegoogle

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// proxy is the layer's front: an HTTPS proxy that answers CONNECT to a
// Google API host by terminating TLS with a certificate of the layer's
// authority, then serves the HTTP/1.1 requests of the tunnel with handler.
type proxy struct {
	ln      net.Listener
	outer   *http.Server // CONNECT
	inner   *http.Server // the tunnels' requests
	tunnels *tunnelListener
	ca      *authority
	logf    func(format string, args ...any)
}

func startProxy(ca *authority, handler http.Handler, logf func(string, ...any)) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, ca: ca, logf: logf, tunnels: newTunnelListener(ln.Addr())}
	p.outer = &http.Server{Handler: http.HandlerFunc(p.serveProxy), ReadHeaderTimeout: 10 * time.Second}
	p.inner = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.outer.Serve(ln) }()
	go func() { _ = p.inner.Serve(p.tunnels) }()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// close stops accepting and closes every connection, tunnels included.
func (p *proxy) close() {
	_ = p.outer.Close()
	_ = p.inner.Close()
}

// servedHost reports the hosts the layer tunnels to: Google's APIs.
func servedHost(host string) bool {
	return host == "googleapis.com" || strings.HasSuffix(host, ".googleapis.com")
}

func (p *proxy) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		p.logf("%s %s refused: only CONNECT (HTTPS_PROXY) is served", r.Method, r.URL)
		http.Error(w, "fakegoogle: this is an HTTPS proxy for Google's APIs: only CONNECT is served", http.StatusMethodNotAllowed)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !servedHost(host) {
		p.logf("CONNECT %s refused: not a Google API host", r.Host)
		http.Error(w, "fakegoogle: only *.googleapis.com is served, not "+host, http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "fakegoogle: cannot take over the connection", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	c := conn
	if n := rw.Reader.Buffered(); n > 0 {
		// The client did not wait for the answer: its first bytes of TLS
		// are already read.
		head, _ := rw.Peek(n)
		c = &prefixedConn{Conn: conn, r: io.MultiReader(strings.NewReader(string(head)), conn)}
	}
	p.logf("CONNECT %s", r.Host)
	if !p.tunnels.push(tls.Server(c, p.ca.serverConfig(host))) {
		_ = conn.Close()
	}
}

// prefixedConn reads bytes already buffered before the connection's own.
type prefixedConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// tunnelListener hands the inner server each tunnel as a connection.
type tunnelListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newTunnelListener(addr net.Addr) *tunnelListener {
	return &tunnelListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the inner server; false once the listener is closed.
func (l *tunnelListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tunnelListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *tunnelListener) Addr() net.Addr { return l.addr }
