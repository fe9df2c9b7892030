package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is what a command says about itself: its name, how it is
// invoked, its help text, the positional arguments it takes and its
// subcommands. Every command parses its command line with Parse (and Sub,
// when it has subcommands) and has its usage printed by PrintUsage, so
// that all of them keep one contract:
//
//   - -h, -help or --help prints the usage on stdout and exits 0 (ExitOK;
//     Parse and Sub return flag.ErrHelp, which Main reports as success);
//   - a refused command line (an unknown flag, a bad flag value, a missing
//     or contradictory flag, an argument the command does not take, a
//     missing or unknown subcommand) exits 2 (ExitUsage): UsageError, which
//     Main reports as the reason on one line and the usage line after it,
//     on stderr;
//   - a failure exits 1 (ExitFailed), unless the command documents a
//     status of its own (an ExitError).
type Command struct {
	// Name is the command as it is typed: "plan", or "deadletters replay"
	// for a subcommand (its parent's Name, a space, its own).
	Name string
	// UsageLine is the synopsis after "usage: ", starting with Name:
	// "plan [--stack name] [--quiet]". Several forms go on separate lines.
	// A command with subcommands may leave it empty for
	// "<Name> <sub>|<sub> [flags]".
	UsageLine string
	// Short says in one line what a subcommand does, for its parent's
	// usage.
	Short string
	// Long is the rest of the -h text, between the usage line and the
	// subcommands or flags: what the command does, its exit statuses.
	Long string
	// Args names the positional arguments the command takes, each
	// required ("bench-output.txt"). A command without Args takes none.
	Args []string
	// Hidden names flags the usage leaves out (test hooks).
	Hidden map[string]bool
	// Commands are the subcommands, in the order the usage lists them.
	Commands []*Command
}

// FlagSet returns an empty flag set for c that prints nothing itself:
// Parse reports its errors and PrintUsage its flags.
func (c *Command) FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// Parse parses args with fs (from FlagSet, with c's flags defined) and
// checks that what is left are c's Args. On -h, -help or --help it prints
// c's usage on stdout and returns flag.ErrHelp; on a refused command line,
// a UsageError. Flags come before the positional arguments, as the flag
// package has it.
func (c *Command) Parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.PrintUsage(stdout, fs)
			return flag.ErrHelp
		}
		return c.UsageError(err)
	}
	switch n := fs.NArg(); {
	case n < len(c.Args):
		return c.UsageError(fmt.Errorf("missing %s", strings.Join(c.Args[n:], " ")))
	case n > len(c.Args):
		return c.UsageError(fmt.Errorf("unexpected argument %q", fs.Arg(len(c.Args))))
	}
	return nil
}

// Sub picks the subcommand args[0] names and returns it with the arguments
// that follow it. -h, -help, --help and help print c's usage on stdout and
// return flag.ErrHelp; no subcommand, or one c does not have, is a
// UsageError.
func (c *Command) Sub(args []string, stdout io.Writer) (*Command, []string, error) {
	if len(args) == 0 {
		return nil, nil, c.UsageError(fmt.Errorf("missing command: want %s", c.want()))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		c.PrintUsage(stdout, nil)
		return nil, nil, flag.ErrHelp
	}
	for _, s := range c.Commands {
		if s.Name == c.Name+" "+args[0] {
			return s, args[1:], nil
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return nil, nil, c.UsageError(fmt.Errorf("flag %s before the command: want %s, then its flags", args[0], c.want()))
	}
	return nil, nil, c.UsageError(fmt.Errorf("unknown command %q: want %s", args[0], c.want()))
}

// subNames are the subcommands' own names: "inspect", "replay".
func (c *Command) subNames() []string {
	names := make([]string, len(c.Commands))
	for i, s := range c.Commands {
		names[i] = strings.TrimPrefix(s.Name, c.Name+" ")
	}
	return names
}

// want says which subcommands there are: "inspect or replay".
func (c *Command) want() string {
	names := c.subNames()
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// usageLines is UsageLine, or the generated one of a command with
// subcommands.
func (c *Command) usageLines() []string {
	if c.UsageLine == "" {
		line := c.Name
		if len(c.Commands) > 0 {
			line += " " + strings.Join(c.subNames(), "|") + " [flags]"
		}
		return []string{line}
	}
	return strings.Split(strings.TrimSpace(c.UsageLine), "\n")
}

// printUsageLine writes "usage: <UsageLine>", several forms aligned.
func (c *Command) printUsageLine(w io.Writer) {
	for i, l := range c.usageLines() {
		prefix := "usage: "
		if i > 0 {
			prefix = "       "
		}
		fmt.Fprintf(w, "%s%s\n", prefix, strings.TrimSpace(l))
	}
}

// PrintUsage writes c's usage to w, as -h shows it: the usage line, Long,
// the subcommands, and fs's flags (fs may be nil) with double dashes but
// Hidden ones (see PrintFlags).
func (c *Command) PrintUsage(w io.Writer, fs *flag.FlagSet) {
	c.printUsageLine(w)
	if long := strings.TrimSpace(c.Long); long != "" {
		fmt.Fprintf(w, "\n%s\n", long)
	}
	if len(c.Commands) > 0 {
		fmt.Fprintf(w, "\ncommands:\n")
		for _, s := range c.Commands {
			for _, l := range s.usageLines() {
				fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
			}
			if s.Short != "" {
				fmt.Fprintf(w, "      %s\n", s.Short)
			}
		}
		fmt.Fprintf(w, "\nRun \"%s <command> -h\" for a command's flags.\n", c.Name)
	}
	if fs != nil && c.hasVisibleFlags(fs) {
		fmt.Fprintf(w, "\nflags:\n")
		PrintFlags(w, fs, c.Hidden)
	}
}

func (c *Command) hasVisibleFlags(fs *flag.FlagSet) bool {
	visible := false
	fs.VisitAll(func(f *flag.Flag) { visible = visible || !c.Hidden[f.Name] })
	return visible
}

// UsageError marks err as a command line c refuses: it exits ExitUsage,
// and Report prints c's usage line after the reason. nil stays nil, and so
// does an error Parse or Sub returned.
func (c *Command) UsageError(err error) error {
	var u *usageError
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &u) && ExitCode(err) == ExitUsage {
		return err
	}
	return WithExit(ExitUsage, &usageError{cmd: c, err: err})
}

// usageError is a command line cmd refused, for err.
type usageError struct {
	cmd *Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

// printShortUsage writes what follows the reason of a refused command
// line: the usage line, and where the rest is.
func (e *usageError) printShortUsage(w io.Writer) {
	e.cmd.printUsageLine(w)
	fmt.Fprintf(w, "Run \"%s -h\" for help.\n", e.cmd.Name)
}
