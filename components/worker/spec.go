package worker

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/duration"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
	"github.com/asyncjobs/asyncjobs/internal/program/image"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Ingress settings accepted in configuration and the Cloud Run values they map to.
const (
	IngressAll      = "all"
	IngressInternal = "internal"
)

var ingressValues = map[string]string{
	IngressAll:      "INGRESS_TRAFFIC_ALL",
	IngressInternal: "INGRESS_TRAFFIC_INTERNAL_ONLY",
}

// Cloud Run limits (run/docs; revision_template.proto).
const (
	MinTimeout         = time.Second
	MaxTimeout         = 60 * time.Minute
	MaxConcurrency     = 1000
	MaxInstancesLimit  = 1000
	MinMemoryMiB       = 128
	MaxMemoryMiB       = 32 * 1024
	MaxCPUMilli        = 8000
	MinFractionalMilli = 80
)

// Whole CPU counts Cloud Run accepts above one CPU.
var wholeCPUs = map[int64]bool{1000: true, 2000: true, 4000: true, 6000: true, 8000: true}

// Environment variables Cloud Run sets itself.
var reservedEnv = map[string]bool{"PORT": true, "K_SERVICE": true, "K_REVISION": true, "K_CONFIGURATION": true}

// Spec is the configuration of the private Cloud Run worker.
type Spec struct {
	Name  string `json:"name" doc:"Cloud Run service name (the stack's name suffix is appended)"`
	Image string `json:"image" doc:"container image; a tag other than latest, or a digest"`
	// int32 in Cloud Run's API (containerPort, maxInstanceRequestConcurrency, min/maxInstanceCount; run v2 Service).
	Port             int               `json:"port" api:"int32" doc:"container port, 1-65535"`
	CPU              string            `json:"cpu" doc:"CPU limit: 80m-1000m, or 1, 2, 4, 6, 8 CPUs"`
	Memory           string            `json:"memory" doc:"memory limit, 128Mi-32Gi"`
	Concurrency      int               `json:"concurrency" api:"int32" doc:"requests per instance, 1-1000 (1 when CPU is under 1)"`
	MinInstances     int               `json:"minInstances" api:"int32" doc:"instances kept warm, 0-maxInstances"`
	MaxInstances     int               `json:"maxInstances" api:"int32" doc:"instance cap, 1-1000"`
	Timeout          duration.Duration `json:"timeout" doc:"request timeout, 1s-60m"`
	Ingress          string            `json:"ingress" doc:"all (the documents' choice) or internal"`
	Env              map[string]string `json:"env" doc:"environment variables"`
	Invokers         []string          `json:"invokers" doc:"extra IAM members granted run.invoker on this service only"`
	ServiceAccountID string            `json:"serviceAccountId" doc:"runtime service account id (default <name>-run)"`
	// PushServiceAccountID names the identity only push subscriptions use.
	PushServiceAccountID string `json:"pushServiceAccountId" doc:"service account id in Pub/Sub push tokens (default <name>-push); created, and checked, only when a subscription pushes"` //nolint:lll // a struct tag cannot be wrapped
	// Names are resolved by the stack (package stacks, Config.resolve)
	// before validation; configuration cannot set them.
	Names Names `json:"-"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// Names are where the worker runs and its physical names in Google Cloud.
type Names struct {
	// Region is the stack's region.
	Region         string
	Service        string
	RuntimeAccount string
	// PushAccount is empty when no subscription pushes: the push identity
	// is then neither created nor checked.
	PushAccount string
}

// DefaultSpec returns the defaults: Cloud Run's own, made explicit.
func DefaultSpec() Spec {
	return Spec{
		Name:         "worker",
		Port:         8080,
		CPU:          "1000m",
		Memory:       "512Mi",
		Concurrency:  80,
		MinInstances: 0,
		MaxInstances: 10,
		Timeout:      duration.Of(5 * time.Minute),
		Ingress:      IngressAll,
	}
}

// UnmarshalJSON decodes onto the defaults.
func (s *Spec) UnmarshalJSON(b []byte) error {
	type plain Spec
	return strictconfig.DecodeOver(b, s, DefaultSpec(), func(s *Spec) *plain { return (*plain)(s) })
}

// RuntimeAccountID is the runtime service account id before the stack suffix.
func (s Spec) RuntimeAccountID() string {
	if s.ServiceAccountID != "" {
		return s.ServiceAccountID
	}
	return s.Name + "-run"
}

// PushAccountID is the id of the identity in Pub/Sub push tokens, before the
// stack suffix.
func (s Spec) PushAccountID() string {
	if s.PushServiceAccountID != "" {
		return s.PushServiceAccountID
	}
	return s.Name + "-push"
}

// CloudRunIngress maps the configured ingress to the Cloud Run enum value.
func (s Spec) CloudRunIngress() string { return ingressValues[s.Ingress] }

// CPUMilli returns the CPU limit in millicores; call after Validate.
func (s Spec) CPUMilli() int64 {
	q, err := resource.ParseQuantity(s.CPU)
	if err != nil {
		return 0
	}
	milli, _ := scaled(q, resource.Milli)
	return milli
}

// scaled is q in units of 10^scale, and false when that does not fit an
// int64: Quantity.ScaledValue wraps then (2^64 + 1000 millicores would
// read as 1000m).
func scaled(q resource.Quantity, scale resource.Scale) (int64, bool) {
	limit := resource.NewScaledQuantity(math.MaxInt64, scale)
	if q.Cmp(*limit) > 0 || q.Sign() < 0 && q.Cmp(*resource.NewScaledQuantity(math.MinInt64+1, scale)) < 0 {
		return 0, false
	}
	return q.ScaledValue(scale), true
}

// Validate checks every field of the resolved spec against Cloud Run's
// rules; the physical names (with the stack's suffix) are what count
// towards name lengths.
func (s Spec) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, gcpname.ValidateRunService(path.Child("name"), s.Names.Service)...)
	errs = append(errs, validateAccount(path.Child("serviceAccountId"), s.ServiceAccountID, s.Names.RuntimeAccount)...)
	if s.Names.PushAccount != "" {
		errs = append(errs, validateAccount(path.Child("pushServiceAccountId"), s.PushServiceAccountID, s.Names.PushAccount)...)
	}
	errs = append(errs, image.Validate(path.Child("image"), s.Image)...)
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, field.Invalid(path.Child("port"), s.Port, "must be between 1 and 65535"))
	}
	// The rules across cpu, memory and concurrency compare read values only.
	milli, cpuOK := int64(0), false
	q, err := resource.ParseQuantity(s.CPU)
	switch {
	case s.Unread["cpu"]:
		// Its decode error says what is wrong.
	case err != nil:
		errs = append(errs, field.Invalid(path.Child("cpu"), s.CPU, "must be a CPU quantity such as 1000m or 2"))
	default:
		m, ok := scaled(q, resource.Milli)
		switch {
		case !ok:
			errs = append(errs, field.Invalid(path.Child("cpu"), s.CPU, "out of range: Cloud Run accepts 80m-1000m, or 1, 2, 4, 6 or 8 CPUs"))
		case m < MinFractionalMilli || m > MaxCPUMilli || (m > 1000 && !wholeCPUs[m]):
			milli = m
			errs = append(errs, field.Invalid(path.Child("cpu"), s.CPU, "Cloud Run accepts 80m-1000m, or 1, 2, 4, 6 or 8 CPUs"))
		default:
			milli, cpuOK = m, true
		}
	}
	if q, err := resource.ParseQuantity(s.Memory); err != nil {
		errs = append(errs, field.Invalid(path.Child("memory"), s.Memory, "must be a memory quantity such as 512Mi or 2Gi"))
	} else if bytes, ok := scaled(q, 0); !ok || bytes%(1024*1024) != 0 || bytes/(1024*1024) < MinMemoryMiB || bytes/(1024*1024) > MaxMemoryMiB {
		errs = append(errs, field.Invalid(path.Child("memory"), s.Memory, "must be a whole number of MiB between 128Mi and 32Gi"))
	} else if cpuOK && !s.Unread["memory"] {
		// Both in range: Cloud Run still refuses some combinations.
		errs = append(errs, ValidateResources(path, milli, bytes/(1024*1024), s.CPU, s.Memory)...)
	}
	switch {
	case s.Concurrency < 1 || s.Concurrency > MaxConcurrency:
		errs = append(errs, field.Invalid(path.Child("concurrency"), s.Concurrency, fmt.Sprintf("must be between 1 and %d", MaxConcurrency)))
	case milli > 0 && milli < 1000 && s.Concurrency != 1 && !s.Unread["concurrency"]:
		errs = append(errs, field.Invalid(path.Child("concurrency"), s.Concurrency, "must be 1 when cpu is below 1 (Cloud Run rule)"))
	}
	if s.MaxInstances < 1 || s.MaxInstances > MaxInstancesLimit {
		errs = append(errs, field.Invalid(path.Child("maxInstances"), s.MaxInstances, fmt.Sprintf("must be between 1 and %d", MaxInstancesLimit)))
	}
	if s.MinInstances < 0 || (s.MinInstances > s.MaxInstances && !s.Unread["maxInstances"]) {
		errs = append(errs, field.Invalid(path.Child("minInstances"), s.MinInstances, fmt.Sprintf("must be between 0 and maxInstances (%d)", s.MaxInstances)))
	}
	if s.Timeout.Duration < MinTimeout || s.Timeout.Duration > MaxTimeout {
		errs = append(errs, field.Invalid(path.Child("timeout"), s.Timeout.Written(), "must be between 1s and 60m"))
	}
	if _, ok := ingressValues[s.Ingress]; !ok {
		errs = append(errs, field.NotSupported(path.Child("ingress"), s.Ingress, []string{IngressAll, IngressInternal}))
	}
	for k := range s.Env {
		p := path.Child("env").Key(k)
		for _, msg := range validation.IsEnvVarName(k) {
			errs = append(errs, field.Invalid(p, k, msg))
		}
		if reservedEnv[k] || strings.HasPrefix(k, "X_GOOGLE_") {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("%s is set by Cloud Run itself", k)))
		}
	}
	errs = append(errs, gcpiam.ValidateMembers(path.Child("invokers"), s.Invokers)...)
	return errs
}

// validateAccount checks a physical service account id, set explicitly or
// derived from the service name; a derived one that does not fit says which
// key sets it.
func validateAccount(path *field.Path, set, id string) field.ErrorList {
	errs := gcpname.ValidateServiceAccountID(path, id)
	if set == "" {
		for _, e := range errs {
			e.Detail += fmt.Sprintf(" (derived from the service name; set %s)", path)
		}
	}
	return errs
}
