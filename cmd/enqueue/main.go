// Command enqueue creates one HTTP task in a Cloud Tasks queue of the stack:
// a POST to the private Cloud Run worker, signed with an OIDC token for the
// invoker service account.
//
// The queue, worker URL, audience and invoker service account come from the
// stack's outputs (--outputs FILE or --stack NAME, with --queue NAME when
// there are several queues) or from explicit flags, which override them.
// Every input is checked before any call is made; the create call is retried
// on transient errors with a fixed backoff and an overall deadline, and the
// created task's name is printed on standard output.
//
// Usage:
//
//	enqueue --stack dev --body '{"message":"hello"}'
//	enqueue --outputs outputs.json --queue sample-queue --body-file job.json --delay 10m
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

func main() { cli.Main(command.Name, run, opstool.Interrupt) }

// run parses args, checks every input, creates the task and prints its name
// on stdout. stdin is read only for --body-file -. Every input refused is
// a usage error, --help prints the usage on stdout.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req, opts, err := parse(ctx, args, stdin, stdout)
	if err != nil {
		return command.UsageError(err)
	}
	name, err := enqueue(ctx, req, opts, stderr)
	if err != nil {
		if ctx.Err() != nil {
			return cli.WithExit(opstool.ExitInterrupted, err)
		}
		return err
	}
	fmt.Fprintln(stdout, name)
	return nil
}
