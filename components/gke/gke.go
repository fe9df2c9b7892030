// Package gke gives the stack a Kubernetes provider for a GKE cluster and the
// namespace its workloads run in. By default it targets an existing cluster
// named in configuration; optionally it creates an Autopilot cluster. The
// provider authenticates through the gke-gcloud-auth-plugin, so no
// credentials are stored, and the kubeconfig is kept secret.
package gke

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/asyncjobs/asyncjobs/internal/program/actas"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/outputmap"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:gke:Cluster"

// Args are the cluster's settings: the project, the labels and the
// resolved, validated Spec (its Names filled by the stack), then what the
// stack wires in.
type Args struct {
	Project string
	Labels  map[string]string
	Spec    Spec
	// Deployers are the IAM members that deploy the stack
	// (asyncjobs:deployers). A created cluster's nodes run as a dedicated
	// account, and creating the cluster needs actAs on it: each deployer
	// gets roles/iam.serviceAccountUser on that account alone.
	Deployers []string
	// Gate, when set, holds a created cluster back until the identity
	// deploying may act as the node account (see package actas).
	Gate      actas.Gate
	DependsOn []pulumi.Resource
}

// RoleNodeServiceAccount is the one role a created cluster's node account
// holds: what GKE documents as the minimum for node service accounts
// (logging, monitoring, metadata). It exists only at project level, so it
// is the stack's one project-level grant (see policy/iam.rego).
const RoleNodeServiceAccount = "roles/container.defaultNodeServiceAccount"

// Cluster is access to a GKE cluster: an explicit provider and the
// workloads' namespace. Its tagged fields are its outputs, registered and
// exported as they are (package outputmap).
type Cluster struct {
	pulumi.ResourceState

	Name      pulumi.StringOutput `pulumi:"cluster"`
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// WorkloadPool is the Workload Identity pool, <project>.svc.id.goog.
	WorkloadPool string

	// Provider is the explicit Kubernetes provider every workload uses.
	Provider *kubernetes.Provider
	// Ready orders Workload Identity grants after the cluster exists (the
	// identity pool does not exist before the first Workload Identity cluster).
	Ready []pulumi.Resource
	// NodeServiceAccount is the e-mail of a created cluster's node account
	// ("" for an existing cluster).
	NodeServiceAccount string
}

// New looks the cluster up (or creates it) and declares the provider and namespace.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	spec := args.Spec
	if n := spec.Names; n.Namespace == "" || n.Project == "" || n.Location == "" {
		// The stack's resolve step fills them; a guess here could reach
		// another cluster than the one validated and watched.
		return nil, fmt.Errorf("gke: spec not resolved (Names %+v; package stacks resolves it)", n)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Composite(pulumi.Parent(c), pulumi.DependsOn(args.DependsOn))
	project, location := spec.Names.Project, spec.Names.Location
	c.WorkloadPool = project + ".svc.id.goog"

	var endpoint, ca pulumi.StringOutput
	if spec.Create {
		nodes, err := nodeAccount(ctx, name, project, spec, args.Deployers, child)
		if err != nil {
			return nil, err
		}
		c.NodeServiceAccount = nodes.email
		cluster, err := container.NewCluster(ctx, name, &container.ClusterArgs{
			Project:            pulumi.String(project),
			Location:           pulumi.String(location),
			Name:               pulumi.String(spec.Name),
			EnableAutopilot:    pulumi.Bool(true),
			DeletionProtection: pulumi.Bool(spec.Names.DeletionProtection),
			ReleaseChannel:     &container.ClusterReleaseChannelArgs{Channel: pulumi.String("REGULAR")},
			WorkloadIdentityConfig: &container.ClusterWorkloadIdentityConfigArgs{
				WorkloadPool: pulumi.String(c.WorkloadPool),
			},
			// Autopilot nodes run as the dedicated account, never the
			// Compute Engine default one.
			ClusterAutoscaling: &container.ClusterClusterAutoscalingArgs{
				AutoProvisioningDefaults: &container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs{
					ServiceAccount: actas.Await(ctx, args.Gate, pulumi.String(nodes.email), nodes.grants),
				},
			},
			ResourceLabels: pulumi.ToStringMap(args.Labels),
			// The node role and every deployer's actAs on the node account
			// exist before GKE is asked to create nodes with it.
		}, child, pulumi.DependsOn(nodes.grants))
		if err != nil {
			return nil, err
		}
		endpoint = cluster.Endpoint
		ca = cluster.MasterAuth.ClusterCaCertificate().Elem()
		c.Name = cluster.Name
		c.Ready = []pulumi.Resource{cluster}
	} else {
		found := container.LookupClusterOutput(ctx, container.LookupClusterOutputArgs{
			Project:  pulumi.String(project),
			Location: pulumi.String(location),
			Name:     pulumi.String(spec.Name),
		})
		endpoint = found.Endpoint()
		ca = found.MasterAuths().Index(pulumi.Int(0)).ClusterCaCertificate()
		c.Name = pulumi.String(spec.Name).ToStringOutput()
	}

	// The kubeconfig holds no credential (the exec plugin fetches tokens),
	// but it is secret in the state all the same, inputs included.
	// (Made secret once known: the SDK's mock monitor cannot decode an
	// unknown secret, and an unknown value is stored nowhere.)
	kubeconfig := pulumi.All(endpoint, ca).ApplyT(func(v []any) (pulumi.StringOutput, error) {
		kc, err := Kubeconfig(v[0].(string), v[1].(string))
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		return pulumi.ToSecret(pulumi.String(kc)).(pulumi.StringOutput), nil
	}).(pulumi.StringOutput)
	provider, err := kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: kubeconfig,
		// Workloads name their namespace explicitly; nothing may land in
		// whatever namespace a kubeconfig happens to default to.
		Namespace: pulumi.String(spec.Names.Namespace),
	}, child, pulumi.AdditionalSecretOutputs([]string{"kubeconfig"}))
	if err != nil {
		return nil, err
	}
	c.Provider = provider

	ns, err := corev1.NewNamespace(ctx, name+"-"+spec.Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(spec.Names.Namespace),
			Labels: pulumi.StringMap{
				"app.kubernetes.io/part-of":          pulumi.String("asyncjobs"),
				"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
				"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
				"pod-security.kubernetes.io/audit":   pulumi.String("restricted"),
			},
		},
	}, child, pulumi.Provider(provider))
	if err != nil {
		return nil, err
	}
	c.Namespace = ns.Metadata.Name().Elem()
	c.Ready = append(c.Ready, ns)

	if err := ctx.RegisterResourceOutputs(c, outputmap.Of(c)); err != nil {
		return nil, err
	}
	return c, nil
}

