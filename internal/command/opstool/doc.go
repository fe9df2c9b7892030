// Package opstool holds what the operations commands enqueue and deadletters
// share: reading the stack's outputs (from a file or from `pulumi stack
// output --json`), checking Google Cloud resource names, repeatable
// key=value flags, building client options (application default
// credentials, service-account impersonation, or an insecure loopback
// endpoint for tests), and their exit statuses. Their entry point and its
// signal handling are package cli's, as every command's are.
//
// The Pulumi program never imports this package, so the Google Cloud client
// libraries it uses stay out of the program's build.
package opstool
