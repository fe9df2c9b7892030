package asyncjobs

import rego.v1

# The private Cloud Run worker.

cloudrun_service := "gcp:cloudrunv2/service:Service"

private_ingress := {"INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY"}

# METADATA
# title: Cloud Run ingress all or internal only
# description: >-
#   The worker's ingress is set explicitly to INGRESS_TRAFFIC_ALL (the source
#   documents' choice, with IAM-only access) or INGRESS_TRAFFIC_INTERNAL_ONLY.
# custom:
#   id: cloudrun-ingress
#   severity: error
deny_cloudrun_ingress contains msg if {
	some r in resources
	r.__type == cloudrun_service
	ingress := object.get(r.__properties, "ingress", "not set")
	not unknown(ingress)
	not ingress in private_ingress
	msg := message(
		r,
		sprintf("ingress is %v", [ingress]),
		"set ingress to INGRESS_TRAFFIC_ALL or INGRESS_TRAFFIC_INTERNAL_ONLY (asyncjobs:worker.ingress: all or internal)",
	)
}

# METADATA
# title: Cloud Run runs as a dedicated service account
# description: >-
#   Without template.serviceAccount a revision runs as the default compute
#   service account, which holds Editor on most projects.
# custom:
#   id: cloudrun-dedicated-service-account
#   severity: error
deny_cloudrun_dedicated_service_account contains msg if {
	some r in resources
	r.__type == cloudrun_service
	not filled(object.get(r.__properties, ["template", "serviceAccount"], null))
	msg := message(
		r,
		"sets no template.serviceAccount, so it runs as the default compute service account",
		"create a gcp:serviceaccount/account:Account for the worker and set template.serviceAccount to its email",
	)
}

# METADATA
# title: Invoker only on the Cloud Run service
# description: >-
#   roles/run.invoker is granted only with
#   gcp:cloudrunv2/serviceIamMember:ServiceIamMember on the worker service,
#   never on the project or with another resource type.
# custom:
#   id: cloudrun-invoker-on-service-only
#   severity: error
deny_cloudrun_invoker_on_service_only contains msg if {
	some [r, "roles/run.invoker"] in role_grants
	r.__type != "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
	msg := message(
		r,
		"grants roles/run.invoker beyond the one Cloud Run service",
		"grant it with gcp:cloudrunv2/serviceIamMember:ServiceIamMember on the worker service only",
	)
}

# METADATA
# title: Internal ingress in production
# description: >-
#   In production the worker should accept internal traffic only: Cloud Tasks
#   and Pub/Sub push in the same project count as internal.
# custom:
#   id: cloudrun-internal-ingress-in-production
#   severity: warning
warn_cloudrun_internal_ingress_in_production contains msg if {
	production
	some r in resources
	r.__type == cloudrun_service
	r.__properties.ingress == "INGRESS_TRAFFIC_ALL"
	msg := message(
		r,
		"accepts requests from the internet in production (IAM still checks them)",
		"set asyncjobs:worker.ingress: internal (INGRESS_TRAFFIC_INTERNAL_ONLY); Cloud Tasks and Pub/Sub push in the same project count as internal",
	)
}
