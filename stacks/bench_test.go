package stacks_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// scaled returns the dev configuration with n times its queues, topics and
// subscriptions, each copy renamed.
func scaled(tb testing.TB, cfg map[string]string, n int) map[string]string {
	tb.Helper()
	out := copyConfig(cfg)
	for _, key := range []string{"asyncjobs:queues", "asyncjobs:topics"} {
		var items []map[string]any
		if err := json.Unmarshal([]byte(cfg[key]), &items); err != nil {
			tb.Fatal(err)
		}
		var copies []map[string]any
		for i := 0; i < n; i++ {
			for _, item := range items {
				b, _ := json.Marshal(item)
				var c map[string]any
				_ = json.Unmarshal(b, &c)
				c["name"] = fmt.Sprintf("%s-%d", c["name"], i)
				if key == "asyncjobs:queues" {
					c["invokerAccountId"] = fmt.Sprintf("inv-%d", i+100000)
					c["enqueuerAccountId"] = fmt.Sprintf("enq-%d", i+100000)
				}
				if subs, ok := c["subscriptions"].([]any); ok {
					for _, s := range subs {
						sm := s.(map[string]any)
						sm["name"] = fmt.Sprintf("%s-%d", sm["name"], i)
					}
				}
				copies = append(copies, c)
			}
		}
		b, _ := json.Marshal(copies)
		out[key] = string(b)
	}
	// Subscribers pull the first copy of their subscription.
	var subs []map[string]any
	if raw, ok := cfg["asyncjobs:subscribers"]; ok {
		if err := json.Unmarshal([]byte(raw), &subs); err != nil {
			tb.Fatal(err)
		}
		for _, s := range subs {
			topic, sub, _ := strings.Cut(s["subscription"].(string), "/")
			s["subscription"] = fmt.Sprintf("%s-0/%s-0", topic, sub)
		}
		b, _ := json.Marshal(subs)
		out["asyncjobs:subscribers"] = string(b)
	}
	return out
}

// BenchmarkPlan records the dev stack and synthetic stacks with 10x and
// 100x its queues, topics and subscriptions, in preview mode as make plan does.
func BenchmarkPlan(b *testing.B) {
	st := loadStack(b, "dev")
	for _, n := range []int{1, 10, 100} {
		cfg := scaled(b, st.Config, n)
		b.Run(fmt.Sprintf("x%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var resources int
			for i := 0; i < b.N; i++ {
				plan, err := record(b, st, cfg, true)
				if err != nil {
					b.Fatal(err)
				}
				resources = len(plan.Resources)
			}
			b.ReportMetric(float64(resources), "resources")
		})
	}
}

func TestScaledConfigsAreValid(t *testing.T) {
	st := loadStack(t, "dev")
	plan, err := record(t, st, scaled(t, st.Config, 3), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(plan.ByType("gcp:cloudtasks/queue:Queue")); got != 3 {
		t.Errorf("3x stack has %d queues", got)
	}
	checkInvariants(t, plan)
}
