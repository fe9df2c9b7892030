package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/testenv/teststack"
)

func writeUp(w io.Writer, res *teststack.UpResult) {
	verb := "updated"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(w, "%s: %s (name suffix %s, created %s, ttl %s", res.Name, verb, res.Meta.Suffix, res.Meta.Created.Format(time.RFC3339), res.Meta.TTL)
	if res.Meta.Owner != "" {
		fmt.Fprintf(w, ", owner %s", res.Meta.Owner)
	}
	fmt.Fprintln(w, ")")
	keys := slices.Sorted(maps.Keys(res.Outputs))
	for _, k := range keys {
		v := res.Outputs[k]
		if v.Secret {
			fmt.Fprintf(w, "  %s: [secret]\n", k)
			continue
		}
		fmt.Fprintf(w, "  %s: %v\n", k, v.Value)
	}
}

func writeSweep(w io.Writer, r *teststack.SweepReport, now time.Time) {
	mode := ""
	if r.DryRun {
		mode = " (dry run)"
	}
	what, where := fmt.Sprintf("prefix %q", r.Prefix), "under the prefix"
	if r.Name != "" {
		what, where = fmt.Sprintf("stack %q", r.Name), "by that name"
	}
	fmt.Fprintf(w, "sweep of %s at %s%s: %s %s, %d outside it (untouched)\n",
		what, now.UTC().Format(time.RFC3339), mode, stacksCount(len(r.Outcomes)), where, r.Outside)
	if len(r.Outcomes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// IDLE: the time since the stack's last up; LIMIT: its TTL.
	fmt.Fprintln(tw, "STACK\tRESULT\tIDLE\tLIMIT\tOWNER\tDETAIL")
	for _, o := range r.Outcomes {
		age, limit, owner := "-", "-", "-"
		if o.Meta != nil {
			age, limit = duration(o.Age), duration(o.Limit)
			if o.Meta.Owner != "" {
				owner = o.Meta.Owner
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Stack, o.Result, age, limit, owner, oneLine(o.Detail))
	}
	tw.Flush()
	for _, o := range r.Failed() {
		fmt.Fprintf(w, "\n%s failed:\n%v\n", o.Stack, o.Err)
	}
}

// stacksCount is "1 stack" or "n stacks".
func stacksCount(n int) string {
	if n == 1 {
		return "1 stack"
	}
	return fmt.Sprintf("%d stacks", n)
}

// duration renders an age as hours and minutes.
func duration(d time.Duration) string {
	if d < 0 {
		return "-" + duration(-d)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
