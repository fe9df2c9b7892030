package rehearsal_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/testenv/rehearsal"
)

// testStackBesideDev: a test stack made from dev by the teststack
// command, as the test-stacks workflow runs it, next to the deployed dev,
// in one API server and one Google project: it comes up and settles (a
// preview, a refresh and a preview find nothing to do); it adopts and
// touches no object of dev's, Kubernetes or Google; the command's destroy
// takes exactly what the test stack added and leaves dev as it was.
func testStackBesideDev(t *testing.T, e *rehearsal.Env) {
	ctx := context.Background()
	teststack := e.Build(ctx, "./cmd/teststack")
	devNS := namespaceOf(t, config(t, e, "dev").Config)
	devObjs := inNamespace(kubeObjects(t, e), devNS)
	if len(devObjs) < 6 {
		t.Fatalf("dev has only %d Kubernetes objects: %v", len(devObjs), devObjs)
	}
	before := inventory(t, e)

	const name = "pr-1"
	if r := e.Command(ctx, "", "dev", teststack, "up", "--name", name, "--from", "dev", "--ttl", "1h", "--owner", "rehearsal"); r.Err != nil {
		t.Fatal(r.Err)
	}
	noChanges(t, e, "", name)
	ns := namespaceOf(t, config(t, e, name).Config)
	if ns == devNS {
		t.Fatalf("the test stack's namespace is dev's, %s", ns)
	}
	// Nothing of dev's was touched: same objects, same versions (a
	// server-side apply over an existing object would bump them).
	all := kubeObjects(t, e)
	if got := inNamespace(all, devNS); !maps.Equal(got, devObjs) {
		t.Fatalf("teststack up changed dev's Kubernetes objects:\nbefore %v\nafter  %v", devObjs, got)
	}
	mine := inNamespace(all, ns)
	if len(mine) != len(devObjs) || len(all) != 2*len(devObjs) {
		t.Errorf("%d objects in the test stack's namespace and %d in all, want %d and %d like dev:\n%v", len(mine), len(all), len(devObjs), 2*len(devObjs), keys(all))
	}
	// No object's uid appears twice: nothing was adopted.
	uids := map[string]string{}
	for k, v := range all {
		uid := strings.Fields(v)[0]
		if other, ok := uids[uid]; ok {
			t.Errorf("%s and %s are one object", k, other)
		}
		uids[uid] = k
	}
	up := inventory(t, e)
	added := map[string]string{}
	for k, v := range up {
		if _, ok := before[k]; !ok {
			added[k] = v
		} else if v != before[k] && !strings.HasPrefix(k, "project ") {
			t.Errorf("teststack up changed dev's %s: %q -> %q", k, before[k], v)
		}
	}
	if len(added) < 10 {
		t.Errorf("teststack up added only %v to the fake Google", added)
	}

	if r := e.Command(ctx, "", "dev", teststack, "destroy", "--name", name); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := inNamespace(kubeObjects(t, e), devNS); !maps.Equal(got, devObjs) {
		t.Errorf("teststack destroy changed dev's objects:\nbefore %v\nafter  %v", devObjs, got)
	}
	if left := inNamespace(kubeObjects(t, e), ns); len(left) > 0 {
		t.Errorf("teststack destroy left %v", left)
	}
	if after := inventory(t, e); !maps.Equal(before, after) {
		t.Errorf("the fake Google after teststack destroy is not as before its up:\n%s", mapDiff(before, after))
	}
}
