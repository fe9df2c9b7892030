// Package actas holds a deployment back until the identity running it may
// act as a service account (iam.serviceAccounts.actAs), when the stack
// itself has just granted that permission.
//
// Google documents IAM changes as eventually consistent: usually in effect
// within 2 minutes, sometimes up to 7
// (https://cloud.google.com/iam/docs/access-change-propagation). The
// resources that need the caller's actAs on an account are created through
// pulumi-gcp, which does not retry the refusal. Read in the provider's
// source (hashicorp/terraform-provider-google, on which pulumi-gcp is
// built, and its generator GoogleCloudPlatform/magic-modules):
//
//   - Cloud Run v2 service (template.serviceAccount): the generated resource
//     comes from mmv1/products/cloudrunv2/Service.yaml, which declares no
//     error_retry_predicates
//     (https://github.com/GoogleCloudPlatform/magic-modules/blob/main/mmv1/products/cloudrunv2/Service.yaml),
//     so only the default predicates of google/transport/error_retry_predicates.go
//     apply: network errors, 429, 5xx and a few 409s
//     (https://github.com/hashicorp/terraform-provider-google/blob/main/google/transport/error_retry_predicates.go).
//     IamMemberMissing, the predicate written for exactly this race, is not
//     applied, and it matches only 400s; Cloud Run answers a missing actAs
//     with 403 PERMISSION_DENIED "Permission 'iam.serviceaccounts.actAs'
//     denied on service account ...".
//   - Pub/Sub push subscription (pushConfig.oidcToken.serviceAccountEmail):
//     mmv1/products/pubsub/Subscription.yaml documents that "the caller (for
//     subscriptions.create, subscriptions.patch, and
//     subscriptions.modifyPushConfig RPCs) must have the
//     iam.serviceAccounts.actAs permission for the service account" and
//     declares no retry predicates; the generated create
//     (google/services/pubsub/resource_pubsub_subscription.go) sends one PUT
//     with the default predicates only
//     (https://github.com/GoogleCloudPlatform/magic-modules/blob/main/mmv1/products/pubsub/Subscription.yaml,
//     https://github.com/hashicorp/terraform-provider-google/blob/main/google/services/pubsub/resource_pubsub_subscription.go).
//   - GKE cluster whose nodes run as an account
//     (clusterAutoscaling.autoProvisioningDefaults.serviceAccount): the
//     handwritten create (google/services/container/resource_container_cluster.go)
//     calls Clusters.Create inside transport_tpg.Retry with no
//     ErrorRetryPredicates, so again only the defaults; GKE checks the
//     caller's actAs on the node account when it is asked to create the
//     cluster
//     (https://github.com/hashicorp/terraform-provider-google/blob/main/google/services/container/resource_container_cluster.go).
//
// (Read on the repositories' main branch; pulumi-gcp v7.38.0 bridges an
// older provider release, not compared line by line. Its behaviour is the
// reason for the gate either way: nothing in the program relies on a retry.)
//
// So a first `pulumi up`, and the first up of every test stack, whose
// accounts are new, could fail seconds after the grants it just made. The
// gate closes that race: the account input of each such resource is an
// output that resolves only once the grants exist and Google answers that
// the caller may act as the account.
package actas

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
)

// Permission is what creating a resource that runs as, or mints tokens of,
// a service account needs on it.
const Permission = "iam.serviceAccounts.actAs"

// Role is the narrowest predefined role that holds Permission.
const Role = "roles/iam.serviceAccountUser"

// PropagationURL is Google's page on how long IAM changes take.
const PropagationURL = "https://cloud.google.com/iam/docs/access-change-propagation"

// Defaults of a Checker.
const (
	// DefaultTimeout is the upper bound Google documents for an IAM change
	// to take effect.
	DefaultTimeout = 7 * time.Minute
	// DefaultInterval is the pause between two checks of one account.
	DefaultInterval = 5 * time.Second
	// DefaultConfirmations is how many checks in a row must see the
	// permission. IAM is served by replicas that learn of a change one by
	// one: a single positive answer may come from one that already has it
	// while the service that creates the resource asks another. Two
	// answers a poll interval apart make that much less likely at the cost
	// of one more call.
	DefaultConfirmations = 2
)

