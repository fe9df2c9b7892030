package cli

import (
	"fmt"
	"testing"
)

func TestTailKeepsTheLastBytes(t *testing.T) {
	w := &Tail{Max: 5}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := fmt.Fprint(w, s); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := w.String(); got != "defgh" {
		t.Errorf("String() = %q, want the last 5 bytes %q", got, "defgh")
	}
}
