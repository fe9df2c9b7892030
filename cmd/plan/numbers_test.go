package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNumbersAndYAMLReadings: make plan refuses, one case per class, a
// number beyond the API field's type or bound, a duration that does not
// fit, and a value whose YAML reading is not what is written; each error
// names the key path (and, for YAML-level problems, the line), and no
// plan.json or manifest is written.
func TestNumbersAndYAMLReadings(t *testing.T) {
	devBytes, err := os.ReadFile("../../Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dev := string(devBytes)
	edit := func(old, new string) string {
		if strings.Count(dev, old) != 1 {
			t.Fatalf("Pulumi.dev.yaml holds %q not once", old)
		}
		return strings.Replace(dev, old, new, 1)
	}
	suffix := func(v string) string {
		return edit("  asyncjobs:region: asia-northeast1\n", "  asyncjobs:region: asia-northeast1\n  asyncjobs:nameSuffix: "+v+"\n")
	}
	yamlCase := func(file, line string, want ...string) (string, []string) {
		return file, append(want, lineOf(t, file, line))
	}
	type tc struct {
		name, file string
		want       []string
	}
	cases := []tc{
		{"an int32 API field beyond int32", edit("        maxDoublings: 3\n", "        maxDoublings: 2147483648\n"),
			[]string{"asyncjobs:queues[0].retry.maxDoublings: Invalid value: 2147483648: " +
				"out of range: a whole number from -2147483648 to 2147483647 (the API field is an int32)"}},
		{"an int32 API field far beyond any integer", edit("        maxAttempts: 10\n", "        maxAttempts: 1e30\n"),
			[]string{"asyncjobs:queues[0].retry.maxAttempts: Invalid value: 1e+30: out of range"}},
		{"an int32 Go field beyond int32", edit("      backoffLimit: 2\n", "      backoffLimit: 4294967296\n"),
			[]string{"asyncjobs:cronJobs[0].backoffLimit: Invalid value: 4294967296: out of range: a whole number from -2147483648 to 2147483647"}},
		{"a Kubernetes bound narrower than the Go type", edit("        image: busybox:1.28\n", "        image: busybox:1.28\n        runAsUser: 2147483648\n"),
			[]string{"asyncjobs:cronJobs[0].container.runAsUser: Invalid value: 2147483648: out of range"}},
		{"Indexed Jobs' cap",
			strings.Replace(edit("      completions: 3\n", "      completions: 100001\n"), "      parallelism: 3\n", "      parallelism: 100001\n", 1),
			[]string{"asyncjobs:cronJobs[0].completions: Invalid value: 100001: must be <= 100000 when completionMode is Indexed",
				"asyncjobs:cronJobs[0].parallelism: Invalid value: 100001"}},
		{"a day count that overflows", edit("        minBackoff: 10s\n", "        minBackoff: 106752d\n"),
			[]string{`asyncjobs:queues[0].retry.minBackoff: Invalid value: "106752d": not a duration: out of range: at most 106751d`}},
		{"a day count that would wrap to a valid-looking value", edit("        minBackoff: 10s\n", "        minBackoff: 213504d\n"),
			[]string{`asyncjobs:queues[0].retry.minBackoff: Invalid value: "213504d": not a duration: out of range`}},
		{"a CPU quantity that would wrap to 1000m", edit("    cpu: 1000m\n", "    cpu: 18446744073709552616m\n"),
			[]string{`asyncjobs:worker.cpu: Invalid value: "18446744073709552616m": out of range`}},
		{"hours that overflow", edit("        maxBackoff: 3600s\n", "        maxBackoff: 2562048h\n"),
			[]string{`asyncjobs:queues[0].retry.maxBackoff: Invalid value: "2562048h": not a duration: out of range: at most 2562047h`}},
	}
	for _, y := range []struct {
		name, old, new, line string
		want                 []string
	}{
		{"YAML: an octal-looking string where a string is declared", "", "0123", "  asyncjobs:nameSuffix: 0123",
			[]string{`asyncjobs:nameSuffix: Invalid value: "0123"`, "Pulumi.yaml declares a string, and YAML reads 0123 as the octal number 83; quote it: '0123'"}},
		{"YAML: a number where a string is declared", "", "123", "  asyncjobs:nameSuffix: 123",
			[]string{`asyncjobs:nameSuffix: Invalid value: "123"`, "Pulumi.yaml declares a string, and YAML reads 123 as a whole number"}},
		{"YAML: a boolean where a string is declared", "", "true", "  asyncjobs:nameSuffix: true",
			[]string{`asyncjobs:nameSuffix: Invalid value: "true"`, "YAML reads true as a boolean"}},
		{"YAML: an octal-looking number in an object",
			"            maxDeliveryAttempts: 5\n", "            maxDeliveryAttempts: 05\n", "            maxDeliveryAttempts: 05",
			[]string{`asyncjobs:topics[0].subscriptions[0].deadLetter.maxDeliveryAttempts: Invalid value: "05"`, "YAML reads 05 as the octal number 5"}},
		{"YAML: sexagesimal", "    name: worker\n", "    name: 1:30\n", "    name: 1:30",
			[]string{`asyncjobs:worker.name: Invalid value: "1:30"`, "YAML 1.1 reads 1:30 as a base-60 number"}},
		{"YAML: a YAML 1.1 boolean", "    name: worker\n", "    name: yes\n", "    name: yes",
			[]string{`asyncjobs:worker.name: Invalid value: "yes"`, "YAML 1.1 reads yes as the boolean true"}},
		{"YAML: on in a list", "    - name: jobs-subscriber\n", "    - name: on\n", "    - name: on",
			[]string{`asyncjobs:subscribers[0].name: Invalid value: "on"`, "YAML 1.1 reads on as the boolean true"}},
		{"YAML: infinity", "      loggingSamplingRatio: 1.0\n", "      loggingSamplingRatio: .inf\n", "      loggingSamplingRatio: .inf",
			[]string{`asyncjobs:queues[0].loggingSamplingRatio: Invalid value: ".inf"`, "YAML reads .inf as infinity"}},
		{"YAML: not a number", "      loggingSamplingRatio: 1.0\n", "      loggingSamplingRatio: .nan\n", "      loggingSamplingRatio: .nan",
			[]string{`asyncjobs:queues[0].loggingSamplingRatio: Invalid value: ".nan"`, "YAML reads .nan as not-a-number"}},
	} {
		file := suffix(y.new)
		if y.old != "" {
			file = edit(y.old, y.new)
		}
		f, want := yamlCase(file, y.line, y.want...)
		cases = append(cases, tc{y.name, f, want})
	}
	project, err := os.ReadFile("../../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			for name, data := range map[string]string{"Pulumi.yaml": string(project), "Pulumi.x.yaml": c.file} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"-stack", "x", "-dir", dir, "-out", out, "-quiet"}, nil, &stdout, &stderr)
			if err == nil {
				t.Fatal("planned")
			}
			for _, w := range append(c.want, "no plan written") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, p := range []string{"plan.json", "manifests"} {
				if _, statErr := os.Stat(filepath.Join(out, "x", p)); !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("%s was written (%v)", p, statErr)
				}
			}
		})
	}
	// Quoted, each is the text it says, and plans.
	quoted := strings.Replace(suffix("'0123'"), "    name: worker\n", "    name: 'worker'\n", 1)
	dir, out := t.TempDir(), t.TempDir()
	for name, data := range map[string]string{"Pulumi.yaml": string(project), "Pulumi.x.yaml": quoted} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-stack", "x", "-dir", dir, "-out", out, "-quiet"}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("quoted values refused: %v", err)
	}
	plan, err := os.ReadFile(filepath.Join(out, "x", "plan.json"))
	if err != nil || !strings.Contains(string(plan), `"worker-0123"`) {
		t.Errorf("the quoted suffix 0123 is not in the plan's names (%v)", err)
	}
}

// lineOf is "line N:" for the line of s that is text.
func lineOf(t *testing.T, s, text string) string {
	t.Helper()
	for i, l := range strings.Split(s, "\n") {
		if l == text {
			return fmt.Sprintf("line %d:", i+1)
		}
	}
	t.Fatalf("no line %q", text)
	return ""
}