// Gate waits until the identity deploying the stack may act as a service
// account. Wait returns nil once it may, or an error saying why it gave up.
type Gate interface {
	Wait(ctx context.Context, email string) error
}

// Await returns account (a service account e-mail) as an output that
// resolves only after every resource in after exists and gate.Wait has
// passed for it: use it as the account input of a resource whose creation
// needs the caller's actAs on the account, with after holding the grants
// that give it. With no gate, or in a preview (nothing is created then), it
// returns account unchanged, so what a preview and the offline recorder show
// is exactly what they showed without the gate.
func Await(ctx *pulumi.Context, gate Gate, account pulumi.StringInput, after []pulumi.Resource) pulumi.StringOutput {
	if gate == nil || ctx.DryRun() {
		return account.ToStringOutput()
	}
	inputs := []any{account}
	for _, r := range after {
		// A custom resource's ID is known once it has been created.
		if c, ok := r.(pulumi.CustomResource); ok {
			inputs = append(inputs, c.ID())
		} else {
			inputs = append(inputs, r.URN())
		}
	}
	return pulumi.All(inputs...).ApplyTWithContext(ctx.Context(), func(goctx context.Context, v []any) (string, error) {
		email, _ := v[0].(string)
		if err := gate.Wait(goctx, email); err != nil {
			return "", err
		}
		return email, nil
	}).(pulumi.StringOutput)
}

// Checker is the Gate a deployment uses: it asks the IAM API
// (projects.serviceAccounts.testIamPermissions) whether the caller holds
// Permission on the account, every Interval, until Confirmations answers in
// a row say yes or Timeout has passed. Each account is checked once per
// Checker (one program run), however many resources wait for it.
type Checker struct {
	// Interval, Timeout and Confirmations default to DefaultInterval,
	// DefaultTimeout and DefaultConfirmations.
	Interval      time.Duration
	Timeout       time.Duration
	Confirmations int
	// DeployersKey names the configuration that lists the identities the
	// stack grants actAs to, for the error message ("" to leave it out).
	DeployersKey string
	// Log, when set, is told when a check has to wait.
	Log func(msg string)

	connect func(ctx context.Context) (*iam.Service, string, error)

	once     sync.Once
	svc      *iam.Service
	identity string
	connErr  error

	mu    sync.Mutex
	waits map[string]*wait
}

type wait struct {
	done chan struct{}
	err  error
}

// NewChecker returns a Checker that reaches the IAM API through connect,
// which returns the client and a description of the identity it calls as
// (an IAM member where known). connect runs once, at the first Wait.
func NewChecker(connect func(ctx context.Context) (*iam.Service, string, error)) *Checker {
	return &Checker{connect: connect}
}

