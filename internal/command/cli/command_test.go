package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// tool is a command with a flag, a hidden flag and one positional
// argument.
var tool = &Command{
	Name:      "tool",
	UsageLine: "tool [--n count] file",
	Long:      "Tool does things.\n\nExit status: 0 done, 1 failed, 2 usage.",
	Args:      []string{"file"},
	Hidden:    map[string]bool{"endpoint": true},
}

func runTool(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := tool.FlagSet()
	n := fs.Int("n", 1, "how many `count`")
	fs.String("endpoint", "", "test hook")
	if err := tool.Parse(fs, args, stdout); err != nil {
		return err
	}
	if *n < 0 {
		return tool.UsageError(errors.New("--n must not be negative"))
	}
	if fs.Arg(0) == "fail" {
		return errors.New("failed")
	}
	return nil
}

// TestCommandContract: -h prints the usage on stdout and exits 0; every
// refused command line exits 2 with the reason and the usage line on
// stderr; a failure exits 1.
func TestCommandContract(t *testing.T) {
	usageLine := "usage: tool [--n count] file\nRun \"tool -h\" for help.\n"
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"f"}, ExitOK, "", ""},
		{[]string{"fail"}, ExitFailed, "", "tool: failed\n"},
		{[]string{"-no-such-flag", "f"}, ExitUsage, "", "tool: flag provided but not defined: -no-such-flag\n" + usageLine},
		{[]string{"-n", "x", "f"}, ExitUsage, "", "tool: invalid value \"x\" for flag -n: parse error\n" + usageLine},
		{[]string{"-n", "-1", "f"}, ExitUsage, "", "tool: --n must not be negative\n" + usageLine},
		{nil, ExitUsage, "", "tool: missing file\n" + usageLine},
		{[]string{"f", "stray"}, ExitUsage, "", "tool: unexpected argument \"stray\"\n" + usageLine},
		{[]string{"f", "a", "b"}, ExitUsage, "", "tool: unexpected argument \"a\"\n" + usageLine},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), "tool", runTool, tc.args, nil, &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
			t.Errorf("tool %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
	want := `usage: tool [--n count] file

Tool does things.

Exit status: 0 done, 1 failed, 2 usage.

flags:
  --n count
    	how many count (default 1)
`
	for _, h := range []string{"-h", "-help", "--help"} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), "tool", runTool, []string{h}, nil, &stdout, &stderr)
		if code != ExitOK || stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("tool %s: exit %d, stdout\n%s\nstderr %q; want 0 and\n%s", h, code, stdout.String(), stderr.String(), want)
		}
	}
}

// parent has two subcommands; the second takes no flags.
var parent = &Command{
	Name: "parent",
	Long: "Parent runs its subcommands.",
	Commands: []*Command{
		{Name: "parent one", UsageLine: "parent one [--x]", Short: "the first"},
		{Name: "parent two", Short: "the second"},
	},
}

func runParent(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	sub, rest, err := parent.Sub(args, stdout)
	if err != nil {
		return err
	}
	fs := sub.FlagSet()
	if sub.Name == "parent one" {
		fs.Bool("x", false, "be x")
	}
	return sub.Parse(fs, rest, stdout)
}

func TestSubcommands(t *testing.T) {
	parentUsage := "usage: parent one|two [flags]\nRun \"parent -h\" for help.\n"
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"one", "-x"}, ExitOK, "", ""},
		{[]string{"two"}, ExitOK, "", ""},
		{nil, ExitUsage, "", "parent: missing command: want one or two\n" + parentUsage},
		{[]string{"three"}, ExitUsage, "", "parent: unknown command \"three\": want one or two\n" + parentUsage},
		{[]string{"-x", "one"}, ExitUsage, "", "parent: flag -x before the command: want one or two, then its flags\n" + parentUsage},
		{[]string{"one", "stray"}, ExitUsage, "", "parent: unexpected argument \"stray\"\nusage: parent one [--x]\nRun \"parent one -h\" for help.\n"},
		{[]string{"two", "-x"}, ExitUsage, "", "parent: flag provided but not defined: -x\nusage: parent two\nRun \"parent two -h\" for help.\n"},
		{[]string{"two", "-h"}, ExitOK, "usage: parent two\n", ""},
		{[]string{"one", "--help"}, ExitOK, "usage: parent one [--x]\n\nflags:\n  --x\n    \tbe x\n", ""},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), "parent", runParent, tc.args, nil, &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
			t.Errorf("parent %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
	want := `usage: parent one|two [flags]

Parent runs its subcommands.

commands:
  parent one [--x]
      the first
  parent two
      the second

Run "parent <command> -h" for a command's flags.
`
	for _, h := range []string{"-h", "-help", "--help", "help"} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), "parent", runParent, []string{h}, nil, &stdout, &stderr)
		if code != ExitOK || stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("parent %s: exit %d, stdout\n%s\nstderr %q; want 0 and\n%s", h, code, stdout.String(), stderr.String(), want)
		}
	}
}

// TestUsageErrorIsExitUsage: a Command's UsageError is an ExitError with
// ExitUsage whose message is the reason alone.
func TestUsageErrorIsExitUsage(t *testing.T) {
	err := tool.UsageError(errors.New("bad"))
	if ExitCode(err) != ExitUsage || err.Error() != "bad" || tool.UsageError(nil) != nil {
		t.Errorf("UsageError: exit %d, %q", ExitCode(err), err)
	}
}
