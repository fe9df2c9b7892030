package asyncjobs

import rego.v1

# Environments differ only by configuration; production must protect every
# resource it declares. See production in lib.rego for what makes a stack
# production.

# unprotectable are the resources no protect option is about: the stack,
# components (nothing to delete) and providers.
unprotectable(r) if r.__type == "pulumi:pulumi:Stack"

unprotectable(r) if startswith(r.__type, "pulumi:providers:")

unprotectable(r) if startswith(r.__type, "asyncjobs:")

# METADATA
# title: Everything protected in production
# description: >-
#   In a production stack every resource has Pulumi's protect option, not
#   only the data: the engine deletes unprotected resources before it stops
#   at a protected one, so a refused destroy would still take down grants,
#   accounts, workloads and alerts. Deleting or replacing a topic,
#   subscription or queue loses its backlog, and a deleted queue's name stays
#   reserved for 7 days.
# custom:
#   id: protect-everything-in-production
#   severity: error
stack_deny_protect_everything_in_production contains msg if {
	production
	some r in resources
	not unprotectable(r)
	not r.__options.protect == true
	msg := message(
		r,
		sprintf("is not protected in a production stack (%s)", [concat("; ", production_reasons)]),
		"set asyncjobs:protect: true in the stack file",
	)
}
