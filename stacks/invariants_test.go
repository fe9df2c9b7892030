package stacks_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/components/gke"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// checkInvariants asserts the properties every plan must have, whatever its
// configuration. It fails when a plan has nothing to check.
func checkInvariants(t *testing.T, plan *recorder.Plan) {
	t.Helper()
	byURN := map[string]*recorder.Resource{}
	for _, r := range plan.Resources {
		byURN[r.URN] = r
	}
	var subs, grants, dlPairs int
	for _, r := range plan.Resources {
		lower := strings.ToLower(r.Type)
		// Every child sits under one of our components.
		if r.Custom {
			parent, ok := byURN[r.Parent]
			if !ok || !strings.HasPrefix(parent.Type, "asyncjobs:") {
				t.Errorf("%s %s is not parented to a component (parent %s)", r.Type, r.Name, r.Parent)
			}
		} else if !strings.HasPrefix(r.Type, "asyncjobs:") {
			t.Errorf("component %s has a type token outside asyncjobs:", r.Type)
		}
		if strings.HasPrefix(r.Type, "kubernetes:") && r.Provider == "" {
			t.Errorf("%s %s uses the default Kubernetes provider", r.Type, r.Name)
		}
		switch {
		case r.Type == "kubernetes:apps/v1:Deployment":
			if v, ok := r.Input("spec.replicas"); ok && v != nil {
				t.Errorf("Deployment %s sets replicas although an HPA owns them", r.Name)
			}
		case r.Type == "kubernetes:batch/v1:CronJob":
			ann, _ := r.Input("spec.jobTemplate.spec.template.metadata.annotations")
			if m, _ := ann.(map[string]any); m["cluster-autoscaler.kubernetes.io/safe-to-evict"] != "false" {
				t.Errorf("CronJob %s pod template is evictable: %v", r.Name, ann)
			}
			if ns, _ := r.Input("metadata.namespace"); ns == "default" || ns == nil {
				t.Errorf("CronJob %s namespace %v", r.Name, ns)
			}
		case r.Type == "gcp:projects/iAMMember:IAMMember" && isNodeRoleGrant(plan, r):
			// The one project-level grant: the node role of a created
			// cluster's node account (GKE offers it on projects only).
			grants++
		case strings.HasPrefix(r.Type, "gcp:projects/iAM"), strings.HasPrefix(r.Type, "gcp:organizations/iAM"):
			t.Errorf("project- or organization-level IAM resource %s %s", r.Type, r.Name)
		case strings.HasSuffix(lower, "iambinding"), strings.HasSuffix(lower, "iampolicy"):
			t.Errorf("authoritative IAM resource %s %s; only additive members are allowed", r.Type, r.Name)
		case r.Type == "gcp:serviceaccount/key:Key":
			t.Errorf("service account key %s: keys are never created", r.Name)
		case strings.HasSuffix(lower, "iammember"):
			grants++
			m, _ := r.Inputs["member"].(string)
			if l := strings.ToLower(m); l == "allusers" || l == "allauthenticatedusers" {
				t.Errorf("%s %s grants %s to the public", r.Type, r.Name, r.Inputs["role"])
			}
			if m == "" {
				t.Errorf("%s %s has no member", r.Type, r.Name)
			}
		case r.Type == "gcp:projects/service:Service":
			if r.Inputs["disableOnDestroy"] != false {
				t.Errorf("API %s would be disabled on destroy", r.Inputs["service"])
			}
		case r.Type == "gcp:cloudrunv2/service:Service":
			if in := r.Inputs["ingress"]; in != "INGRESS_TRAFFIC_ALL" && in != "INGRESS_TRAFFIC_INTERNAL_ONLY" {
				t.Errorf("worker ingress %v", in)
			}
			if sa, _ := r.Input("template.serviceAccount"); sa == nil || sa == "" {
				t.Errorf("worker %s runs as the default compute service account", r.Name)
			}
		case r.Type == "gcp:pubsub/subscription:Subscription":
			subs++
			if ttl, ok := r.Input("expirationPolicy.ttl"); !ok || ttl != "" {
				t.Errorf("subscription %s may expire (expirationPolicy.ttl %v)", r.Name, ttl)
			}
			role, _ := r.Input("labels.asyncjobs-role")
			if role == "dead-letter" {
				continue
			}
			dlPairs++
			checkDeadLettering(t, plan, r, byURN)
		}
	}
	if len(plan.Resources) == 0 || grants == 0 {
		t.Fatalf("plan has %d resources and %d grants: nothing to check", len(plan.Resources), grants)
	}
	if subs > 0 && dlPairs == 0 {
		t.Errorf("plan has subscriptions but none dead-letters")
	}
}

