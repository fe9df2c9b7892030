package asyncjobs

import rego.v1

# GKE workloads: the pod hardening set of the Pod Security Standards
# "restricted" profile plus checkov/trivy/kube-score's extras, CronJob
# deadlines, HPA ownership of replicas, explicit providers.

k8s_kind(r) := kind_of(r) if startswith(r.__type, "kubernetes:")

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

namespaced_kinds := template_kinds | {
	"CronJob", "Pod", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget",
	"ConfigMap", "Secret", "Service", "Role", "RoleBinding", "NetworkPolicy", "Ingress",
	"PersistentVolumeClaim",
}

# Component resources of the Kubernetes SDK that are not API objects and
# take no provider of their own (their children do).
k8s_components := {
	"kubernetes:yaml:ConfigFile", "kubernetes:yaml:ConfigGroup",
	"kubernetes:helm.sh/v3:Chart", "kubernetes:kustomize:Directory",
}

safe_to_evict := "cluster-autoscaler.kubernetes.io/safe-to-evict"

pod_template(r) := object.get(r.__properties, ["spec", "template"], {}) if k8s_kind(r) in template_kinds

pod_template(r) := object.get(r.__properties, ["spec", "jobTemplate", "spec", "template"], {}) if k8s_kind(r) == "CronJob"

pod_template(r) := {"metadata": object.get(r.__properties, "metadata", {}), "spec": object.get(r.__properties, "spec", {})} if k8s_kind(r) == "Pod"

pod_spec(r) := object.get(pod_template(r), "spec", {})

workloads := [r | some r in resources; pod_template(r)]

# workload_containers: [workload, container] for every (init) container.
workload_containers := [[r, c] | some r in workloads; some c in pod_containers(r)]

pod_containers(r) := array.concat(object.get(pod_spec(r), "initContainers", []), object.get(pod_spec(r), "containers", []))

job_spec(r) := object.get(r.__properties, ["spec", "jobTemplate", "spec"], {}) if k8s_kind(r) == "CronJob"

job_spec(r) := object.get(r.__properties, "spec", {}) if k8s_kind(r) == "Job"

# sc_value: a security-context field as it applies to container c, the
# container's own value first, else the pod's.
sc_value(r, c, key) := v if {
	v := c.securityContext[key]
} else := v if {
	v := pod_spec(r).securityContext[key]
}

high_uid(uid) if {
	is_number(uid)
	uid > 10000
}

at_least(v, low) if unknown(v)

at_least(v, low) if {
	is_number(v)
	v >= low
}

pinned_image(image) if contains(image, "@")

pinned_image(image) if {
	not contains(image, "@")
	segments := split(image, "/")
	parts := split(segments[count(segments) - 1], ":")
	count(parts) == 2
	not parts[1] in {"", "latest"}
}

resource_fields := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

namespace_problem(ns) := "has no metadata.namespace, so it lands in the provider's default namespace" if ns == ""

namespace_problem(ns) := "is in the default namespace" if ns == "default"

seccomp_problems(r) := {p |
	profile := object.get(pod_spec(r), ["securityContext", "seccompProfile", "type"], "not set")
	profile != "RuntimeDefault"
	p := sprintf("the pod-level seccompProfile.type is %s, not RuntimeDefault", [profile])
} | {p |
	some c in pod_containers(r)
	profile := c.securityContext.seccompProfile.type
	profile != "RuntimeDefault"
	p := sprintf("container %s overrides the seccomp profile with %s", [c.name, profile])
}

capability_problems(r) := {p |
	some c in pod_containers(r)
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
	p := sprintf("container %s does not drop ALL capabilities", [c.name])
} | {p |
	some c in pod_containers(r)
	some capability in object.get(c, ["securityContext", "capabilities", "add"], [])
	capability != "NET_BIND_SERVICE"
	p := sprintf("container %s adds the capability %s", [c.name, capability])
}

escalation_problems(r) := {p |
	some c in pod_containers(r)
	object.get(c, ["securityContext", "allowPrivilegeEscalation"], "not set") != false
	p := sprintf("container %s does not set allowPrivilegeEscalation: false", [c.name])
} | {p |
	some c in pod_containers(r)
	c.securityContext.privileged == true
	p := sprintf("container %s is privileged", [c.name])
}

hpa_targets(h, d) if {
	h.__properties.spec.scaleTargetRef.kind == "Deployment"
	some u in object.get(h, ["propertyDependencies", "spec"], [])
	u == d.__urn
}

hpa_targets(h, d) if {
	ref := h.__properties.spec.scaleTargetRef
	ref.kind == "Deployment"
	known_string(ref.name)
	ref.name == d.__properties.metadata.name
	object.get(h.__properties, ["metadata", "namespace"], "") == object.get(d.__properties, ["metadata", "namespace"], "")
}

