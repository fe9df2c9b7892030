// Package planview renders a recorded plan for people: a tree of components
// and their resources with the settings that matter, and a table of every
// IAM grant (who gets which role on which resource).
package planview

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// keySettings lists, per resource type, the inputs shown in the tree.
var keySettings = map[string][]string{
	"gcp:projects/service:Service":       {"service", "disableOnDestroy"},
	"gcp:serviceaccount/account:Account": {"accountId"},
	"gcp:cloudrunv2/service:Service": {
		"name", "location", "ingress", "template.containers.0.image", "template.containers.0.ports.0.containerPort",
		"template.containers.0.resources.limits.cpu", "template.containers.0.resources.limits.memory",
		"template.maxInstanceRequestConcurrency", "template.scaling.minInstanceCount", "template.scaling.maxInstanceCount",
		"template.timeout", "template.serviceAccount",
	},
	"gcp:cloudtasks/queue:Queue": {
		"name", "location", "rateLimits.maxDispatchesPerSecond", "rateLimits.maxConcurrentDispatches",
		"retryConfig.maxAttempts", "retryConfig.minBackoff", "retryConfig.maxBackoff", "retryConfig.maxDoublings",
		"retryConfig.maxRetryDuration", "stackdriverLoggingConfig.samplingRatio",
	},
	"gcp:container/cluster:Cluster":     {"name", "location", "enableAutopilot", "deletionProtection", "workloadIdentityConfig.workloadPool"},
	"kubernetes:core/v1:Namespace":      {"metadata.name", "metadata.labels.pod-security.kubernetes.io/enforce"},
	"kubernetes:core/v1:ServiceAccount": {"metadata.name", "metadata.annotations.iam.gke.io/gcp-service-account", "automountServiceAccountToken"},
	"kubernetes:apps/v1:Deployment": {
		"metadata.name", "metadata.namespace", "spec.replicas", "spec.template.spec.containers.0.image",
		"spec.template.spec.serviceAccountName", "spec.template.spec.terminationGracePeriodSeconds",
		"spec.template.spec.securityContext.runAsUser", "spec.template.spec.securityContext.seccompProfile.type",
	},
	"kubernetes:autoscaling/v2:HorizontalPodAutoscaler": {
		"metadata.name", "spec.minReplicas", "spec.maxReplicas", "spec.metrics.0.resource.target.averageUtilization",
	},
	"kubernetes:policy/v1:PodDisruptionBudget": {"metadata.name", "spec.maxUnavailable"},
	"kubernetes:batch/v1:CronJob": {
		"metadata.name", "spec.schedule", "spec.timeZone", "spec.concurrencyPolicy", "spec.startingDeadlineSeconds",
		"spec.jobTemplate.spec.activeDeadlineSeconds", "spec.jobTemplate.spec.backoffLimit",
		"spec.jobTemplate.spec.completions", "spec.jobTemplate.spec.parallelism", "spec.jobTemplate.spec.completionMode",
		"spec.jobTemplate.spec.template.spec.restartPolicy",
		"spec.jobTemplate.spec.template.metadata.annotations.cluster-autoscaler.kubernetes.io/safe-to-evict",
	},
	"gcp:monitoring/alertPolicy:AlertPolicy": {
		"displayName", "severity", "conditions.0.conditionThreshold.comparison", "conditions.0.conditionThreshold.thresholdValue",
		"conditions.0.conditionThreshold.duration", "conditions.0.conditionThreshold.aggregations.0.alignmentPeriod",
		"conditions.0.conditionAbsent.duration", "notificationChannels",
	},
	"gcp:monitoring/notificationChannel:NotificationChannel": {"type", "labels.email_address"},
	"gcp:monitoring/dashboard:Dashboard":                     {"project"},
	"gcp:logging/metric:Metric":                              {"name", "project"},
	"gcp:pubsub/topic:Topic":                                 {"name", "messageRetentionDuration", "labels.asyncjobs-role"},
	"gcp:pubsub/subscription:Subscription": {
		"name", "topic", "ackDeadlineSeconds", "messageRetentionDuration", "expirationPolicy.ttl",
		"retryPolicy.minimumBackoff", "retryPolicy.maximumBackoff", "deadLetterPolicy.deadLetterTopic",
		"deadLetterPolicy.maxDeliveryAttempts", "enableExactlyOnceDelivery", "enableMessageOrdering", "filter",
		"pushConfig.pushEndpoint", "pushConfig.oidcToken.serviceAccountEmail", "labels.asyncjobs-role",
	},
}

// Grant is one IAM grant of the plan.
type Grant struct {
	Member   string
	Role     string
	On       string
	Resource string
}

// IsGrant reports whether a resource type is an IAM grant.
func IsGrant(typ string) bool {
	last := typ[strings.LastIndex(typ, ":")+1:]
	return strings.HasSuffix(strings.ToLower(last), "iammember") ||
		strings.HasSuffix(strings.ToLower(last), "iambinding") ||
		strings.HasSuffix(strings.ToLower(last), "iampolicy")
}

