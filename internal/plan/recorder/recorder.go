// Package recorder runs the asyncjobs Pulumi program in-process under the
// Pulumi Go SDK's mock monitor and records the desired state it declares:
// every resource with its inputs as the engine receives them, its options
// and dependencies, every invoke, and the stack outputs. `make plan`, the
// tests and the policy checks all read this record, so the stack is tested
// exactly the way it is planned.
package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Computed stands for a value that exists only after deployment.
const Computed = "<computed>"

// Secret stands for a secret value, which a plan never shows.
const Secret = "<secret>"

// outputsType is the token of the record that captures stack outputs; it is
// never part of the plan's resources.
const outputsType = "asyncjobs:recorder:StackOutputs"

// Options say what to run.
type Options struct {
	Project string
	Stack   string
	// Config is the stack configuration, key ("ns:key") to value, objects as JSON.
	Config map[string]string
	// SecretKeys lists the configuration keys whose values are secret.
	SecretKeys []string
	// Preview runs as `pulumi preview` does: values that only exist after
	// deployment are unknown. Without it, the recorder simulates a
	// deployment and fills them from Simulate.
	Preview bool
}

// Plan is the recorded desired state of a stack.
type Plan struct {
	Project   string         `json:"project"`
	Stack     string         `json:"stack"`
	Preview   bool           `json:"preview"`
	Resources []*Resource    `json:"resources"`
	Invokes   []*Invoke      `json:"invokes"`
	Outputs   map[string]any `json:"outputs"`
	// Logs are the messages the program logged through ctx.Log, in order
	// (the engine shows them in preview and up). Not part of plan.json.
	Logs []Log `json:"-"`
}

// Log is one message the program logged.
type Log struct {
	Severity string // "debug", "info", "warning" or "error"
	Message  string
}

// Resource is one registered resource.
type Resource struct {
	URN                  string              `json:"urn"`
	Type                 string              `json:"type"`
	Name                 string              `json:"name"`
	Custom               bool                `json:"custom"`
	Parent               string              `json:"parent"`
	Provider             string              `json:"provider"`
	Inputs               map[string]any      `json:"inputs"`
	Dependencies         []string            `json:"dependencies"`
	PropertyDependencies map[string][]string `json:"propertyDependencies,omitempty"`
	Protect              bool                `json:"protect"`
	RetainOnDelete       bool                `json:"retainOnDelete"`
	DeleteBeforeReplace  bool                `json:"deleteBeforeReplace,omitempty"`
	ReplaceWith          []string            `json:"replaceWith,omitempty"`
	SecretOutputs        []string            `json:"additionalSecretOutputs,omitempty"`
}

// Invoke is one provider function call and the placeholder it was answered with.
type Invoke struct {
	Token       string         `json:"token"`
	Args        map[string]any `json:"args"`
	Result      map[string]any `json:"result"`
	Placeholder bool           `json:"placeholder"`
}

// runs serialises recordings: the SDK reads configuration from the process
// environment, exactly as under the real engine.
var runs sync.Mutex

// Run records program under opts. The plan is returned even with an error.
func Run(program pulumi.RunFunc, opts Options) (*Plan, error) {
	runs.Lock()
	defer runs.Unlock()

	cfg, err := json.Marshal(opts.Config)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(append([]string{}, opts.SecretKeys...))
	if err != nil {
		return nil, err
	}
	restore := setEnv(map[string]string{"PULUMI_CONFIG": string(cfg), "PULUMI_CONFIG_SECRET_KEYS": string(secretKeys)})
	defer restore()

	m := &monitor{preview: opts.Preview, project: opts.Project, stack: opts.Stack}
	plan := &Plan{Project: opts.Project, Stack: opts.Stack, Preview: opts.Preview}
	logs := &logRecorder{}
	body := func(ctx *pulumi.Context) error {
		logs.inner = ctx.Log
		ctx.Log = logs
		if err := program(ctx); err != nil {
			return err
		}
		// Stack outputs reach the mock monitor only as the inputs of a
		// record the recorder registers itself and keeps out of the plan.
		exports := pulumi.Map{}
		for k, v := range ctx.GetCurrentExportMap() {
			exports[k] = v
		}
		var rec pulumi.CustomResourceState
		return ctx.RegisterResource(outputsType, "outputs", exports, &rec)
	}
	err = pulumi.RunErr(body, pulumi.WithMocks(opts.Project, opts.Stack, m), func(info *pulumi.RunInfo) {
		info.DryRun = opts.Preview
	})
	plan.Resources = m.resources
	plan.Invokes = m.invokes
	plan.Logs = logs.entries()
	plan.Outputs = m.outputs
	if plan.Outputs == nil {
		plan.Outputs = map[string]any{}
	}
	sort.SliceStable(plan.Resources, func(i, j int) bool { return plan.Resources[i].URN < plan.Resources[j].URN })
	// Invokes run on the SDK's goroutines, so their call order varies from
	// run to run: order them by token, then arguments.
	sort.SliceStable(plan.Invokes, func(i, j int) bool {
		a, b := plan.Invokes[i], plan.Invokes[j]
		if a.Token != b.Token {
			return a.Token < b.Token
		}
		return fmt.Sprint(a.Args) < fmt.Sprint(b.Args)
	})
	// On error the plan still holds whatever was registered before it, so
	// callers can check that a rejected configuration registered nothing.
	return plan, err
}