type nodes struct {
	email  string
	grants []pulumi.Resource
}

// nodeAccount creates a created cluster's node service account with only
// the node role, and grants actAs on it (on it alone) to each deployer.
// Its e-mail is derived from known values, so the grants' members are known
// at preview and the policy pack can check them resource by resource.
func nodeAccount(ctx *pulumi.Context, name, project string, spec Spec, deployers []string, opts ...pulumi.ResourceOption) (nodes, error) {
	id := spec.NodeAccountID()
	email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", id, project)
	sa, err := serviceaccount.NewAccount(ctx, name+"-nodes", &serviceaccount.AccountArgs{
		Project:     pulumi.String(project),
		AccountId:   pulumi.String(id),
		DisplayName: pulumi.String(fmt.Sprintf("GKE nodes of %s", spec.Name)),
		Description: pulumi.String("Node service account of the Autopilot cluster asyncjobs creates; holds " + RoleNodeServiceAccount + " only."),
	}, opts...)
	if err != nil {
		return nodes{}, err
	}
	out := nodes{email: email}
	follow := pulumi.ReplaceWith(gcpiam.Targets(sa))
	role, err := projects.NewIAMMember(ctx, name+"-nodes-role", &projects.IAMMemberArgs{
		Project: pulumi.String(project),
		Role:    pulumi.String(RoleNodeServiceAccount),
		Member:  pulumi.String("serviceAccount:" + email),
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{sa}), follow)...)
	if err != nil {
		return nodes{}, err
	}
	out.grants = append(out.grants, role)
	for i, m := range deployers {
		g, err := serviceaccount.NewIAMMember(ctx, fmt.Sprintf("%s-nodes-deployer-%d", name, i), &serviceaccount.IAMMemberArgs{
			ServiceAccountId: sa.Name,
			Role:             pulumi.String(gcpiam.RoleServiceAccountUser),
			Member:           pulumi.String(m),
		}, append(opts, follow)...)
		if err != nil {
			return nodes{}, err
		}
		out.grants = append(out.grants, g)
	}
	return out, nil
}

// AuthPlugin is the credential plugin the kubeconfig runs: it turns the
// caller's Google credentials into a token for the cluster.
const AuthPlugin = "gke-gcloud-auth-plugin"

// Kubeconfig returns a kubeconfig for the cluster at endpoint (host or
// host:port) whose CA certificate is caBase64 (base64 of PEM, as GKE's
// masterAuth.clusterCaCertificate), authenticating through AuthPlugin. It is
// built from client-go's own types and serialised by client-go, so whatever
// loads kubeconfigs with client-go (the Kubernetes provider does) reads it.
func Kubeconfig(endpoint, caBase64 string) (string, error) {
	if endpoint == "" {
		return "", errors.New("kubeconfig: the cluster has no endpoint")
	}
	ca, err := base64.StdEncoding.DecodeString(caBase64)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: the cluster CA certificate is not base64: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gke"] = &clientcmdapi.Cluster{Server: "https://" + endpoint, CertificateAuthorityData: ca}
	cfg.AuthInfos["gke"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1beta1",
		Command:    AuthPlugin,
		InstallHint: "Install " + AuthPlugin + ": gcloud components install " + AuthPlugin +
			" (or the Debian/Ubuntu package google-cloud-cli-gke-gcloud-auth-plugin)",
		ProvideClusterInfo: true,
		InteractiveMode:    clientcmdapi.IfAvailableExecInteractiveMode,
	}}
	cfg.Contexts["gke"] = &clientcmdapi.Context{Cluster: "gke", AuthInfo: "gke"}
	cfg.CurrentContext = "gke"
	out, err := runtime.Encode(clientcmdlatest.Codec, cfg)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return string(out), nil
}
