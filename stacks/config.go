// Package stacks is the asyncjobs Pulumi program: it reads a stack's
// configuration strictly, validates all of it before any resource is
// registered, and wires the components together.
package stacks

import (
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/cronjob"
	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/components/subscriber"
	"github.com/asyncjobs/asyncjobs/components/taskqueue"
	"github.com/asyncjobs/asyncjobs/components/worker"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Namespace is the project's configuration namespace.
const Namespace = "asyncjobs"

// ProjectKey is the provider key naming the Google Cloud project.
const ProjectKey = "gcp:project"

// SuffixKey is the key of the physical-name suffix, which every test stack
// gets a fresh value of.
const SuffixKey = Namespace + ":nameSuffix"

// TestStackOverrides are set on every test stack over its template's
// configuration: a test stack is never protected, so it can be destroyed.
func TestStackOverrides() map[string]config.Value {
	return map[string]config.Value{Namespace + ":protect": config.NewTypedValue("false", config.TypeBool)}
}

// Config is a stack's whole configuration, defaults applied.
type Config struct {
	Project     string                `json:"-"`
	Stack       string                `json:"-"` // the stack's name: production stacks get stricter rules
	Region      string                `json:"region" doc:"region of the worker and the default queue location, e.g. asia-northeast1 (required)"`
	NameSuffix  string                `json:"nameSuffix" doc:"appended to every physical name (1-8 lowercase letters or digits); test stacks set a fresh one so re-creating them never collides with names Google keeps reserved"`   //nolint:lll // a struct tag cannot be wrapped
	Protect     bool                  `json:"protect" doc:"protect every resource of the stack from deletion and replacement (production): the data, and the accounts, grants, workloads and alerts serving and alerting depend on"` //nolint:lll // a struct tag cannot be wrapped
	EnableAPIs  bool                  `json:"enableApis" doc:"enable the Google APIs the stack uses (never disabled on destroy)"`
	Labels      map[string]string     `json:"labels" doc:"labels put on every resource that takes labels"`
	Deployers   []string              `json:"deployers" doc:"IAM members that run pulumi up for this stack (e.g. the CI deployer service account); granted roles/iam.serviceAccountUser on the worker's runtime and push accounts and a created cluster's node account only, which deploying a Cloud Run service, push subscriptions and a cluster that use them requires; pulumi up waits until the identity running it may act as each one"` //nolint:lll // a struct tag cannot be wrapped
	Worker      worker.Spec           `json:"worker" doc:"the private Cloud Run worker"`
	Queues      []taskqueue.Spec      `json:"queues" doc:"Cloud Tasks queues calling the worker"`
	Topics      []messaging.TopicSpec `json:"topics" doc:"Pub/Sub topics with worker subscriptions"`
	GKE         gke.Spec              `json:"gke" doc:"the GKE cluster the Kubernetes workloads run on"`
	Subscribers []subscriber.Spec     `json:"subscribers" doc:"Pub/Sub subscriber Deployments on GKE, capped by an HPA"`
	CronJobs    []cronjob.Spec        `json:"cronJobs" doc:"CronJobs on GKE with the documents' safety settings"`
	Alerting    monitoring.Spec       `json:"alerting" doc:"alert policies on every subscription, queue, the worker and every CronJob, their notification channels, and the stack's dashboard"` //nolint:lll // a struct tag cannot be wrapped

	// Unread lists the namespace keys whose values (or a part of them)
	// did not decode (strictconfig.Unread): the rules that read them do
	// not run.
	Unread strictconfig.Unread `json:"-"`
}

// Defaults returns the configuration a stack starts from; this is the one
// place stack-level defaults are declared.
func Defaults() Config {
	return Config{
		EnableAPIs: true,
		Labels:     map[string]string{},
		Worker:     worker.DefaultSpec(),
		GKE:        gke.DefaultSpec(),
		Alerting:   monitoring.DefaultSpec(),
	}
}

// Keys lists the configuration keys of the namespace, in declaration order.
func Keys() []strictconfig.Field {
	return strictconfig.Fields(reflect.TypeOf(Config{}))
}

// Source gives the raw configuration of a run: key ("ns:key") to value as
// the Pulumi engine passes it (objects and lists as JSON text).
type Source map[string]string

// ContextSource reads the configuration the Pulumi engine hands the program
// through its context: the same under `pulumi up` (Go language host), the
// Automation API's inline runtime and the offline recorder.
func ContextSource(ctx strictconfig.Getter) (Source, error) {
	keys := append([]string{ProjectKey}, strictconfig.NamespaceKeys(Namespace, reflect.TypeOf(Config{}))...)
	src, err := strictconfig.Read(ctx, keys)
	return Source(src), err
}

// Decode reads the source strictly onto the defaults. It returns every
// unknown key and every type mismatch at once, each with its key path.
func Decode(src Source) (Config, field.ErrorList) {
	cfg := Defaults()
	var errs field.ErrorList

	if p, ok := src[ProjectKey]; ok {
		cfg.Project = p
	} else {
		errs = append(errs, field.Required(field.NewPath(ProjectKey), "the Google Cloud project id (pulumi config set gcp:project <id>)"))
	}

	errs = append(errs, strictconfig.Decode(src, Namespace, &cfg)...)
	return cfg, errs
}