// isNodeRoleGrant reports whether r grants exactly the GKE node role, on
// the stack's project, to the node account of a cluster the plan creates
// (the account its clusterAutoscaling.autoProvisioningDefaults names).
func isNodeRoleGrant(plan *recorder.Plan, r *recorder.Resource) bool {
	if r.Inputs["role"] != gke.RoleNodeServiceAccount || r.Inputs["condition"] != nil {
		return false
	}
	member, _ := r.Inputs["member"].(string)
	for _, c := range plan.ByType("gcp:container/cluster:Cluster") {
		sa, _ := c.Input("clusterAutoscaling.autoProvisioningDefaults.serviceAccount")
		project, _ := c.Inputs["project"].(string)
		if email, ok := sa.(string); ok && email != "" && member == "serviceAccount:"+email && r.Inputs["project"] == project {
			return true
		}
	}
	return false
}

func checkDeadLettering(t *testing.T, plan *recorder.Plan, sub *recorder.Resource, byURN map[string]*recorder.Resource) {
	t.Helper()
	if a, _ := sub.Input("deadLetterPolicy.maxDeliveryAttempts"); a == nil {
		t.Errorf("worker subscription %s does not dead-letter", sub.Name)
		return
	}
	dlTopics := sub.PropertyDependencies["deadLetterPolicy"]
	if len(dlTopics) != 1 || byURN[dlTopics[0]] == nil || byURN[dlTopics[0]].Type != "gcp:pubsub/topic:Topic" {
		t.Errorf("worker subscription %s: dead-letter topic not found (%v)", sub.Name, dlTopics)
		return
	}
	dlTopic := dlTopics[0]
	var hasSub, publisher, subscriber bool
	for _, r := range plan.Resources {
		deps := func(k string) bool {
			for _, u := range r.PropertyDependencies[k] {
				if u == dlTopic || u == sub.URN {
					return true
				}
			}
			return false
		}
		member, _ := r.Inputs["member"].(string)
		agent := strings.HasPrefix(member, "serviceAccount:service-") && strings.HasSuffix(member, "@gcp-sa-pubsub.iam.gserviceaccount.com")
		switch r.Type {
		case "gcp:pubsub/subscription:Subscription":
			if deps("topic") && r.URN != sub.URN {
				hasSub = true
			}
		case "gcp:pubsub/topicIAMMember:TopicIAMMember":
			if agent && deps("topic") && r.Inputs["role"] == "roles/pubsub.publisher" {
				publisher = true
			}
		case "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember":
			if agent && deps("subscription") && r.Inputs["role"] == "roles/pubsub.subscriber" {
				subscriber = true
			}
		}
	}
	if !hasSub {
		t.Errorf("dead-letter topic of %s has no subscription: dead letters would be lost", sub.Name)
	}
	if !publisher {
		t.Errorf("Pub/Sub service agent cannot publish to the dead-letter topic of %s", sub.Name)
	}
	if !subscriber {
		t.Errorf("Pub/Sub service agent cannot acknowledge on %s", sub.Name)
	}
}

// replaceable are the resources a grant can sit on or name as its member:
// each can be replaced (a new name, filter, topic, location), and Google
// drops the IAM policy of the old one, or keeps a binding to a deleted
// principal that a new account of the same e-mail does not inherit.
var replaceable = map[string]bool{
	"gcp:serviceaccount/account:Account":   true,
	"gcp:pubsub/topic:Topic":               true,
	"gcp:pubsub/subscription:Subscription": true,
	"gcp:cloudtasks/queue:Queue":           true,
	"gcp:cloudrunv2/service:Service":       true,
}

// TestGrantsFollowTheirResources: every grant says it is re-created when
// the resource it sits on, or the account it names, is replaced. Replacing
// a resource whose name is fixed deletes it first, and Google drops the
// grants on it (or rewrites those naming a deleted account). The engine
// re-creates a grant whose inputs come from such a resource by itself (for
// a delete-before-replace it replaces every dependent whose
// replacement-forcing input comes from the deleted resource; the
// rehearsal's dev scenario showed it with replaceWith taken off a grant),
// so replaceWith states the rule rather than enforce it: it keeps a grant
// following its resource whichever way its inputs are later wired.
func TestGrantsFollowTheirResources(t *testing.T) {
	everyStackPlan(t, func(t *testing.T, plan *recorder.Plan) {
		types := map[string]string{}
		for _, r := range plan.Resources {
			types[r.URN] = r.Type
		}
		grants := 0
		for _, r := range plan.Resources {
			if !strings.Contains(strings.ToLower(r.Type), "iammember") {
				continue
			}
			grants++
			for prop, deps := range r.PropertyDependencies {
				for _, d := range deps {
					if replaceable[types[d]] && !slices.Contains(r.ReplaceWith, d) {
						t.Errorf("%s: its %s comes from %s, but it is not replaced with it (replaceWith %v)", r.Name, prop, d, r.ReplaceWith)
					}
				}
			}
		}
		if grants < 5 {
			t.Fatalf("only %d grants in the plan", grants)
		}
	})
}
