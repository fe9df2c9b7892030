package worker

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Cloud Run's CPU and memory combinations, from Google's pages:
//
//   - "Configure memory limits for services", Required minimum CPUs
//     (https://cloud.google.com/run/docs/configuring/services/memory-limits):
//     more than 4 GiB needs at least 2 vCPU, more than 8 GiB 4, more than
//     16 GiB 6, more than 24 GiB 8; at most 32 GiB.
//   - "Configure CPU limits for services", vCPU and memory table
//     (https://cloud.google.com/run/docs/configuring/services/cpu):
//     .08 vCPU up to 512 MiB, .5 vCPU up to 1 GiB, 1 vCPU up to 4 GiB, 2 vCPU
//     up to 8 GiB, 4 vCPU 2 to 16 GiB, 6 vCPU 4 to 24 GiB, 8 vCPU 4 to
//     32 GiB; below 1 vCPU, "a minimum of 0.5 vCPU is needed to set a memory
//     limit greater than 512MiB" and "a minimum of 1 vCPU is needed to set a
//     memory limit greater than 1GiB".
//
// Some versions of the memory page also list per-size CPU minimums below
// 2 GiB (128 MiB .083 vCPU ... 1 GiB .583 vCPU), which contradict the CPU
// page's ".08 vCPU: up to 512 MiB"; those are not enforced here.
//
// Ranges (80m-1000m or 1, 2, 4, 6, 8 vCPU; 128Mi-32Gi) are checked by
// Spec.Validate; ValidateResources checks only the combination.

const (
	memoryLimitsURL = "https://cloud.google.com/run/docs/configuring/services/memory-limits"
	cpuLimitsURL    = "https://cloud.google.com/run/docs/configuring/services/cpu"
)

// memoryBands: memory above aboveMiB needs at least minCPUMilli, largest
// first.
var memoryBands = []struct {
	aboveMiB, minCPUMilli int64
	source                string
}{
	{24 * 1024, 8000, memoryLimitsURL},
	{16 * 1024, 6000, memoryLimitsURL},
	{8 * 1024, 4000, memoryLimitsURL},
	{4 * 1024, 2000, memoryLimitsURL},
	{1024, 1000, cpuLimitsURL},
	{512, 500, cpuLimitsURL},
}

// cpuFloors: a CPU limit of at least atLeastMilli needs at least
// minMemoryMiB, largest first.
var cpuFloors = []struct {
	atLeastMilli, minMemoryMiB int64
}{
	{6000, 4 * 1024},
	{4000, 2 * 1024},
}

// ValidateResources checks that Cloud Run accepts a CPU limit (millicores)
// with a memory limit (MiB). cpuText and memoryText are the values as
// written, reported as the bad value. Memory too large for the CPU is
// reported at path.memory, a CPU that needs more memory at path.cpu.
func ValidateResources(path *field.Path, cpuMilli, memoryMiB int64, cpuText, memoryText string) field.ErrorList {
	for _, band := range memoryBands {
		if memoryMiB > band.aboveMiB {
			if cpuMilli < band.minCPUMilli {
				return field.ErrorList{field.Invalid(path.Child("memory"), memoryText,
					fmt.Sprintf("more than %s of memory needs at least %s vCPU (cpu is %q); see %s",
						formatMiB(band.aboveMiB), formatCPU(band.minCPUMilli), cpuText, band.source))}
			}
			break
		}
	}
	for _, floor := range cpuFloors {
		if cpuMilli >= floor.atLeastMilli {
			if memoryMiB < floor.minMemoryMiB {
				return field.ErrorList{field.Invalid(path.Child("cpu"), cpuText,
					fmt.Sprintf("%s vCPU needs at least %s of memory (memory is %q); see %s",
						formatCPU(cpuMilli), formatMiB(floor.minMemoryMiB), memoryText, cpuLimitsURL))}
			}
			break
		}
	}
	return nil
}

// formatCPU writes millicores as vCPU: 500 as 0.5, 2000 as 2.
func formatCPU(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// formatMiB writes MiB as a quantity: 4096 as 4Gi, 512 as 512Mi.
func formatMiB(mib int64) string {
	if mib%1024 == 0 {
		return fmt.Sprintf("%dGi", mib/1024)
	}
	return fmt.Sprintf("%dMi", mib)
}
