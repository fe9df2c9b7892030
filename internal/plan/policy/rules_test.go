package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/format"

	"github.com/asyncjobs/asyncjobs/internal/plan/policy"
	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
)

// Resource types and fixture names the cases change.
const (
	runService   = "gcp:cloudrunv2/service:Service"
	runIAM       = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
	queue        = "gcp:cloudtasks/queue:Queue"
	queueIAM     = "gcp:cloudtasks/queueIamMember:QueueIamMember"
	topic        = "gcp:pubsub/topic:Topic"
	subscription = "gcp:pubsub/subscription:Subscription"
	topicIAM     = "gcp:pubsub/topicIAMMember:TopicIAMMember"
	subIAM       = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
	deployment   = "kubernetes:apps/v1:Deployment"
	cronJob      = "kubernetes:batch/v1:CronJob"

	worker      = "worker"
	pushInvoker = "worker-push-invoker"
	sampleQueue = "queue-sample-queue"
	enqueuer    = "queue-sample-queue-enqueuer-0"
	jobsTopic   = "topic-jobs"
	workerSub   = "topic-jobs-jobs-worker"
	dlTopic     = "topic-jobs-jobs-worker-dl"
	dlSub       = "topic-jobs-jobs-worker-dl"
	subscriber  = "deployment-subscriber"
	report      = "cronjob-report"

	deploymentPod  = "spec.template.spec."
	deploymentMain = "spec.template.spec.containers.0."
	cronPod        = "spec.jobTemplate.spec.template.spec."
	cronMain       = "spec.jobTemplate.spec.template.spec.containers.0."
)

type ruleCase struct {
	name string
	// rule must fire on the resource want (type, name)...
	rule string
	want [2]string
	// ...and no rule but rule and also may fire.
	also   []string
	mutate mutation
}

