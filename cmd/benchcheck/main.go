// Command benchcheck reads `go test -bench BenchmarkPlan` output and checks
// that planning scales about linearly: the ns/op of each xN sub-benchmark,
// divided by the x1 figure, must stay within -max-ratio for x100 (and the
// proportional bound for other sizes).
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

var line = regexp.MustCompile(`^BenchmarkPlan/x(\d+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// exitCannotRead is the exit status when the command line (cli.ExitUsage)
// or the file cannot be read; a check that fails is an error like any
// other (1).
const exitCannotRead = cli.ExitUsage

var command = &cli.Command{
	Name:      "benchcheck",
	UsageLine: "benchcheck [--max-ratio R] bench-output.txt",
	Long: `Benchcheck reads the output of go test -bench BenchmarkPlan and checks that
planning scales about linearly: the ns/op of each xN sub-benchmark, divided
by the x1 figure, must stay within --max-ratio for x100 (and the
proportional bound for other sizes).

Exit status: 0 linear, 1 too slow (or no results), 2 usage or the file
cannot be read.`,
	Args: []string{"bench-output.txt"},
}

func main() { cli.Main(command.Name, run) }

func run(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := command.FlagSet()
	maxRatio := fs.Float64("max-ratio", 150, "largest allowed ns/op ratio of x100 to x1")
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return cli.WithExit(exitCannotRead, err)
	}
	defer f.Close()
	return check(f, stdout, *maxRatio)
}

func check(r io.Reader, w io.Writer, maxRatio float64) error {
	ns := map[int]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			v, _ := strconv.ParseFloat(m[2], 64)
			ns[n] = v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	base, ok := ns[1]
	if !ok || len(ns) < 2 {
		return fmt.Errorf("no BenchmarkPlan/x1 and larger results found")
	}
	sizes := make([]int, 0, len(ns))
	for n := range ns {
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	var failed bool
	for _, n := range sizes[1:] {
		ratio := ns[n] / base
		limit := maxRatio * float64(n) / 100
		verdict := "ok"
		if ratio > limit {
			verdict = "TOO SLOW"
			failed = true
		}
		fmt.Fprintf(w, "x%-4d %12.0f ns/op  %6.1fx of x1 (limit %.0fx)  %s\n", n, ns[n], ratio, limit, verdict)
	}
	if failed {
		return fmt.Errorf("planning does not scale linearly")
	}
	return nil
}
