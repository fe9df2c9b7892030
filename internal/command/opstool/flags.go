package opstool

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// cloudPlatformScope is the OAuth scope the impersonated token carries; IAM
// on the resources decides what it may do.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// HiddenFlags names flags that are left out of the usage text: test hooks.
var HiddenFlags = map[string]bool{"endpoint": true}

// Common holds the flags both commands share: where the stack's outputs come
// from and how to reach Google Cloud.
type Common struct {
	// OutputsFile is a file holding `pulumi stack output --json`.
	OutputsFile string
	// Stack is a stack name; its outputs are read by running pulumi.
	Stack string
	// Impersonate is a service account to impersonate with the caller's
	// application default credentials.
	Impersonate string
	// Endpoint is a loopback host:port reached without TLS or credentials
	// (tests and emulators only).
	Endpoint string
	// endpointFrom names where Endpoint came from, for messages.
	endpointFrom string
}

// EndpointFromEnv takes the endpoint from the environment variable env
// (an emulator's host:port) when --endpoint is not given.
func (c *Common) EndpointFromEnv(env string) error {
	if c.Endpoint != "" {
		return nil
	}
	if v := os.Getenv(env); v != "" {
		c.Endpoint, c.endpointFrom = v, env
	}
	return nil
}

// Register defines the shared flags on fs.
func (c *Common) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.OutputsFile, "outputs", "", "read the stack outputs from this `file` (the JSON `pulumi stack output --json` prints)")
	fs.StringVar(&c.Stack, "stack", "", "read the outputs of this Pulumi `stack` by running `pulumi stack output --json --stack NAME`")
	fs.StringVar(&c.Impersonate, "impersonate-service-account", "", "call Google Cloud as this service account `email`, "+
		"impersonated with your application default credentials (needs roles/iam.serviceAccountTokenCreator on it)")
	fs.StringVar(&c.Endpoint, "endpoint", "", "test hook: a loopback `host:port` reached without TLS or credentials")
}

// Validate checks the shared flags without touching the network.
func (c *Common) Validate() []error {
	var errs []error
	if c.OutputsFile != "" && c.Stack != "" {
		errs = append(errs, fmt.Errorf("--outputs=%q and --stack=%q: give only one source of stack outputs", c.OutputsFile, c.Stack))
	}
	if c.Impersonate != "" {
		if err := CheckServiceAccount(c.Impersonate); err != nil {
			errs = append(errs, fmt.Errorf("--impersonate-service-account: %w", err))
		}
	}
	if c.Endpoint != "" {
		from := "--endpoint"
		if c.endpointFrom != "" {
			from = c.endpointFrom
		}
		if err := checkLoopback(c.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", from, c.Endpoint, err))
		}
		if c.Impersonate != "" {
			errs = append(errs, fmt.Errorf("%s and --impersonate-service-account: the emulator endpoint takes no credentials", from))
		}
	}
	return errs
}

// checkLoopback accepts host:port where host is a loopback address, since
// the endpoint is dialed without TLS.
func checkLoopback(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if port == "" {
		return fmt.Errorf("want host:port with a port")
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("only loopback hosts are allowed (127.0.0.1, ::1, localhost): the endpoint is dialed without TLS")
	}
	return nil
}

// LoadOutputs reads the stack outputs from --outputs or --stack. It returns
// nil, nil when neither flag is set.
func (c *Common) LoadOutputs(ctx context.Context) (*Outputs, error) {
	switch {
	case c.OutputsFile != "":
		return readOutputsFile(c.OutputsFile)
	case c.Stack != "":
		return readStackOutputs(ctx, c.Stack)
	default:
		return nil, nil
	}
}

// ClientOptions returns the options for a Google Cloud client: the insecure
// test endpoint, an impersonated token source, or none (application default
// credentials). Service-account key files are never used explicitly.
func (c *Common) ClientOptions(ctx context.Context) ([]option.ClientOption, error) {
	if c.Endpoint != "" {
		return []option.ClientOption{
			option.WithEndpoint(c.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithTelemetryDisabled(),
		}, nil
	}
	if c.Impersonate != "" {
		ts, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{
			TargetPrincipal: c.Impersonate,
			Scopes:          []string{cloudPlatformScope},
		})
		if err != nil {
			return nil, fmt.Errorf("impersonate %s: %w", c.Impersonate, err)
		}
		return []option.ClientOption{option.WithTokenSource(ts)}, nil
	}
	return nil, nil
}

// KeyValues is a repeatable flag of key=value pairs, kept in order.
type KeyValues struct {
	// Pairs holds the parsed pairs in the order given.
	Pairs []KeyValue
}

// KeyValue is one key=value pair.
type KeyValue struct {
	Key, Value string
}

// String implements flag.Value.
func (kv *KeyValues) String() string {
	if kv == nil {
		return ""
	}
	parts := make([]string, len(kv.Pairs))
	for i, p := range kv.Pairs {
		parts[i] = p.Key + "=" + p.Value
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value: it parses one key=value pair.
func (kv *KeyValues) Set(s string) error {
	p, err := ParseKeyValue(s)
	if err != nil {
		return err
	}
	kv.Pairs = append(kv.Pairs, p)
	return nil
}

// ParseKeyValue splits s at its first '='. The key must not be empty; the
// value may be.
func ParseKeyValue(s string) (KeyValue, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return KeyValue{}, fmt.Errorf("%q: want key=value", s)
	}
	if strings.TrimSpace(k) == "" {
		return KeyValue{}, fmt.Errorf("%q: empty key; want key=value", s)
	}
	return KeyValue{Key: k, Value: v}, nil
}
