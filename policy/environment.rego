package asyncjobs

import rego.v1

# Environments differ only by configuration; production must protect what
# holds state. See production in lib.rego for what makes a stack production.

stateful_types := {pubsub_topic, pubsub_subscription, cloudtasks_queue, cloudrun_service}

# METADATA
# title: Stateful resources protected in production
# description: >-
#   In a production stack every topic, subscription, queue and Cloud Run
#   service has Pulumi's protect option: deleting or replacing one loses its
#   backlog, and a deleted queue's name stays reserved for 7 days.
# custom:
#   id: protect-stateful-in-production
#   severity: error
deny_protect_stateful_in_production contains msg if {
	production
	some r in resources
	r.__type in stateful_types
	not r.__options.protect == true
	msg := message(
		r,
		sprintf("is not protected in a production stack (%s)", [concat("; ", production_reasons)]),
		"set asyncjobs:protect: true in the stack file",
	)
}
