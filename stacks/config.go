// Package stacks is the asyncjobs Pulumi program: it reads a stack's
// configuration strictly, validates all of it before any resource is
// registered, and wires the components together.
package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/cronjob"
	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/subscriber"
	"github.com/asyncjobs/asyncjobs/components/taskqueue"
	"github.com/asyncjobs/asyncjobs/components/worker"
	"github.com/asyncjobs/asyncjobs/internal/strictconfig"
)

// Namespace is the project's configuration namespace.
const Namespace = "asyncjobs"

// ProjectKey is the provider key naming the Google Cloud project.
const ProjectKey = "gcp:project"

// Config is a stack's whole configuration, defaults applied.
type Config struct {
	Project     string                `json:"-"`
	Region      string                `json:"region" doc:"region of the worker and the default queue location, e.g. asia-northeast1 (required)"`
	NameSuffix  string                `json:"nameSuffix" doc:"appended to every physical name (1-8 lowercase letters or digits); test stacks set a fresh one so re-creating them never collides with names Google keeps reserved"`
	Protect     bool                  `json:"protect" doc:"protect stateful resources (topics, subscriptions, dead-letter pairs, queues, the worker) from deletion"`
	EnableAPIs  bool                  `json:"enableApis" doc:"enable the Google APIs the stack uses (never disabled on destroy)"`
	Labels      map[string]string     `json:"labels" doc:"labels put on every resource that takes labels"`
	Deployers   []string              `json:"deployers" doc:"IAM members that run pulumi up for this stack (e.g. the CI deployer service account); granted roles/iam.serviceAccountUser on the worker's runtime and push accounts only, which deploying a Cloud Run service and push subscriptions that use them requires"`
	Worker      worker.Spec           `json:"worker" doc:"the private Cloud Run worker"`
	Queues      []taskqueue.Spec      `json:"queues" doc:"Cloud Tasks queues calling the worker"`
	Topics      []messaging.TopicSpec `json:"topics" doc:"Pub/Sub topics with worker subscriptions"`
	GKE         gke.Spec              `json:"gke" doc:"the GKE cluster the Kubernetes workloads run on"`
	Subscribers []subscriber.Spec     `json:"subscribers" doc:"Pub/Sub subscriber Deployments on GKE, capped by an HPA"`
	CronJobs    []cronjob.Spec        `json:"cronJobs" doc:"CronJobs on GKE with the documents' safety settings"`
}

// Defaults returns the configuration a stack starts from; this is the one
// place stack-level defaults are declared.
func Defaults() Config {
	return Config{
		EnableAPIs: true,
		Labels:     map[string]string{},
		Worker:     worker.DefaultSpec(),
		GKE:        gke.DefaultSpec(),
	}
}

// Keys lists the configuration keys of the namespace, in declaration order.
func Keys() []strictconfig.Field {
	return strictconfig.Fields(reflect.TypeOf(Config{}))
}

// Source gives the raw configuration of a run: key ("ns:key") to value as
// the Pulumi engine passes it (objects and lists as JSON text).
type Source map[string]string

// EnvSource reads the configuration the Pulumi engine hands the program in
// PULUMI_CONFIG. The offline recorder sets the same variable, so both
// engines feed the program the same way.
func EnvSource() (Source, error) {
	raw := os.Getenv("PULUMI_CONFIG")
	if raw == "" {
		return Source{}, nil
	}
	var src Source
	if err := json.Unmarshal([]byte(raw), &src); err != nil {
		return nil, fmt.Errorf("reading PULUMI_CONFIG: %w", err)
	}
	return src, nil
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

	fields := map[string]strictconfig.Field{}
	var names []string
	for _, f := range Keys() {
		fields[f.Name] = f
		names = append(names, f.Name)
	}
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	target := reflect.ValueOf(&cfg).Elem()
	for _, key := range keys {
		ns, name, ok := strings.Cut(key, ":")
		if !ok || ns != Namespace {
			continue // other namespaces belong to providers
		}
		path := field.NewPath(key)
		f, known := fields[name]
		if !known {
			errs = append(errs, strictconfig.UnknownKey(path, names))
			continue
		}
		value := src[key]
		var decoded any
		if f.Field.Type.Kind() == reflect.String {
			decoded = value
		} else if err := json.Unmarshal([]byte(value), &decoded); err != nil {
			errs = append(errs, field.Invalid(path, value, "must be valid "+kindName(f.Field.Type)))
			continue
		}
		if fieldErrs := strictconfig.Check(path, decoded, f.Field.Type); len(fieldErrs) > 0 {
			errs = append(errs, fieldErrs...)
			continue
		}
		dest := target.FieldByIndex(f.Field.Index)
		if f.Field.Type.Kind() == reflect.String {
			dest.SetString(value)
			continue
		}
		if err := json.Unmarshal([]byte(value), dest.Addr().Interface()); err != nil {
			errs = append(errs, field.Invalid(path, value, err.Error()))
		}
	}
	return cfg, errs
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "list"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return t.Kind().String()
	}
}
