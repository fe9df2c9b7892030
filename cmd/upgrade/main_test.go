package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
)

// fakePulumi stands in for the CLI: stack export prints the state file,
// stack import replaces it, anything else fails, and so does every run
// that may fetch a plugin.
const fakePulumi = `#!/bin/sh
if [ "$PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" != true ]; then
	echo "run without PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true" >&2
	exit 4
fi
case "$1 $2" in
"stack export") cat "$FAKE_STATE" ;;
"stack import") while [ $# -gt 0 ]; do [ "$1" = --file ] && cp "$2" "$FAKE_STATE"; shift; done ;;
*) echo "unexpected: $*" >&2; exit 3 ;;
esac
`

const v010State = `{"version": 3, "deployment": {"resources": [
	{"urn": "urn:pulumi:dev::asyncjobs::pulumi:pulumi:Stack::asyncjobs-dev", "type": "pulumi:pulumi:Stack"},
	{"urn": "urn:pulumi:dev::asyncjobs::pulumi:providers:kubernetes::gke", "type": "pulumi:providers:kubernetes", "id": "1",
	 "parent": "urn:pulumi:dev::asyncjobs::pulumi:pulumi:Stack::asyncjobs-dev", "inputs": {"kubeconfig": "apiVersion: v1\nclusters: [\n"}},
	{"urn": "urn:pulumi:dev::asyncjobs::gcp:logging/metric:Metric::monitoring-cronjob-completed", "type": "gcp:logging/metric:Metric",
	 "id": "asyncjobs-cronjob-completed", "inputs": {"name": "asyncjobs-cronjob-completed", "project": "asyncjobs-dev"}},
	{"urn": "urn:pulumi:dev::asyncjobs::gcp:monitoring/dashboard:Dashboard::d", "type": "gcp:monitoring/dashboard:Dashboard",
	 "dependencies": ["urn:pulumi:dev::asyncjobs::gcp:logging/metric:Metric::monitoring-cronjob-completed"]}
]}}`

func setup(t *testing.T) (dir, pulumi, state string) {
	t.Helper()
	dir = t.TempDir()
	pulumi = filepath.Join(dir, "pulumi")
	if err := os.WriteFile(pulumi, []byte(fakePulumi), 0o755); err != nil {
		t.Fatal(err)
	}
	state = filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, []byte(v010State), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_STATE", state)
	return dir, pulumi, state
}

func runUpgrade(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, nil, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-stack", "dev", "-yes", "-check"}, {"-stack", "dev", "stray"}, {"-nope"}} {
		if _, _, err := runUpgrade(args...); cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("upgrade %q: exit %d, want %d (%v)", args, cli.ExitCode(err), cli.ExitUsage, err)
		}
	}
	if out, _, err := runUpgrade("-h"); cli.ExitCode(err) != cli.ExitOK || !strings.HasPrefix(out, "usage: upgrade --stack name") {
		t.Errorf("upgrade -h: exit %d (%v), stdout:\n%s", cli.ExitCode(err), err, out)
	}
}

func TestCheckThenYes(t *testing.T) {
	dir, pulumi, state := setup(t)
	common := []string{"-stack", "dev", "-dir", dir, "-pulumi", pulumi, "-bootstrap-stack", "boot"}

	out, _, err := runUpgrade(append(common, "-check")...)
	if cli.ExitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "-yes") {
		t.Fatalf("-check on a v0.1.0 state: exit %d (%v), want 1 naming -yes", cli.ExitCode(err), err)
	}
	for _, want := range []string{
		"remove urn:pulumi:dev::asyncjobs::pulumi:providers:kubernetes::gke",
		"remove urn:pulumi:dev::asyncjobs::gcp:logging/metric:Metric::monitoring-cronjob-completed",
		"pulumi import --stack boot --yes --protect=false --generate-code=false " +
			"gcp:logging/metric:Metric cronjob-completed-asyncjobs-dev 'asyncjobs-dev asyncjobs-cronjob-completed'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if data, _ := os.ReadFile(state); string(data) != v010State {
		t.Fatal("-check changed the state")
	}

	out, stderr, err := runUpgrade(append(common, "-yes")...)
	if err != nil {
		t.Fatalf("-yes: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "is ready for this release's up") {
		t.Errorf("-yes did not say it is done:\n%s", out)
	}
	data, _ := os.ReadFile(state)
	if strings.Contains(string(data), "providers:kubernetes") || strings.Contains(string(data), "cronjob-completed") ||
		!strings.Contains(string(data), "Dashboard::d") {
		t.Errorf("state after -yes:\n%s", data)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "build", "upgrade", "dev-*.json"))
	if len(backups) != 1 {
		t.Fatalf("backups %v, want one", backups)
	}
	if b, _ := os.ReadFile(backups[0]); string(b) != v010State {
		t.Error("the backup is not the state as it was")
	}
	if _, _, err := runUpgrade(append(common, "-check")...); err != nil {
		t.Errorf("-check after -yes: %v", err)
	}
}
