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
		p.buf = p.buf[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

// Flush writes a pending partial line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		line := append(append(append([]byte{}, p.prefix...), p.buf...), '\n')
		p.buf = nil
		_, _ = p.w.Write(line)
	}
}
