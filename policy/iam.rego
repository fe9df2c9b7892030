package asyncjobs

import rego.v1

# IAM: additive grants on single resources, to named identities, with
# predefined roles; no keys; never the default service accounts.

public_principals := {"allUsers", "allAuthenticatedUsers"}

basic_roles := {"roles/owner", "roles/editor", "roles/viewer"}

impersonation_roles := {
	"roles/iam.serviceAccountUser",
	"roles/iam.serviceAccountTokenCreator",
	"roles/iam.workloadIdentityUser",
}

hierarchy_levels := {"projects": "project", "organizations": "organization", "folder": "folder"}

iam_member(r) if regex.match(`(?i)iammember$`, kind_of(r))

iam_grant(r) if {
	startswith(r.__type, "gcp:")
	regex.match(`(?i)iam(member|binding|policy)$`, kind_of(r))
}

policy_bindings(r) := json.unmarshal(r.__properties.policyData).bindings if known_string(r.__properties.policyData)

iam_resources := [r | some r in resources; iam_grant(r)]

granted_roles(r) := {role | role := r.__properties.role; is_string(role)} | {b.role | some b in policy_bindings(r)}

# role_grants: [resource, role] for every role an IAM resource grants, as
# a Member/Binding role or inside a Policy.
role_grants := [[r, role] | some r in iam_resources; some role in granted_roles(r)]

public_mentions(r) := {sprintf("%s in %s", [v, path_text(path)]) |
	walk(r.__properties, [path, v])
	v in public_principals
} | {sprintf("%s in policyData", [p]) |
	some p in public_principals
	contains(object.get(r.__properties, "policyData", ""), sprintf("%q", [p]))
}

default_identity(v) if {
	is_string(v)
	endswith(lower(v), "-compute@developer.gserviceaccount.com")
}

default_identity(v) if {
	is_string(v)
	endswith(lower(v), "@appspot.gserviceaccount.com")
}

default_identity_mentions(r) := {sprintf("%s in %s", [v, path_text(path)]) |
	walk(r.__properties, [path, v])
	default_identity(v)
}

# METADATA
# title: No public members
# description: >-
#   No resource names allUsers or allAuthenticatedUsers, in a grant or
#   anywhere else: the worker, queues and topics are private.
# custom:
#   id: iam-no-public-members
#   severity: error
deny_iam_no_public_members contains msg if {
	some r in resources
	some mention in public_mentions(r)
	msg := message(r, sprintf("opens access to the public (%s)", [mention]), "grant roles only to named service accounts, groups or users")
}

# METADATA
# title: No project, folder or organization IAM
# description: >-
#   Grants are made on the one resource that needs them, never on the
#   project, folder or organization (checkov CKV_GCP_41/49, trivy GCP-0011,
#   CIS GCP 1.6).
# custom:
#   id: iam-no-project-level
#   severity: error
deny_iam_no_project_level contains msg if {
	some r in iam_resources
	level := hierarchy_levels[module_of(r)]
	not node_role_grant(r)
	msg := message(
		r,
		sprintf("grants %s on the whole %s", [object.get(r.__properties, "role", "an IAM policy"), level]),
		"grant the role on the one resource that needs it (pubsub TopicIAMMember/SubscriptionIAMMember, cloudrunv2 ServiceIamMember, cloudtasks QueueIamMember, serviceaccount IAMMember)",
	)
}

# node_role is what GKE documents as the minimum of a node service account;
# Google offers it on projects only.
node_role := "roles/container.defaultNodeServiceAccount"

