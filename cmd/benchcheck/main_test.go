package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

func TestCheck(t *testing.T) {
	const linear = `BenchmarkPlan/x1-2     	     100	   1000000 ns/op
BenchmarkPlan/x10-2    	      10	  11000000 ns/op
BenchmarkPlan/x100-2   	       1	 120000000 ns/op
`
	if err := check(strings.NewReader(linear), io.Discard, 150); err != nil {
		t.Errorf("linear results rejected: %v", err)
	}
	quadratic := strings.Replace(linear, " 120000000 ns/op", " 9000000000 ns/op", 1)
	if err := check(strings.NewReader(quadratic), io.Discard, 150); err == nil {
		t.Error("quadratic results accepted")
	}
	if err := check(strings.NewReader("PASS\n"), io.Discard, 150); err == nil {
		t.Error("empty results accepted")
	}
}

// TestExitStatus: the command line and the file are read before any check;
// either refused exits 2, as -h's text says.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, cli.ExitOK, ""},
		{nil, cli.ExitUsage, "missing bench-output.txt"},
		{[]string{"a.txt", "b.txt"}, cli.ExitUsage, `unexpected argument "b.txt"`},
		{[]string{"--max-ratio", "x", "a.txt"}, cli.ExitUsage, "invalid value"},
		{[]string{filepath.Join(t.TempDir(), "missing.txt")}, exitCannotRead, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Run(context.Background(), "benchcheck", run, tc.args, nil, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("benchcheck %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}