explicit_provider(r) if {
	p := object.get(r, "__provider", {})
	object.get(p, "urn", "") != ""
	not startswith(object.get(p, "name", ""), "default")
}

# METADATA
# title: Not in the default namespace
# description: Namespaced Kubernetes objects name a namespace of their own (checkov CKV_K8S_21, trivy KSV-0110).
# custom:
#   id: k8s-no-default-namespace
#   severity: error
deny_k8s_no_default_namespace contains msg if {
	some r in resources
	k8s_kind(r) in namespaced_kinds
	ns := object.get(r.__properties, ["metadata", "namespace"], "")
	not unknown(ns)
	ns in {"", "default"}
	msg := message(r, namespace_problem(ns), "set metadata.namespace to the namespace the stack creates for its workloads")
}

# METADATA
# title: Containers run as non-root
# description: Every container runs with runAsNonRoot true, set on the pod or the container (PSS restricted).
# custom:
#   id: k8s-run-as-non-root
#   severity: error
deny_k8s_run_as_non_root contains msg if {
	some [r, c] in workload_containers
	not sc_value(r, c, "runAsNonRoot") == true
	msg := message(r, sprintf("container %s may run as root (runAsNonRoot is not true)", [c.name]), "set securityContext.runAsNonRoot: true on the pod template")
}

# METADATA
# title: Containers run with a UID above 10000
# description: Every container runs as a UID above 10000, set on the pod or the container (checkov CKV_K8S_40, trivy KSV-0020, kube-score).
# custom:
#   id: k8s-run-as-high-uid
#   severity: error
deny_k8s_run_as_high_uid contains msg if {
	some [r, c] in workload_containers
	not high_uid(sc_value(r, c, "runAsUser"))
	msg := message(r, sprintf("container %s does not run as a UID above 10000", [c.name]), "set securityContext.runAsUser (and runAsGroup) to a value above 10000, for example 10001")
}

# METADATA
# title: RuntimeDefault seccomp at pod level
# description: >-
#   The pod template sets securityContext.seccompProfile.type RuntimeDefault
#   and no container overrides it (PSS restricted; checkov reads CronJobs at
#   pod level only).
# custom:
#   id: k8s-seccomp-runtime-default
#   severity: error
deny_k8s_seccomp_runtime_default contains msg if {
	some r in workloads
	some problem in seccomp_problems(r)
	msg := message(r, problem, "set spec.securityContext.seccompProfile.type: RuntimeDefault in the pod template")
}

# METADATA
# title: Capabilities dropped
# description: Every container drops ALL capabilities and adds none but NET_BIND_SERVICE (PSS restricted).
# custom:
#   id: k8s-drop-all-capabilities
#   severity: error
deny_k8s_drop_all_capabilities contains msg if {
	some r in workloads
	some problem in capability_problems(r)
	msg := message(r, problem, "set securityContext.capabilities.drop: [ALL] on every container and add nothing")
}

# METADATA
# title: No privilege escalation
# description: Every container sets allowPrivilegeEscalation false and is not privileged (PSS restricted).
# custom:
#   id: k8s-no-privilege-escalation
#   severity: error
deny_k8s_no_privilege_escalation contains msg if {
	some r in workloads
	some problem in escalation_problems(r)
	msg := message(r, problem, "set securityContext.allowPrivilegeEscalation: false (and never privileged) on every container")
}

# METADATA
# title: Read-only root filesystem
# description: Every container sets readOnlyRootFilesystem true; writable paths are emptyDir volumes.
# custom:
#   id: k8s-read-only-root-filesystem
#   severity: error
deny_k8s_read_only_root_filesystem contains msg if {
	some [r, c] in workload_containers
	object.get(c, ["securityContext", "readOnlyRootFilesystem"], false) != true
	msg := message(r, sprintf("container %s has a writable root filesystem", [c.name]), "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes")
}

# METADATA
# title: CPU and memory requests and limits
# description: Every container requests and limits cpu and memory.
# custom:
#   id: k8s-resources
#   severity: error
deny_k8s_resources contains msg if {
	some [r, c] in workload_containers
	missing := [concat(".", f) | some f in resource_fields; not filled(object.get(c, array.concat(["resources"], f), null))]
	count(missing) > 0
	msg := message(r, sprintf("container %s does not set resources %s", [c.name, concat(", ", missing)]), "set resources.requests and resources.limits for cpu and memory on every container")
}