# node_role_grant: the one project-level grant iam-no-project-level lets
# through: exactly the node role, unconditioned, to a dedicated "-nodes"
# service account of the project it is granted on (components/gke names a
# created cluster's node account <cluster>-nodes). Stack rule
# iam-node-role-for-cluster-nodes-only requires a cluster of the stack to
# run its nodes as that account.
node_role_grant(r) if {
	r.__type == "gcp:projects/iAMMember:IAMMember"
	r.__properties.role == node_role
	object.get(r.__properties, "condition", null) == null
	project := r.__properties.project
	regex.match(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`, project)
	regex.match(sprintf(`^serviceAccount:[a-z][a-z0-9-]*-nodes@%s[.]iam[.]gserviceaccount[.]com$`, [project]), r.__properties.member)
}

node_account_of_a_cluster(member) if {
	some c in resources
	c.__type == "gcp:container/cluster:Cluster"
	member == sprintf("serviceAccount:%s", [c.__properties.clusterAutoscaling.autoProvisioningDefaults.serviceAccount])
}

# METADATA
# title: The node role only for a created cluster's nodes
# description: >-
#   The one project-level grant allowed, GKE's node role to a "-nodes"
#   account, is made only to the account a cluster of the stack runs its
#   nodes as (clusterAutoscaling.autoProvisioningDefaults.serviceAccount).
# custom:
#   id: iam-node-role-for-cluster-nodes-only
#   severity: error
stack_deny_iam_node_role_for_cluster_nodes_only contains msg if {
	some r in iam_resources
	node_role_grant(r)
	not node_account_of_a_cluster(r.__properties.member)
	msg := message(
		r,
		sprintf("grants %s on the whole project to %s, which no cluster of the stack runs its nodes as", [node_role, r.__properties.member]),
		"grant the node role only to the node service account of a created cluster (components/gke)",
	)
}

# METADATA
# title: Additive IAM members only
# description: >-
#   IAM Binding and Policy resources are authoritative: they remove every
#   other member of the role, or the whole policy, including grants made
#   outside this stack. Only *IamMember / *IAMMember resources are allowed.
# custom:
#   id: iam-members-only
#   severity: error
deny_iam_members_only contains msg if {
	some r in iam_resources
	not iam_member(r)
	msg := message(
		r,
		"is authoritative: it replaces every other member of its role (Binding) or the whole IAM policy (Policy), grants made outside this stack included",
		sprintf("use the additive %s, one per member and role", [regex.replace(r.__type, `(IAM|Iam)(Binding|Policy)`, "${1}Member")]),
	)
}

# METADATA
# title: No service-account keys
# description: >-
#   User-managed service-account keys are long-lived secrets that end up in
#   the stack state (checkov CKV2_GCP_3; blocked by the organization policy
#   iam.disableServiceAccountKeyCreation in secure-by-default organizations).
# custom:
#   id: iam-no-service-account-keys
#   severity: error
deny_iam_no_service_account_keys contains msg if {
	some r in resources
	r.__type == "gcp:serviceaccount/key:Key"
	msg := message(
		r,
		"creates a user-managed service-account key, a long-lived secret that lands in the stack state",
		"remove it: Cloud Run runs as its attached service account, GKE pods use Workload Identity, people and tools impersonate",
	)
}

# METADATA
# title: No default service accounts
# description: >-
#   The default compute and App Engine service accounts hold Editor on most
#   projects; they are never an identity or a member here (checkov CKV_GCP_46).
# custom:
#   id: iam-no-default-service-accounts
#   severity: error
deny_iam_no_default_service_accounts contains msg if {
	some r in resources
	some mention in default_identity_mentions(r)
	msg := message(r, sprintf("uses a default service account (%s)", [mention]), "create a dedicated gcp:serviceaccount/account:Account and use its email")
}

# METADATA
# title: No basic roles
# description: roles/owner, roles/editor and roles/viewer are never granted (checkov CKV_GCP_117, trivy GCP-0007).
# custom:
#   id: iam-no-basic-roles
#   severity: error
deny_iam_no_basic_roles contains msg if {
	some [r, role] in role_grants
	role in basic_roles
	msg := message(r, sprintf("grants the basic role %s", [role]), "grant the predefined role for the one job the identity does (for example roles/pubsub.subscriber)")
}

# METADATA
# title: Impersonation roles only on one service account
# description: >-
#   roles/iam.serviceAccountUser, serviceAccountTokenCreator and
#   workloadIdentityUser let their holder act as service accounts; they are
#   granted only with gcp:serviceaccount/iAMMember:IAMMember on the one
#   account needed (checkov CKV_GCP_41/49, trivy GCP-0011).
# custom:
#   id: iam-impersonation-on-service-account-only
#   severity: error
deny_iam_impersonation_on_service_account_only contains msg if {
	some [r, role] in role_grants
	role in impersonation_roles
	r.__type != "gcp:serviceaccount/iAMMember:IAMMember"
	msg := message(
		r,
		sprintf("grants %s outside a single service account", [role]),
		"grant it with gcp:serviceaccount/iAMMember:IAMMember on the one service account to act as",
	)
}
