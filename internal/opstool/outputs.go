package opstool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Outputs is the part of the stack's outputs (`pulumi stack output --json`)
// that the operations commands read. Other top-level outputs are ignored.
type Outputs struct {
	// Project is the Google Cloud project ID.
	Project string `json:"project"`
	// Queues maps each configured queue name to what an enqueuer needs.
	Queues map[string]QueueOutputs `json:"queues"`
	// DeadLetters maps "<topic>/<subscription>" config names to the
	// subscription's dead-letter resources.
	DeadLetters map[string]DeadLetterOutputs `json:"deadLetters"`
}

// QueueOutputs describes one Cloud Tasks queue and the worker behind it.
type QueueOutputs struct {
	QueuePath              string `json:"queuePath"`
	Location               string `json:"location"`
	WorkerURL              string `json:"workerUrl"`
	Audience               string `json:"audience"`
	InvokerServiceAccount  string `json:"invokerServiceAccount"`
	EnqueuerServiceAccount string `json:"enqueuerServiceAccount"`
	// WorkerTimeoutSeconds is the Cloud Run request timeout; 0 when unknown.
	WorkerTimeoutSeconds int64 `json:"workerTimeoutSeconds"`
}

// DeadLetterOutputs describes a subscription and its dead-letter resources.
type DeadLetterOutputs struct {
	Topic                  string `json:"topic"`
	Subscription           string `json:"subscription"`
	DeadLetterTopic        string `json:"deadLetterTopic"`
	DeadLetterSubscription string `json:"deadLetterSubscription"`
}

// ParseOutputs decodes the JSON object printed by `pulumi stack output
// --json`. name says where the JSON came from, for error messages.
func ParseOutputs(name string, data []byte) (*Outputs, error) {
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

// Queue returns the queue entry called name. An empty name selects the only
// entry when there is exactly one.
func (o *Outputs) Queue(name string) (string, QueueOutputs, error) {
	key, err := pick("queue", "queues", name, keys(o.Queues))
	if err != nil {
		return "", QueueOutputs{}, err
	}
	return key, o.Queues[key], nil
}

// DeadLetter returns the deadLetters entry called pair ("<topic>/<subscription>").
// An empty pair selects the only entry when there is exactly one.
func (o *Outputs) DeadLetter(pair string) (string, DeadLetterOutputs, error) {
	key, err := pick("pair", "deadLetters", pair, keys(o.DeadLetters))
	if err != nil {
		return "", DeadLetterOutputs{}, err
	}
	return key, o.DeadLetters[key], nil
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
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
	for _, k := range have {
		if k == name {
			return k, nil
		}
	}
	if len(have) == 0 {
		return "", fmt.Errorf("--%s=%q: the stack outputs have no %s entries", flagName, name, outputName)
	}
	return "", fmt.Errorf("--%s=%q: not in the stack outputs' %s (have: %s)", flagName, name, outputName, strings.Join(have, ", "))
}

// readOutputsFile reads and parses an outputs file.
func readOutputsFile(path string) (*Outputs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--outputs=%q: %w", path, err)
	}
	return ParseOutputs(path, data)
}

// readStackOutputs runs `pulumi stack output --json --stack NAME`.
func readStackOutputs(ctx context.Context, stack string) (*Outputs, error) {
	bin, err := exec.LookPath("pulumi")
	if err != nil {
		return nil, fmt.Errorf("--stack=%q needs the pulumi CLI on PATH (or use --outputs FILE): %w", stack, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "stack", "output", "--json", "--stack", stack)
	// Never a plugin the stack's state names: only those installed.
	cmd.Env = append(os.Environ(), "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("--stack=%q: pulumi stack output failed: %w: %s", stack, err, msg)
		}
		return nil, fmt.Errorf("--stack=%q: pulumi stack output failed: %w", stack, err)
	}
	return ParseOutputs(fmt.Sprintf("stack %q", stack), stdout.Bytes())
}
