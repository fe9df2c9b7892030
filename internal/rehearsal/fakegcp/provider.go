package fakegcp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version is the pulumi-gcp release the stand-in answers for: the Go SDK
// v7.38.0 asks the engine for plugin gcp 7.38.0.
const Version = "7.38.0"

// Options configure a Server. Zero values take the process environment
// and the wall clock.
type Options struct {
	// StateDir is the fake Google project store (StateDirEnv).
	StateDir string
	// Getenv reads the cluster variables and the provider's project
	// fallbacks (default os.Getenv).
	Getenv func(string) string
	// Now timestamps tombstones and creations (default time.Now).
	Now func() time.Time
}

// Server is the stand-in gcp resource provider.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer

	opts Options

	mu      sync.Mutex
	project string
	region  string
	actAs   *ActAs // the actAs rule (actas.go), nil when off
}

// New returns a provider with the given options.
func New(opts Options) *Server {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts}
}

// NewFromEnv returns a provider configured from the process environment.
func NewFromEnv() *Server {
	return New(Options{StateDir: os.Getenv(StateDirEnv)})
}

func (s *Server) getenv(k string) string { return s.opts.Getenv(k) }

func (s *Server) config() (project, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.project, s.region
}

func (s *Server) withState(write bool, fn func(*state) error) error {
	return withState(s.opts.StateDir, write, fn)
}

