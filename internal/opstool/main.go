package opstool

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs an operations command's testable entry point with the process's
// arguments and standard streams. The first SIGINT or SIGTERM cancels the
// run's context, so it stops promptly and hands unfinished work back; a
// second one exits at once with ExitInterrupted. When run fails, Main prints
// "<name>: <error>" on stderr and exits with ExitCode(err).
func Main(name string, run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ticks := make(chan struct{}, 2)
	go func() {
		for range sigs {
			ticks <- struct{}{}
		}
	}()
	go watchSignals(ticks, cancel, os.Stderr, name, os.Exit)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	}
	os.Exit(ExitCode(err))
}
