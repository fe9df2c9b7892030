package providerdiff

import (
	"context"
	"net"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// engine is the part of the Pulumi engine a provider plugin calls back:
// it takes the plugin's log messages and answers the rest with nothing. A
// plugin needs an engine address to start at all.
type engine struct {
	pulumirpc.UnimplementedEngineServer
	server *grpc.Server
	addr   string
}

func startEngine() (*engine, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &engine{server: grpc.NewServer(), addr: l.Addr().String()}
	pulumirpc.RegisterEngineServer(e.server, e)
	go func() { _ = e.server.Serve(l) }()
	return e, nil
}

// Log drops the message: a diagnostic the plugin logs (the Kubernetes
// provider's "cluster unreachable" warning, say) changes no decision.
func (e *engine) Log(context.Context, *pulumirpc.LogRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (e *engine) GetRootResource(context.Context, *pulumirpc.GetRootResourceRequest) (*pulumirpc.GetRootResourceResponse, error) {
	return &pulumirpc.GetRootResourceResponse{}, nil
}

func (e *engine) SetRootResource(context.Context, *pulumirpc.SetRootResourceRequest) (*pulumirpc.SetRootResourceResponse, error) {
	return &pulumirpc.SetRootResourceResponse{}, nil
}

func (e *engine) stop() { e.server.Stop() }
