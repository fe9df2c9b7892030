package fakegcp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestPluginBinary builds the plugin, starts two processes on one store (two
// stacks' plugins) and speaks the provider protocol to them over gRPC.
func TestPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "pulumi-resource-gcp")
	build := exec.Command("go", "build", "-o", bin, "./cmd/pulumi-resource-gcp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()

	start := func() pulumirpc.ResourceProviderClient {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin) // no engine address: attach mode
		cmd.Env = append(os.Environ(), StateDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cancel()
			_ = cmd.Wait()
		})
		port := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			port <- strings.TrimSpace(line)
		}()
		var p string
		select {
		case p = <-port:
		case <-time.After(30 * time.Second):
			t.Fatalf("plugin printed no port; stderr: %s", stderr.String())
		}
		conn, err := grpc.NewClient("127.0.0.1:"+p, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return pulumirpc.NewResourceProviderClient(conn)
	}

	ctx := context.Background()
	clients := []pulumirpc.ResourceProviderClient{start(), start()}
	for _, c := range clients {
		info, err := c.GetPluginInfo(ctx, &emptypb.Empty{})
		if err != nil || info.GetVersion() != Version {
			t.Fatalf("GetPluginInfo = %v, %v", info, err)
		}
		if _, err := c.Configure(ctx, &pulumirpc.ConfigureRequest{
			Variables: map[string]string{"gcp:config:project": testProject}, AcceptSecrets: true,
		}); err != nil {
			t.Fatalf("Configure: %v", err)
		}
	}

	// Both processes create at once: distinct topics, and the same binding.
	const n = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*n*2)
	api := pb(t, map[string]any{"service": "pubsub.googleapis.com"})
	for i, c := range clients {
		for j := 0; j < n; j++ {
			name := fmt.Sprintf("t-%d-%d", i, j)
			topic := pb(t, map[string]any{"name": name})
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Create(ctx, &pulumirpc.CreateRequest{Urn: urn(tTopic, name), Type: tTopic, Properties: topic})
				errs <- err
				_, err = c.Create(ctx, &pulumirpc.CreateRequest{Urn: urn(tService, "api-"+name), Type: tService, Properties: api})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st, err := LoadStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.ByType(tTopic)); got != 2*n {
		t.Errorf("topics in the store = %d, want %d", got, 2*n)
	}
	svc := st.ByType(tService)
	if len(svc) != 1 || len(svc[0].Holders) != 2*n {
		t.Errorf("enabled APIs = %+v", svc)
	}
	// A duplicate through the other process is refused.
	_, err = clients[1].Create(ctx, &pulumirpc.CreateRequest{Urn: urn(tTopic, "dup"), Type: tTopic,
		Properties: pb(t, map[string]any{"name": "t-0-0"})})
	if err == nil || !strings.Contains(err.Error(), "Error 409") {
		t.Errorf("duplicate across processes: %v", err)
	}
}
