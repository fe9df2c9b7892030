// Command plan shows what a stack will create, offline: it runs the Pulumi
// program in-process under the recording engine with the stack's
// configuration, in preview mode, prints the resource tree and the IAM
// grants, then the retry timelines of every queue and subscription and the
// capacity and consistency warnings, and writes build/<stack>/plan.json
// (the recorded plan plus "timelines" and "warnings"). With -quiet only the
// warnings are printed, on stderr. No cloud credentials and no Pulumi CLI
// are needed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/plan/manifests"
	"github.com/asyncjobs/asyncjobs/internal/plan/planview"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackplan"
	"github.com/asyncjobs/asyncjobs/internal/program/timeline"
	"github.com/asyncjobs/asyncjobs/stacks"
)

var command = &cli.Command{
	Name:      "plan",
	UsageLine: "plan [--stack name] [--dir dir] [--out dir] [--quiet]",
	Long: `Plan shows what a stack will create, offline: it runs the Pulumi program
in-process with the stack's configuration, in preview mode, prints the
resource tree, the IAM grants, the retry timelines and the capacity and
consistency warnings, and writes <out>/<stack>/plan.json and the Kubernetes
manifests. With --quiet only the warnings are printed, on stderr. No cloud
credentials and no Pulumi CLI are needed.

Exit status: 0 planned, 1 failed (the stack is refused; no plan is left
behind), 2 usage.`,
}

func main() { cli.Main(command.Name, run) }

// run plans one stack. A refused command line exits 2 (cli.ExitUsage),
// every other failure 1 (cli.ExitFailed); -h prints the usage on stdout.
func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := command.FlagSet()
	stack := fs.String("stack", "dev", "stack whose Pulumi.<stack>.yaml is planned")
	dir := fs.String("dir", ".", "directory holding Pulumi.yaml")
	out := fs.String("out", "build", "directory plans are written under (<out>/<stack>/plan.json)")
	quiet := fs.Bool("quiet", false, "write plan.json without printing the tree and timelines; warnings go to stderr")
	if err := command.Parse(fs, args, stdout); err != nil {
		return err
	}
	planFile := filepath.Join(*out, *stack, "plan.json")

	plan, cfg, err := stackplan.Record(*dir, *stack)
	if err != nil {
		// Never leave a plan behind that no longer matches the configuration.
		if rmErr := os.Remove(planFile); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			return errors.Join(err, rmErr)
		}
		if rmErr := os.RemoveAll(filepath.Join(*out, *stack, "manifests")); rmErr != nil {
			return errors.Join(err, rmErr)
		}
		return fmt.Errorf("stack %s: %w\nno plan written", *stack, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stack %s: interrupted; no plan written", *stack)
	}
	// [] rather than null in plan.json when there are none.
	timelines := append([]timeline.Named{}, cfg.Timelines()...)
	warnings := append([]stacks.Warning{}, cfg.Warnings()...)
	if err := writeJSON(planFile, File{Plan: plan, Timelines: timelines, Warnings: warnings}); err != nil {
		return err
	}
	objects := manifests.FromPlan(plan)
	if err := manifests.Write(filepath.Join(*out, *stack, "manifests"), objects); err != nil {
		return err
	}
	if *quiet {
		if err := formatWarnings(stderr, warnings); err != nil {
			return err
		}
	} else {
		if err := planview.Write(stdout, plan); err != nil {
			return err
		}
		if err := writeChecks(stdout, timelines, warnings); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nwrote %s and %d Kubernetes manifests in %s\n", planFile, len(objects), filepath.Join(*out, *stack, "manifests"))
	return nil
}

// File is what plan.json holds: the recorded plan, with the retry
// timelines and the warnings added as two more top-level keys (readers of
// the recorded plan alone ignore them).
type File struct {
	*recorder.Plan
	Timelines []timeline.Named `json:"timelines"`
	Warnings  []stacks.Warning `json:"warnings"`
}

// writeChecks prints the timelines and the warnings after the plan tree.
func writeChecks(w io.Writer, timelines []timeline.Named, warnings []stacks.Warning) error {
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	if err := timeline.FormatTimelines(w, timelines); err != nil {
		return err
	}
	if len(warnings) == 0 {
		_, err := io.WriteString(w, "\nNo capacity or consistency warnings\n")
		return err
	}
	if _, err := fmt.Fprintf(w, "\nWarnings (%d)\n", len(warnings)); err != nil {
		return err
	}
	return formatWarnings(w, warnings)
}

// writeJSON writes v to path atomically: a reader sees the old file or the
// whole new one.
func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<computed>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := buf.Bytes()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plan-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// formatWarnings writes one "warning: <path>: <message>" line per warning.
func formatWarnings(w io.Writer, ws []stacks.Warning) error {
	for _, x := range ws {
		if _, err := fmt.Fprintf(w, "warning: %s\n", x); err != nil {
			return err
		}
	}
	return nil
}
