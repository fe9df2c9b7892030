// Package protect protects every resource of a Pulumi program at once, for
// the stacks and the bootstrap: a stack whose data must not be lost is one
// whose every resource is protected, since the engine deletes what is not
// protected before it reaches a protected resource and refuses the rest.
package protect

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// All is a stack transformation that protects every custom resource
// registered after it. The engine then refuses a destroy before deleting any
// of them, and refuses to replace one until it is unprotected. It runs in
// the program's process, so that the offline recorder (the SDK's mock
// monitor has no stack transforms) records the same option.
func All(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	if _, custom := args.Resource.(pulumi.CustomResource); !custom {
		return nil
	}
	return &pulumi.ResourceTransformationResult{Props: args.Props, Opts: append(args.Opts, pulumi.Protect(true))}
}