// ruleCases: for every rule, the good fixture with one thing changed.
var ruleCases = []ruleCase{
	// IAM
	{name: "allUsers invoker", rule: "iam-no-public-members", want: [2]string{runIAM, pushInvoker},
		mutate: set(runIAM, pushInvoker, "member", "allUsers")},
	{name: "allAuthenticatedUsers subscriber", rule: "iam-no-public-members", want: [2]string{subIAM, "topic-jobs-jobs-worker-dl-agent-subscriber"},
		mutate: set(subIAM, "topic-jobs-jobs-worker-dl-agent-subscriber", "member", "allAuthenticatedUsers"),
		also:   []string{"pubsub-dead-letter-agent-grants"}},
	{name: "project-level grant", rule: "iam-no-project-level", want: [2]string{"gcp:projects/iAMMember:IAMMember", "worker-logs"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "worker-logs", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/logging.logWriter", "member": "serviceAccount:worker-run@asyncjobs-prod.iam.gserviceaccount.com"}})},
	{name: "node role to a worker account", rule: "iam-no-project-level", want: [2]string{"gcp:projects/iAMMember:IAMMember", "worker-node-role"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "worker-node-role", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/container.defaultNodeServiceAccount",
			"member": "serviceAccount:worker-run@asyncjobs-prod.iam.gserviceaccount.com"}})},
	{name: "node role with a condition", rule: "iam-no-project-level", want: [2]string{"gcp:projects/iAMMember:IAMMember", "other-nodes-role"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "other-nodes-role", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/container.defaultNodeServiceAccount", "member": "serviceAccount:c-nodes@asyncjobs-prod.iam.gserviceaccount.com",
			"condition": map[string]any{"title": "t", "expression": "true"}}})},
	{name: "node role to a -nodes account of another project", rule: "iam-no-project-level",
		want: [2]string{"gcp:projects/iAMMember:IAMMember", "other-nodes-role"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "other-nodes-role", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/container.defaultNodeServiceAccount",
			"member": "serviceAccount:c-nodes@other-project.iam.gserviceaccount.com"}})},
	{name: "node role to a -nodes account no cluster uses", rule: "iam-node-role-for-cluster-nodes-only",
		want: [2]string{"gcp:projects/iAMMember:IAMMember", "other-nodes-role"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "other-nodes-role", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/container.defaultNodeServiceAccount",
			"member": "serviceAccount:c-nodes@asyncjobs-prod.iam.gserviceaccount.com"}})},
	{name: "folder-level grant", rule: "iam-no-project-level", want: [2]string{"gcp:folder/iAMMember:IAMMember", "folder-viewer"},
		mutate: add(recorder.Resource{Type: "gcp:folder/iAMMember:IAMMember", Name: "folder-viewer", Inputs: map[string]any{
			"folder": "folders/123", "role": "roles/pubsub.viewer", "member": "group:ops@example.com"}})},
	{name: "topic binding", rule: "iam-members-only", want: [2]string{"gcp:pubsub/topicIAMBinding:TopicIAMBinding", "jobs-publishers"},
		mutate: add(recorder.Resource{Type: "gcp:pubsub/topicIAMBinding:TopicIAMBinding", Name: "jobs-publishers", Inputs: map[string]any{
			"topic": "jobs", "role": "roles/pubsub.publisher", "members": []any{"serviceAccount:producer@asyncjobs-prod.iam.gserviceaccount.com"}}})},
	{name: "service policy", rule: "iam-members-only", want: [2]string{"gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", "worker-policy"},
		mutate: add(recorder.Resource{Type: "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", Name: "worker-policy", Inputs: map[string]any{
			"name": "worker", "location": "asia-northeast1", "policyData": `{"bindings":[{"role":"roles/run.developer","members":["group:ops@example.com"]}]}`}})},
	{name: "service-account key", rule: "iam-no-service-account-keys", want: [2]string{"gcp:serviceaccount/key:Key", "worker-key"},
		mutate: add(recorder.Resource{Type: "gcp:serviceaccount/key:Key", Name: "worker-key", Inputs: map[string]any{"serviceAccountId": recorder.Computed}})},
	{name: "default compute identity", rule: "iam-no-default-service-accounts", want: [2]string{runService, worker},
		mutate: set(runService, worker, "template.serviceAccount", "123456789012-compute@developer.gserviceaccount.com")},
	{name: "App Engine account as member", rule: "iam-no-default-service-accounts", want: [2]string{queueIAM, enqueuer},
		mutate: set(queueIAM, enqueuer, "member", "serviceAccount:asyncjobs-prod@appspot.gserviceaccount.com")},
	{name: "editor on the queue", rule: "iam-no-basic-roles", want: [2]string{queueIAM, enqueuer},
		mutate: set(queueIAM, enqueuer, "role", "roles/editor")},
	{name: "owner inside a policy", rule: "iam-no-basic-roles", want: [2]string{"gcp:pubsub/topicIAMPolicy:TopicIAMPolicy", "jobs-policy"},
		also: []string{"iam-members-only"},
		mutate: add(recorder.Resource{Type: "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy", Name: "jobs-policy", Inputs: map[string]any{
			"topic": "jobs", "policyData": `{"bindings":[{"role":"roles/owner","members":["user:someone@example.com"]}]}`}})},
	{name: "token creator on the queue", rule: "iam-impersonation-on-service-account-only", want: [2]string{queueIAM, enqueuer},
		mutate: set(queueIAM, enqueuer, "role", "roles/iam.serviceAccountTokenCreator")},
	{name: "project-level serviceAccountUser", rule: "iam-impersonation-on-service-account-only",
		want: [2]string{"gcp:projects/iAMMember:IAMMember", "enqueuer-actas"},
		also: []string{"iam-no-project-level"},
		mutate: add(recorder.Resource{Type: "gcp:projects/iAMMember:IAMMember", Name: "enqueuer-actas", Inputs: map[string]any{
			"project": "asyncjobs-prod", "role": "roles/iam.serviceAccountUser", "member": recorder.Computed}})},

	// Cloud Run
	{name: "internal load balancer ingress", rule: "cloudrun-ingress", want: [2]string{runService, worker},
		mutate: set(runService, worker, "ingress", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")},
	{name: "no ingress", rule: "cloudrun-ingress", want: [2]string{runService, worker},
		mutate: set(runService, worker, "ingress", nil)},
	{name: "no runtime service account", rule: "cloudrun-dedicated-service-account", want: [2]string{runService, worker},
		mutate: set(runService, worker, "template.serviceAccount", nil)},
	{name: "invoker with the v1 IAM member", rule: "cloudrun-invoker-on-service-only", want: [2]string{"gcp:cloudrun/iamMember:IamMember", "legacy-invoker"},
		mutate: add(recorder.Resource{Type: "gcp:cloudrun/iamMember:IamMember", Name: "legacy-invoker", Inputs: map[string]any{
			"service": "worker", "location": "asia-northeast1", "role": "roles/run.invoker", "member": recorder.Computed}})},
	{name: "ingress all in production", rule: "cloudrun-internal-ingress-in-production", want: [2]string{runService, worker},
		mutate: set(runService, worker, "ingress", "INGRESS_TRAFFIC_ALL")},

	// Cloud Tasks
	{name: "no maxDoublings", rule: "cloudtasks-retry-config", want: [2]string{queue, sampleQueue},
		mutate: set(queue, sampleQueue, "retryConfig.maxDoublings", nil)},
	{name: "no retry config", rule: "cloudtasks-retry-config", want: [2]string{queue, sampleQueue},
		mutate: set(queue, sampleQueue, "retryConfig", nil)},
	{name: "no logging in production", rule: "cloudtasks-logging-in-production", want: [2]string{queue, sampleQueue},
		mutate: set(queue, sampleQueue, "stackdriverLoggingConfig.samplingRatio", 0.0)},

	// Pub/Sub
	{name: "worker subscription without dead letters", rule: "pubsub-dead-letter", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "deadLetterPolicy", nil)},
	{name: "worker subscription labelled dead-letter", rule: "pubsub-dead-letter-role", want: [2]string{subscription, "topic-jobs-sneaky"},
		mutate: func(t testing.TB, p *recorder.Plan) {
			add(recorder.Resource{Type: subscription, Name: "topic-jobs-sneaky", Protect: true,
				Inputs: map[string]any{"name": "sneaky", "topic": recorder.Computed, "expirationPolicy": map[string]any{"ttl": ""},
					"labels": map[string]any{"asyncjobs-role": "dead-letter"}},
				PropertyDependencies: map[string][]string{"topic": {urnOf(t, p, topic, jobsTopic)}},
			})(t, p)
		}},
	{name: "dead-letter topic without subscription", rule: "pubsub-dead-letter-topic-subscribed", want: [2]string{topic, dlTopic},
		mutate: remove(subscription, dlSub)},
	{name: "no publisher grant on the dead-letter topic", rule: "pubsub-dead-letter-agent-grants", want: [2]string{subscription, workerSub},
		mutate: remove(topicIAM, "topic-jobs-jobs-worker-dl-agent-publisher")},
	{name: "subscriber grant to someone else", rule: "pubsub-dead-letter-agent-grants", want: [2]string{subscription, workerSub},
		mutate: set(subIAM, "topic-jobs-jobs-worker-dl-agent-subscriber", "member", "serviceAccount:worker-run@asyncjobs-prod.iam.gserviceaccount.com")},
	{name: "publisher grant with the wrong role", rule: "pubsub-dead-letter-agent-grants", want: [2]string{subscription, workerSub},
		mutate: set(topicIAM, "topic-jobs-jobs-worker-dl-agent-publisher", "role", "roles/pubsub.viewer")},
	{name: "default expiration", rule: "pubsub-no-expiration", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "expirationPolicy", nil)},
	{name: "expires after a week", rule: "pubsub-no-expiration", want: [2]string{subscription, dlSub},
		mutate: set(subscription, dlSub, "expirationPolicy.ttl", "604800s")},
	{name: "ack deadline 700s", rule: "pubsub-ack-deadline-range", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "ackDeadlineSeconds", 700.0)},
	{name: "ack deadline 5s", rule: "pubsub-ack-deadline-range", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "ackDeadlineSeconds", 5.0)},
	{name: "retention 32 days", rule: "pubsub-retention-range", want: [2]string{subscription, dlSub},
		mutate: set(subscription, dlSub, "messageRetentionDuration", "2764800s")},
	{name: "topic retention 5 minutes", rule: "pubsub-retention-range", want: [2]string{topic, jobsTopic},
		mutate: set(topic, jobsTopic, "messageRetentionDuration", "300s")},
	{name: "maximum backoff 601s", rule: "pubsub-retry-backoff-range", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "retryPolicy.maximumBackoff", "601s")},
	{name: "minimum backoff above maximum", rule: "pubsub-retry-backoff-range", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "retryPolicy.maximumBackoff", "5s")},
	{name: "three delivery attempts", rule: "pubsub-max-delivery-attempts-range", want: [2]string{subscription, workerSub},
		mutate: set(subscription, workerSub, "deadLetterPolicy.maxDeliveryAttempts", 3.0)},
	{name: "topic without retention in production", rule: "pubsub-topic-retention-in-production", want: [2]string{topic, jobsTopic},
		mutate: set(topic, jobsTopic, "messageRetentionDuration", nil)},

	// Kubernetes
	{name: "default namespace", rule: "k8s-no-default-namespace", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, "metadata.namespace", "default")},
	{name: "no namespace", rule: "k8s-no-default-namespace", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, "metadata.namespace", nil)},
	{name: "container may run as root", rule: "k8s-run-as-non-root", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"securityContext.runAsNonRoot", false)},
	{name: "low UID in the container", rule: "k8s-run-as-high-uid", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"securityContext.runAsUser", 1000.0)},
	{name: "UID 10000 is not above 10000", rule: "k8s-run-as-high-uid", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"securityContext.runAsUser", 10000.0)},
	{name: "no pod seccomp profile", rule: "k8s-seccomp-runtime-default", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentPod+"securityContext.seccompProfile", nil)},
	{name: "container unconfined", rule: "k8s-seccomp-runtime-default", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"securityContext.seccompProfile", map[string]any{"type": "Unconfined"})},
	{name: "drops only NET_RAW", rule: "k8s-drop-all-capabilities", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"securityContext.capabilities.drop", []any{"NET_RAW"})},
	{name: "adds SYS_ADMIN", rule: "k8s-drop-all-capabilities", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"securityContext.capabilities.add", []any{"SYS_ADMIN"})},
	{name: "privilege escalation allowed", rule: "k8s-no-privilege-escalation", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"securityContext.allowPrivilegeEscalation", true)},
	{name: "privilege escalation not set", rule: "k8s-no-privilege-escalation", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"securityContext.allowPrivilegeEscalation", nil)},
	{name: "writable root filesystem", rule: "k8s-read-only-root-filesystem", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"securityContext.readOnlyRootFilesystem", nil)},
	{name: "no memory limit", rule: "k8s-resources", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"resources.limits.memory", nil)},
	{name: "no requests", rule: "k8s-resources", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"resources.requests", nil)},
	{name: "latest image", rule: "k8s-image-pinned", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, cronMain+"image", "asia-docker.pkg.dev/asyncjobs-prod/sample/report:latest")},
	{name: "untagged image from a registry with a port", rule: "k8s-image-pinned", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentMain+"image", "registry.example.com:5000/sample/subscriber")},
	{name: "no starting deadline", rule: "k8s-cronjob-starting-deadline", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, "spec.startingDeadlineSeconds", nil)},
	{name: "starting deadline under 10s", rule: "k8s-cronjob-starting-deadline", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, "spec.startingDeadlineSeconds", 5.0)},
	{name: "no active deadline", rule: "k8s-job-active-deadline", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, "spec.jobTemplate.spec.activeDeadlineSeconds", nil)},
	{name: "evictable CronJob pods", rule: "k8s-cronjob-not-evictable", want: [2]string{cronJob, report},
		mutate: set(cronJob, report, "spec.jobTemplate.spec.template.metadata.annotations", nil)},
	{name: "replicas on the HPA's Deployment", rule: "k8s-hpa-target-no-replicas", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, "spec.replicas", 3.0)},
	{name: "default Kubernetes provider", rule: "k8s-explicit-provider", want: [2]string{cronJob, report},
		mutate: modify(cronJob, report, func(r *recorder.Resource) { r.Provider = "" })},
	{name: "default provider by reference", rule: "k8s-explicit-provider", want: [2]string{deployment, subscriber},
		mutate: modify(deployment, subscriber, func(r *recorder.Resource) {
			r.Provider = "urn:pulumi:prod::asyncjobs::pulumi:providers:kubernetes::default_4_25_0::" + recorder.Computed
		})},
	{name: "API token mounted", rule: "k8s-no-automount-token", want: [2]string{deployment, subscriber},
		mutate: set(deployment, subscriber, deploymentPod+"automountServiceAccountToken", nil)},

	// Monitoring
	{name: "alert without channels", rule: "monitoring-alert-notification-channels", want: [2]string{"gcp:monitoring/alertPolicy:AlertPolicy", "dead-letters"},
		also: []string{"monitoring-alert-notification-channels-in-production"},
		mutate: add(recorder.Resource{Type: "gcp:monitoring/alertPolicy:AlertPolicy", Name: "dead-letters", Inputs: map[string]any{
			"displayName": "dead letters", "combiner": "OR", "conditions": []any{map[string]any{"displayName": "undelivered"}}}})},
	{name: "alert without channels in production", rule: "monitoring-alert-notification-channels-in-production",
		want: [2]string{"gcp:monitoring/alertPolicy:AlertPolicy", "dead-letters"},
		also: []string{"monitoring-alert-notification-channels"},
		mutate: add(recorder.Resource{Type: "gcp:monitoring/alertPolicy:AlertPolicy", Name: "dead-letters", Inputs: map[string]any{
			"displayName": "dead letters", "combiner": "OR", "conditions": []any{map[string]any{"displayName": "undelivered"}}}})},

	// Environments
	{name: "unprotected topic in production", rule: "protect-everything-in-production", want: [2]string{topic, jobsTopic},
		mutate: modify(topic, jobsTopic, func(r *recorder.Resource) { r.Protect = false })},
	{name: "unprotected worker in production", rule: "protect-everything-in-production", want: [2]string{runService, worker},
		mutate: modify(runService, worker, func(r *recorder.Resource) { r.Protect = false })},
	{name: "unprotected grant in production", rule: "protect-everything-in-production",
		want: [2]string{"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "topic-jobs-jobs-worker-dl-agent-subscriber"},
		mutate: modify("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "topic-jobs-jobs-worker-dl-agent-subscriber",
			func(r *recorder.Resource) { r.Protect = false })},
	{name: "unprotected Deployment in production", rule: "protect-everything-in-production",
		want:   [2]string{"kubernetes:apps/v1:Deployment", "deployment-subscriber"},
		mutate: modify("kubernetes:apps/v1:Deployment", "deployment-subscriber", func(r *recorder.Resource) { r.Protect = false })},
}

