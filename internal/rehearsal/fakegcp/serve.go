package fakegcp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// Main serves the stand-in as the resource plugin "gcp", speaking the
// plugin protocol the engine expects: flags --tracing (and the logging
// flags the engine may pass), the engine address as the only argument
// (none: attach mode), the chosen port printed on stdout, exit when the
// engine goes away.
//
// It is provider.Main of github.com/pulumi/pulumi/pkg/v3/resource/provider,
// rebuilt from the SDK's rpcutil: that package lives in pkg/v3, not in
// sdk/v3 v3.214.0, and requiring pkg/v3 would drag the program's SDK to a
// newer version.
func Main(ctx context.Context, name string, prov pulumirpc.ResourceProviderServer) error {
	var tracing string
	if flag.Lookup("tracing") == nil {
		flag.StringVar(&tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	}
	flag.Parse()
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing(name, name, tracing)

	cancel := make(chan bool)
	var once sync.Once
	stop := func() { once.Do(func() { close(cancel) }) }
	go func() {
		<-ctx.Done()
		stop()
	}()

	args := flag.Args()
	switch len(args) {
	case 0:
		// Attach mode: the engine connects to us (PULUMI_DEBUG_PROVIDERS).
	case 1:
		// Stop serving when the engine no longer answers.
		if err := rpcutil.Healthcheck(ctx, args[0], 5*time.Minute, stop); err != nil {
			return fmt.Errorf("could not start health check host RPC server: %w", err)
		}
	default:
		return errors.New("fatal: could not connect to host RPC; too many arguments")
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, prov)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		return fmt.Errorf("fatal: %w", err)
	}
	// The plugin protocol: the port goes to stdout first.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		return fmt.Errorf("fatal: %w", err)
	}
	return nil
}
