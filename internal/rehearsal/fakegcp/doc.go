// Package fakegcp is a stand-in for the pulumi-gcp resource provider plugin
// (v7.38.0) for rehearsals: the real Pulumi engine runs the project's
// unmodified program against it, with no cloud. A failure in a rehearsal
// should mean a defect of the program, so the stand-in models the parts of
// pulumi-gcp and Google Cloud the program depends on, and fails loudly on
// anything else (an unknown resource type or function is an error naming
// it).
//
// What it models:
//
//   - The plugin protocol: GetPluginInfo (7.38.0), a minimal schema,
//     CheckConfig/DiffConfig/Configure (project and region from gcp:project
//     and gcp:region, else GOOGLE_PROJECT and friends; secrets, previews and
//     resource references accepted), Check, Diff, Create, Read, Update,
//     Delete, Invoke.
//   - Check as the Terraform bridge does it: a name-less resource whose
//     `name` pulumi-gcp autonames gets <logical name>-<7 hex> (stable for
//     the engine's random seed), and __defaults records it; required inputs
//     and the plan-time validations of service account IDs (RFC 1035, 6-30
//     characters), IAM members, and an output-only rateLimits.maxBurstSize.
//   - Diff by property path against the old inputs, with Terraform's
//     ForceNew fields as replacements (the table in kinds.go, with sources),
//     provider and schema defaults applied first, Optional+Computed inputs
//     dropped by the program kept, and delete-before-replace exactly when
//     the bridge sets it: a replacement of a resource whose autonamed `name`
//     the program set. (pulumi-gcp v7.38.0 sets it for nothing else, IAM
//     members included: their replacement creates the new binding first and
//     then deletes the old one, which drops it if both are the same.)
//   - IDs and computed outputs in Google's formats (service account email,
//     member, name, uniqueId; Cloud Run uri, revisions; queue, topic,
//     subscription, metric, alert policy, channel, dashboard, cluster,
//     bucket, KMS and workload identity pool paths; project numbers), known
//     after create and unknown in a preview where only Google knows them.
//     Outputs carry every input; secret inputs stay secret.
//   - A fake Google shared by every plugin process of a test: a JSON store
//     in the directory StateDirEnv (required), under a file lock. Create
//     fails with Google's 409 when the object exists; IAM members and
//     project services are additive (a second declaration adds a holder);
//     server-assigned IDs never collide. Create fails with a 404 when what
//     it refers to is missing (a subscription's topic and dead-letter topic,
//     an IAM member's resource, a Cloud Run service's service account, an
//     alert policy's channels, a crypto key's ring, a provider's pool).
//   - Google's side effects: deleting a resource drops the IAM bindings on
//     it; deleting a service account turns bindings naming it into
//     deleted:serviceAccount:... members; an IAM member's delete removes the
//     binding whoever else declared it; a project service with
//     disableOnDestroy (default true) disables the API for everyone, without
//     it only lets go; key rings and crypto keys are never deleted (a new
//     one of the same name gets a 409); Cloud Tasks queue names are refused
//     for 7 days after deletion and workload identity pool and provider IDs
//     for 30; a cluster with deletionProtection (default true) refuses to be
//     destroyed; a notification channel used by an alert policy refuses to
//     be deleted unless forceDelete.
//   - Cloud Monitoring's delay for new log-based metrics: creating or
//     updating an alert policy whose condition filters read a
//     logging.googleapis.com/user/<name> metric fails with Google's 404
//     "Cannot find metric(s) that match type = ... If a metric was created
//     recently, it could take up to 10 minutes to become available." unless
//     the store holds that metric, in the policy's project or one its filter
//     names, created at least MetricDelayEnv ago (default 10 minutes, the
//     message's figure; a seeded metric counts as old). The provider does
//     not retry it
//     (https://github.com/hashicorp/terraform-provider-google/issues/11102),
//     so a program that creates a metric and a policy reading it in one
//     update fails there, and so does its rehearsal. SeedMetric puts a
//     metric made outside the stacks (the bootstrap's) into the store.
//   - Read returns what the store holds (refresh sees out-of-band changes
//     and deletions, a subscription whose topic was deleted shows
//     _deleted-topic_); Update fails with a 404 when the object is gone;
//     Delete of a missing object succeeds.
//   - With CallersEnv set (actas.go), IAM propagation for actAs: creating
//     or updating a Cloud Run service, a push subscription with an OIDC
//     account, or a cluster whose nodes run as an account fails with
//     Cloud Run's 403 "Permission 'iam.serviceaccounts.actAs' denied on
//     service account ..." unless the store holds a
//     roles/iam.serviceAccountUser binding on that account for the caller
//     (the project's deployer) at least PropagationEnv old; IAMHandler
//     answers the IAM API's testIamPermissions from the store by the same
//     rule.
//   - The functions gcp:organizations/getProject:getProject (deterministic
//     12-digit number) and gcp:container/getCluster:getCluster; the GKE
//     cluster's endpoint and CA come from ClusterEndpointEnv and ClusterCAEnv
//     (a local kube-apiserver), required when a cluster is created or read.
//
// What it does NOT model:
//
//   - quotas, rate limits, billing, organisation policies;
//   - eventual consistency (everything is visible at once, e.g. a new
//     service account can be granted roles immediately; the one exception
//     is the log-based metric delay above) and long-running operations
//     (creates are instant; timeouts never hit);
//   - metrics scopes: an alert policy may read a metric of any project its
//     filter names;
//   - IAM enforcement beyond the actAs rule above: no other permission is
//     checked, a project-level role grants no actAs, a member principal
//     need not exist (only the resource a binding is on must), conditions
//     are not evaluated; other IAM changes take effect at once;
//   - API enablement: resources are created whether or not their API was
//     enabled first, and disabling an API deletes nothing;
//   - projects themselves: every project ID exists, has a number, and is
//     the caller's;
//   - server-side validation of field values (names, label syntax, filter
//     and dashboard JSON syntax, enum values, ranges) beyond the plan-time
//     checks listed above;
//   - server-side defaults beyond those listed: ingress and launchStage of
//     Cloud Run, a subscription's ackDeadlineSeconds (10), expirationPolicy
//     (31 days) and messageRetentionDuration, disableOnDestroy,
//     deletionProtection, enabled, purpose, a bucket's storageClass; other
//     computed fields (traffic, conditions, timestamps, queue state,
//     rateLimits.maxBurstSize, default service accounts) are absent;
//   - Terraform diff suppressions (self link versus short name, case of
//     locations, JSON normalisation): inputs are compared as given;
//   - what the resources do: no messages, tasks, revisions serving or
//     clusters running (the cluster's endpoint is whatever API server the
//     test provides), no bucket objects (so forceDestroy never matters),
//     no dependent-API checks when disabling a service;
//   - drift detection beyond what the store records: Read returns the
//     inputs and outputs last written, not a re-derivation from Google.
package fakegcp