// GetPluginInfo reports the pulumi-gcp version the stand-in replaces.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// GetSchema returns a minimal schema: the Go SDK does not need it.
func (s *Server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"gcp","version":%q}`, Version)}, nil
}

// CheckConfig accepts the provider configuration as given.
func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports a change (never a replacement) when project or region
// change.
func (s *Server) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	oldsPB := req.GetOldInputs()
	if oldsPB == nil {
		oldsPB = req.GetOlds()
	}
	olds, err := unmarshal(oldsPB, "DiffConfig.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "DiffConfig.news")
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	for _, k := range []string{"project", "region"} {
		o, n := olds[resource.PropertyKey(k)], news[resource.PropertyKey(k)]
		var ch []change
		diffValue(resource.PropertyPath{k}, o, n, &ch)
		for _, c := range ch {
			resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
			resp.Diffs = append(resp.Diffs, k)
			resp.DetailedDiff[c.path.String()] = &pulumirpc.PropertyDiff{Kind: c.kind, InputDiff: true}
		}
	}
	return resp, nil
}

// Configure records the provider's project and region. The project falls
// back to the environment variables pulumi-gcp reads.
func (s *Server) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	if s.opts.StateDir == "" {
		return nil, status.Errorf(codes.FailedPrecondition,
			"fakegcp: %s is not set: the stand-in gcp provider keeps its fake Google project in that directory, "+
				"shared by every plugin process of one test; point it at a temporary directory", StateDirEnv)
	}
	args, err := unmarshal(req.GetArgs(), "Configure.args")
	if err != nil {
		return nil, err
	}
	pick := func(key string, envs ...string) string {
		if v := str(args, key); v != "" {
			return v
		}
		if v := req.GetVariables()["gcp:config:"+key]; v != "" {
			return v
		}
		for _, e := range envs {
			if v := s.getenv(e); v != "" {
				return v
			}
		}
		return ""
	}
	rule, err := ActAsFromEnv(s.getenv)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.actAs = rule
	s.project = pick("project", "GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
	s.region = pick("region", "GOOGLE_REGION", "GCLOUD_REGION", "CLOUDSDK_COMPUTE_REGION")
	s.mu.Unlock()
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func typeOf(urn, typ string) string {
	if typ != "" {
		return typ
	}
	return string(resource.URN(urn).Type())
}

func (s *Server) newCall(k *kind, urn string, in resource.PropertyMap) *call {
	project, region := s.config()
	c := &call{k: k, urn: urn, in: in, region: region, getenv: s.getenv}
	c.project = str(in, "project")
	if c.project == "" && k.project {
		c.project = project
	}
	return c
}

// Check returns the inputs as given, with the bridge's additions: an
// autonamed name when the program set none, and the __defaults list. It
// reports the validation failures the real provider reports at plan time.
func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "Check.news")
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "Check.olds")
	if err != nil {
		return nil, err
	}
	var filled []resource.PropertyValue
	if k.autoName {
		if _, ok := news["name"]; !ok {
			name := ""
			if old := str(olds, "name"); old != "" && autonamed(olds) {
				name = old
			} else {
				name = autoName(resource.URN(req.GetUrn()).Name(), req.GetRandomSeed())
			}
			set(news, "name", name)
			filled = append(filled, resource.NewStringProperty("name"))
		}
	}
	news[defaultsKey] = resource.NewArrayProperty(filled)

	var failures []*pulumirpc.CheckFailure
	for _, r := range k.required {
		if _, ok := get(news, r); !ok {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: r,
				Reason: fmt.Sprintf("Missing required argument. The argument %q is required, but no definition was found.",
					r),
			})
		}
	}
	if k.validate != nil {
		failures = append(failures, k.validate(news)...)
	}
	ins, err := marshal(news, "Check.inputs", true)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: ins, Failures: failures}, nil
}

// autoName is the bridge's AutoName: <logical name>-<7 random hex chars>,
// random from the engine's seed so that previews and updates agree.
func autoName(logical string, seed []byte) string {
	if len(seed) == 0 {
		seed = make([]byte, 16)
		_, _ = rand.Read(seed)
	}
	sum := sha256.Sum256(seed)
	return logical + "-" + hex.EncodeToString(sum[:])[:7]
}

// Diff compares the old inputs with the new ones.
func (s *Server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	oldsPB := req.GetOldInputs()
	if oldsPB == nil {
		oldsPB = req.GetOlds()
	}
	olds, err := unmarshal(oldsPB, "Diff.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "Diff.news")
	if err != nil {
		return nil, err
	}
	project, region := s.config()
	return k.diff(olds, news, project, region), nil
}

// baseOutputs are the inputs plus what Terraform fills in from them:
// project, schema defaults, effective labels, the ID.
func (c *call) baseOutputs() resource.PropertyMap {
	outs := resource.PropertyMap{}
	for key, v := range c.in {
		if key != defaultsKey {
			outs[key] = v
		}
	}
	if c.k.project && c.project != "" {
		if _, ok := get(outs, "project"); !ok {
			set(outs, "project", c.project)
		}
	}
	for key, d := range c.k.defaults {
		if _, ok := get(outs, key); !ok {
			outs[resource.PropertyKey(key)] = resource.NewPropertyValue(d)
		}
	}
	if c.k.labels != "" {
		labels := resource.NewObjectProperty(resource.PropertyMap{})
		if v, ok := c.in[resource.PropertyKey(c.k.labels)]; ok && present(v) {
			labels = v
		}
		outs["effectiveLabels"] = labels
		outs["pulumiLabels"] = labels
	}
	return outs
}

// Create makes the object in the fake Google (apply) or predicts its
// outputs (preview: server-assigned values unknown, nothing stored).
func (s *Server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	ins, err := unmarshal(req.GetProperties(), "Create.properties")
	if err != nil {
		return nil, err
	}
	c := s.newCall(k, req.GetUrn(), ins)

	if req.GetPreview() {
		outs := c.baseOutputs()
		for _, key := range k.computed {
			if _, ok := get(ins, key); !ok || key == "masterAuth" {
				outs[resource.PropertyKey(key)] = unknown()
			}
		}
		outs["id"] = unknown()
		props, err := marshal(outs, "Create.outputs", true)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}

	if err := k.identify(c); err != nil {
		return nil, err
	}
	var outs resource.PropertyMap
	err = s.withState(true, func(st *state) error {
		if k.serverID != nil {
			st.Counter++
			k.serverID(c, st.Counter)
		}
		if t, ok := st.Tombstones[c.key]; ok {
			if s.opts.Now().Sub(t) < k.tombstone {
				return status.Errorf(codes.AlreadyExists, "Error creating %s %q: googleapi: Error 409: %s, alreadyExists",
					k.title, c.short, k.tombstoneMsg)
			}
			delete(st.Tombstones, c.key)
		}
		outs = c.baseOutputs()
		if existing := st.Resources[c.key]; existing != nil {
			if !k.idempotent {
				return status.Errorf(codes.AlreadyExists,
					"Error creating %s %q: googleapi: Error 409: Resource already exists in the project (resource=%s)., alreadyExists",
					k.title, c.id, c.short)
			}
			// Additive: granting a role again or enabling an enabled API
			// changes nothing in Google.
			addHolder(existing, c.urn)
			if k.compute != nil {
				if err := k.compute(c, st, outs); err != nil {
					return err
				}
			}
			set(outs, "id", c.id)
			return nil
		}
		if k.refs != nil {
			for _, r := range k.refs(c) {
				if st.Resources[r.key] == nil {
					return status.Errorf(codes.NotFound,
						"Error creating %s %q: googleapi: Error 404: Resource not found (resource=%s): the %s does not exist, notFound",
						k.title, c.short, r.key, r.what)
				}
			}
		}
		if err := s.metricsAvailable("creating", k, c, st); err != nil {
			return err
		}
		if err := s.actAsRule().check(st, k, c.in, c.short, "creating", s.opts.Now()); err != nil {
			return err
		}
		st.Incarnations[c.key]++
		if k.compute != nil {
			if err := k.compute(c, st, outs); err != nil {
				return err
			}
		}
		set(outs, "id", c.id)
		st.Resources[c.key] = &StoredResource{
			Type:    k.token,
			ID:      c.id,
			Key:     c.key,
			Project: c.project,
			Inputs:  plainMap(ins),
			Outputs: plainMap(outs),
			Holders: []string{c.urn},
			Target:  c.target,
			Created: s.opts.Now(),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	props, err := marshal(outs, "Create.outputs", false)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: c.id, Properties: props}, nil
}

// find looks the object of a request up in the store.
func (s *Server) find(st *state, k *kind, id string, props ...resource.PropertyMap) *StoredResource {
	project := ""
	for _, p := range props {
		if project = str(p, "project"); project != "" {
			break
		}
	}
	if project == "" && k.project {
		project, _ = s.config()
	}
	return st.find(k.token, id, project)
}

// Read returns what the fake Google holds (refresh, import), or no ID when
// the object is gone.
func (s *Server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	stateProps, err := unmarshal(req.GetProperties(), "Read.properties")
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetInputs(), "Read.inputs")
	if err != nil {
		return nil, err
	}
	var found *StoredResource
	var outs, ins resource.PropertyMap
	err = s.withState(false, func(st *state) error {
		r := s.find(st, k, req.GetId(), stateProps, inputs)
		if r == nil {
			return nil
		}
		cp := *r
		found = &cp
		outs, ins = fromPlain(r.Outputs), fromPlain(r.Inputs)
		if k.onRead != nil {
			k.onRead(st, r, outs, ins)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return &pulumirpc.ReadResponse{}, nil
	}
	annotateSecrets(outs, stateProps)
	annotateSecrets(ins, inputs)
	if d, ok := inputs[defaultsKey]; ok {
		ins[defaultsKey] = d
	} else {
		ins[defaultsKey] = resource.NewArrayProperty(nil)
	}
	props, err := marshal(outs, "Read.outputs", false)
	if err != nil {
		return nil, err
	}
	inProps, err := marshal(ins, "Read.inputs", false)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: found.ID, Properties: props, Inputs: inProps}, nil
}

// Update changes an existing object in place.
func (s *Server) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "Update.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "Update.news")
	if err != nil {
		return nil, err
	}
	oldsPB := req.GetOldInputs()
	oldInputs, err := unmarshal(oldsPB, "Update.oldInputs")
	if err != nil {
		return nil, err
	}
	c := s.newCall(k, req.GetUrn(), news)

	// Outputs: the old ones (Google's computed values stay), minus inputs
	// the program dropped (unless Google keeps them), plus the new inputs.
	outs := olds.Copy()
	keep := map[string]bool{}
	for _, key := range k.keepIfAbsent {
		keep[key] = true
	}
	for key := range oldInputs {
		if _, ok := news[key]; !ok && !keep[string(key)] {
			delete(outs, key)
		}
	}
	for key, v := range c.baseOutputs() {
		outs[key] = v
	}
	outs["id"] = resource.NewStringProperty(req.GetId())

	if req.GetPreview() {
		props, err := marshal(outs, "Update.outputs", true)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.UpdateResponse{Properties: props}, nil
	}
	if k.onUpdate != nil {
		k.onUpdate(olds, news, outs)
	}
	err = s.withState(true, func(st *state) error {
		r := s.find(st, k, req.GetId(), olds, oldInputs)
		if r == nil {
			return status.Errorf(codes.NotFound,
				"Error updating %s %q: googleapi: Error 404: Resource not found (resource=%s), notFound",
				k.title, req.GetId(), req.GetId())
		}
		if err := s.metricsAvailable("updating", k, c, st); err != nil {
			return err
		}
		if err := s.actAsRule().check(st, k, news, req.GetId(), "updating", s.opts.Now()); err != nil {
			return err
		}
		r.Inputs = plainMap(news)
		r.Outputs = plainMap(outs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	props, err := marshal(outs, "Update.outputs", false)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete removes the object as Google would; a missing object is not an
// error (the provider treats 404 on delete as gone).
func (s *Server) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	k, err := lookupKind(typeOf(req.GetUrn(), req.GetType()))
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetProperties(), "Delete.properties")
	if err != nil {
		return nil, err
	}
	oldInputs, err := unmarshal(req.GetOldInputs(), "Delete.oldInputs")
	if err != nil {
		return nil, err
	}
	c := s.newCall(k, req.GetUrn(), oldInputs)
	err = s.withState(true, func(st *state) error {
		r := s.find(st, k, req.GetId(), olds, oldInputs)
		if r == nil {
			return nil
		}
		key := r.Key
		switch {
		case k.iam:
			// Removing a member removes it from the policy, whoever else
			// declared the same binding.
			st.remove(key)
		case k.onDelete != nil:
			if err := k.onDelete(c, st, r, olds); err != nil {
				return err
			}
		default:
			st.remove(key)
		}
		if k.tombstone > 0 && st.Resources[key] == nil {
			st.Tombstones[key] = s.opts.Now()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Invoke answers the functions (data sources) the program calls.
func (s *Server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	args, err := unmarshal(req.GetArgs(), "Invoke.args")
	if err != nil {
		return nil, err
	}
	ret, err := s.invoke(req.GetTok(), args)
	if err != nil {
		return nil, err
	}
	out, err := marshal(ret, "Invoke.return", false)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: out}, nil
}

// Cancel has nothing to stop: every operation is immediate.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// GetMapping has no Terraform mappings to offer.
func (s *Server) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

// Attach accepts the engine address when started in attach mode.
func (s *Server) Attach(context.Context, *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
