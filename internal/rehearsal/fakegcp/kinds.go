package fakegcp

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sources of the replace (ForceNew) tables below. pulumi-gcp v7.38.0 bridges
// the google-beta Terraform provider 5.x; every Terraform field marked
// ForceNew (magic-modules: immutable, plus the implicit project/location
// URL parameters) is a replacement in Pulumi.
const (
	srcMM           = "https://github.com/GoogleCloudPlatform/magic-modules/blob/"
	srcSubscription = srcMM + "031052e06a56459335cf7219b7dfc26a46545a1f/mmv1/products/pubsub/Subscription.yaml"
	srcTopic        = srcMM + "0188a8d7061fb53753c2f310dafe8cf727245790/mmv1/products/pubsub/Topic.yaml"
	srcQueue        = srcMM + "005bcd12f77c8477a4ccdfe048524aeb137ddb88/mmv1/products/cloudtasks/Queue.yaml"
	srcRunService   = srcMM + "0047dd65967f23c0af099e10aac644b506b36ea0/mmv1/products/cloudrunv2/Service.yaml"
	srcMetric       = srcMM + "068cc45653d9a6962a00fd7d324d8bd542e76801/mmv1/products/logging/Metric.yaml"
	srcChannel      = srcMM + "0356443e2b8ec9d4dd77cfe5cf9154bf9a64c2b2/mmv1/products/monitoring/NotificationChannel.yaml"
	srcTPG          = "https://github.com/hashicorp/terraform-provider-google/blob/main/google/"
	srcIAMMember    = srcTPG + "tpgiamresource/resource_iam_member.go"
	srcProjectSvc   = srcTPG + "services/resourcemanager/resource_google_project_service.go"
	srcAccount      = srcTPG + "services/resourcemanager/resource_google_service_account.go"
	srcCluster      = srcTPG + "services/container/resource_container_cluster.go"
	srcAlertPolicy  = srcMM + "main/mmv1/products/monitoring/AlertPolicy.yaml"
	srcDashboard    = srcTPG + "services/monitoring/resource_monitoring_dashboard.go"
	srcBucket       = srcTPG + "services/storage/resource_storage_bucket.go"
	srcKeyRing      = srcMM + "main/mmv1/products/kms/KeyRing.yaml"
	srcCryptoKey    = srcMM + "main/mmv1/products/kms/CryptoKey.yaml"
	srcPool         = srcMM + "main/mmv1/products/iambeta/WorkloadIdentityPool.yaml"
	srcPoolProvider = srcMM + "main/mmv1/products/iambeta/WorkloadIdentityPoolProvider.yaml"
	// The delete-before-replace rule: the bridge sets DeleteBeforeReplace
	// when a replacement is needed and an autonamed property (pulumi-gcp
	// autonames every input called "name", SetAutonaming) was set by the
	// user (tfbridge.nameRequiresDeleteBeforeReplace, pkg/tfbridge/schema.go
	// and Provider.Diff in pkg/tfbridge/provider.go of
	// https://github.com/pulumi/pulumi-terraform-bridge). In v7.38.0 no
	// resource used here sets ResourceInfo.DeleteBeforeReplace: IAM members
	// got it only in pulumi-gcp v8 (https://github.com/pulumi/pulumi-gcp/pull/2650,
	// after https://github.com/pulumi/pulumi-gcp/issues/2463), and accountId
	// was autonamed only from v8 on.
)

// kind describes one resource type: how Google names it, what it computes,
// what forces a replacement.
type kind struct {
	token string
	// title is the resource's name in the Terraform provider's errors
	// ("Error creating Topic: ...").
	title string
	// project: the resource has a `project` input that defaults to the
	// provider's project.
	project bool
	// autoName: pulumi-gcp autonames the `name` input (Check fills it in
	// when absent; a user-set name makes replacements delete-before-replace).
	autoName bool
	required []string
	// forceNew lists property paths whose change replaces the resource
	// ("*" matches any list index).
	forceNew []string
	// defaults are Terraform Optional+Default values: absent ≡ default.
	defaults map[string]any
	// keepIfAbsent are Optional+Computed inputs: removing them from the
	// program keeps the value Google has (no diff).
	keepIfAbsent []string
	// labels names the input whose values become effectiveLabels and
	// pulumiLabels outputs ("" for none).
	labels string
	// computed are outputs only Google knows: unknown in a preview.
	computed []string
	// identify sets the call's key, id and short name from the inputs.
	identify func(c *call) error
	// serverID sets key and id for objects whose ID Google assigns; n is
	// a store-wide sequence number.
	serverID func(c *call, n int64)
	// compute sets the computed outputs on create (apply only).
	compute func(c *call, st *state, outs resource.PropertyMap) error
	// refs are objects that must exist for a create to succeed.
	refs func(c *call) []ref
	// iam: an additive IAM binding (idempotent create, delete removes the
	// binding whoever else declared it).
	iam bool
	// idempotent: creating an existing object succeeds (enabling an API).
	idempotent bool
	// tombstone: how long Google refuses a deleted object's name.
	tombstone    time.Duration
	tombstoneMsg string
	// onDelete replaces the default removal (nil: remove the object).
	onDelete func(c *call, st *state, r *StoredResource, olds resource.PropertyMap) error
	// onUpdate adjusts computed outputs on an in-place update.
	onUpdate func(olds, news, outs resource.PropertyMap)
	// onRead adjusts what a refresh sees (e.g. a subscription whose topic
	// was deleted).
	onRead   func(st *state, r *StoredResource, outs, ins resource.PropertyMap)
	validate func(in resource.PropertyMap) []*pulumirpc.CheckFailure
}

