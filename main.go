// Command asyncjobs is the Pulumi program of the asyncjobs platform.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/stacks"
)

func main() {
	pulumi.Run(stacks.Program)
}
