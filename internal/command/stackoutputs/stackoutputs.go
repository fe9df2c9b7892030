// Package stackoutputs is the contract of the stack's outputs (`pulumi
// stack output --json`), described once and without the Pulumi SDK: the
// operator commands read it, and a test holds what the program exports
// (built from the components' tagged output fields, package outputmap) to
// it for every stack file, in both directions: every key exported is
// described here, and every key described here is exported.
package stackoutputs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Outputs are a stack's outputs.
type Outputs struct {
	// Project is the Google Cloud project ID; Region the stack's region.
	Project string `json:"project"`
	Region  string `json:"region"`
	Worker  Worker `json:"worker"`
	// Queues maps each configured queue name to what an enqueuer needs.
	Queues map[string]Queue `json:"queues"`
	// Topics maps each configured topic name to its resources.
	Topics map[string]Topic `json:"topics"`
	// DeadLetters maps "<topic>/<subscription>" config names to the
	// subscription's dead-letter resources.
	DeadLetters map[string]DeadLetter `json:"deadLetters"`
	Monitoring  Monitoring            `json:"monitoring"`
	// Kubernetes is set when the stack runs workloads on GKE.
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`
}

// Worker is the Cloud Run worker.
type Worker struct {
	URL            string `json:"url"`
	ServiceName    string `json:"serviceName"`
	ServiceAccount string `json:"serviceAccount"`
}

// Queue describes one Cloud Tasks queue and the worker behind it.
type Queue struct {
	QueuePath              string `json:"queuePath"`
	Location               string `json:"location"`
	WorkerURL              string `json:"workerUrl"`
	Audience               string `json:"audience"`
	InvokerServiceAccount  string `json:"invokerServiceAccount"`
	EnqueuerServiceAccount string `json:"enqueuerServiceAccount"`
	// WorkerTimeoutSeconds is the Cloud Run request timeout; 0 when unknown.
	WorkerTimeoutSeconds int64 `json:"workerTimeoutSeconds"`
}

// Topic is a topic and its worker subscriptions.
type Topic struct {
	Topic         string                  `json:"topic"`
	Subscriptions map[string]Subscription `json:"subscriptions"`
}

// Subscription is a worker subscription and its dead-letter pair.
type Subscription struct {
	Subscription           string `json:"subscription"`
	DeadLetterTopic        string `json:"deadLetterTopic"`
	DeadLetterSubscription string `json:"deadLetterSubscription"`
}

// DeadLetter describes a subscription, its topic and its dead-letter
// resources.
type DeadLetter struct {
	Topic                  string `json:"topic"`
	Subscription           string `json:"subscription"`
	DeadLetterTopic        string `json:"deadLetterTopic"`
	DeadLetterSubscription string `json:"deadLetterSubscription"`
}

// Monitoring names the stack's dashboard, alert policies and channels.
type Monitoring struct {
	Dashboard            string   `json:"dashboard"`
	AlertPolicies        []string `json:"alertPolicies"`
	NotificationChannels []string `json:"notificationChannels"`
}

// Kubernetes is the cluster, the workloads' namespace and the workloads.
type Kubernetes struct {
	Cluster   string              `json:"cluster"`
	Namespace string              `json:"namespace"`
	Workloads map[string]Workload `json:"workloads"`
}

// Workload is a subscriber Deployment or a CronJob.
type Workload struct {
	// Kind is Deployment or CronJob.
	Kind string `json:"kind"`
	// ServiceAccount is a subscriber's Google service account.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// Parse decodes the JSON object printed by `pulumi stack output --json`.
// Keys it does not know are ignored, so a tool reads the outputs of a
// stack deployed by a later release. name says where the JSON came from,
// for error messages.
func Parse(name string, data []byte) (*Outputs, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out Outputs
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("stack outputs from %s are not the JSON object `pulumi stack output --json` prints: %w", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("stack outputs from %s: unexpected data after the JSON object", name)
	}
	return &out, nil
}

// Exact decodes outputs and checks they are exactly what Outputs
// describes, in both directions: no key that it does not describe (a
// strict decode), and no key it describes missing (the decoded outputs,
// encoded again, equal the input). Tests hold the program's exports to
// the contract with it; the commands read with Parse.
func Exact(data []byte) (*Outputs, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var out Outputs
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("the stack exports what package stackoutputs does not describe: %w", err)
	}
	again, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var want, got any
	if err := json.Unmarshal(data, &want); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(again, &got); err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(got, want) {
		return nil, fmt.Errorf("package stackoutputs describes what the stack does not export:\nexported  %s\ndescribed %s", data, again)
	}
	return &out, nil
}

// Queue returns the queue entry called name. An empty name selects the only
// entry when there is exactly one.
func (o *Outputs) Queue(name string) (string, Queue, error) {
	key, err := pick("queue", "queues", name, slices.Sorted(maps.Keys(o.Queues)))
	if err != nil {
		return "", Queue{}, err
	}
	return key, o.Queues[key], nil
}

// DeadLetter returns the deadLetters entry called pair ("<topic>/<subscription>").
// An empty pair selects the only entry when there is exactly one.
func (o *Outputs) DeadLetter(pair string) (string, DeadLetter, error) {
	key, err := pick("pair", "deadLetters", pair, slices.Sorted(maps.Keys(o.DeadLetters)))
	if err != nil {
		return "", DeadLetter{}, err
	}
	return key, o.DeadLetters[key], nil
}

// pick chooses name among have, or the only entry when name is empty.
func pick(flagName, outputName, name string, have []string) (string, error) {
	if name == "" {
		switch len(have) {
		case 0:
			return "", fmt.Errorf("the stack outputs have no %s entries", outputName)
		case 1:
			return have[0], nil
		default:
			return "", fmt.Errorf("--%s is required: the stack outputs have several %s entries (%s)", flagName, outputName, strings.Join(have, ", "))
		}
	}
	if slices.Contains(have, name) {
		return name, nil
	}
	if len(have) == 0 {
		return "", fmt.Errorf("--%s=%q: the stack outputs have no %s entries", flagName, name, outputName)
	}
	return "", fmt.Errorf("--%s=%q: not in the stack outputs' %s (have: %s)", flagName, name, outputName, strings.Join(have, ", "))
}