func evaluate(t testing.TB, e *policy.Engine, p *recorder.Plan, opts policy.Options) *policy.Result {
	t.Helper()
	res, err := e.Evaluate(context.Background(), p, opts)
	if err != nil {
		t.Fatalf("evaluating: %v", err)
	}
	return res
}

func ruleIDs(vs []policy.Violation) []string {
	seen := map[string]bool{}
	var ids []string
	for _, v := range vs {
		if !seen[v.Rule] {
			seen[v.Rule] = true
			ids = append(ids, v.Rule)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestGoodFixturePasses: the fixture the cases start from breaks no rule,
// errors or warnings, and counts as production.
func TestGoodFixturePasses(t *testing.T) {
	res := evaluate(t, engine(t), goodPlan(t), policy.Options{})
	for _, v := range res.Violations {
		t.Errorf("good fixture: %s", v)
	}
	if len(res.Production) == 0 {
		t.Error("the good fixture (the prod stack) is not production")
	}
	// The fixture must hold what the cases change.
	p := goodPlan(t)
	for _, typ := range []string{runService, runIAM, queue, queueIAM, topic, subscription, topicIAM, subIAM, deployment, cronJob,
		"kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:policy/v1:PodDisruptionBudget",
		"kubernetes:core/v1:Namespace", "kubernetes:core/v1:ServiceAccount"} {
		if len(p.ByType(typ)) == 0 {
			t.Errorf("the good fixture has no %s", typ)
		}
	}
}

// TestRuleFires: every case breaks exactly the rules it names, and the
// rule names the changed resource.
func TestRuleFires(t *testing.T) {
	e := engine(t)
	for _, tc := range ruleCases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := e.Rule(tc.rule); !ok {
				t.Fatalf("no rule %s in %s", tc.rule, rulesDir)
			}
			p := goodPlan(t)
			tc.mutate(t, p)
			res := evaluate(t, e, p, policy.Options{})

			want := append([]string{tc.rule}, tc.also...)
			sort.Strings(want)
			if got := ruleIDs(res.Violations); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("rules fired %v, want %v", got, want)
				for _, v := range res.Violations {
					t.Logf("  %s", v)
				}
			}
			found := false
			for _, v := range res.Violations {
				if v.Rule != tc.rule {
					continue
				}
				rule, _ := e.Rule(tc.rule)
				if v.Severity != rule.Severity {
					t.Errorf("%s: severity %s, want %s", v, v.Severity, rule.Severity)
				}
				if !strings.Contains(v.Message, "Fix: ") {
					t.Errorf("%s: the message gives no fix", v)
				}
				if v.Type == tc.want[0] && v.Name == tc.want[1] {
					found = true
				}
			}
			if !found {
				t.Errorf("%s does not name %s %s; violations: %v", tc.rule, tc.want[0], tc.want[1], res.Violations)
			}
		})
	}
}

