package main

import (
	"io"
	"strings"
	"testing"
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