// Wait blocks until the caller may act as email (nil), the bound passes, or
// ctx ends.
func (c *Checker) Wait(ctx context.Context, email string) error {
	c.mu.Lock()
	if c.waits == nil {
		c.waits = map[string]*wait{}
	}
	w, running := c.waits[email]
	if !running {
		w = &wait{done: make(chan struct{})}
		c.waits[email] = w
	}
	c.mu.Unlock()
	if running {
		select {
		case <-w.done:
			return w.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.err = c.poll(ctx, email)
	close(w.done)
	return w.err
}

func (c *Checker) settings() (interval, timeout time.Duration, confirmations int) {
	interval, timeout, confirmations = c.Interval, c.Timeout, c.Confirmations
	if interval <= 0 {
		interval = DefaultInterval
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if confirmations <= 0 {
		confirmations = DefaultConfirmations
	}
	return interval, timeout, confirmations
}

// answer classifies one testIamPermissions call.
type answer int

const (
	granted answer = iota
	notGranted
	forbidden // 403 on testIamPermissions itself
	notFound  // 404: the account is not visible (yet)
	transient // network, 429, 5xx: says nothing either way
	// interrupted: the call was cut short by the bound or the caller.
	interrupted
)

func (c *Checker) poll(ctx context.Context, email string) error {
	if email == "" {
		return errors.New("actas: no service account to check")
	}
	c.once.Do(func() { c.svc, c.identity, c.connErr = c.connect(ctx) })
	if c.connErr != nil {
		return fmt.Errorf("actas: cannot check whether this deployment may act as %s: %w", email, c.connErr)
	}
	interval, timeout, confirmations := c.settings()
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	resource := "projects/-/serviceAccounts/" + email
	req := &iam.TestIamPermissionsRequest{Permissions: []string{Permission}}
	seen, calls, told := 0, 0, false
	// last is the latest answer that was not transient; lastErr its error,
	// or the latest transient error while there was none.
	last, lastErr := transient, error(nil)
	for {
		calls++
		resp, err := c.svc.Projects.ServiceAccounts.TestIamPermissions(resource, req).Context(waitCtx).Do()
		a, err := classify(resp, err)
		if waitCtx.Err() != nil {
			a = interrupted
		}
		switch a {
		case granted:
			seen++
			if seen >= confirmations {
				return nil
			}
		case transient:
			// Says nothing either way: a run of positive answers goes on.
			if last == transient {
				lastErr = err
			}
		case notGranted, forbidden, notFound:
			if a == notGranted && err != nil {
				// A bad request or bad credentials: waiting will not help.
				return fmt.Errorf("actas: checking whether %s may act as %s: %w", c.identity, email, err)
			}
			seen, last, lastErr = 0, a, err
			if !told && c.Log != nil {
				told = true
				c.Log(fmt.Sprintf("waiting until %s may act as %s: IAM changes take up to %s to take effect (%s)",
					c.identity, email, timeout, PropagationURL))
			}
		}
		select {
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("actas: stopped waiting until %s may act as %s: %w", c.identity, email, err)
			}
			return c.gaveUp(email, time.Since(start), calls, last, lastErr)
		case <-time.After(interval):
		}
	}
}

// classify sorts an answer of testIamPermissions. err is returned for
// errors that end the wait at once (a bad request, bad credentials).
func classify(resp *iam.TestIamPermissionsResponse, err error) (answer, error) {
	if err == nil {
		for _, p := range resp.Permissions {
			if p == Permission {
				return granted, nil
			}
		}
		return notGranted, nil
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch {
		case gerr.Code == http.StatusForbidden:
			return forbidden, err
		case gerr.Code == http.StatusNotFound:
			return notFound, err
		case gerr.Code == http.StatusTooManyRequests || gerr.Code == http.StatusRequestTimeout || gerr.Code >= 500:
			return transient, err
		default:
			return notGranted, err
		}
	}
	var uerr *url.Error
	var nerr net.Error
	if errors.As(err, &uerr) || errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) {
		return transient, err
	}
	return notGranted, err
}

// gaveUp is the error after the bound: it names the account, the identity
// and the fix.
func (c *Checker) gaveUp(email string, after time.Duration, calls int, last answer, lastErr error) error {
	var why string
	switch last {
	case forbidden:
		why = fmt.Sprintf("testIamPermissions itself was refused (%v): %s cannot even get the account", lastErr, c.identity)
	case notFound:
		why = fmt.Sprintf("the account was not found (%v)", lastErr)
	case transient:
		why = fmt.Sprintf("the IAM API kept failing (%v)", lastErr)
	default:
		why = "Google answered that it lacks " + Permission
	}
	fix := fmt.Sprintf("grant it %s on %s", Role, email)
	if c.DeployersKey != "" {
		fix = fmt.Sprintf("add %s to %s (the stack grants %s on its accounts to those identities), or %s",
			c.identity, c.DeployersKey, Role, fix)
	}
	return fmt.Errorf("actas: %s still may not act as service account %s after %s (%d checks; %s). "+
		"IAM changes take effect within %s (%s), so this is no propagation delay: "+
		"creating what runs as the account would fail with \"Permission 'iam.serviceaccounts.actAs' denied\". Fix: %s",
		c.identity, email, roughly(after), calls, why, DefaultTimeout, PropagationURL, fix)
}

// roughly rounds a wait for a message: to the second, or to the
// millisecond below one (tests).
func roughly(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
