package providerdiff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

// startTimeout bounds a plugin's start: writing its port and answering
// its first call.
const startTimeout = time.Minute

// process is one running provider plugin.
type process struct {
	pkg    string
	cmd    *exec.Cmd
	conn   *grpc.ClientConn
	client pulumirpc.ResourceProviderClient
	stderr *cli.Tail
	done   chan struct{} // closed when the process has exited
}

// start runs the plugin binary bin with the engine's address as its
// argument, as the engine does, and connects to the port it prints.
func start(ctx context.Context, pkg, bin, engineAddr string, env []string) (*process, error) {
	cmd := exec.Command(bin, engineAddr)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &process{pkg: pkg, cmd: cmd, stderr: &cli.Tail{Max: 8192}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s provider plugin: %w", pkg, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	// The plugin's first line on stdout is its port; whatever follows is
	// drained so that the plugin never blocks on a full pipe.
	type line struct {
		s   string
		err error
	}
	first := make(chan line, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, err := r.ReadString('\n')
		first <- line{s, err}
		_, _ = io.Copy(io.Discard, r)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	var port int
	select {
	case l := <-first:
		port, err = parsePort(l.s)
		if err != nil {
			p.kill()
			return nil, fmt.Errorf("the %s provider plugin wrote no port (%v): %s", pkg, err, p.stderr.String())
		}
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	case <-timer.C:
		p.kill()
		return nil, fmt.Errorf("the %s provider plugin wrote no port within %s: %s", pkg, startTimeout, p.stderr.String())
	}

	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		p.kill()
		return nil, err
	}
	p.conn = conn
	p.client = pulumirpc.NewResourceProviderClient(conn)
	return p, nil
}

// parsePort reads the port line, without the progress-indicator escape
// sequences some plugins write around it (the engine drops them too).
func parsePort(s string) (int, error) {
	s = strings.NewReplacer("\x1b]9;4;3;\x1b\\", "", "\x1b]9;4;0;\x1b\\", "").Replace(s)
	s = strings.TrimSpace(s)
	port, err := strconv.Atoi(s)
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("not a port: %q", s)
	}
	return port, nil
}

// configure sends the provider configuration, waiting for the plugin to
// answer at all first.
func (p *process) configure(ctx context.Context, config map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	vars := map[string]string{}
	args := resource.PropertyMap{}
	for k, v := range config {
		vars[p.pkg+":config:"+k] = v
		args[resource.PropertyKey(k)] = resource.NewStringProperty(v)
	}
	margs, err := plugin.MarshalProperties(args, plugin.MarshalOptions{})
	if err != nil {
		return err
	}
	_, err = p.client.Configure(ctx, &pulumirpc.ConfigureRequest{
		Variables:              vars,
		Args:                   margs,
		AcceptSecrets:          true,
		SendsOldInputs:         true,
		SendsOldInputsToDelete: true,
	}, grpc.WaitForReady(true))
	if err != nil {
		return p.failed("Configure", err)
	}
	return nil
}

// failed words an RPC error, with the plugin's last words when it died.
func (p *process) failed(call string, err error) error {
	select {
	case <-p.done:
		return fmt.Errorf("the %s provider plugin exited during %s: %v\n%s", p.pkg, call, err, strings.TrimSpace(p.stderr.String()))
	default:
		return fmt.Errorf("the %s provider plugin's %s: %w", p.pkg, call, err)
	}
}

func (p *process) kill() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

func marshal(label string, m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true, PropagateNil: true,
	})
}

func unmarshal(label string, s *structpb.Struct) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true,
	})
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, nil
}

// pluginEnv is the process environment without anything that points a
// plugin at a real cloud or cluster: no Google credentials or gcloud
// configuration, no Kubernetes configuration (KUBECONFIG names a file that
// does not exist, and in-cluster configuration is gone), and every proxy
// variable pointing at a closed loopback port, so that any request a
// plugin still makes fails at once instead of leaving the machine. The
// plugins reach this process on loopback, which proxies never apply to.
func pluginEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		switch {
		case u == "KUBECONFIG", strings.HasPrefix(u, "KUBERNETES_"),
			strings.HasPrefix(u, "GOOGLE_"), strings.HasPrefix(u, "CLOUDSDK_"), strings.HasPrefix(u, "GCLOUD_"),
			u == "HTTP_PROXY", u == "HTTPS_PROXY", u == "ALL_PROXY", u == "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	const closed = "http://127.0.0.1:9"
	return append(env,
		"KUBECONFIG="+filepath.Join(dir, "no-kubeconfig"),
		"CLOUDSDK_CONFIG="+filepath.Join(dir, "no-gcloud"),
		"HTTP_PROXY="+closed, "HTTPS_PROXY="+closed, "http_proxy="+closed, "https_proxy="+closed,
		"NO_PROXY=", "no_proxy=",
	)
}

var errClosed = errors.New("providerdiff: the set is closed")