// targetKeys name the input holding the resource a grant is made on.
var targetKeys = []string{"serviceAccountId", "subscription", "topic", "name", "project"}

// Grants lists every IAM grant in the plan. A member or target that only
// exists after deployment is named after the resource it comes from.
func Grants(p *recorder.Plan) []Grant {
	names := map[string]*recorder.Resource{}
	for _, r := range p.Resources {
		names[r.URN] = r
	}
	var out []Grant
	for _, r := range p.Resources {
		if !IsGrant(r.Type) {
			continue
		}
		g := Grant{Role: str(r.Inputs["role"]), Resource: r.Name}
		g.Member = resolve(r, "member", names)
		for _, k := range targetKeys {
			if _, ok := r.Inputs[k]; ok {
				g.On = shortType(r.Type) + " " + resolve(r, k, names)
				break
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].On != out[j].On {
			return out[i].On < out[j].On
		}
		return out[i].Role+out[i].Member < out[j].Role+out[j].Member
	})
	return out
}

func resolve(r *recorder.Resource, key string, names map[string]*recorder.Resource) string {
	v := str(r.Inputs[key])
	if v != recorder.Computed {
		return v
	}
	var from []string
	for _, u := range r.PropertyDependencies[key] {
		if dep, ok := names[u]; ok {
			from = append(from, dep.Name)
		}
	}
	if len(from) == 0 {
		return recorder.Computed
	}
	return fmt.Sprintf("<%s of %s>", key, strings.Join(from, ","))
}

// shortType turns "gcp:pubsub/topicIAMMember:TopicIAMMember" into "pubsub topic".
func shortType(typ string) string {
	parts := strings.Split(typ, ":")
	if len(parts) < 3 {
		return typ
	}
	module := strings.Split(parts[1], "/")[0]
	kind := parts[2]
	for _, s := range []string{"IAMMember", "IamMember", "IAMBinding", "IamBinding", "IAMPolicy", "IamPolicy"} {
		kind = strings.TrimSuffix(kind, s)
	}
	if module == "serviceaccount" {
		return "service account"
	}
	if kind == "" {
		// A project-level grant: "gcp:projects/iAMMember:IAMMember".
		return strings.TrimSuffix(module, "s")
	}
	return module + " " + strings.ToLower(kind[:1]) + kind[1:]
}

// Write renders the tree and the grants table.
func Write(w io.Writer, p *recorder.Plan) error {
	children := map[string][]*recorder.Resource{}
	var roots []*recorder.Resource
	urns := map[string]bool{}
	for _, r := range p.Resources {
		urns[r.URN] = true
	}
	for _, r := range p.Resources {
		if urns[r.Parent] {
			children[r.Parent] = append(children[r.Parent], r)
		} else {
			roots = append(roots, r)
		}
	}
	mode := "deployment simulation"
	if p.Preview {
		mode = "preview: <computed> values exist only after deployment"
	}
	fmt.Fprintf(w, "Stack %s/%s (%s), %d resources\n", p.Project, p.Stack, mode, len(p.Resources))
	var walk func(r *recorder.Resource, indent string)
	walk = func(r *recorder.Resource, indent string) {
		flags := ""
		if r.Protect {
			flags += " [protected]"
		}
		if r.RetainOnDelete {
			flags += " [retained on delete]"
		}
		fmt.Fprintf(w, "%s%s %s%s\n", indent, r.Type, r.Name, flags)
		if !IsGrant(r.Type) {
			for _, k := range keySettings[r.Type] {
				if v, ok := r.Input(k); ok {
					fmt.Fprintf(w, "%s    %s = %s\n", indent, k, show(v))
				}
			}
		}
		for _, c := range children[r.URN] {
			walk(c, indent+"  ")
		}
	}
	for _, r := range roots {
		walk(r, "")
	}

	grants := Grants(p)
	fmt.Fprintf(w, "\nIAM grants (%d, all additive and resource-level)\n", len(grants))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tON\tMEMBER")
	for _, g := range grants {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Role, g.On, g.Member)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(p.Invokes) > 0 {
		fmt.Fprintln(w, "\nLook-ups answered offline with placeholders")
		for _, inv := range p.Invokes {
			fmt.Fprintf(w, "  %s -> %s\n", inv.Token, compact(inv.Result))
		}
	}
	keys := slices.Sorted(maps.Keys(p.Outputs))
	fmt.Fprintln(w, "\nStack outputs")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, compact(p.Outputs[k]))
	}
	return nil
}

func show(v any) string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return `""`
		}
		return t
	case float64:
		return fmt.Sprintf("%g", t)
	default:
		return compact(t)
	}
}

// compact renders v as one line of JSON without HTML escaping.
func compact(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
