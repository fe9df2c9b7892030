package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// transientCodes are the errors worth another attempt: google.api_core's
// defaults for transient failures.
var transientCodes = map[codes.Code]bool{
	codes.Unavailable:       true,
	codes.DeadlineExceeded:  true,
	codes.ResourceExhausted: true,
	codes.Internal:          true,
}

// createFunc is one CreateTask call.
type createFunc func(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error)

// enqueue dials Cloud Tasks and creates the task, returning its name.
func enqueue(ctx context.Context, req *cloudtaskspb.CreateTaskRequest, s *settings, stderr io.Writer) (string, error) {
	opts, err := s.common.ClientOptions(ctx)
	if err != nil {
		return "", err
	}
	client, err := cloudtasks.NewClient(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("connect to Cloud Tasks: %w", err)
	}
	defer client.Close()
	create := func(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
		return client.CreateTask(ctx, req)
	}
	return createWithRetry(ctx, create, req, s.retry, s.generatedName, stderr)
}

// createWithRetry calls create until it succeeds, fails permanently, or the
// policy's deadline passes. Every attempt sends the same task name, so a
// retry after a lost response cannot create a second task.
func createWithRetry(
	ctx context.Context, create createFunc, req *cloudtaskspb.CreateTaskRequest, p retryPolicy, generatedName bool, stderr io.Writer,
) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.deadline)
	defer cancel()
	pause := p.initial
	var lastErr error
	for attempt := 1; ; attempt++ {
		task, err := create(ctx, req)
		if err == nil {
			if task.GetName() != "" {
				return task.GetName(), nil
			}
			return req.GetTask().GetName(), nil
		}
		code := status.Code(err)
		if code == codes.AlreadyExists && attempt > 1 && generatedName {
			// The name is random and an earlier attempt's outcome was
			// unknown: that attempt created the task.
			fmt.Fprintf(stderr, "enqueue: task %s already exists: an earlier attempt created it\n", req.GetTask().GetName())
			return req.GetTask().GetName(), nil
		}
		if code == codes.AlreadyExists {
			return "", fmt.Errorf("create task %s: a task with this name exists or ran within about the last hour (deduplicated): %w", req.GetTask().GetName(), err)
		}
		if !transientCodes[code] {
			return "", fmt.Errorf("create task in %s: %w", req.GetParent(), err)
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "enqueue: attempt %d failed (%s), retrying in %s\n", attempt, code, pause)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		pause = time.Duration(float64(pause) * p.multiplier)
		if pause > p.max {
			pause = p.max
		}
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return "", fmt.Errorf("create task in %s: gave up after the --timeout of %s: %w", req.GetParent(), p.deadline, lastErr)
	}
	return "", fmt.Errorf("create task in %s: %w (last error: %v)", req.GetParent(), context.Cause(ctx), lastErr)
}
