// Package tasklimits holds the facts about Cloud Tasks that both the
// program (validation, warnings) and the enqueue command need, defined
// once and free of the Pulumi SDK so the operator commands stay small.
package tasklimits

import "time"

// Dispatch deadlines of HTTP tasks: google.cloud.tasks.v2.Task.dispatch_deadline
// (https://cloud.google.com/tasks/docs/reference/rpc/google.cloud.tasks.v2#task):
// "The default is 10 minutes. The deadline must be in the interval [15
// seconds, 30 minutes]."
const (
	// DefaultDispatchDeadline applies to tasks created without one.
	DefaultDispatchDeadline = 10 * time.Minute
	// MinDispatchDeadline is the shortest deadline a task may ask for.
	MinDispatchDeadline = 15 * time.Second
	// MaxDispatchDeadline is the longest Cloud Tasks waits for a response.
	MaxDispatchDeadline = 30 * time.Minute
)
