package rehearsal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/asyncjobs/asyncjobs/internal/command/upgrade"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// Run is what one CLI command did.
type Run struct {
	// Args are the command's arguments after "pulumi".
	Args []string
	// Output is what it printed (stdout and stderr).
	Output string
	// Stdout is what it printed on stdout.
	Stdout string
	// Steps are the engine's resource steps, from its event log.
	Steps Steps
	// Err is the command's failure, nil when it exited 0.
	Err error
}

// Step is one step the engine took or would take for a resource.
type Step struct {
	Op   apitype.OpType
	URN  string
	Type string
	// Diffs are the top-level properties that differ.
	Diffs []string
	// Detailed holds the property paths of the detailed diff and their kinds.
	Detailed map[string]apitype.DiffKind
}

// Steps are the steps of one command.
type Steps []Step

// Changed returns, by URN, the ops of every step that is not "same" (nor a
// read of a data source or a refresh).
func (s Steps) Changed() map[string][]apitype.OpType {
	out := map[string][]apitype.OpType{}
	for _, st := range s {
		switch st.Op {
		case apitype.OpSame, apitype.OpRead, apitype.OpRefresh:
			continue
		}
		out[st.URN] = append(out[st.URN], st.Op)
	}
	return out
}

// eventStepsFlags are the commands whose steps are read from an event log.
var eventStepsFlags = []string{"preview", "up", "refresh", "destroy"}

// Pulumi runs `pulumi args...` in dir (relative to the copy of the
// repository; "" for its root) as the deployer of stack (Owner when the
// stack file names none), and returns what it did.
func (e *Env) Pulumi(ctx context.Context, dir, stack string, args ...string) *Run {
	e.t.Helper()
	return e.Command(ctx, dir, stack, e.cli, args...)
}

// Command runs a program (the CLI, or a command of the project's that runs
// it) in dir as Pulumi does.
func (e *Env) Command(ctx context.Context, dir, stack, program string, args ...string) *Run {
	e.t.Helper()
	r := &Run{Args: args}
	var events string
	if program == e.cli && len(args) > 0 && slices.Contains(eventStepsFlags, args[0]) {
		f, err := os.CreateTemp(e.t.TempDir(), "events-*.json")
		if err != nil {
			e.t.Fatal(err)
		}
		_ = f.Close()
		events = f.Name()
		args = append(slices.Clone(args), "--event-log", events)
	}
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = filepath.Join(e.Dir, dir)
	cmd.Env = append(slices.Clone(e.vars), "GOOGLE_OAUTH_ACCESS_TOKEN="+e.Google.Token(e.deployer(dir, stack)))
	var stdout bytes.Buffer
	var combined SyncBuffer
	cmd.Stdout = io.MultiWriter(&stdout, &combined)
	cmd.Stderr = &combined
	start := time.Now()
	err := cmd.Run()
	r.Output, r.Stdout = combined.String(), stdout.String()
	name := filepath.Base(program)
	e.t.Logf("%s %s: %.1fs", name, strings.Join(args, " "), time.Since(start).Seconds())
	fmt.Fprintf(e.Log, "$ %s %s\n%s\n", name, strings.Join(args, " "), r.Output)
	if err != nil {
		r.Err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(r.Args, " "), err, diagnostics(r.Output))
	}
	if events != "" {
		steps, perr := readSteps(events)
		if perr != nil && r.Err == nil {
			r.Err = perr
		}
		r.Steps = steps
	}
	return r
}

// Must runs the command as Pulumi does and fails the test when it fails.
func (e *Env) Must(ctx context.Context, dir, stack string, args ...string) *Run {
	e.t.Helper()
	r := e.Pulumi(ctx, dir, stack, args...)
	if r.Err != nil {
		e.t.Fatal(r.Err)
	}
	return r
}

// deployer is who runs the CLI for a stack: the first of its
// asyncjobs:deployers, else Owner.
func (e *Env) deployer(dir, stack string) string {
	if stack == "" {
		return Owner
	}
	st, err := stackfile.Load(filepath.Join(e.Dir, dir), stack)
	if err != nil {
		return Owner
	}
	var deployers []string
	if v := st.Config[stacks.Namespace+":deployers"]; v != "" && json.Unmarshal([]byte(v), &deployers) == nil && len(deployers) > 0 {
		return deployers[0]
	}
	return Owner
}

