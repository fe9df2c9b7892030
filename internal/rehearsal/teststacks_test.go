package rehearsal_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/rehearsal"
)

// TestTestStacksShareNothing: two test stacks made from dev by the
// teststack command, as the test-stacks workflow runs it, next to dev, in
// one API server and one Google project: all three come up; no test stack
// adopts or touches an object of another stack; destroying one with the
// command leaves dev's and the other's objects (Kubernetes and Google)
// exactly as they were; the last one goes too, and dev's destroy leaves
// nothing.
func TestTestStacksShareNothing(t *testing.T) {
	t.Parallel()
	e := rehearsal.Start(t)
	ctx := context.Background()
	teststack := e.Build(ctx, "./cmd/teststack")
	start := inventory(t, e)
	e.Init(ctx, "dev")
	if r := e.Up(ctx, "dev"); r.Err != nil {
		t.Fatal(r.Err)
	}
	devNS := namespaceOf(t, config(t, e, "dev").Config)
	devObjs := inNamespace(kubeObjects(t, e), devNS)
	devGoogle := inventory(t, e)
	if len(devObjs) < 6 {
		t.Fatalf("dev has only %d Kubernetes objects: %v", len(devObjs), devObjs)
	}

	names := []string{"pr-1", "pr-2"}
	var namespaces []string
	owned := map[string]map[string]string{} // test stack -> the Google objects it added
	for _, name := range names {
		prev := inventory(t, e)
		r := e.Command(ctx, "", "dev", teststack, "up", "--name", name, "--from", "dev", "--ttl", "1h", "--owner", "rehearsal")
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		namespaces = append(namespaces, namespaceOf(t, config(t, e, name).Config))
		if name == names[0] {
			// A test stack settles like the stack files do.
			noChanges(t, e, "", name)
		}
		// Nothing of dev's was touched: same objects, same versions (a
		// server-side apply over an existing object would bump them).
		if got := inNamespace(kubeObjects(t, e), devNS); !maps.Equal(got, devObjs) {
			t.Fatalf("teststack up %s changed dev's Kubernetes objects:\nbefore %v\nafter  %v", name, devObjs, got)
		}
		now := inventory(t, e)
		added := map[string]string{}
		for k, v := range now {
			if _, ok := prev[k]; !ok {
				added[k] = v
			} else if v != prev[k] && !strings.HasPrefix(k, "project ") {
				t.Errorf("teststack up %s changed %s: %q -> %q", name, k, prev[k], v)
			}
		}
		if len(added) < 10 {
			t.Errorf("teststack up %s added only %v to the fake Google", name, added)
		}
		owned[name] = added
	}
	all := kubeObjects(t, e)
	pr1, pr2 := inNamespace(all, namespaces[0]), inNamespace(all, namespaces[1])
	if namespaces[0] == devNS || namespaces[1] == devNS || namespaces[0] == namespaces[1] {
		t.Fatalf("namespaces %v and dev's %s are not all different", namespaces, devNS)
	}
	if len(pr1) != len(devObjs) || len(pr2) != len(devObjs) {
		t.Fatalf("test stacks' objects: %d in %s, %d in %s, want %d each like dev", len(pr1), namespaces[0], len(pr2), namespaces[1], len(devObjs))
	}
	if len(all) != 3*len(devObjs) {
		t.Errorf("%d objects in the API server, want %d (3 stacks × %d): %v", len(all), 3*len(devObjs), len(devObjs), keys(all))
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

	before := inventory(t, e)
	if r := e.Command(ctx, "", "dev", teststack, "destroy", "--name", names[0]); r.Err != nil {
		t.Fatal(r.Err)
	}
	after := kubeObjects(t, e)
	if got := inNamespace(after, devNS); !maps.Equal(got, devObjs) {
		t.Errorf("destroying %s changed dev's objects:\nbefore %v\nafter  %v", names[0], devObjs, got)
	}
	if got := inNamespace(after, namespaces[1]); !maps.Equal(got, pr2) {
		t.Errorf("destroying %s changed %s's objects:\nbefore %v\nafter  %v", names[0], names[1], pr2, got)
	}
	if got := inNamespace(after, namespaces[0]); len(got) > 0 {
		t.Errorf("destroying %s left %v", names[0], got)
	}
	afterGoogle := inventory(t, e)
	for k, v := range before {
		_, mine := owned[names[0]][k]
		switch got, ok := afterGoogle[k]; {
		case mine && ok:
			t.Errorf("destroying %s left %s", names[0], k)
		case !mine && !ok:
			t.Errorf("destroying %s deleted %s, which is not its own", names[0], k)
		case !mine && got != v && !strings.HasPrefix(k, "project "):
			t.Errorf("destroying %s changed %s: %q -> %q", names[0], k, v, got)
		}
	}
	for k := range devGoogle {
		if _, ok := afterGoogle[k]; !ok {
			t.Errorf("dev's %s is gone", k)
		}
	}

	if r := e.Command(ctx, "", "dev", teststack, "destroy", "--name", names[1]); r.Err != nil {
		t.Fatal(r.Err)
	}
	e.Must(ctx, "", "dev", "destroy", "--stack", "dev", "--non-interactive", "--yes", "--skip-preview")
	if left := kubeObjects(t, e); len(left) > 0 {
		t.Errorf("left in the API server: %v", left)
	}
	if end := inventory(t, e); !maps.Equal(start, end) {
		t.Errorf("the fake Google after every destroy is not as before:\n%s", mapDiff(start, end))
	}
}
