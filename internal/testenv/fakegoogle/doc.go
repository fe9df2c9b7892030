// Package fakegoogle is Google's APIs for the rehearsal: mockgcp (the fake
// of Google's APIs that Config Connector's team maintains, run as the
// mockgcp-server of the shared tools) behind a thin layer of the faults it
// does not model, so that the real pulumi-gcp provider fails against it
// for the reasons it would fail against Google.
//
// The layer is an HTTPS proxy (Env: HTTPS_PROXY and SSL_CERT_FILE). It
// answers CONNECT to *.googleapis.com, terminates TLS with a certificate
// authority made at Start (HTTP/1.1 only), applies its rules, and forwards
// everything else to the mock's plain listener, streaming the answer back.
// Go clients do not proxy loopback addresses, so a local kube-apiserver and
// the engine's own connections are unaffected. Each rule is one documented
// behaviour, in its own file, with Google's text where known:
//
//   - authentication (identity.go): a request without an access token the
//     layer issued (Token, Client) answers 401 UNAUTHENTICATED; the mock
//     takes anything. userinfo and tokeninfo say who a token stands for
//     (the mock says test@example.com). https://cloud.google.com/apis/design/errors
//   - already-exists (conflict.go): a second create of a Pub/Sub topic or
//     subscription, or of a log-based metric, answers 409 ALREADY_EXISTS
//     (the mock answers 500, or 200 for a subscription).
//     https://cloud.google.com/pubsub/docs/reference/error-codes
//   - queue-name-reserved (queues.go): a Cloud Tasks queue name cannot be
//     created again for 7 days after its queue is deleted: 400
//     FAILED_PRECONDITION. https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues/delete
//   - queue-update-mask (queues.go): a queue patch whose updateMask names
//     a message (retryConfig, rateLimits), as the provider sends it, updates
//     that message's fields; the mock knows leaf paths only.
//     https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues/patch
//   - workload-identity (pools.go): IAM's workload identity pools and
//     providers, which the mock does not serve: create as a done
//     operation, get, list, patch by mask, soft delete (state DELETED, ID
//     reserved for 30 days), undelete.
//     https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools
//   - kms (kms.go): Cloud KMS key rings and crypto keys, which the mock
//     does not serve; they cannot be deleted, so creating one again answers
//     409 ALREADY_EXISTS. https://cloud.google.com/kms/docs/resource-hierarchy#lifetime
//   - service-usage (serviceusage.go): Service Usage knows the APIs the
//     project enables that the mock does not (sts.googleapis.com): enable,
//     batchEnable (the mock's own services still go to the mock), get,
//     list, disable and their operations, the state kept by the layer.
//     https://cloud.google.com/service-usage/docs/reference/rest/v1/services
//   - bucket-iam (bucketiam.go): Cloud Storage bucket policies (GET and
//     PUT .../b/BUCKET/iam), which the mock does not serve, kept in its
//     policy store. https://cloud.google.com/storage/docs/json_api/v1/buckets/getIamPolicy
//   - metric-delay (metrics.go): an alert policy reading a log-based
//     metric younger than Options.MetricDelay answers Cloud Monitoring's 404
//     "Cannot find metric(s) that match type = ...". Backdate makes a
//     metric old. https://cloud.google.com/logging/docs/logs-based-metrics
//   - actas (actas.go): creating or updating what runs as a service
//     account (Cloud Run v2 service, push subscription's OIDC account, GKE
//     nodes) answers 403 "Permission 'iam.serviceaccounts.actAs' denied on
//     service account S (or it may not exist)." unless the caller's
//     serviceAccountUser (or Owner, Editor) binding on S or its project is
//     Options.Propagation old; testIamPermissions on S says the same.
//     https://cloud.google.com/iam/docs/access-change-propagation
//   - deleted-principal (deleted.go): deleting a service account turns
//     serviceAccount:EMAIL in every policy into
//     deleted:serviceAccount:EMAIL?uid=UNIQUE_ID, and drops the account's
//     own policy. https://cloud.google.com/iam/docs/principal-identifiers
//   - resource-policy (resourcepolicy.go): deleting a resource deletes its
//     allow policy, so a resource created again under its name starts with
//     no grants (the mock would hand it the old ones).
//     https://cloud.google.com/iam/docs/allow-policies
//   - iam-grants (iam.go): bookkeeping for the two above (when each
//     binding was added), and one policy per service account whether it is
//     named by its project or by "-" (the mock keeps two).
//
// Requests lists every request with the rule that answered it.
//
// What it does not model: authorization beyond actAs (any known token may
// do anything else; conditions in bindings are not evaluated and grant
// nothing), groups and principal sets, quotas, billing, organisation
// policies, API enablement (an API answers whether it is enabled or
// not), eventual consistency other than the two delays above,
// long-running operations that take time, metrics scopes, KMS beyond
// symmetric keys (no encryption, no other purposes), and what the mock
// itself gets wrong beyond the rules above: defaults and output fields can
// differ from Google's, and its Service Usage knows a fixed list of APIs
// (see the shared tools' README), to which service-usage adds only the few
// the project needs. All state is in memory and lost when the test ends.
package fakegoogle
