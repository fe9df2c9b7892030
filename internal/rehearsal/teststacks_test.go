package rehearsal_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"

	"github.com/asyncjobs/asyncjobs/internal/rehearsal"
	"github.com/asyncjobs/asyncjobs/internal/teststack"
)

// TestTestStacksShareNothing: two test stacks made from dev by the code
// `teststack up` runs, next to dev, in one API server and one Google
// project: all three come up; no test stack adopts or touches an object
// of another stack; destroying one leaves dev's and the other's objects
// (Kubernetes and Google) exactly as they were.
func TestTestStacksShareNothing(t *testing.T) {
	e := rehearsal.Start(t)
	ctx := context.Background()
	dev := e.Stack(ctx, "dev")
	up(t, e, dev)
	devNS := namespaceOf(t, config(t, e, "dev").Config)
	devObjs := inNamespace(kubeObjects(t, e), devNS)
	devGoogle := google(t, e)
	if len(devObjs) < 6 {
		t.Fatalf("dev has only %d Kubernetes objects: %v", len(devObjs), devObjs)
	}

	m := e.Manager()
	var names [2]string
	var namespaces [2]string
	for i, name := range []string{"pr-1", "pr-2"} {
		res, err := m.Up(ctx, teststack.UpOptions{Name: name, From: "dev", TTL: time.Hour, Owner: "rehearsal"})
		if err != nil {
			t.Fatalf("teststack up %s: %v", name, err)
		}
		names[i] = name
		namespaces[i] = devNS + "-" + res.Meta.Suffix
		// Nothing of dev's was touched: same objects, same versions (a
		// server-side apply over an existing object would bump them).
		if got := inNamespace(kubeObjects(t, e), devNS); !maps.Equal(got, devObjs) {
			t.Fatalf("teststack up %s changed dev's Kubernetes objects:\nbefore %v\nafter  %v", name, devObjs, got)
		}
		for k, holders := range devGoogle {
			now := google(t, e)[k]
			// Enabling an API is the one thing stacks of a project share:
			// it is enabled once, and no stack disables it on destroy.
			if strings.HasPrefix(k, "gcp:projects/service:Service ") && strings.HasPrefix(now, holders) {
				continue
			}
			if now != holders {
				t.Errorf("teststack up %s: dev's %s now held by %q (was %q)", name, k, now, holders)
			}
		}
	}
	all := kubeObjects(t, e)
	pr1, pr2 := inNamespace(all, namespaces[0]), inNamespace(all, namespaces[1])
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

	beforeGoogle := google(t, e)
	if _, err := m.Destroy(ctx, names[0], false); err != nil {
		t.Fatalf("teststack destroy %s: %v", names[0], err)
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
	afterGoogle := google(t, e)
	for k, holders := range beforeGoogle {
		if strings.Contains(holders, "urn:pulumi:dev::") || strings.Contains(holders, "urn:pulumi:"+names[1]+"::") {
			if _, ok := afterGoogle[k]; !ok {
				t.Errorf("destroying %s deleted %s, which %s holds", names[0], k, holders)
			}
		}
	}
	for k, holders := range afterGoogle {
		if strings.Contains(holders, "urn:pulumi:"+names[0]+"::") {
			t.Errorf("after destroying %s, it still holds %s", names[0], k)
		}
	}

	if _, err := m.Destroy(ctx, names[1], false); err != nil {
		t.Fatalf("teststack destroy %s: %v", names[1], err)
	}
	if _, err := dev.Destroy(ctx, optdestroy.Remove()); err != nil {
		t.Fatalf("destroy dev: %v", err)
	}
	if left := kubeObjects(t, e); len(left) > 0 {
		t.Errorf("left in the API server: %v", left)
	}
}
