package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// declaredArgs are the positional arguments a command takes (cli.Command's
// Args); every other command takes none, or a subcommand.
var declaredArgs = map[string][]string{
	"benchcheck": {"bench-output.txt"},
}

// commandDirs are the commands: every directory under cmd/, and
// bootstrap/githubsettings. They are listed, not named, so that a new
// command cannot escape TestCommandContract.
func commandDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("cmd")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, "cmd/"+e.Name())
		}
	}
	if len(dirs) < 8 {
		t.Fatalf("found only %d commands under cmd/: %v", len(dirs), dirs)
	}
	return append(dirs, "bootstrap/githubsettings")
}

// invocation is one run of a built command.
type invocation struct {
	code           int
	stdout, stderr string
}

func invoke(t *testing.T, bin string, args ...string) invocation {
	t.Helper()
	c := exec.Command(bin, args...)
	// Nothing here gets past the command line; a scratch directory anyway.
	c.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return invocation{code, stdout.String(), stderr.String()}
}

// subcommands reads the subcommands off a command's -h text: the lines
// under "commands:" that start with "  <name> <subcommand>".
func subcommands(name, help string) []string {
	_, list, ok := strings.Cut(help, "\ncommands:\n")
	if !ok {
		return nil
	}
	var subs []string
	for _, line := range strings.Split(list, "\n") {
		if line == "" {
			break
		}
		if rest, ok := strings.CutPrefix(line, "  "+name+" "); ok {
			subs = append(subs, strings.Fields(rest)[0])
		}
	}
	return subs
}

// TestCommandContract builds every command and checks the contract
// internal/command/cli gives them all: -h prints the usage on stdout and exits 0;
// an unknown flag, a stray argument and an unknown subcommand exit 2 with
// the reason and the usage line on stderr.
func TestCommandContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command (-short)")
	}
	dirs := commandDirs(t)
	bin := t.TempDir()
	build := exec.Command("go", append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs(dirs)...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			exe := filepath.Join(bin, name)
			help := invoke(t, exe, "-h")
			subs := subcommands(name, help.stdout)
			// usage is how the usage the check expects starts: the
			// command's, or its subcommand's.
			type check struct {
				args  []string
				code  int
				usage string
			}
			checks := []check{
				{[]string{"-h"}, 0, name},
				{[]string{"-help"}, 0, name},
				{[]string{"--help"}, 0, name},
				{[]string{"-no-such-flag"}, 2, name},
			}
			if subs == nil {
				checks = append(checks, check{append(append([]string{}, declaredArgs[name]...), "stray"), 2, name})
			} else {
				checks = append(checks, check{[]string{"no-such-command"}, 2, name}, check{nil, 2, name})
			}
			for _, sub := range subs {
				checks = append(checks,
					check{[]string{sub, "-h"}, 0, name + " " + sub},
					check{[]string{sub, "--help"}, 0, name + " " + sub},
					check{[]string{sub, "-no-such-flag"}, 2, name + " " + sub},
					check{[]string{sub, "stray"}, 2, name + " " + sub})
			}
			for _, c := range checks {
				got := invoke(t, exe, c.args...)
				switch {
				case got.code != c.code:
					t.Errorf("%s %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, c.args, got.code, c.code, got.stdout, got.stderr)
				case c.code == 0 && (!strings.HasPrefix(got.stdout, "usage: "+c.usage) || got.stderr != ""):
					t.Errorf("%s %q: want the usage of %s on stdout and nothing on stderr\nstdout:\n%s\nstderr:\n%s",
						name, c.args, c.usage, got.stdout, got.stderr)
				case c.code == 2 && (got.stdout != "" || !strings.HasPrefix(got.stderr, name+": ") || !strings.Contains(got.stderr, "\nusage: "+c.usage)):
					t.Errorf("%s %q: want the reason and the usage line of %s on stderr, nothing on stdout\nstdout:\n%s\nstderr:\n%s",
						name, c.args, c.usage, got.stdout, got.stderr)
				}
			}
		})
	}
}

// pkgs are the import paths of dirs for go build.
func pkgs(dirs []string) []string {
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = "./" + d
	}
	return out
}