// TestEveryRuleHasACase: a rule added to policy/ without a case here fails.
func TestEveryRuleHasACase(t *testing.T) {
	e := engine(t)
	cases := map[string]int{}
	for _, tc := range ruleCases {
		cases[tc.rule]++
	}
	for _, r := range e.Rules() {
		if cases[r.ID] == 0 {
			t.Errorf("rule %s (%s) has no case in ruleCases", r.ID, r.File)
		}
		delete(cases, r.ID)
	}
	for id := range cases {
		t.Errorf("ruleCases names %s, which is not a rule", id)
	}
	if n := len(e.Rules()); n < 35 {
		t.Errorf("only %d rules loaded", n)
	}
}

// TestRulesDeclared: what the metadata says matches the rule names.
func TestRulesDeclared(t *testing.T) {
	severities := map[policy.Severity]int{}
	for _, r := range engine(t).Rules() {
		severities[r.Severity]++
		prefix := map[policy.Severity]string{policy.Error: "deny_", policy.Warning: "warn_"}[r.Severity]
		if r.Scope == policy.StackScope {
			prefix = "stack_" + prefix
		}
		if r.Entry != prefix+strings.ReplaceAll(r.ID, "-", "_") {
			t.Errorf("%s: entry %s does not match severity %s and scope %s", r.ID, r.Entry, r.Severity, r.Scope)
		}
	}
	if severities[policy.Error] == 0 || severities[policy.Warning] == 0 {
		t.Errorf("severities %v: want errors and warnings", severities)
	}
}

