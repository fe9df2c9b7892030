package subscriber

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/workload"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Spec is one subscriber's configuration.
type Spec struct {
	Name         string             `json:"name" doc:"Deployment name, DNS-1123 label"`
	Subscription string             `json:"subscription" doc:"<topic>/<subscription> of asyncjobs:topics to pull"`
	Container    workload.Container `json:"container" doc:"the subscriber container"`
	// int32 in the HorizontalPodAutoscaler (autoscaling/v2: minReplicas, maxReplicas, averageUtilization).
	MinReplicas          int    `json:"minReplicas" api:"int32" doc:"HPA minimum, >= 1"`
	MaxReplicas          int    `json:"maxReplicas" api:"int32" doc:"HPA maximum, >= minReplicas (10 is the documents' rate cap)"`
	TargetCPUUtilization int    `json:"targetCpuUtilization" api:"int32" doc:"HPA CPU target, 1-100 percent"`
	ServiceAccountID     string `json:"serviceAccountId" doc:"Google service account id (default <name>-sub)"`
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// Names are the subscriber's physical names in Google Cloud.
type Names struct {
	Account string
}

// DefaultSpec returns the defaults.
func DefaultSpec() Spec {
	return Spec{Container: workload.DefaultContainer(), MinReplicas: 1, MaxReplicas: 10, TargetCPUUtilization: 70}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// AccountID is the Google service account id before the stack suffix.
func (s Spec) AccountID() string {
	if s.ServiceAccountID != "" {
		return s.ServiceAccountID
	}
	return s.Name + "-sub"
}

// Validate checks the resolved subscriber; the subscription reference is
// checked by the stack.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(s.Name) {
		errs = append(errs, field.Invalid(path.Child("name"), s.Name, msg))
	}
	if s.ServiceAccountID != "" || !s.Unread["name"] {
		// A derived id is checked once the name it derives from was read.
		errs = append(errs, gcpname.ValidateServiceAccountID(path.Child("serviceAccountId"), s.Names.Account)...)
	}
	errs = append(errs, s.Container.Validate(path.Child("container"))...)
	if s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(path.Child("minReplicas"), s.MinReplicas, "must be >= 1"))
	}
	if s.MaxReplicas < 1 || (s.MaxReplicas < s.MinReplicas && !s.Unread["minReplicas"]) {
		errs = append(errs, field.Invalid(path.Child("maxReplicas"), s.MaxReplicas, fmt.Sprintf("must be >= minReplicas (%d) and >= 1", s.MinReplicas)))
	}
	if s.TargetCPUUtilization < 1 || s.TargetCPUUtilization > 100 {
		errs = append(errs, field.Invalid(path.Child("targetCpuUtilization"), s.TargetCPUUtilization, "must be between 1 and 100"))
	}
	return errs
}