// ref is an object that must exist: its store key and what to call it.
type ref struct {
	key, what string
}

// call carries one resource operation's context.
type call struct {
	k       *kind
	urn     string
	in      resource.PropertyMap
	project string
	region  string
	// key is the canonical Google path; id the Pulumi ID; short the name
	// Google's error messages use; target the key an IAM binding is on.
	key, id, short, target string
	// targetWhat names the resource an IAM binding is on when it must
	// exist ("" when the fake does not model it, e.g. a project).
	targetWhat string
	getenv     func(string) string
}

func (c *call) needProject() error {
	if c.project == "" {
		return status.Errorf(codes.InvalidArgument,
			"project: required field is not set (set %q on the resource or gcp:project in the stack configuration)", "project")
	}
	return nil
}

func (c *call) location(key string) (string, error) {
	if l := str(c.in, key); l != "" {
		return l, nil
	}
	if c.region != "" {
		return c.region, nil
	}
	return "", status.Errorf(codes.InvalidArgument,
		"Cannot determine %s: set %s in this resource, or set provider-level 'region'", key, key)
}

func (c *call) requireKnown(keys ...string) error {
	for _, k := range keys {
		if str(c.in, k) == "" {
			return status.Errorf(codes.InvalidArgument, "%s: %s is required but not set", c.k.token, k)
		}
	}
	return nil
}

var kinds = map[string]*kind{}

func register(k *kind) {
	kinds[k.token] = k
}