func setEnv(vars map[string]string) func() {
	old := map[string]*string{}
	for k, v := range vars {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

type monitor struct {
	preview bool
	project string
	stack   string

	mu        sync.Mutex
	resources []*Resource
	invokes   []*Invoke
	outputs   map[string]any
}

func (m *monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	if rpc == nil {
		return "", nil, fmt.Errorf("%s %s: reading existing resources is not supported by the recorder", args.TypeToken, args.Name)
	}
	// The SDK's mock monitor drops unknown values when it decodes inputs;
	// decode the request again keeping them, as the engine does.
	inputs, err := plugin.UnmarshalProperties(rpc.GetObject(), plugin.MarshalOptions{
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
	})
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: decoding inputs: %w", args.TypeToken, args.Name, err)
	}
	if args.TypeToken == outputsType {
		m.mu.Lock()
		m.outputs = Plain(resource.NewProperty(inputs)).(map[string]any)
		m.mu.Unlock()
		return "outputs", resource.PropertyMap{}, nil
	}
	r := &Resource{
		URN:                  urn(m, rpc.GetParent(), args.TypeToken, args.Name),
		Type:                 args.TypeToken,
		Name:                 args.Name,
		Custom:               args.Custom,
		Parent:               rpc.GetParent(),
		Provider:             rpc.GetProvider(),
		Inputs:               Plain(resource.NewProperty(inputs)).(map[string]any),
		Dependencies:         sortedCopy(rpc.GetDependencies()),
		PropertyDependencies: map[string][]string{},
		Protect:              rpc.GetProtect(),
		RetainOnDelete:       rpc.GetRetainOnDelete(),
		DeleteBeforeReplace:  rpc.GetDeleteBeforeReplace(),
		ReplaceWith:          sortedCopy(rpc.GetReplaceWith()),
	}
	if so := rpc.GetAdditionalSecretOutputs(); len(so) > 0 {
		r.SecretOutputs = sortedCopy(so)
	}
	for k, deps := range rpc.GetPropertyDependencies() {
		if urns := deps.GetUrns(); len(urns) > 0 {
			r.PropertyDependencies[k] = sortedCopy(urns)
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()

	if !args.Custom {
		return "", resource.PropertyMap{}, nil
	}
	if m.preview {
		// As in a preview of a create: the provider echoes the inputs and
		// everything else (ids, e-mails, URLs) is unknown.
		return "", args.Inputs, nil
	}
	id, outs := Simulate(args.TypeToken, args.Name, args.Inputs)
	return id, outs, nil
}

func (m *monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	result, ok := placeholders[args.Token]
	if !ok {
		return nil, fmt.Errorf("invoke %s has no placeholder in the recorder; add one to record plans offline", args.Token)
	}
	out := result(args.Args)
	m.mu.Lock()
	m.invokes = append(m.invokes, &Invoke{
		Token:       args.Token,
		Args:        Plain(resource.NewProperty(args.Args)).(map[string]any),
		Result:      Plain(resource.NewProperty(out)).(map[string]any),
		Placeholder: true,
	})
	m.mu.Unlock()
	return out, nil
}

// urn mirrors the mock monitor's URN scheme so records can name parents.
func urn(m *monitor, parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.stack), tokens.PackageName(m.project), parentType, tokens.Type(typ), name))
}

func sortedCopy(in []string) []string {
	if len(in) == 0 {
		return []string{}
	}
	out := append([]string{}, in...)
	sort.Strings(out)
	return out
}

// Plain turns a property value into plain JSON-able Go values: unknowns
// become Computed, secrets Secret, resource references their URN.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsComputed():
		return Computed
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return Secret
		}
		if !o.Known {
			return Computed
		}
		return Plain(o.Element)
	case v.IsSecret():
		return Secret
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = Plain(e)
		}
		return out
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			out[string(k)] = Plain(e)
		}
		return out
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	default:
		return fmt.Sprintf("<%s>", v.TypeString())
	}
}

// Find returns the resource of the given type and logical name, or nil.
func (p *Plan) Find(typ, name string) *Resource {
	for _, r := range p.Resources {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	return nil
}

// ByType returns every resource of a type, in URN order.
func (p *Plan) ByType(typ string) []*Resource {
	var out []*Resource
	for _, r := range p.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Input reads a dotted path ("template.containers.0.image") from the inputs.
func (r *Resource) Input(path string) (any, bool) { return Lookup(r.Inputs, path) }

// Lookup reads a dotted path from nested maps and lists.
func Lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// logRecorder keeps every message the program logs and passes it on.
type logRecorder struct {
	inner pulumi.Log
	mu    sync.Mutex
	logs  []Log
}

func (l *logRecorder) add(severity, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, Log{Severity: severity, Message: msg})
}

func (l *logRecorder) entries() []Log {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Log(nil), l.logs...)
}

func (l *logRecorder) Debug(msg string, args *pulumi.LogArgs) error {
	l.add("debug", msg)
	return l.inner.Debug(msg, args)
}

func (l *logRecorder) Info(msg string, args *pulumi.LogArgs) error {
	l.add("info", msg)
	return l.inner.Info(msg, args)
}

func (l *logRecorder) Warn(msg string, args *pulumi.LogArgs) error {
	l.add("warning", msg)
	return l.inner.Warn(msg, args)
}

func (l *logRecorder) Error(msg string, args *pulumi.LogArgs) error {
	l.add("error", msg)
	return l.inner.Error(msg, args)
}
