// Package workload builds the hardened pod template every asyncjobs
// Kubernetes workload runs with (Pod Security Standards "restricted" and the
// checks of checkov, trivy and kube-score), and validates a container's
// settings the way the API server would, before anything is sent.
package workload

import (
	"fmt"
	"maps"
	"slices"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/image"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// MinUID is the lowest user id workloads may run as: above 10000 so it
// cannot collide with a host user (checkov CKV_K8S_40, trivy KSV-0020).
const MinUID = 10001

// Container is a workload's container settings.
type Container struct {
	Image     string            `json:"image" doc:"container image; a tag other than latest, or a digest"`
	Command   []string          `json:"command" doc:"entrypoint"`
	Args      []string          `json:"args" doc:"arguments"`
	Env       map[string]string `json:"env" doc:"environment variables"`
	Resources Resources         `json:"resources" doc:"requests and limits (both required by the hardening rules)"`
	// Kubernetes refuses a runAsUser outside 0 to 2147483647 (pod security context validation), though its type is int64.
	RunAsUser int64 `json:"runAsUser" api:"int32" doc:"user and group id, > 10000"`
	// ImagePullPolicy is IfNotPresent by default: images are pinned, so a
	// cached copy is the same image.
	ImagePullPolicy string `json:"imagePullPolicy" doc:"Always, IfNotPresent or Never"`
}

// Resources are requests and limits.
type Resources struct {
	Requests Quantities `json:"requests" doc:"requested cpu and memory"`
	Limits   Quantities `json:"limits" doc:"cpu and memory limits, >= requests"`
}

// Quantities are cpu and memory amounts.
type Quantities struct {
	CPU    string `json:"cpu" doc:"e.g. 100m"`
	Memory string `json:"memory" doc:"e.g. 128Mi"`
	// Unread lists the keys that did not decode (strictconfig.Unread).
	Unread strictconfig.Unread `json:"-"`
}

// DefaultContainer returns the defaults.
func DefaultContainer() Container {
	return Container{
		Resources: Resources{
			Requests: Quantities{CPU: "100m", Memory: "128Mi"},
			Limits:   Quantities{CPU: "500m", Memory: "256Mi"},
		},
		RunAsUser:       MinUID,
		ImagePullPolicy: "IfNotPresent",
	}
}

// Validate checks the container settings.
func (c Container) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, image.Validate(path.Child("image"), c.Image)...)
	if c.RunAsUser < MinUID {
		errs = append(errs, field.Invalid(path.Child("runAsUser"), c.RunAsUser, fmt.Sprintf("must be >= %d (a non-root id above the host's range)", MinUID)))
	}
	switch c.ImagePullPolicy {
	case "Always", "IfNotPresent", "Never":
	default:
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy, []string{"Always", "IfNotPresent", "Never"}))
	}
	for k := range c.Env {
		for _, msg := range validation.IsEnvVarName(k) {
			errs = append(errs, field.Invalid(path.Child("env").Key(k), k, msg))
		}
	}
	r := path.Child("resources")
	reqs, lims := c.Resources.Requests, c.Resources.Limits
	for _, q := range []struct {
		name     string
		req, lim string
		// read: both values decoded, so they may be compared.
		read bool
	}{
		{"cpu", reqs.CPU, lims.CPU, !reqs.Unread["cpu"] && !lims.Unread["cpu"]},
		{"memory", reqs.Memory, lims.Memory, !reqs.Unread["memory"] && !lims.Unread["memory"]},
	} {
		reqPath, limPath := r.Child("requests", q.name), r.Child("limits", q.name)
		req, reqErr := resource.ParseQuantity(q.req)
		lim, limErr := resource.ParseQuantity(q.lim)
		if q.req == "" || reqErr != nil || req.Sign() <= 0 {
			errs = append(errs, field.Invalid(reqPath, q.req, "must be a positive quantity such as 100m or 128Mi"))
		}
		if q.lim == "" || limErr != nil || lim.Sign() <= 0 {
			errs = append(errs, field.Invalid(limPath, q.lim, "must be a positive quantity such as 500m or 256Mi"))
		}
		if q.read && reqErr == nil && limErr == nil && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(reqPath, q.req, fmt.Sprintf("must be <= the limit (%s)", q.lim)))
		}
	}
	return errs
}

