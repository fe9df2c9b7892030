package opstool

import (
	"strings"
	"testing"
)

func TestExitStatusHelp(t *testing.T) {
	for _, code := range []string{"0 ", "1 ", "2 ", "3 ", "4 ", "130 "} {
		if !strings.Contains(ExitStatusHelp, "  "+code) {
			t.Errorf("ExitStatusHelp lacks status %s", code)
		}
	}
}
