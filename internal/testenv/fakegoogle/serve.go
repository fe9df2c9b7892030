package fakegoogle

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// rule is one behaviour of Google's that the mock lacks. handle either
// answers x itself, or calls next (the later rules, then the mock) and may
// look at or change what comes back. A rule that answers or changes an
// answer names itself in the reply (reply.rule).
type rule interface {
	name() string
	handle(x *exchange, next func() *reply) *reply
}

// exchange is one request as the rules see it.
type exchange struct {
	method string
	host   string // without port
	path   string // decoded
	// rawPath is the path as the client escaped it; "" once a rule changed
	// path.
	rawPath  string
	rawQuery string
	query    url.Values
	header   http.Header
	body     []byte
	// caller is the IAM member the access token stands for ("" when none
	// or unknown).
	caller string
}

// escapedPath is the path to send on.
func (x *exchange) escapedPath() string {
	if x.rawPath != "" {
		return x.rawPath
	}
	return (&url.URL{Path: x.path}).EscapedPath()
}

// setPath changes the path sent on.
func (x *exchange) setPath(p string) {
	x.path, x.rawPath = p, ""
}

// object decodes the request body as a JSON object (nil when it is not one).
func (x *exchange) object() map[string]any {
	o, _ := decodeObject(x.body)
	return o
}

// reply is an answer on its way back: from the mock (stream, unread until a
// rule needs it) or from a rule (body).
type reply struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser
	rule   string
}

func (r *reply) ok() bool { return r.status/100 == 2 }

// bytes reads the whole answer (once).
func (r *reply) bytes() []byte {
	if r.stream != nil {
		b, err := io.ReadAll(r.stream)
		_ = r.stream.Close()
		r.stream = nil
		if err != nil {
			r.status, r.body = http.StatusBadGateway, googleErrorBody(http.StatusBadGateway, "UNAVAILABLE", "fakegoogle: reading the mock's answer: "+err.Error())
			return r.body
		}
		r.body = b
	}
	return r.body
}

// object decodes the answer as a JSON object (nil when it is not one).
func (r *reply) object() map[string]any {
	o, _ := decodeObject(r.bytes())
	return o
}

// replace sets a new JSON body, on behalf of rule.
func (r *reply) replace(rule string, v any) {
	r.bytes()
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	r.body, r.rule = b, rule
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set("Content-Type", "application/json; charset=UTF-8")
}

// decodeObject decodes a JSON object, keeping numbers exact.
func decodeObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var o map[string]any
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	return o, nil
}

// jsonReply is a 200 answer of rule with v as its body.
func jsonReply(rule string, v any) *reply {
	r := &reply{status: http.StatusOK, header: http.Header{}}
	r.replace(rule, v)
	return r
}

// googleError is Google's JSON error answer (https://cloud.google.com/apis/design/errors):
// the HTTP code, the canonical status name and the message.
func googleError(rule string, code int, status, message string) *reply {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	return &reply{status: code, header: h, body: googleErrorBody(code, status, message), rule: rule}
}

func googleErrorBody(code int, status, message string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": message, "status": status}})
	return b
}

// chain runs x through rules[i:], then the mock.
func (g *Google) chain(x *exchange, i int) *reply {
	if i == len(g.rules) {
		return g.mock.forward(x)
	}
	return g.rules[i].handle(x, func() *reply { return g.chain(x, i+1) })
}

// serveHTTP serves one request of a tunnel.
func (g *Google) serveHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "fakegoogle: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	x := &exchange{
		method: r.Method, host: strings.ToLower(host),
		path: r.URL.Path, rawPath: r.URL.EscapedPath(),
		rawQuery: r.URL.RawQuery, query: r.URL.Query(),
		header: r.Header.Clone(), body: body,
	}
	rep := g.chain(x, 0)
	// Recorded before the answer leaves: a client that has it finds it in
	// Requests.
	g.record(Request{Method: x.method, Host: x.host, Path: x.path, Status: rep.status, Rule: rep.rule})
	who := x.caller
	if who == "" {
		who = "-"
	}
	line := x.path
	if x.rawQuery != "" {
		line += "?" + x.rawQuery
	}
	if rep.rule != "" {
		g.logf("%s %s %s %d %s (rule %s)", x.method, x.host, line, rep.status, who, rep.rule)
	} else {
		g.logf("%s %s %s %d %s", x.method, x.host, line, rep.status, who)
	}
	g.write(w, rep)
}

// write sends rep: a rule's body, or the mock's answer as it streams.
func (g *Google) write(w http.ResponseWriter, rep *reply) {
	for k, vs := range rep.header {
		if !hopByHop(k) && k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	if rep.stream == nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
		w.WriteHeader(rep.status)
		_, _ = w.Write(rep.body)
		return
	}
	defer rep.stream.Close()
	if cl := rep.header.Get("Content-Length"); cl != "" {
		w.Header().Set("Content-Length", cl)
	}
	w.WriteHeader(rep.status)
	_, _ = io.Copy(flushWriter{w}, rep.stream)
}

// flushWriter flushes after each write, so a slow answer streams.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
