package monitoring

import (
	"fmt"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// runbookData is the data type each alert kind's runbook reads.
var runbookData = map[string]any{
	KindWorker5xx:      worker5xxRunbook{},
	KindOldestUnacked:  oldestUnackedRunbook{},
	KindUndelivered:    undeliveredRunbook{},
	KindDeadLettered:   deadLetteredRunbook{},
	KindDeadLetterWait: deadLettersWaitingRunbook{},
	KindQueueDepth:     queueDepthRunbook{},
	KindFailedAttempts: failedAttemptsRunbook{},
	KindCronJobFailed:  cronJobFailedRunbook{},
	KindCronJobMissed:  cronJobMissedRunbook{},
	KindCronJobOverdue: cronJobOverdueRunbook{},
}

// sample fills every field of a data type with a value of its own, and
// returns the filled value and the text of each field.
func sample(zero any) (any, map[string]string) {
	v := reflect.New(reflect.TypeOf(zero)).Elem()
	values := map[string]string{}
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f, sf := v.Field(i), v.Type().Field(i)
			n++
			switch f.Kind() {
			case reflect.Struct:
				fill(f)
			case reflect.String:
				f.SetString("sample-" + strings.ToLower(sf.Name))
				values[sf.Name] = f.String()
			case reflect.Int, reflect.Int64:
				f.SetInt(int64(9000 + n))
				values[sf.Name] = fmt.Sprint(f.Int())
			default:
				panic("sample: no value for " + sf.Name)
			}
		}
	}
	fill(v)
	return v.Interface(), values
}

// TestRunbooks renders every runbook with its data type: a template that
// reads a misspelt or missing field fails here, and a field the runbook
// never shows is reported too.
func TestRunbooks(t *testing.T) {
	files, err := fs.Glob(runbookFiles, "runbooks/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var kinds, templates []string
	for kind := range runbookData {
		kinds = append(kinds, kind)
	}
	for _, f := range files {
		templates = append(templates, strings.TrimSuffix(strings.TrimPrefix(f, "runbooks/"), ".md"))
	}
	sort.Strings(kinds)
	sort.Strings(templates)
	if !reflect.DeepEqual(kinds, templates) {
		t.Errorf("runbooks/*.md are %v, the alert kinds %v: one file per kind", templates, kinds)
	}

	for kind, zero := range runbookData {
		t.Run(kind, func(t *testing.T) {
			data, values := sample(zero)
			var b strings.Builder
			if err := runbooks.ExecuteTemplate(&b, kind+".md", data); err != nil {
				t.Fatal(err)
			}
			r := &renderer{}
			doc := r.runbook(kind, data)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if doc != strings.TrimSuffix(b.String(), "\n") || strings.HasSuffix(doc, "\n") {
				t.Errorf("runbook %s ends with a newline or differs from its template:\n%s", kind, doc)
			}
			if !strings.HasPrefix(doc, "**What fired.** ") || !strings.Contains(doc, "\n\n**What it means.** ") || !strings.Contains(doc, "\n\n**What to do.** ") {
				t.Errorf("lacks one of what fired, what it means, what to do:\n%s", doc)
			}
			for field, v := range values {
				if !strings.Contains(doc, v) {
					t.Errorf("never shows field %s (%q):\n%s", field, v, doc)
				}
			}
			if strings.Contains(doc, "<no value>") || strings.Contains(doc, "&#") || strings.Count(doc, "```")%2 != 0 {
				t.Errorf("a missing value, HTML escaping or an unclosed code block:\n%s", doc)
			}
		})
	}
}

// TestRunbookWithoutCluster checks the consumers' command of a stack with
// no GKE cluster, where the push endpoint is the only consumer.
func TestRunbookWithoutCluster(t *testing.T) {
	a := testArgs()
	a.Cluster = Cluster{}
	r := &renderer{}
	for _, doc := range []string{r.oldestUnackedDocs(a, a.Subscriptions[0], 0), r.undeliveredDocs(a, a.Subscriptions[0])} {
		if !strings.Contains(doc, "```\ngcloud pubsub subscriptions describe jobs-worker-x1 --project p\n# no subscriber Deployment in this stack") ||
			strings.Contains(doc, "kubectl") {
			t.Errorf("without a cluster the runbook still names kubectl or lacks the push note:\n%s", doc)
		}
	}
}

// TestRunbookErrorIsReturned: a template that cannot be rendered for its
// data is an error Alerts returns, not a panic and not an empty runbook.
func TestRunbookErrorIsReturned(t *testing.T) {
	r := &renderer{}
	if doc := r.runbook(KindWorker5xx, struct{}{}); doc != "" || r.err == nil || !strings.Contains(r.err.Error(), "runbook "+KindWorker5xx) {
		t.Errorf("rendering with the wrong data: %q, %v", doc, r.err)
	}
}
