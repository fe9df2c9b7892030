// Package kubeenv runs a real kube-apiserver (backed by a real etcd) for
// tests, so manifests can be checked by the API server's own validation
// (server-side apply dry runs with strict field validation).
//
// The binaries come from scripts/tools.sh, which builds or installs them on
// first use and caches them outside the repository. When a binary cannot be
// provided, Start skips the test, except under CI=true, where it fails it.
//
// Only the standard library is used: the API server is spoken to with
// net/http. process.go starts, watches and stops the two processes;
// client.go speaks to the API server (requests, discovery, apply).
//
// No kube-controller-manager runs, and the API server's garbage collector is
// off (a delete does not wait for dependents, whatever propagation policy
// a client asks for). What a client awaits from a controller has a stand-in a test starts:
// FinalizeNamespaces (client.go) for the namespace controller, so deleted
// namespaces go; RollOutDeployments (deployments.go) for the deployment and
// ReplicaSet controllers, so Deployments become ready.
package kubeenv

import (
	"net/http"
	"sync"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/toolcache"
)

// Env is a running kube-apiserver with its etcd.
type Env struct {
	// URL is the API server's base URL, e.g. https://127.0.0.1:41234.
	URL string
	// Token is a bearer token of a user in group system:masters.
	Token string
	// Client trusts the API server's self-signed serving certificate. It
	// does not add the token; Do does.
	Client *http.Client
	// CAFile holds the PEM certificates the API server serves with.
	CAFile string
	// Kubeconfig is the path of a kubeconfig file for this server (for
	// client-go or other tools).
	Kubeconfig string

	mu        sync.Mutex
	discovery map[string][]apiResource // apiVersion -> resources
}

// Start starts etcd and kube-apiserver on free loopback ports and waits until
// the API server is ready. Both are stopped and their files removed when the
// test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	etcdBin := toolcache.Path(t, "etcd")
	apiserverBin := toolcache.Path(t, "kube-apiserver")

	dir := t.TempDir()
	etcdURL := startEtcd(t, etcdBin, dir)
	env := startAPIServer(t, apiserverBin, dir, etcdURL)
	return env
}
