package cli

import "sync"

// Tail keeps the last Max bytes written to it (a child process's stderr,
// for an error message); it is safe for concurrent writes.
type Tail struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

func (w *Tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.Max {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-w.Max:]...)
	}
	return len(p), nil
}

// String is what it keeps.
func (w *Tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
