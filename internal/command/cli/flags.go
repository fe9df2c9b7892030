package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// SplitList splits a comma-separated flag value, dropping spaces around
// the items and empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// PrintFlags writes fs's flags to w with double dashes, one flag and its
// usage per entry, leaving out the flags named in hidden (test hooks). A
// default is shown unless it is a zero (see zeroDefault).
func PrintFlags(w io.Writer, fs *flag.FlagSet, hidden map[string]bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if hidden[f.Name] {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if !zeroDefault(f) {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// zeroDefault reports whether f's default says nothing worth showing: it
// is empty, false, 0, or the zero of a time.Duration flag.
func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "[]":
		return true
	case "0s":
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return false
		}
		_, isDuration := g.Get().(time.Duration)
		return isDuration
	}
	return false
}