// readSteps reads the resource steps of an event log (one JSON engine
// event a line, as --event-log writes it).
func readSteps(path string) (Steps, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var steps Steps
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev apitype.EngineEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("event log %s: %w", filepath.Base(path), err)
		}
		if ev.ResourcePreEvent == nil {
			continue
		}
		md := ev.ResourcePreEvent.Metadata
		st := Step{Op: md.Op, URN: md.URN, Type: md.Type, Diffs: md.Diffs, Detailed: map[string]apitype.DiffKind{}}
		for k, d := range md.DetailedDiff {
			st.Detailed[k] = d.Kind
		}
		steps = append(steps, st)
	}
	return steps, sc.Err()
}

// Build builds a command of the copy (e.g. ./cmd/teststack) and returns
// its path.
func (e *Env) Build(ctx context.Context, pkg string) string {
	e.t.Helper()
	out := filepath.Join(e.bin, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = e.Dir
	cmd.Env = e.vars
	if b, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Init creates a stack of the copy's root project, as `pulumi stack init`.
func (e *Env) Init(ctx context.Context, stack string) {
	e.t.Helper()
	e.Must(ctx, "", stack, "stack", "init", stack)
}

// Preview runs `pulumi preview --diff` for a stack, with extra flags.
func (e *Env) Preview(ctx context.Context, stack string, extra ...string) *Run {
	e.t.Helper()
	return e.Pulumi(ctx, "", stack, append([]string{"preview", "--stack", stack, "--non-interactive", "--diff"}, extra...)...)
}

// Up runs `pulumi up --yes --skip-preview` for a stack.
func (e *Env) Up(ctx context.Context, stack string, extra ...string) *Run {
	e.t.Helper()
	return e.Pulumi(ctx, "", stack, append([]string{"up", "--stack", stack, "--non-interactive", "--yes", "--skip-preview"}, extra...)...)
}

// Refresh runs `pulumi refresh --yes --skip-preview` for a stack.
func (e *Env) Refresh(ctx context.Context, stack string, extra ...string) *Run {
	e.t.Helper()
	return e.Pulumi(ctx, "", stack, append([]string{"refresh", "--stack", stack, "--non-interactive", "--yes", "--skip-preview"}, extra...)...)
}

// Destroy runs `pulumi destroy --yes --skip-preview` for a stack.
func (e *Env) Destroy(ctx context.Context, stack string, extra ...string) *Run {
	e.t.Helper()
	return e.Pulumi(ctx, "", stack, append([]string{"destroy", "--stack", stack, "--non-interactive", "--yes", "--skip-preview"}, extra...)...)
}

// Resource is a resource of a stack's state, as the engine recorded it
// (the one description, package upgrade's, which reads the same export).
type Resource = upgrade.Resource

// State exports a stack's state with `pulumi stack export` (secrets stay
// encrypted).
func (e *Env) State(ctx context.Context, dir, stack string) []Resource {
	e.t.Helper()
	r := e.Must(ctx, dir, stack, "stack", "export", "--stack", stack)
	var d struct {
		Deployment struct {
			Resources []Resource `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		e.t.Fatalf("pulumi stack export %s: %v", stack, err)
	}
	return d.Deployment.Resources
}

// Edit replaces old by new in the copy's Pulumi.<stack>.yaml, which must
// hold old exactly once.
func (e *Env) Edit(stack, old, new string) {
	e.t.Helper()
	p := filepath.Join(e.Dir, "Pulumi."+stack+".yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if n := strings.Count(string(data), old); n != 1 {
		e.t.Fatalf("Pulumi.%s.yaml holds %q %d times, want once", stack, old, n)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// diagnostics picks from a command's output what says why it failed: the
// engine's error lines, then the last lines.
func diagnostics(out string) string {
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "error:") || strings.Contains(l, "Error ") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) > 20 {
		errs = errs[:20]
	}
	return strings.Join(errs, "\n") + "\n...\n" + tail(out, 15)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