// ResourceTypes lists the resource type tokens the stand-in models.
func ResourceTypes() []string {
	out := make([]string, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func lookupKind(token string) (*kind, error) {
	if k, ok := kinds[token]; ok {
		return k, nil
	}
	return nil, status.Errorf(codes.Unimplemented,
		"fakegcp: resource type %q is not modelled by the stand-in gcp provider "+
			"(internal/rehearsal/fakegcp); add it there with its ID format, outputs and replace rules", token)
}

// accountIDPattern is verify.ValidateRFC1035Name(6, 30), the validation of
// google_service_account.account_id.
var accountIDPattern = regexp.MustCompile(`^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$`)

// iamMemberPattern is validateIAMMember of tpgiamresource.
var iamMemberPattern = regexp.MustCompile(`(.+:.+|allUsers|allAuthenticatedUsers)`)

func init() {
	// Source: srcProjectSvc (service, project ForceNew; disable_on_destroy
	// defaults to true).
	register(&kind{
		token: "gcp:projects/service:Service", title: "ProjectService", project: true,
		required:   []string{"service"},
		forceNew:   []string{"service", "project"},
		defaults:   map[string]any{"disableOnDestroy": true},
		idempotent: true,
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			c.short = str(c.in, "service")
			c.key = c.project + "/" + c.short
			c.id = c.key
			return nil
		},
		onDelete: func(c *call, st *state, r *StoredResource, olds resource.PropertyMap) error {
			disable := true
			if v, ok := get(olds, "disableOnDestroy"); ok && v.IsBool() {
				disable = v.BoolValue()
			}
			if disable {
				// Disabling an API disables it for everyone.
				st.remove(r.Key)
				return nil
			}
			// The API stays enabled; only this declaration lets go.
			dropHolder(r, c.urn)
			return nil
		},
	})

	// Source: srcAccount (account_id, project ForceNew).
	register(&kind{
		token: "gcp:serviceaccount/account:Account", title: "ServiceAccount", project: true,
		required: []string{"accountId"},
		forceNew: []string{"accountId", "project"},
		defaults: map[string]any{"disabled": false},
		computed: []string{"email", "member", "name", "uniqueId"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			c.short = str(c.in, "accountId")
			email := c.short + "@" + c.project + ".iam.gserviceaccount.com"
			c.key = "projects/" + c.project + "/serviceAccounts/" + email
			c.id = c.key
			return nil
		},
		compute: func(c *call, st *state, outs resource.PropertyMap) error {
			email := c.short + "@" + c.project + ".iam.gserviceaccount.com"
			set(outs, "email", email)
			set(outs, "member", "serviceAccount:"+email)
			set(outs, "name", c.key)
			set(outs, "uniqueId", "1"+digits(fmt.Sprintf("%s#%d", c.key, st.Incarnations[c.key]), 20))
			return nil
		},
		validate: func(in resource.PropertyMap) []*pulumirpc.CheckFailure {
			id := str(in, "accountId")
			if id == "" || accountIDPattern.MatchString(id) {
				return nil
			}
			return []*pulumirpc.CheckFailure{{
				Property: "accountId",
				Reason:   fmt.Sprintf("\"account_id\" (%q) doesn't match regexp \"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$\"", id),
			}}
		},
		onDelete: func(c *call, st *state, r *StoredResource, _ resource.PropertyMap) error {
			// Bindings that name a deleted account keep it as a deleted
			// principal: a new account of the same email does not inherit them.
			email, _ := r.Outputs["email"].(string)
			uid, _ := r.Outputs["uniqueId"].(string)
			st.remove(r.Key)
			if email == "" {
				return nil
			}
			for key, b := range st.Resources {
				if b.Target == "" || b.Inputs["member"] != "serviceAccount:"+email {
					continue
				}
				delete(st.Resources, key)
				member := "deleted:serviceAccount:" + email + "?uid=" + uid
				b.Inputs["member"] = member
				b.Key = strings.Replace(b.Key, "|serviceAccount:"+email, "|"+member, 1)
				b.ID = strings.Replace(b.ID, "/serviceAccount:"+email, "/"+member, 1)
				st.Resources[b.Key] = b
			}
			return nil
		},
	})

	// Source: srcRunService (name, location, project immutable).
	register(&kind{
		token: "gcp:cloudrunv2/service:Service", title: "Service", project: true, autoName: true,
		required:     []string{"location", "template"},
		forceNew:     []string{"name", "location", "project"},
		keepIfAbsent: []string{"ingress", "launchStage"},
		labels:       "labels",
		computed: []string{"uri", "uid", "generation", "observedGeneration",
			"latestReadyRevision", "latestCreatedRevision", "reconciling"},
		identify: located("services"),
		compute: func(c *call, st *state, outs resource.PropertyMap) error {
			set(outs, "name", c.short)
			set(outs, "uri", CloudRunURI(c.project, str(c.in, "location"), c.short))
			set(outs, "uid", uuid(fmt.Sprintf("%s#%d", c.key, st.Incarnations[c.key])))
			set(outs, "generation", "1")
			set(outs, "observedGeneration", "1")
			rev := revisionName(c.key, c.short, 1)
			set(outs, "latestReadyRevision", rev)
			set(outs, "latestCreatedRevision", rev)
			outs["reconciling"] = resource.NewBoolProperty(false)
			if _, ok := get(c.in, "ingress"); !ok {
				set(outs, "ingress", "INGRESS_TRAFFIC_ALL")
			}
			if _, ok := get(c.in, "launchStage"); !ok {
				set(outs, "launchStage", "GA")
			}
			return nil
		},
		refs: func(c *call) []ref {
			tpl := obj(c.in, "template")
			if sa := str(tpl, "serviceAccount"); strings.HasSuffix(sa, ".iam.gserviceaccount.com") {
				return []ref{accountRef(sa)}
			}
			return nil
		},
		onUpdate: func(olds, news, outs resource.PropertyMap) {
			gen := atoi(str(olds, "generation")) + 1
			set(outs, "generation", fmt.Sprint(gen))
			set(outs, "observedGeneration", fmt.Sprint(gen))
			if !equalValues(olds["template"], news["template"]) {
				key := str(olds, "id")
				n := revisionNumber(str(olds, "latestReadyRevision")) + 1
				rev := revisionName(key, lastSegment(key), n)
				set(outs, "latestReadyRevision", rev)
				set(outs, "latestCreatedRevision", rev)
			}
		},
	})

	// Source: srcQueue (name, location, project immutable).
	register(&kind{
		token: "gcp:cloudtasks/queue:Queue", title: "Queue", project: true, autoName: true,
		required:     []string{"location"},
		forceNew:     []string{"name", "location", "project"},
		keepIfAbsent: []string{"rateLimits", "retryConfig"},
		identify:     located("queues"),
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", c.short)
			return nil
		},
		// "If you delete a queue, you must wait 7 days before creating a
		// queue with the same name" (Cloud Tasks documentation).
		tombstone:    7 * 24 * time.Hour,
		tombstoneMsg: "The queue cannot be created because a queue with this name existed too recently.",
		validate: func(in resource.PropertyMap) []*pulumirpc.CheckFailure {
			if _, ok := get(obj(in, "rateLimits"), "maxBurstSize"); ok {
				return []*pulumirpc.CheckFailure{{
					Property: "rateLimits.maxBurstSize",
					Reason:   "Computed attribute cannot be set: rate_limits.max_burst_size is output-only (Cloud Tasks derives it)",
				}}
			}
			return nil
		},
	})

	// Source: srcTopic (name immutable, project).
	register(&kind{
		token: "gcp:pubsub/topic:Topic", title: "Topic", project: true, autoName: true,
		forceNew: []string{"name", "project"},
		labels:   "labels",
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("name"); err != nil {
				return err
			}
			c.short = lastSegment(str(c.in, "name"))
			c.key = fmt.Sprintf("projects/%s/topics/%s", c.project, c.short)
			c.id = c.key
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", c.short)
			return nil
		},
	})

	// Source: srcSubscription (name, topic, filter, enableMessageOrdering
	// immutable; project). enableExactlyOnceDelivery is updatable.
	register(&kind{
		token: "gcp:pubsub/subscription:Subscription", title: "Subscription", project: true, autoName: true,
		required:     []string{"topic"},
		forceNew:     []string{"name", "topic", "project", "filter", "enableMessageOrdering"},
		defaults:     map[string]any{"messageRetentionDuration": "604800s"},
		keepIfAbsent: []string{"ackDeadlineSeconds", "expirationPolicy"},
		labels:       "labels",
		computed:     []string{"ackDeadlineSeconds", "expirationPolicy"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("name", "topic"); err != nil {
				return err
			}
			c.short = lastSegment(str(c.in, "name"))
			c.key = fmt.Sprintf("projects/%s/subscriptions/%s", c.project, c.short)
			c.id = c.key
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", c.short)
			set(outs, "topic", topicPath(c.project, str(c.in, "topic")))
			if _, ok := get(c.in, "ackDeadlineSeconds"); !ok {
				outs["ackDeadlineSeconds"] = resource.NewNumberProperty(10)
			}
			if _, ok := get(c.in, "expirationPolicy"); !ok {
				outs["expirationPolicy"] = resource.NewObjectProperty(resource.PropertyMap{
					"ttl": resource.NewStringProperty("2678400s"),
				})
			}
			return nil
		},
		refs: func(c *call) []ref {
			refs := []ref{{key: topicPath(c.project, str(c.in, "topic")), what: "topic"}}
			if dl := str(obj(c.in, "deadLetterPolicy"), "deadLetterTopic"); dl != "" {
				refs = append(refs, ref{key: topicPath(c.project, dl), what: "dead letter topic"})
			}
			return refs
		},
		onUpdate: func(_, news, outs resource.PropertyMap) {
			set(outs, "topic", topicPath(str(outs, "project"), str(news, "topic")))
		},
		onRead: func(st *state, r *StoredResource, outs, ins resource.PropertyMap) {
			// Google keeps a subscription whose topic is deleted and shows
			// its topic as _deleted-topic_.
			topic, _ := r.Outputs["topic"].(string)
			if topic == "" || st.Resources[topic] != nil {
				return
			}
			set(outs, "topic", "_deleted-topic_")
			if _, ok := ins["topic"]; ok {
				set(ins, "topic", "_deleted-topic_")
			}
		},
	})

	// Source: srcMetric (only project and the label descriptors' key and
	// valueType are immutable; name is updatable).
	register(&kind{
		token: "gcp:logging/metric:Metric", title: "Metric", project: true, autoName: true,
		required:     []string{"filter"},
		forceNew:     []string{"project", "metricDescriptor.labels[*].key", "metricDescriptor.labels[*].valueType"},
		keepIfAbsent: []string{"metricDescriptor"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("name"); err != nil {
				return err
			}
			c.short = str(c.in, "name")
			c.key = fmt.Sprintf("projects/%s/metrics/%s", c.project, c.short)
			c.id = c.short
			return nil
		},
	})

	// Source: srcAlertPolicy (only project is immutable; the name is
	// assigned by the server).
	register(&kind{
		token: "gcp:monitoring/alertPolicy:AlertPolicy", title: "AlertPolicy", project: true,
		required: []string{"combiner", "conditions", "displayName"},
		forceNew: []string{"project"},
		defaults: map[string]any{"enabled": true},
		computed: []string{"name"},
		identify: func(c *call) error {
			return c.needProject()
		},
		serverID: func(c *call, n int64) {
			c.key = fmt.Sprintf("projects/%s/alertPolicies/%s", c.project, digits(fmt.Sprintf("alertPolicy/%s/%d", c.project, n), 20))
			c.id, c.short = c.key, c.key
		},
		compute: func(c *call, st *state, outs resource.PropertyMap) error {
			set(outs, "name", c.key)
			if v, ok := get(c.in, "conditions"); ok && v.IsArray() {
				var conds []resource.PropertyValue
				for i, cond := range v.ArrayValue() {
					cond = unsecret(cond)
					if !cond.IsObject() {
						conds = append(conds, cond)
						continue
					}
					m := cond.ObjectValue().Copy()
					set(m, "name", fmt.Sprintf("%s/conditions/%s", c.key, digits(fmt.Sprintf("%s/%d", c.key, i), 20)))
					conds = append(conds, resource.NewObjectProperty(m))
				}
				outs["conditions"] = resource.NewArrayProperty(conds)
			}
			return nil
		},
		refs: func(c *call) []ref {
			var refs []ref
			if v, ok := get(c.in, "notificationChannels"); ok && v.IsArray() {
				for _, ch := range v.ArrayValue() {
					if ch = unsecret(ch); ch.IsString() {
						refs = append(refs, ref{key: ch.StringValue(), what: "notification channel"})
					}
				}
			}
			return refs
		},
	})

	// Source: srcChannel (only project immutable; type is updatable).
	register(&kind{
		token: "gcp:monitoring/notificationChannel:NotificationChannel", title: "NotificationChannel", project: true,
		required: []string{"type"},
		forceNew: []string{"project"},
		defaults: map[string]any{"enabled": true, "forceDelete": false},
		computed: []string{"name", "verificationStatus"},
		identify: func(c *call) error {
			return c.needProject()
		},
		serverID: func(c *call, n int64) {
			c.key = fmt.Sprintf("projects/%s/notificationChannels/%s", c.project, digits(fmt.Sprintf("channel/%s/%d", c.project, n), 19))
			c.id, c.short = c.key, c.key
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", c.key)
			set(outs, "verificationStatus", "")
			return nil
		},
		onDelete: func(c *call, st *state, r *StoredResource, olds resource.PropertyMap) error {
			if v, ok := get(olds, "forceDelete"); ok && v.IsBool() && v.BoolValue() {
				st.remove(r.Key)
				return nil
			}
			for _, p := range st.Resources {
				if p.Type != "gcp:monitoring/alertPolicy:AlertPolicy" {
					continue
				}
				chans, _ := p.Inputs["notificationChannels"].([]any)
				for _, ch := range chans {
					if ch == r.Key {
						return status.Errorf(codes.FailedPrecondition,
							"Error deleting NotificationChannel %q: googleapi: Error 400: Notification channel %s "+
								"is referenced by alert policy %s; set force_delete or delete the policy first., badRequest",
							r.Key, r.Key, p.Key)
					}
				}
			}
			st.remove(r.Key)
			return nil
		},
	})

	// Source: srcDashboard (project ForceNew; dashboard_json updatable).
	register(&kind{
		token: "gcp:monitoring/dashboard:Dashboard", title: "Dashboard", project: true,
		required: []string{"dashboardJson"},
		forceNew: []string{"project"},
		identify: func(c *call) error {
			return c.needProject()
		},
		// The API names dashboards by project number.
		serverID: func(c *call, n int64) {
			c.key = fmt.Sprintf("projects/%s/dashboards/%s", ProjectNumber(c.project), uuid(fmt.Sprintf("dashboard/%s/%d", c.project, n)))
			c.id, c.short = c.key, c.key
		},
	})

	// Source: srcCluster (name, location, project, enable_autopilot and the
	// network layout fields are ForceNew; deletion_protection defaults to
	// true and blocks a destroy).
	register(&kind{
		token: "gcp:container/cluster:Cluster", title: "Cluster", project: true, autoName: true,
		forceNew: []string{"name", "location", "project", "enableAutopilot", "description", "initialNodeCount",
			"network", "subnetwork", "clusterIpv4Cidr", "ipAllocationPolicy", "enableKubernetesAlpha", "enableTpu",
			"defaultMaxPodsPerNode"},
		defaults: map[string]any{"deletionProtection": true},
		labels:   "resourceLabels",
		computed: []string{"endpoint", "masterAuth", "selfLink", "masterVersion"},
		compute:  clusterCompute,
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			loc, err := c.location("location")
			if err != nil {
				return err
			}
			if err := c.requireKnown("name"); err != nil {
				return err
			}
			c.short = str(c.in, "name")
			c.key = fmt.Sprintf("projects/%s/locations/%s/clusters/%s", c.project, loc, c.short)
			c.id = c.key
			return nil
		},
		onDelete: func(c *call, st *state, r *StoredResource, olds resource.PropertyMap) error {
			protected := true
			if v, ok := get(olds, "deletionProtection"); ok && v.IsBool() {
				protected = v.BoolValue()
			}
			if protected {
				return status.Errorf(codes.FailedPrecondition,
					"Cannot destroy cluster because deletion_protection is set to true. "+
						"Set it to false to proceed with cluster deletion.")
			}
			st.remove(r.Key)
			return nil
		},
	})

	// Source: srcBucket (name, project, location ForceNew). Bucket names
	// are global.
	register(&kind{
		token: "gcp:storage/bucket:Bucket", title: "Bucket", project: true, autoName: true,
		required:     []string{"location"},
		forceNew:     []string{"name", "project", "location"},
		keepIfAbsent: []string{"storageClass"},
		labels:       "labels",
		computed:     []string{"url", "selfLink"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("name"); err != nil {
				return err
			}
			c.short = str(c.in, "name")
			c.key = "projects/_/buckets/" + c.short
			c.id = c.short
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "url", "gs://"+c.short)
			set(outs, "selfLink", "https://www.googleapis.com/storage/v1/b/"+c.short)
			set(outs, "location", strings.ToUpper(str(c.in, "location")))
			if _, ok := get(c.in, "storageClass"); !ok {
				set(outs, "storageClass", "STANDARD")
			}
			return nil
		},
		onUpdate: func(_, news, outs resource.PropertyMap) {
			set(outs, "location", strings.ToUpper(str(news, "location")))
		},
	})

	// Source: srcKeyRing (name, location, project immutable). Key rings
	// cannot be deleted: Terraform forgets them, Google keeps them.
	register(&kind{
		token: "gcp:kms/keyRing:KeyRing", title: "KeyRing", project: true, autoName: true,
		required: []string{"location"},
		forceNew: []string{"name", "location", "project"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("name", "location"); err != nil {
				return err
			}
			c.short = str(c.in, "name")
			c.key = fmt.Sprintf("projects/%s/locations/%s/keyRings/%s", c.project, str(c.in, "location"), c.short)
			c.id = c.key
			return nil
		},
		onDelete: keepOnDelete,
	})

	// Source: srcCryptoKey (name, key_ring, purpose, import_only,
	// skip_initial_version_creation, destroy_scheduled_duration,
	// crypto_key_backend immutable). Crypto keys cannot be deleted either:
	// Terraform destroys their versions and forgets them.
	register(&kind{
		token: "gcp:kms/cryptoKey:CryptoKey", title: "CryptoKey", autoName: true,
		required: []string{"keyRing"},
		forceNew: []string{"name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation",
			"destroyScheduledDuration", "cryptoKeyBackend", "versionTemplate.protectionLevel"},
		defaults: map[string]any{"purpose": "ENCRYPT_DECRYPT"},
		labels:   "labels",
		identify: func(c *call) error {
			if err := c.requireKnown("name", "keyRing"); err != nil {
				return err
			}
			c.short = str(c.in, "name")
			c.key = str(c.in, "keyRing") + "/cryptoKeys/" + c.short
			c.id = c.key
			c.project = projectOf(c.key, c.project)
			return nil
		},
		refs: func(c *call) []ref {
			return []ref{{key: str(c.in, "keyRing"), what: "key ring"}}
		},
		onDelete: keepOnDelete,
	})

	// Source: srcPool (workload_identity_pool_id immutable, project).
	// Deleted pools stay soft-deleted for 30 days and keep their ID.
	register(&kind{
		token: "gcp:iam/workloadIdentityPool:WorkloadIdentityPool", title: "WorkloadIdentityPool", project: true,
		required: []string{"workloadIdentityPoolId"},
		forceNew: []string{"workloadIdentityPoolId", "project"},
		computed: []string{"name", "state"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("workloadIdentityPoolId"); err != nil {
				return err
			}
			c.short = str(c.in, "workloadIdentityPoolId")
			c.key = fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s", c.project, c.short)
			c.id = c.key
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s", ProjectNumber(c.project), c.short))
			set(outs, "state", "ACTIVE")
			return nil
		},
		tombstone:    30 * 24 * time.Hour,
		tombstoneMsg: "Requested entity already exists",
	})

	// Source: srcPoolProvider (pool and provider IDs immutable, project).
	register(&kind{
		token: "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", title: "WorkloadIdentityPoolProvider",
		project:  true,
		required: []string{"workloadIdentityPoolId", "workloadIdentityPoolProviderId"},
		forceNew: []string{"workloadIdentityPoolId", "workloadIdentityPoolProviderId", "project"},
		computed: []string{"name", "state"},
		identify: func(c *call) error {
			if err := c.needProject(); err != nil {
				return err
			}
			if err := c.requireKnown("workloadIdentityPoolId", "workloadIdentityPoolProviderId"); err != nil {
				return err
			}
			c.short = str(c.in, "workloadIdentityPoolProviderId")
			c.key = fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s/providers/%s",
				c.project, str(c.in, "workloadIdentityPoolId"), c.short)
			c.id = c.key
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "name", fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s/providers/%s",
				ProjectNumber(c.project), str(c.in, "workloadIdentityPoolId"), c.short))
			set(outs, "state", "ACTIVE")
			return nil
		},
		refs: func(c *call) []ref {
			return []ref{{
				key:  fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s", c.project, str(c.in, "workloadIdentityPoolId")),
				what: "workload identity pool",
			}}
		},
		tombstone:    30 * 24 * time.Hour,
		tombstoneMsg: "Requested entity already exists",
	})

	// IAM members. Source: srcIAMMember (role, member, condition ForceNew)
	// plus each resource's parent fields, all ForceNew.
	registerIAM("gcp:projects/iAMMember:IAMMember", []string{"project"}, false,
		func(c *call) (string, string, string, error) {
			if err := c.requireKnown("project"); err != nil {
				return "", "", "", err
			}
			p := str(c.in, "project")
			return "projects/" + p, p, "", nil
		})
	registerIAM("gcp:serviceaccount/iAMMember:IAMMember", []string{"serviceAccountId"}, false,
		func(c *call) (string, string, string, error) {
			if err := c.requireKnown("serviceAccountId"); err != nil {
				return "", "", "", err
			}
			key := accountKey(str(c.in, "serviceAccountId"))
			return key, key, "service account", nil
		})
	registerIAM("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", []string{"project", "location", "name"}, true,
		func(c *call) (string, string, string, error) {
			return locatedTarget(c, "services", "Cloud Run service")
		})
	registerIAM("gcp:cloudtasks/queueIamMember:QueueIamMember", []string{"project", "location", "name"}, true,
		func(c *call) (string, string, string, error) {
			return locatedTarget(c, "queues", "queue")
		})
	registerIAM("gcp:pubsub/topicIAMMember:TopicIAMMember", []string{"project", "topic"}, true,
		func(c *call) (string, string, string, error) {
			if err := c.needProject(); err != nil {
				return "", "", "", err
			}
			if err := c.requireKnown("topic"); err != nil {
				return "", "", "", err
			}
			key := topicPath(c.project, str(c.in, "topic"))
			return key, key, "topic", nil
		})
	registerIAM("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", []string{"project", "subscription"}, true,
		func(c *call) (string, string, string, error) {
			if err := c.needProject(); err != nil {
				return "", "", "", err
			}
			if err := c.requireKnown("subscription"); err != nil {
				return "", "", "", err
			}
			key := subscriptionPath(c.project, str(c.in, "subscription"))
			return key, key, "subscription", nil
		})
	registerIAM("gcp:storage/bucketIAMMember:BucketIAMMember", []string{"bucket"}, false,
		func(c *call) (string, string, string, error) {
			if err := c.requireKnown("bucket"); err != nil {
				return "", "", "", err
			}
			name := strings.TrimPrefix(str(c.in, "bucket"), "b/")
			return "projects/_/buckets/" + name, "b/" + name, "bucket", nil
		})
	registerIAM("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", []string{"cryptoKeyId"}, false,
		func(c *call) (string, string, string, error) {
			if err := c.requireKnown("cryptoKeyId"); err != nil {
				return "", "", "", err
			}
			key := cryptoKeyPath(str(c.in, "cryptoKeyId"))
			return key, key, "crypto key", nil
		})
}

