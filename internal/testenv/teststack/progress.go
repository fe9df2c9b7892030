package teststack

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes every line it is given with a prefix, so that the
// engine output of several stacks (a sweep) stays attributable. A partial
// last line is held until its newline or Flush.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
	// drop holds substrings of lines that are left out.
	drop []string
}

// removeHints are what `pulumi destroy` prints when it keeps the stack;
// teststack destroys with --remove, which removes the stack right after,
// so the advice to run `pulumi stack rm` is wrong here and is left out.
var removeHints = []string{
	"If you want to remove the stack completely, run `pulumi stack rm",
	"history and configuration associated with the stack are still maintained",
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: []byte(prefix)}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append(append(append([]byte{}, p.prefix...), p.buf[:i]...), '\n')
		dropped := p.dropped(p.buf[:i])
		p.buf = p.buf[i+1:]
		if dropped {
			continue
		}
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

func (p *prefixWriter) dropped(line []byte) bool {
	for _, d := range p.drop {
		if bytes.Contains(line, []byte(d)) {
			return true
		}
	}
	return false
}

// Flush writes a pending partial line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 && !p.dropped(p.buf) {
		line := append(append(append([]byte{}, p.prefix...), p.buf...), '\n')
		_, _ = p.w.Write(line)
	}
	p.buf = nil
}