// TestLoadRefuses: rule files the two evaluators would read differently
// are refused.
func TestLoadRefuses(t *testing.T) {
	const header = "package asyncjobs\n\nimport rego.v1\n\n"
	const meta = "# METADATA\n# title: T\n# description: D\n# custom:\n#   id: some-rule\n#   severity: error\n"
	for _, tc := range []struct{ name, src, want string }{
		{"no metadata", header + "deny_some_rule contains \"x\" if true\n", "no METADATA"},
		{"severity against the name", header + strings.Replace(meta, "error", "warning", 1) + "deny_some_rule contains \"x\" if true\n",
			"is the rule warn_some_rule"},
		{"id against the name", header + meta + "deny_other_rule contains \"x\" if true\n", "is the rule deny_some_rule"},
		{"two bodies", header + meta + "deny_some_rule contains \"x\" if true\n\ndeny_some_rule contains \"y\" if true\n", "has 2 bodies"},
		{"helper named like a rule", header + meta + "deny_some_rule contains \"x\" if true\n\nrequire_things := true\n", "named like a rule"},
		{"another package", "package other\n\nimport rego.v1\n", "want asyncjobs"},
		{"unknown severity", header + strings.Replace(meta, "error", "fatal", 1) + "deny_some_rule contains \"x\" if true\n", "want error or warning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "rules.rego"), []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := policy.Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestMessagesNameAResource: a message that does not start with a
// resource of the plan is an error, not a violation without a resource.
func TestMessagesNameAResource(t *testing.T) {
	dir := t.TempDir()
	src := "package asyncjobs\n\nimport rego.v1\n\n# METADATA\n# title: T\n# description: D\n# custom:\n#   id: free-text\n#   severity: error\n" +
		"deny_free_text contains \"something is wrong\" if true\n"
	if err := os.WriteFile(filepath.Join(dir, "rules.rego"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Evaluate(context.Background(), &recorder.Plan{Project: "asyncjobs", Stack: "dev"}, policy.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not start with") {
		t.Fatalf("Evaluate = %v, want an error about the message", err)
	}
}

// TestProductionSignal: the stack's name makes it production whatever its
// stack file says; labels and the caller can only add production.
func TestProductionSignal(t *testing.T) {
	e := engine(t)
	protectFires := func(res *policy.Result, name string) bool {
		for _, v := range res.Violations {
			if v.Rule == "protect-everything-in-production" && v.Type == runService && v.Name == name {
				return true
			}
		}
		return false
	}
	t.Run("dev is not production", func(t *testing.T) {
		res := evaluate(t, e, record(t, "dev", nil), policy.Options{})
		if len(res.Production) != 0 {
			t.Errorf("dev counts as production: %v", res.Production)
		}
	})
	t.Run("prod with protection and its label turned off", func(t *testing.T) {
		res := evaluate(t, e, record(t, "prod", map[string]string{
			"asyncjobs:protect": "false",
			"asyncjobs:labels":  `{"environment":"dev"}`,
		}), policy.Options{})
		if !protectFires(res, worker) {
			t.Errorf("an unprotected prod stack passes; production %v, violations %v", res.Production, res.Violations)
		}
	})
	t.Run("dev labelled prod", func(t *testing.T) {
		// A production stack's alerts must notify someone, or the program refuses it.
		res := evaluate(t, e, record(t, "dev", map[string]string{
			"asyncjobs:labels":   `{"environment":"prod"}`,
			"asyncjobs:alerting": `{"emails":["oncall@example.com"]}`,
		}), policy.Options{})
		if !protectFires(res, worker) {
			t.Errorf("a dev stack labelled environment=prod is not held to production; %v", res.Production)
		}
	})
	t.Run("dev marked production by the caller", func(t *testing.T) {
		res := evaluate(t, e, record(t, "dev", nil), policy.Options{Production: true})
		if !protectFires(res, worker) {
			t.Errorf("--production does not apply the production rules; %v", res.Production)
		}
	})
	t.Run("a stack named prod-eu", func(t *testing.T) {
		p := record(t, "dev", nil)
		p.Stack = "prod-eu"
		for _, r := range p.Resources {
			r.URN = strings.Replace(r.URN, "urn:pulumi:dev::", "urn:pulumi:prod-eu::", 1)
		}
		res := evaluate(t, e, p, policy.Options{})
		if !protectFires(res, worker) {
			t.Errorf("stack prod-eu is not production; %v", res.Production)
		}
	})
}

// TestUnknownValuesAsTheAnalyzerSeesThem: the Pulumi engine hands the
// analyzer unknown values as objects, not "<computed>"; the good fixture
// still passes with them.
func TestUnknownValuesAsTheAnalyzerSeesThem(t *testing.T) {
	in := policy.Input(goodPlan(t), policy.Options{})
	replaced := 0
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			if x == recorder.Computed {
				replaced++
				return map[string]any{"Element": map[string]any{"V": ""}}
			}
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	walk(in)
	if replaced < 10 {
		t.Fatalf("only %d unknown values replaced", replaced)
	}
	res, err := engine(t).EvaluateInput(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		t.Errorf("with the analyzer's unknowns: %s", v)
	}
}

// TestRulesAreFormatted: the rule files are as `opa fmt` writes them.
func TestRulesAreFormatted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(rulesDir, "*.rego"))
	if err != nil || len(files) < 5 {
		t.Fatalf("rule files %v: %v", files, err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(f, src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if string(out) != string(src) {
			t.Errorf("%s is not formatted as opa fmt formats it", f)
		}
	}
}
