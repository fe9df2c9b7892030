package plantest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Events is the order in which a deployment under the SDK's mocks
// registered resources ("register <type>::<logical name>", e.g.
// "register gcp:cloudrunv2/service:Service::worker", when the registration
// reaches the monitor, i.e. once all its inputs are known) and asked its
// gate ("gate <e-mail>").
type Events struct {
	mu     sync.Mutex
	list   []string
	inputs map[string]resource.PropertyMap
}

func (e *Events) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

// List returns the events in order.
func (e *Events) List() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// Index returns the position of an event, -1 when it did not happen.
func (e *Events) Index(ev string) int { return slices.Index(e.List(), ev) }

// Inputs returns the inputs a resource was registered with, as plain values.
func (e *Events) Inputs(typ, name string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.inputs[typ+"::"+name]
	if !ok {
		return nil
	}
	return recorder.Plain(resource.NewProperty(in)).(map[string]any)
}

// Gate is an actas.Gate for tests: it records every question in Events
// and refuses the accounts in Refuse with their error.
type Gate struct {
	Events *Events
	Refuse map[string]error

	mu    sync.Mutex
	calls map[string]int
}

// Wait records the question and answers it.
func (g *Gate) Wait(_ context.Context, email string) error {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	g.calls[email]++
	g.mu.Unlock()
	if g.Events != nil {
		g.Events.add("gate " + email)
	}
	return g.Refuse[email]
}

// Calls returns how many times the gate was asked, by account.
func (g *Gate) Calls() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for k, v := range g.calls {
		out[k] = v
	}
	return out
}

// RunDeployment runs program under the SDK's mocks as a deployment (not a
// preview), outputs simulated as the recorder does, recording registrations
// in events.
func RunDeployment(program pulumi.RunFunc, events *Events) error {
	return pulumi.RunErr(program, pulumi.WithMocks("asyncjobs", "test", sequenceMonitor{events}), func(info *pulumi.RunInfo) {
		info.DryRun = false
	})
}

type sequenceMonitor struct{ e *Events }

func (m sequenceMonitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	key := args.TypeToken + "::" + args.Name
	m.e.add("register " + key)
	m.e.mu.Lock()
	if m.e.inputs == nil {
		m.e.inputs = map[string]resource.PropertyMap{}
	}
	m.e.inputs[key] = args.Inputs
	m.e.mu.Unlock()
	if !args.Custom {
		return "", resource.PropertyMap{}, nil
	}
	id, outs := recorder.Simulate(args.TypeToken, args.Name, args.Inputs)
	return id, outs, nil
}

func (m sequenceMonitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("%s: functions are not answered by RunDeployment", args.Token)
}
