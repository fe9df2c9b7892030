// Command pulumi-resource-gcp is the stand-in for the pulumi-gcp resource
// provider plugin (version 7.38.0) that rehearsals install in place of the
// real one. See package fakegcp for what it models.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/asyncjobs/asyncjobs/internal/rehearsal/fakegcp"
)

func main() {
	if err := fakegcp.Main(context.Background(), "gcp", fakegcp.NewFromEnv()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
