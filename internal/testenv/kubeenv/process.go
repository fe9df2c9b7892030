package kubeenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startAttempts   = 3
	etcdTimeout     = 60 * time.Second
	apiReadyTimeout = 180 * time.Second
	stopTimeout     = 15 * time.Second
)

func startEtcd(t testing.TB, bin, dir string) string {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		clientPort, peerPort, err := freePorts2()
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		dataDir := filepath.Join(dir, fmt.Sprintf("etcd-data-%d", attempt))
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
		p, err := startProcess(t, "etcd", bin, filepath.Join(dir, fmt.Sprintf("etcd-%d.log", attempt)),
			"--name=kubeenv",
			"--data-dir="+dataDir,
			"--listen-client-urls="+clientURL,
			"--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL,
			"--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=kubeenv="+peerURL,
			"--initial-cluster-state=new",
		)
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		err = waitFor(etcdTimeout, p, func() bool {
			resp, err := http.Get(clientURL + "/health")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"true"`))
		})
		if err == nil {
			return clientURL
		}
		lastErr = fmt.Errorf("%w\n--- etcd log (last lines) ---\n%s", err, p.logTail(40))
		p.stop()
		if !p.exited() {
			break // hung rather than, say, a port taken between picking and binding
		}
	}
	t.Fatalf("kubeenv: starting etcd: %v", lastErr)
	return ""
}

func startAPIServer(t testing.TB, bin, dir, etcdURL string) *Env {
	t.Helper()
	token, err := randomHex(32)
	if err != nil {
		t.Fatalf("kubeenv: %v", err)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	// token,user,uid,"group1,group2"
	if err := os.WriteFile(tokenFile, []byte(token+",kubeenv-admin,kubeenv-admin,system:masters\n"), 0o600); err != nil {
		t.Fatalf("kubeenv: %v", err)
	}
	saKeyFile := filepath.Join(dir, "service-account.key")
	if err := writeRSAKey(saKeyFile); err != nil {
		t.Fatalf("kubeenv: %v", err)
	}

	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		certDir := filepath.Join(dir, fmt.Sprintf("apiserver-certs-%d", attempt))
		p, err := startProcess(t, "kube-apiserver", bin, filepath.Join(dir, fmt.Sprintf("kube-apiserver-%d.log", attempt)),
			"--etcd-servers="+etcdURL,
			// Keep attempts (and concurrent envs sharing nothing) apart.
			"--etcd-prefix=/registry-"+strconv.Itoa(attempt),
			"--bind-address=127.0.0.1",
			"--secure-port="+strconv.Itoa(port),
			"--cert-dir="+certDir,
			"--token-auth-file="+tokenFile,
			"--authorization-mode=RBAC",
			"--service-account-key-file="+saKeyFile,
			"--service-account-signing-key-file="+saKeyFile,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=10.0.0.0/24",
			// No kube-controller-manager runs, so no garbage collector: without
			// this, a foreground delete (the Kubernetes provider's default)
			// waits forever on the foregroundDeletion finalizer.
			"--enable-garbage-collector=false",
		)
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		env := &Env{
			URL:    "https://127.0.0.1:" + strconv.Itoa(port),
			Token:  token,
			CAFile: filepath.Join(certDir, "apiserver.crt"),
		}
		err = waitFor(apiReadyTimeout, p, func() bool {
			if env.Client == nil {
				c, err := clientFor(env.CAFile)
				if err != nil {
					return false // the certificate is not written yet
				}
				env.Client = c
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := env.Do(ctx, http.MethodGet, "/readyz", "", nil)
			return err == nil
		})
		if err == nil {
			env.Kubeconfig = filepath.Join(dir, "kubeconfig")
			if err := env.writeKubeconfig(); err != nil {
				t.Fatalf("kubeenv: %v", err)
			}
			return env
		}
		lastErr = fmt.Errorf("%w\n--- kube-apiserver log (last lines) ---\n%s", err, p.logTail(40))
		p.stop()
		if !p.exited() {
			break
		}
	}
	t.Fatalf("kubeenv: starting kube-apiserver: %v", lastErr)
	return nil
}

type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
	once    sync.Once
}

func startProcess(t testing.TB, name, bin, logPath string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("kubeenv: %s log (last lines):\n%s", name, p.logTail(30))
		}
	})
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop terminates the process (SIGTERM, then SIGKILL) and waits for it.
func (p *process) stop() {
	p.once.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *process) logTail(lines int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitFor polls ready until it returns true, the process exits or the
// timeout passes.
func waitFor(timeout time.Duration, p *process, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.waitErr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %s", p.name, timeout)
		}
		select {
		case <-p.done:
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts2 returns two distinct free ports.
func freePorts2() (int, int, error) {
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l1.Close()
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l2.Close()
	return l1.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the service-account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}
