// Package apis enables the Google APIs the stack uses. Tearing a stack down
// never switches an API off: other stacks and workloads in the same project
// may depend on it.
package apis

import (
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "asyncjobs:apis:Services"

// Args name the project and the APIs to enable.
type Args struct {
	Project  string
	Services []string
}

// Services is the set of enabled APIs. Order API calls after enablement by
// depending on Resources, the API resources themselves, in declaration
// order: depending on the component instead makes the engine expand it to
// its children, and the expanded list is not in a stable order, so plans
// would differ from run to run.
type Services struct {
	pulumi.ResourceState

	Enabled pulumi.StringArrayOutput `pulumi:"enabled"`
	// Resources are the enabled services, one per API.
	Resources []pulumi.Resource
}

// New enables each API with disableOnDestroy false.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Services, error) {
	s := &Services{}
	if err := ctx.RegisterComponentResource(TypeToken, name, s, opts...); err != nil {
		return nil, err
	}
	enabled := pulumi.StringArray{}
	for _, api := range args.Services {
		svc, err := projects.NewService(ctx, name+"-"+strings.TrimSuffix(api, ".googleapis.com"), &projects.ServiceArgs{
			Project:                  pulumi.String(args.Project),
			Service:                  pulumi.String(api),
			DisableOnDestroy:         pulumi.Bool(false),
			DisableDependentServices: pulumi.Bool(false),
		}, pulumi.Parent(s))
		if err != nil {
			return nil, err
		}
		enabled = append(enabled, svc.Service)
		s.Resources = append(s.Resources, svc)
	}
	s.Enabled = enabled.ToStringArrayOutput()
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"enabled": s.Enabled}); err != nil {
		return nil, err
	}
	return s, nil
}
