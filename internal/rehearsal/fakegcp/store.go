package fakegcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// StateDirEnv names the directory of the fake Google project store that
// every plugin process of one test shares. It is required.
const StateDirEnv = "ASYNCJOBS_FAKEGCP_STATE_DIR"

const (
	storeFile = "gcp-store.json"
	lockFile  = "gcp-store.lock"
)

// StoredResource is one object as the fake Google holds it: what exists in
// the cloud, independent of any Pulumi state.
type StoredResource struct {
	// Type is the Pulumi type token of the resource that created it.
	Type string `json:"type"`
	// ID is the Pulumi ID the provider returned for it.
	ID string `json:"id"`
	// Key is the canonical Google resource path, unique in the store.
	Key string `json:"key"`
	// Project is the project the object lives in ("" for global objects).
	Project string `json:"project,omitempty"`
	// Inputs and Outputs are plain values (secrets unwrapped: Google stores
	// them in the clear).
	Inputs  map[string]any `json:"inputs"`
	Outputs map[string]any `json:"outputs"`
	// Holders are the URNs of the resources that created or adopted it:
	// several for an IAM binding or an enabled API declared by several
	// stacks, none once every holder has let go of an object Google keeps
	// (a KMS key ring, an API left enabled).
	Holders []string `json:"holders"`
	// Target is, for an IAM binding, the Key of the resource it is on.
	Target string `json:"target,omitempty"`
	// Created is when a stack made the object (an IAM binding takes effect
	// a while later, see actas.go; a metric is known to Monitoring a while
	// later, see metrics.go); zero for seeded objects.
	Created time.Time `json:"created,omitzero"`
}

// state is the whole store file.
type state struct {
	Resources map[string]*StoredResource `json:"resources"`
	// Tombstones: keys deleted recently whose names Google does not give
	// out again for a while (Cloud Tasks queues, workload identity pools).
	Tombstones map[string]time.Time `json:"tombstones,omitempty"`
	// Counter numbers server-assigned IDs (alert policies, channels,
	// dashboards) so that they are deterministic for a given history.
	Counter int64 `json:"counter"`
	// Incarnations counts creations per key (a recreated service account
	// gets a new unique ID).
	Incarnations map[string]int `json:"incarnations,omitempty"`
}

func newState() *state {
	return &state{
		Resources:    map[string]*StoredResource{},
		Tombstones:   map[string]time.Time{},
		Incarnations: map[string]int{},
	}
}

// Store is a snapshot of the fake Google project store, for tests.
type Store struct {
	st *state
}

// LoadStore reads the store in dir (an empty store if none was written).
func LoadStore(dir string) (*Store, error) {
	var out *state
	err := withState(dir, false, func(st *state) error {
		out = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Store{st: out}, nil
}

// Resources lists every object in the store, sorted by type then key.
func (s *Store) Resources() []StoredResource {
	out := make([]StoredResource, 0, len(s.st.Resources))
	for _, r := range s.st.Resources {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// ByType lists the objects created through the given Pulumi type token.
func (s *Store) ByType(typ string) []StoredResource {
	var out []StoredResource
	for _, r := range s.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Get returns the object with the given Pulumi type and ID.
func (s *Store) Get(typ, id string) (StoredResource, bool) {
	for _, r := range s.Resources() {
		if r.Type == typ && r.ID == id {
			return r, true
		}
	}
	return StoredResource{}, false
}

// Seed adds an object that exists in the fake Google without any stack
// having created it (a pre-existing cluster, a service account made by
// hand). Key defaults to ID; Holders stay as given (usually none).
func Seed(dir string, r StoredResource) error {
	if r.Type == "" || r.ID == "" {
		return errors.New("fakegcp: Seed needs Type and ID")
	}
	if r.Key == "" {
		r.Key = r.ID
	}
	return withState(dir, true, func(st *state) error {
		if _, ok := st.Resources[r.Key]; ok {
			return fmt.Errorf("fakegcp: %s already exists in the store", r.Key)
		}
		cp := r
		st.Resources[r.Key] = &cp
		return nil
	})
}

// Remove deletes an object behind Pulumi's back (as someone with the
// console would), with the side effects Google has: bindings on it go too.
// It reports whether the object existed.
func Remove(dir, typ, id string) (bool, error) {
	found := false
	err := withState(dir, true, func(st *state) error {
		for key, r := range st.Resources {
			if r.Type == typ && r.ID == id {
				found = true
				st.remove(key)
				return nil
			}
		}
		return nil
	})
	return found, err
}

// remove deletes an object and every IAM binding on it (Google drops the
// policy of a deleted resource; a recreated one starts with an empty one).
func (st *state) remove(key string) {
	delete(st.Resources, key)
	for k, r := range st.Resources {
		if r.Target == key {
			delete(st.Resources, k)
		}
	}
}

// find returns the stored object for a Pulumi type and ID (and project,
// for types whose ID is not unique across projects).
func (st *state) find(typ, id, project string) *StoredResource {
	var hit *StoredResource
	for _, r := range st.Resources {
		if r.Type != typ || r.ID != id {
			continue
		}
		if project != "" && r.Project != "" && r.Project != project {
			continue
		}
		if hit == nil || r.Key < hit.Key {
			hit = r
		}
	}
	return hit
}

// procMu serialises store access within one process; the file lock does
// it across the plugin processes of several stacks.
var procMu sync.Mutex

// withState runs fn on the store of dir under a file lock, writing the
// result back when write is set.
func withState(dir string, write bool, fn func(*state) error) error {
	if dir == "" {
		return errors.New("fakegcp: " + StateDirEnv + " is not set: the stand-in gcp provider keeps the fake " +
			"Google project in that directory (shared by every plugin process of a test); set it to a temporary directory")
	}
	procMu.Lock()
	defer procMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fakegcp: state directory: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("fakegcp: lock file: %w", err)
	}
	defer lf.Close()
	how := syscall.LOCK_SH
	if write {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(lf.Fd()), how); err != nil {
		return fmt.Errorf("fakegcp: lock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too

	st := newState()
	path := filepath.Join(dir, storeFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("fakegcp: read store: %w", err)
	default:
		if err := json.Unmarshal(b, st); err != nil {
			return fmt.Errorf("fakegcp: corrupt store %s: %w", path, err)
		}
		if st.Resources == nil {
			st.Resources = map[string]*StoredResource{}
		}
		if st.Tombstones == nil {
			st.Tombstones = map[string]time.Time{}
		}
		if st.Incarnations == nil {
			st.Incarnations = map[string]int{}
		}
	}
	if err := fn(st); err != nil {
		return err
	}
	if !write {
		return nil
	}
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("fakegcp: encode store: %w", err)
	}
	tmp, err := os.CreateTemp(dir, storeFile+".*")
	if err != nil {
		return fmt.Errorf("fakegcp: write store: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("fakegcp: write store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("fakegcp: write store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fakegcp: write store: %w", err)
	}
	return nil
}

func addHolder(r *StoredResource, urn string) {
	if urn == "" {
		return
	}
	for _, h := range r.Holders {
		if h == urn {
			return
		}
	}
	r.Holders = append(r.Holders, urn)
}

func dropHolder(r *StoredResource, urn string) {
	out := r.Holders[:0]
	for _, h := range r.Holders {
		if h != urn {
			out = append(out, h)
		}
	}
	r.Holders = out
}