# METADATA
# title: Images pinned
# description: Every container image carries a tag other than latest, or a digest.
# custom:
#   id: k8s-image-pinned
#   severity: error
deny_k8s_image_pinned contains msg if {
	some [r, c] in workload_containers
	image := object.get(c, "image", "")
	not unknown(image)
	not pinned_image(image)
	msg := message(r, sprintf("container %s runs %q, which is untagged or latest", [c.name, image]), "pin the image by digest (image@sha256:...) or by an immutable tag")
}

# METADATA
# title: CronJobs have a starting deadline
# description: >-
#   spec.startingDeadlineSeconds is set, at least 10 (the controller checks
#   every 10 s); without it a CronJob that misses 100 schedules stops
#   (kube-score cronjob-has-deadline).
# custom:
#   id: k8s-cronjob-starting-deadline
#   severity: error
deny_k8s_cronjob_starting_deadline contains msg if {
	some r in resources
	k8s_kind(r) == "CronJob"
	v := object.get(r.__properties, ["spec", "startingDeadlineSeconds"], "not set")
	not at_least(v, 10)
	msg := message(r, sprintf("spec.startingDeadlineSeconds is %v", [v]), "set spec.startingDeadlineSeconds to 10 or more")
}

# METADATA
# title: Jobs have an active deadline
# description: Every Job, and every CronJob's job template, sets activeDeadlineSeconds, so a hung run ends.
# custom:
#   id: k8s-job-active-deadline
#   severity: error
deny_k8s_job_active_deadline contains msg if {
	some r in resources
	v := object.get(job_spec(r), "activeDeadlineSeconds", "not set")
	not at_least(v, 1)
	msg := message(r, sprintf("the job's activeDeadlineSeconds is %v", [v]), "set activeDeadlineSeconds in the job spec (spec.jobTemplate.spec for a CronJob)")
}

# METADATA
# title: CronJob pods are not evicted
# description: >-
#   CronJob pod templates carry the annotation
#   cluster-autoscaler.kubernetes.io/safe-to-evict "false", so a scale-down
#   does not kill a run halfway.
# custom:
#   id: k8s-cronjob-not-evictable
#   severity: error
deny_k8s_cronjob_not_evictable contains msg if {
	some r in resources
	k8s_kind(r) == "CronJob"
	v := object.get(pod_template(r), ["metadata", "annotations", safe_to_evict], "not set")
	v != "false"
	msg := message(r, sprintf("the pod template's %s annotation is %v", [safe_to_evict, v]), sprintf("set spec.jobTemplate.spec.template.metadata.annotations[%q] to \"false\"", [safe_to_evict]))
}

# METADATA
# title: No replicas on Deployments an HPA scales
# description: >-
#   A Deployment targeted by a HorizontalPodAutoscaler leaves spec.replicas
#   unset (kube-score, KICS; with server-side apply it also conflicts with the
#   controller, pulumi-kubernetes#2569).
# custom:
#   id: k8s-hpa-target-no-replicas
#   severity: error
stack_deny_k8s_hpa_target_no_replicas contains msg if {
	some h in resources
	k8s_kind(h) == "HorizontalPodAutoscaler"
	some d in resources
	k8s_kind(d) == "Deployment"
	hpa_targets(h, d)
	replicas := object.get(d.__properties, ["spec", "replicas"], null)
	replicas != null
	msg := message(
		d,
		sprintf("sets spec.replicas (%v) although %s %s scales it, so every update resets the autoscaler's choice", [replicas, h.__type, h.__name]),
		"remove spec.replicas; set minReplicas and maxReplicas on the HorizontalPodAutoscaler",
	)
}

# METADATA
# title: Explicit Kubernetes provider
# description: >-
#   Every Kubernetes object is created through the provider built from the
#   stack's cluster, never the default provider (whatever the ambient
#   kubeconfig points at).
# custom:
#   id: k8s-explicit-provider
#   severity: error
deny_k8s_explicit_provider contains msg if {
	some r in resources
	startswith(r.__type, "kubernetes:")
	not r.__type in k8s_components
	not explicit_provider(r)
	msg := message(r, "uses the default Kubernetes provider", "pass pulumi.Provider(...) with the provider built from the stack's GKE cluster")
}

# METADATA
# title: No service-account token in pods
# description: >-
#   Pods that do not call the Kubernetes API do not mount its token
#   (checkov CKV_K8S_38, trivy KSV-0036). A warning: verify Workload Identity
#   calls still work with it off.
# custom:
#   id: k8s-no-automount-token
#   severity: warning
warn_k8s_no_automount_token contains msg if {
	some r in workloads
	object.get(pod_spec(r), "automountServiceAccountToken", "not set") != false
	msg := message(r, "mounts a Kubernetes API token into every pod", "set automountServiceAccountToken: false in the pod spec")
}
