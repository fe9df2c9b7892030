package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

// target is where the task goes, and where each value came from.
type target struct {
	queuePath, url, audience, serviceAccount string
	workerTimeout                            time.Duration
	from                                     map[string]string // field -> origin, for messages
}

func (t *target) origin(field string) string {
	if o, ok := t.from[field]; ok {
		return o
	}
	return "--" + field
}

// resolveTarget reads the stack outputs, if any, and applies the explicit
// flags over them.
func resolveTarget(ctx context.Context, f *flags) (*target, error) {
	t := &target{from: map[string]string{}}
	outs, err := f.common.LoadOutputs(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case outs != nil:
		name, q, err := outs.Queue(f.queue)
		if err != nil {
			return nil, err
		}
		t.queuePath, t.url, t.audience, t.serviceAccount = q.QueuePath, q.WorkerURL, q.Audience, q.InvokerServiceAccount
		t.workerTimeout = time.Duration(q.WorkerTimeoutSeconds) * time.Second
		for field, key := range map[string]string{"queue-path": "queuePath", "url": "workerUrl", "audience": "audience", "service-account": "invokerServiceAccount"} {
			t.from[field] = fmt.Sprintf("queues[%q].%s in the stack outputs", name, key)
		}
	case f.queue != "":
		return nil, fmt.Errorf("--queue=%q needs the stack outputs: add --outputs FILE or --stack NAME, or give --queue-path", f.queue)
	}
	override := func(field, value string, dst *string) {
		if value != "" {
			*dst = value
			delete(t.from, field)
		}
	}
	override("queue-path", f.queuePath, &t.queuePath)
	override("url", f.url, &t.url)
	override("audience", f.audience, &t.audience)
	override("service-account", f.serviceAccount, &t.serviceAccount)
	if t.audience == "" && t.url != "" {
		// Cloud Run accepts its own URL as audience; say so explicitly
		// rather than let Cloud Tasks derive it from the full task URL,
		// which includes --path.
		t.audience = t.url
	}
	return t, nil
}

func checkTarget(t *target) error {
	var errs []error
	if t.queuePath == "" {
		errs = append(errs, errors.New("no queue: give --outputs FILE or --stack NAME (with --queue NAME when the stack has several queues), "+
			"or --queue-path projects/P/locations/L/queues/Q"))
	} else if err := opstool.CheckQueuePath(t.queuePath); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", t.origin("queue-path"), err))
	}
	if t.url == "" {
		errs = append(errs, errors.New("no worker URL: give --url https://... or the stack outputs"))
	} else if err := checkBaseURL(t.url); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: %w", t.origin("url"), t.url, err))
	}
	if t.serviceAccount == "" {
		errs = append(errs, errors.New("no invoker service account: give --service-account EMAIL or the stack outputs"))
	} else if err := opstool.CheckServiceAccount(t.serviceAccount); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", t.origin("service-account"), err))
	}
	if strings.TrimSpace(t.audience) != t.audience {
		errs = append(errs, fmt.Errorf("%s=%q: surrounding spaces are not allowed", t.origin("audience"), t.audience))
	}
	return errors.Join(errs...)
}

// checkBaseURL accepts an absolute https URL without query or fragment,
// since --path is appended to it and OIDC tokens must not travel in clear.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return errors.New("want an absolute https:// URL (the task carries an OIDC token)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want a base URL without query or fragment (use --path for the rest)")
	}
	return nil
}

// joinURL appends path (which may carry a query) to the base URL.
func joinURL(base, path string) (string, error) {
	if path == "" {
		return base, nil
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("--path=%q: must start with /", path)
	}
	full := strings.TrimSuffix(base, "/") + path
	if _, err := url.Parse(full); err != nil {
		return "", fmt.Errorf("--path=%q: %w", path, err)
	}
	return full, nil
}
