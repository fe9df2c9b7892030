package opstool

import "github.com/asyncjobs/asyncjobs/internal/command/cli"

// Exit statuses of the operations commands. docs/operations.md lists them;
// keep the two in step. A command returns them as cli.ExitErrors.
const (
	// ExitOK: the run did everything it was asked to.
	ExitOK = cli.ExitOK
	// ExitFailed: the run failed (a publish or a call to Google Cloud
	// failed, a file could not be read); nothing was lost, and what failed
	// is still where it was.
	ExitFailed = cli.ExitFailed
	// ExitUsage: the command line or an input was refused before any
	// call to Google Cloud was made.
	ExitUsage = cli.ExitUsage
	// ExitNotAcknowledged: messages were republished but could not be
	// acknowledged on the dead-letter subscription; a later replay would
	// publish them a second time.
	ExitNotAcknowledged = 3
	// ExitIncomplete: the run stopped while matching messages may still be
	// waiting (the backlog was not exhausted); run it again.
	ExitIncomplete = 4
	// ExitInterrupted: the run was stopped by Ctrl-C (SIGINT) or SIGTERM;
	// 128 + SIGINT, as shells report it.
	ExitInterrupted = cli.ExitInterrupted
)

// ExitStatusHelp is the exit-status section of the commands' --help.
const ExitStatusHelp = `Exit status:
  0    done: everything asked for was done
  1    failed: a publish or a Google Cloud call failed (nothing lost)
  2    usage: the command line or an input was refused; nothing was called
  3    not acknowledged: republished, but left on the dead-letter
       subscription; a later replay would publish those messages again
  4    incomplete: stopped with matching messages possibly left; run again
  130  interrupted (Ctrl-C or SIGTERM); unfinished work was handed back`

// Interrupt is what the operations commands say when Ctrl-C stops them:
// the first hands unfinished work back, a second exits at once.
//
//	func main() { cli.Main("enqueue", run, opstool.Interrupt) }
var Interrupt = cli.OnInterrupt(
	"stopping and handing unfinished work back",
	"exiting at once; messages still held return to their subscription by themselves within their ack deadline")