// registerIAM registers an additive IAM member type. target returns the
// store key of the resource the binding is on, the ID prefix Terraform
// uses, and what to call the resource when it must exist ("" when the
// fake does not model it: a project).
func registerIAM(token string, parents []string, project bool,
	target func(c *call) (key, idPrefix, mustExist string, err error)) {
	forceNew := append(append([]string{}, parents...), "role", "member", "condition")
	required := []string{"role", "member"}
	for _, p := range parents {
		if p != "project" && p != "location" {
			required = append(required, p)
		}
	}
	if token == "gcp:projects/iAMMember:IAMMember" {
		required = append(required, "project")
	}
	register(&kind{
		token: token, title: "IAM member", project: project, iam: true, idempotent: true,
		required: required,
		forceNew: forceNew,
		computed: []string{"etag"},
		identify: func(c *call) error {
			key, prefix, exist, err := target(c)
			if err != nil {
				return err
			}
			if err := c.requireKnown("role", "member"); err != nil {
				return err
			}
			c.targetWhat = exist
			role, member := str(c.in, "role"), str(c.in, "member")
			c.target = key
			c.key = key + "|" + role + "|" + member
			c.id = prefix + "/" + role + "/" + member
			if t := str(obj(c.in, "condition"), "title"); t != "" {
				c.key += "|" + t
				c.id += "/" + t
			}
			c.short = c.id
			return nil
		},
		compute: func(c *call, _ *state, outs resource.PropertyMap) error {
			set(outs, "etag", etag(c.key))
			return nil
		},
		refs: func(c *call) []ref {
			if c.targetWhat == "" {
				return nil
			}
			return []ref{{key: c.target, what: c.targetWhat}}
		},
		validate: func(in resource.PropertyMap) []*pulumirpc.CheckFailure {
			m := str(in, "member")
			switch {
			case m == "":
				return nil
			case strings.HasPrefix(m, "deleted"):
				return []*pulumirpc.CheckFailure{{Property: "member",
					Reason: "invalid value for member (Terraform does not support IAM members for deleted principals)"}}
			case !iamMemberPattern.MatchString(m):
				return []*pulumirpc.CheckFailure{{Property: "member",
					Reason: fmt.Sprintf("invalid value %q for member (IAM members must have one of the values outlined here: "+
						"https://cloud.google.com/billing/docs/reference/rest/v1/Policy#Binding)", m)}}
			}
			return nil
		},
	})
}