// PodSpec is what a workload puts in its pod template besides the container.
type PodSpec struct {
	Name               string
	ServiceAccountName pulumi.StringInput
	Container          Container
	// ExtraEnv is added after the configured environment (values the stack computes).
	ExtraEnv                      corev1.EnvVarArray
	RestartPolicy                 string
	TerminationGracePeriodSeconds int
}

// Template returns the hardened pod spec: non-root high uid, seccomp
// RuntimeDefault at pod level, all capabilities dropped, no privilege
// escalation, read-only root filesystem with an emptyDir for /tmp, requests
// and limits, a dedicated service account.
//
// automountServiceAccountToken is false: GKE Workload Identity serves Google
// credentials from the node's metadata server and needs no Kubernetes token
// in the pod. A workload that must call the Kubernetes API needs it back and
// is the one place this rule bends.
func Template(p PodSpec) *corev1.PodSpecArgs {
	c := p.Container
	keys := slices.Sorted(maps.Keys(c.Env))
	var env corev1.EnvVarArray
	for _, k := range keys {
		env = append(env, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(c.Env[k])})
	}
	env = append(env, p.ExtraEnv...)
	spec := &corev1.PodSpecArgs{
		ServiceAccountName:           p.ServiceAccountName,
		AutomountServiceAccountToken: pulumi.Bool(false),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(int(c.RunAsUser)),
			RunAsGroup:     pulumi.Int(int(c.RunAsUser)),
			FsGroup:        pulumi.Int(int(c.RunAsUser)),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name:            pulumi.String(p.Name),
			Image:           pulumi.String(c.Image),
			ImagePullPolicy: pulumi.String(c.ImagePullPolicy),
			Command:         optionalStrings(c.Command),
			Args:            optionalStrings(c.Args),
			Env:             optionalEnv(env),
			Resources: &corev1.ResourceRequirementsArgs{
				Requests: pulumi.StringMap{"cpu": pulumi.String(c.Resources.Requests.CPU), "memory": pulumi.String(c.Resources.Requests.Memory)},
				Limits:   pulumi.StringMap{"cpu": pulumi.String(c.Resources.Limits.CPU), "memory": pulumi.String(c.Resources.Limits.Memory)},
			},
			SecurityContext: &corev1.SecurityContextArgs{
				RunAsNonRoot:             pulumi.Bool(true),
				RunAsUser:                pulumi.Int(int(c.RunAsUser)),
				AllowPrivilegeEscalation: pulumi.Bool(false),
				ReadOnlyRootFilesystem:   pulumi.Bool(true),
				Privileged:               pulumi.Bool(false),
				Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
			},
			VolumeMounts: corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
		}},
		Volumes: corev1.VolumeArray{corev1.VolumeArgs{
			Name:     pulumi.String("tmp"),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("64Mi")},
		}},
	}
	if p.RestartPolicy != "" {
		spec.RestartPolicy = pulumi.String(p.RestartPolicy)
	}
	if p.TerminationGracePeriodSeconds > 0 {
		spec.TerminationGracePeriodSeconds = pulumi.Int(p.TerminationGracePeriodSeconds)
	}
	return spec
}

// optionalStrings leaves an empty list out: the API server drops empty
// lists, so the Kubernetes provider records none, and the offline plan
// shows what a deployment records.
func optionalStrings(v []string) pulumi.StringArrayInput {
	if len(v) == 0 {
		return nil
	}
	return pulumi.ToStringArray(v)
}

// optionalEnv leaves an empty environment out, as optionalStrings does.
func optionalEnv(v corev1.EnvVarArray) corev1.EnvVarArrayInput {
	if len(v) == 0 {
		return nil
	}
	return v
}

// Labels are the standard labels of a workload's objects.
func Labels(component, name string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String(name),
		"app.kubernetes.io/component": pulumi.String(component),
		"app.kubernetes.io/part-of":   pulumi.String("asyncjobs"),
	}
}

// Meta is object metadata in a namespace.
func Meta(name string, namespace pulumi.StringInput, labels pulumi.StringMap) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: namespace, Labels: labels}
}
