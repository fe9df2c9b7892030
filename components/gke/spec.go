package gke

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Spec is the cluster configuration.
type Spec struct {
	Name      string `json:"name" doc:"GKE cluster name (required when the stack has Kubernetes workloads)"`
	Project   string `json:"project" doc:"project of the cluster (default: gcp:project)"`
	Location  string `json:"location" doc:"cluster region or zone (default: the stack region)"`
	Create    bool   `json:"create" doc:"create a GKE Autopilot cluster with Workload Identity instead of using an existing one"`
	Namespace string `json:"namespace" doc:"namespace of the workloads, never default"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
}

// Names are where the cluster is and the physical name of the workloads'
// namespace.
type Names struct {
	// Project is Spec.Project, or the stack's project when it is empty.
	Project string
	// Location is Spec.Location, or the stack's region when it is empty.
	Location string
	// Namespace is Spec.Namespace with the stack's name suffix: stacks
	// that share a cluster (a test stack and its template) then never
	// share a Kubernetes object, and destroying one deletes only its own
	// namespace.
	Namespace string
	// DeletionProtection is a created cluster's: asyncjobs:protect's value,
	// the stack's one protection knob.
	DeletionProtection bool
}

// RetiredKeys lists the keys the cluster configuration no longer has (see
// strictconfig.Retired): gke.deletionProtection was a second protection
// knob.
func (Spec) RetiredKeys() map[string]string {
	return map[string]string{
		"deletionProtection": "a created cluster's deletion protection follows asyncjobs:protect; delete this key",
	}
}

// DefaultSpec returns the defaults.
func DefaultSpec() Spec { return Spec{Namespace: "asyncjobs"} }

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// NodeAccountSuffix ends the id of a created cluster's node service account.
const NodeAccountSuffix = "-nodes"

// NodeAccountID is the account id of a created cluster's node service
// account: the cluster name and NodeAccountSuffix.
func (s Spec) NodeAccountID() string { return s.Name + NodeAccountSuffix }

// Validate checks the resolved cluster settings.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), "the GKE cluster the workloads run on"))
	} else {
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			errs = append(errs, field.Invalid(path.Child("name"), s.Name, "GKE cluster names: "+msg))
		}
		if len(s.Name) > 40 {
			errs = append(errs, field.TooLong(path.Child("name"), s.Name, 40))
		}
	}
	if s.Project != "" {
		errs = append(errs, gcpname.ValidateProject(path.Child("project"), s.Project)...)
	}
	for _, msg := range validation.IsDNS1123Label(s.Namespace) {
		errs = append(errs, field.Invalid(path.Child("namespace"), s.Namespace, msg))
	}
	switch s.Namespace {
	case "default", "kube-system", "kube-public", "kube-node-lease":
		errs = append(errs, field.Forbidden(path.Child("namespace"), s.Namespace+" is not a namespace for application workloads"))
	}
	if s.Create && s.Name != "" && len(s.NodeAccountID()) > gcpname.MaxServiceAccount {
		errs = append(errs, field.Invalid(path.Child("name"), s.Name, fmt.Sprintf(
			"a created cluster's nodes run as the service account %s, whose id may have at most %d characters: at most %d for the name",
			s.NodeAccountID(), gcpname.MaxServiceAccount, gcpname.MaxServiceAccount-len(NodeAccountSuffix))))
	}
	if s.Names.Namespace != s.Namespace {
		// The namespace gets the stack's suffix: it must stay a label.
		for _, msg := range validation.IsDNS1123Label(s.Names.Namespace) {
			errs = append(errs, field.Invalid(path.Child("namespace"), s.Namespace, fmt.Sprintf("with the name suffix it becomes %q: %s", s.Names.Namespace, msg)))
		}
	}
	return errs
}