func keepOnDelete(c *call, _ *state, r *StoredResource, _ resource.PropertyMap) error {
	dropHolder(r, c.urn)
	return nil
}

// locatedTarget resolves the parent of a Cloud Run or Cloud Tasks IAM
// member: name is a short name or a full path; location and project
// default to the provider's.
func locatedTarget(c *call, collection, what string) (string, string, string, error) {
	if err := c.requireKnown("name"); err != nil {
		return "", "", "", err
	}
	name := str(c.in, "name")
	if strings.HasPrefix(name, "projects/") {
		return name, name, what, nil
	}
	if err := c.needProject(); err != nil {
		return "", "", "", err
	}
	loc, err := c.location("location")
	if err != nil {
		return "", "", "", err
	}
	key := fmt.Sprintf("projects/%s/locations/%s/%s/%s", c.project, loc, collection, name)
	return key, key, what, nil
}

func topicPath(project, topic string) string {
	if strings.HasPrefix(topic, "projects/") {
		return topic
	}
	return fmt.Sprintf("projects/%s/topics/%s", project, topic)
}

func subscriptionPath(project, sub string) string {
	if strings.HasPrefix(sub, "projects/") {
		return sub
	}
	return fmt.Sprintf("projects/%s/subscriptions/%s", project, sub)
}

