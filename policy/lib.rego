# METADATA
# title: asyncjobs
# description: >-
#   Security and reliability rules for the asyncjobs stack: IAM, the Cloud Run
#   worker, Cloud Tasks queues, Pub/Sub dead-lettering, GKE workloads and
#   production protection.
# scope: package
package asyncjobs

import rego.v1

# One text, two evaluators:
#
#   - the Pulumi OPA analyzer (`pulumi preview --policy-pack policy`) evaluates
#     a deny_*/warn_* rule once per resource, with that resource as `input`,
#     and a stack_deny_*/stack_warn_* rule once, with every resource of the
#     stack in `input.resources`;
#   - internal/plan/policy (cmd/policy and the tests) turns the recorded plan into
#     the same resource objects and evaluates every rule once, with all of
#     them in `input.resources`.
#
# So every rule looks at `resources`: the one resource or all of them. Rules
# that relate resources to each other are stack rules.
resources := [input] if {
	input.__type
} else := input.resources

# message formats every violation: the resource (type and logical name),
# what is wrong, and the fix. internal/plan/policy reads the resource back from
# the "<type> <name>: " prefix, so rules build their messages only here.
message(r, problem, fix) := sprintf("%s %s: %s. Fix: %s", [r.__type, r.__name, problem, fix])

# unknown holds for values that exist only after deployment (and secrets,
# which a plan never shows). The offline recorder writes them as
# "<computed>" / "<secret>"; the Pulumi engine hands the analyzer either its
# unknown-value sentinel or an object wrapping the element.
unknown(v) if v == "<computed>"

unknown(v) if v == "<secret>"

unknown(v) if v == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

unknown(v) if {
	is_object(v)
	"Element" in object.keys(v)
}

known_string(v) if {
	is_string(v)
	not unknown(v)
}

# filled holds for a value that is set: not null, not "" (unknown counts as
# set: it comes from another resource).
filled(v) if {
	v != null
	v != ""
}

between(v, low, high) if {
	v >= low
	v <= high
}

# duration_seconds reads a protobuf duration as the providers write it ("600s").
duration_seconds(d) := to_number(trim_suffix(d, "s")) if regex.match(`^[0-9]+(\.[0-9]+)?s$`, d)

path_text(path) := concat(".", [sprintf("%v", [p]) | some p in path])

# kind_of is the last part of a type token ("gcp:pubsub/topic:Topic" -> "Topic").
kind_of(r) := split(r.__type, ":")[2]

# module_of is the provider module ("gcp:projects/iAMMember:IAMMember" -> "projects").
module_of(r) := split(split(r.__type, ":")[1], "/")[0]

by_urn := {r.__urn: r | some r in resources}

# links(r, key, value, t): input `key` of r, whose value is `value`, comes
# from resource t. The engine records the resources an input was computed
# from (propertyDependencies, stack rules only); when the value is known,
# it names t directly ("name" or ".../name").
links(r, key, value, t) if {
	some u in object.get(r, ["propertyDependencies", key], [])
	u == t.__urn
}

links(r, key, value, t) if names(value, t)

names(value, t) if {
	known_string(value)
	value == t.__properties.name
}

names(value, t) if {
	known_string(value)
	n := t.__properties.name
	known_string(n)
	endswith(value, concat("", ["/", n]))
}

# Production.
#
# A stack is production when any of these holds; each can only add rules,
# never remove them:
#   - its name (in every URN) is one of production_stack_names, or starts
#     with "prod-". The list lives here, with the policy, not in the stack
#     file: the edit that turns protection off cannot also turn this off;
#   - a resource carries the label environment=prod (or production), as the
#     prod stack file sets with asyncjobs:labels;
#   - the caller says so (cmd/policy --production).
# The production rules are resource rules, so `pulumi up` refuses an
# unprotected resource before creating it; under the analyzer such a rule
# sees one resource, whose URN carries the stack name and whose labels are
# its own.
production_stack_names := {"prod", "production"}

production_label_values := {"prod", "production"}

stack_of(r) := substring(prefix, count("urn:pulumi:"), -1) if {
	prefix := split(r.__urn, "::")[0]
	startswith(prefix, "urn:pulumi:")
}

production_stack(name) if name in production_stack_names

production_stack(name) if startswith(name, "prod-")

production_reasons contains sprintf("stack %q is a production stack", [name]) if {
	some r in resources
	name := stack_of(r)
	production_stack(name)
}

production_reasons contains sprintf("resources are labelled environment=%s", [v]) if {
	some r in resources
	v := r.__properties.labels.environment
	v in production_label_values
}

production_reasons contains sprintf("resources are labelled environment=%s", [v]) if {
	some r in resources
	v := r.__properties.metadata.labels.environment
	v in production_label_values
}

production_reasons contains "the caller marked it as production" if input.production == true

production if count(production_reasons) > 0
