package workload

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// RoleWorkloadIdentityUser lets a Kubernetes service account act as a Google one.
const RoleWorkloadIdentityUser = "roles/iam.workloadIdentityUser"

// Identity is a workload's Kubernetes service account bound through Workload
// Identity to a dedicated Google service account.
type Identity struct {
	KSA   *corev1.ServiceAccount
	GSA   *serviceaccount.Account
	Email pulumi.StringOutput
}

// IdentityArgs say which accounts to create.
type IdentityArgs struct {
	Name         string // Kubernetes service account name
	Namespace    string
	Project      string
	AccountID    string // Google service account id, suffix applied
	Description  string
	WorkloadPool string // <project>.svc.id.goog
	Labels       pulumi.StringMap
	// Ready orders the binding after the cluster: the identity pool does not
	// exist before the first Workload Identity cluster.
	Ready []pulumi.Resource
}

// NewIdentity declares the Google service account, the workloadIdentityUser
// grant on that account only, and the annotated Kubernetes service account.
func NewIdentity(ctx *pulumi.Context, name string, a IdentityArgs, parent pulumi.ResourceOption, k8s pulumi.ResourceOption) (*Identity, error) {
	gsa, err := serviceaccount.NewAccount(ctx, name+"-gsa", &serviceaccount.AccountArgs{
		Project:     pulumi.String(a.Project),
		AccountId:   pulumi.String(a.AccountID),
		DisplayName: pulumi.String("asyncjobs " + a.Name),
		Description: pulumi.String(a.Description),
	}, parent)
	if err != nil {
		return nil, err
	}
	member := fmt.Sprintf("serviceAccount:%s[%s/%s]", a.WorkloadPool, a.Namespace, a.Name)
	if _, err := serviceaccount.NewIAMMember(ctx, name+"-workload-identity", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: gsa.Name,
		Role:             pulumi.String(RoleWorkloadIdentityUser),
		Member:           pulumi.String(member),
	}, parent, pulumi.DependsOn(a.Ready), pulumi.ReplaceWith([]pulumi.Resource{gsa})); err != nil {
		return nil, err
	}
	ksa, err := corev1.NewServiceAccount(ctx, name+"-ksa", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(a.Name),
			Namespace:   pulumi.String(a.Namespace),
			Labels:      a.Labels,
			Annotations: pulumi.StringMap{"iam.gke.io/gcp-service-account": gsa.Email},
		},
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent, k8s, pulumi.DependsOn(a.Ready))
	if err != nil {
		return nil, err
	}
	return &Identity{KSA: ksa, GSA: gsa, Email: gsa.Email}, nil
}
