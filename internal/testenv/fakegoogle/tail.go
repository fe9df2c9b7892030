package fakegoogle

import (
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

// tail keeps the last bytes of a log that is shown only when a test fails.
type tail struct{ cli.Tail }

func newTail(max int) *tail { return &tail{cli.Tail{Max: max}} }

// lastLines returns up to n complete last lines.
func (t *tail) lastLines(n int) string {
	lines := strings.Split(strings.TrimRight(t.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
