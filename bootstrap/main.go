// Command bootstrap is a small Pulumi program, separate from the asyncjobs
// stacks, that creates once what the GitHub workflows need to deploy them:
// workload identity pools trusting only this repository's GitHub Actions,
// the deploying (and, for protected environments, previewing) service
// accounts with narrow roles, the state bucket and the KMS keys for stack
// secrets. See docs/delivery.md, "Setting it up, once".
package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

func main() {
	pulumi.Run(Program)
}