// accountKey normalises a service account reference (path, email or
// project/email) to projects/<project>/serviceAccounts/<email>.
func accountKey(id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	if i := strings.Index(id, "/"); i > 0 {
		return "projects/" + id[:i] + "/serviceAccounts/" + id[i+1:]
	}
	return accountRef(id).key
}

func accountRef(email string) ref {
	project := "-"
	if at := strings.Index(email, "@"); at >= 0 {
		domain := email[at+1:]
		if p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com"); ok {
			project = p
		}
	}
	return ref{key: "projects/" + project + "/serviceAccounts/" + email, what: "service account"}
}

// cryptoKeyPath accepts projects/p/locations/l/keyRings/r/cryptoKeys/k or
// the short p/l/r/k form.
func cryptoKeyPath(id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	parts := strings.Split(id, "/")
	if len(parts) == 4 {
		return fmt.Sprintf("projects/%s/locations/%s/keyRings/%s/cryptoKeys/%s", parts[0], parts[1], parts[2], parts[3])
	}
	return id
}

// projectOf extracts the project of a projects/<p>/... path.
func projectOf(path, fallback string) string {
	parts := strings.Split(path, "/")
	if len(parts) > 1 && parts[0] == "projects" {
		return parts[1]
	}
	return fallback
}

func revisionName(serviceKey, service string, n int) string {
	return fmt.Sprintf("%s/revisions/%s-%05d-%s", serviceKey, service, n, letters(fmt.Sprintf("%s#%d", serviceKey, n), 3))
}

func revisionNumber(rev string) int {
	parts := strings.Split(lastSegment(rev), "-")
	if len(parts) < 2 {
		return 0
	}
	return atoi(parts[len(parts)-2])
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return n
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func set(m resource.PropertyMap, k, v string) {
	m[resource.PropertyKey(k)] = resource.NewStringProperty(v)
}

// located identifies a resource of the project and location inputs named
// projects/<project>/locations/<location>/<collection>/<name>.
func located(collection string) func(c *call) error {
	return func(c *call) error {
		if err := c.needProject(); err != nil {
			return err
		}
		if err := c.requireKnown("location", "name"); err != nil {
			return err
		}
		c.short = lastSegment(str(c.in, "name"))
		c.key = fmt.Sprintf("projects/%s/locations/%s/%s/%s", c.project, str(c.in, "location"), collection, c.short)
		c.id = c.key
		return nil
	}
}
