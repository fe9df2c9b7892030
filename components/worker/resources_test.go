package worker

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Boundaries from Cloud Run's pages:
// https://cloud.google.com/run/docs/configuring/services/memory-limits
// https://cloud.google.com/run/docs/configuring/services/cpu
func TestValidateResources(t *testing.T) {
	const gi = 1024
	tests := []struct {
		cpuMilli, memoryMiB int64
		cpu, memory         string
		// field is "" for a valid combination, else "cpu" or "memory".
		field, detail string
	}{
		// Below 0.5 vCPU: up to 512 MiB.
		{80, 128, "80m", "128Mi", "", ""},
		{80, 512, "80m", "512Mi", "", ""},
		{80, 513, "80m", "513Mi", "memory", `more than 512Mi of memory needs at least 0.5 vCPU (cpu is "80m"); see ` + cpuLimitsURL},
		{499, 513, "499m", "513Mi", "memory", "needs at least 0.5 vCPU"},
		// 0.5 to below 1 vCPU: up to 1 GiB.
		{500, 513, "500m", "513Mi", "", ""},
		{500, 1 * gi, "0.5", "1Gi", "", ""},
		{500, 1*gi + 1, "0.5", "1025Mi", "memory", `more than 1Gi of memory needs at least 1 vCPU (cpu is "0.5"); see ` + cpuLimitsURL},
		{999, 1*gi + 1, "999m", "1025Mi", "memory", "needs at least 1 vCPU"},
		// 1 vCPU: up to 4 GiB.
		{1000, 1*gi + 1, "1", "1025Mi", "", ""},
		{1000, 128, "1000m", "128Mi", "", ""},
		{1000, 4 * gi, "1", "4Gi", "", ""},
		{1000, 4*gi + 1, "1", "4097Mi", "memory", `more than 4Gi of memory needs at least 2 vCPU (cpu is "1"); see ` + memoryLimitsURL},
		// 2 vCPU: up to 8 GiB.
		{2000, 128, "2", "128Mi", "", ""},
		{2000, 8 * gi, "2", "8Gi", "", ""},
		{2000, 8*gi + 1, "2", "8193Mi", "memory", "more than 8Gi of memory needs at least 4 vCPU"},
		// 4 vCPU: 2 to 16 GiB.
		{4000, 2 * gi, "4", "2Gi", "", ""},
		{4000, 16 * gi, "4", "16Gi", "", ""},
		{4000, 16*gi + 1, "4", "16385Mi", "memory", "more than 16Gi of memory needs at least 6 vCPU"},
		{4000, 2*gi - 1, "4", "2047Mi", "cpu", `4 vCPU needs at least 2Gi of memory (memory is "2047Mi"); see ` + cpuLimitsURL},
		{4000, 1 * gi, "4000m", "1Gi", "cpu", "4 vCPU needs at least 2Gi of memory"},
		// 6 vCPU: 4 to 24 GiB.
		{6000, 4 * gi, "6", "4Gi", "", ""},
		{6000, 24 * gi, "6", "24Gi", "", ""},
		{6000, 24*gi + 1, "6", "24577Mi", "memory", "more than 24Gi of memory needs at least 8 vCPU"},
		{6000, 4*gi - 1, "6", "4095Mi", "cpu", "6 vCPU needs at least 4Gi of memory"},
		// 8 vCPU: 4 to 32 GiB.
		{8000, 4 * gi, "8", "4Gi", "", ""},
		{8000, 32 * gi, "8", "32Gi", "", ""},
		{8000, 3 * gi, "8", "3Gi", "cpu", `8 vCPU needs at least 4Gi of memory (memory is "3Gi")`},
	}
	path := field.NewPath("spec", "worker")
	for _, tc := range tests {
		t.Run(tc.cpu+"/"+tc.memory, func(t *testing.T) {
			errs := ValidateResources(path, tc.cpuMilli, tc.memoryMiB, tc.cpu, tc.memory)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("ValidateResources(%s, %s) = %v, want no error", tc.cpu, tc.memory, errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("ValidateResources(%s, %s) = %v, want one error", tc.cpu, tc.memory, errs)
			}
			e := errs[0]
			bad := map[string]string{"cpu": tc.cpu, "memory": tc.memory}[tc.field]
			if e.Type != field.ErrorTypeInvalid || e.Field != path.Child(tc.field).String() || e.BadValue != bad {
				t.Errorf("error = %#v, want Invalid at %s with value %q", e, path.Child(tc.field), bad)
			}
			if !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", e.Detail, tc.detail)
			}
		})
	}
}
