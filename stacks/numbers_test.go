package stacks_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
	"github.com/asyncjobs/asyncjobs/stacks"
)

var (
	int32Type = reflect.TypeOf(int32(0))
	int64Type = reflect.TypeOf(int64(0))
	floatType = reflect.TypeOf(float64(0))
)

// apiTypes is, for every whole-number key of the configuration ([] for
// any list index), the type of the API field it ends up in: the official
// client's own field where the module graph has it, else the type the API
// reference documents.
var apiTypes = map[string]reflect.Type{
	"worker.port":                                             int32Type, // Cloud Run v2 REST: containerPort, integer (int32 format)
	"worker.concurrency":                                      int32Type, // maxInstanceRequestConcurrency, int32 format
	"worker.minInstances":                                     int32Type, // scaling.minInstanceCount, int32 format
	"worker.maxInstances":                                     int32Type, // scaling.maxInstanceCount, int32 format
	"queues[].rateLimits.maxConcurrentDispatches":             reflect.TypeOf(cloudtaskspb.RateLimits{}.MaxConcurrentDispatches),
	"queues[].retry.maxAttempts":                              reflect.TypeOf(cloudtaskspb.RetryConfig{}.MaxAttempts),
	"queues[].retry.maxDoublings":                             reflect.TypeOf(cloudtaskspb.RetryConfig{}.MaxDoublings),
	"topics[].subscriptions[].deadLetter.maxDeliveryAttempts": reflect.TypeOf(pubsubpb.DeadLetterPolicy{}.MaxDeliveryAttempts),
	"subscribers[].minReplicas":                               reflect.TypeOf(autoscalingv2.HorizontalPodAutoscalerSpec{}.MinReplicas).Elem(),
	"subscribers[].maxReplicas":                               reflect.TypeOf(autoscalingv2.HorizontalPodAutoscalerSpec{}.MaxReplicas),
	"subscribers[].targetCpuUtilization":                      reflect.TypeOf(autoscalingv2.MetricTarget{}.AverageUtilization).Elem(),
	// corev1.SecurityContext.RunAsUser is an *int64, but Kubernetes'
	// validation refuses ids above 2147483647.
	"subscribers[].container.runAsUser":     int32Type,
	"cronJobs[].container.runAsUser":        int32Type,
	"cronJobs[].startingDeadlineSeconds":    reflect.TypeOf(batchv1.CronJobSpec{}.StartingDeadlineSeconds).Elem(),
	"cronJobs[].activeDeadlineSeconds":      reflect.TypeOf(batchv1.JobSpec{}.ActiveDeadlineSeconds).Elem(),
	"cronJobs[].backoffLimit":               reflect.TypeOf(batchv1.JobSpec{}.BackoffLimit).Elem(),
	"cronJobs[].parallelism":                reflect.TypeOf(batchv1.JobSpec{}.Parallelism).Elem(),
	"cronJobs[].completions":                reflect.TypeOf(batchv1.JobSpec{}.Completions).Elem(),
	"cronJobs[].successfulJobsHistoryLimit": reflect.TypeOf(batchv1.CronJobSpec{}.SuccessfulJobsHistoryLimit).Elem(),
	"cronJobs[].failedJobsHistoryLimit":     reflect.TypeOf(batchv1.CronJobSpec{}.FailedJobsHistoryLimit).Elem(),
	// Cloud Monitoring's thresholdValue is a double.
	"alerting.thresholds.undeliveredMessages": floatType,
	"alerting.thresholds.queueDepth":          floatType,
}

// wholeNumber is a whole-number key: its path, the struct that holds it
// and its field there.
type wholeNumber struct {
	path   string
	parent reflect.Type
	field  reflect.StructField
	name   string
}

// wholeNumbers walks the configuration's types.
func wholeNumbers(prefix string, t reflect.Type, out *[]wholeNumber) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for _, f := range strictconfig.Fields(t) {
		path := f.Name
		if prefix != "" {
			path = prefix + "." + f.Name
		}
		ft := f.Field.Type
		switch ft.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			*out = append(*out, wholeNumber{path: path, parent: t, field: f.Field, name: f.Name})
		default:
			wholeNumbers(path, ft, out)
		}
	}
}

// accepted reports whether the configuration check takes n for the key.
func accepted(w wholeNumber, n float64) bool {
	return len(strictconfig.Check(field.NewPath("x"), map[string]any{w.name: n}, w.parent)) == 0
}

// TestNumbersFitTheAPI: for every whole-number key, the largest value the
// configuration check accepts fits the API field's own type (an int32
// field never sees 2^31), the next one is refused, and so is everything
// beyond, as random values around and far from the bounds show.
func TestNumbersFitTheAPI(t *testing.T) {
	var keys []wholeNumber
	wholeNumbers("", reflect.TypeOf(stacks.Config{}), &keys)
	if len(keys) < 20 {
		t.Fatalf("found only %d whole-number keys: %v", len(keys), keys)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, w := range keys {
		t.Run(w.path, func(t *testing.T) {
			api, ok := apiTypes[w.path]
			if !ok {
				t.Fatalf("no API type recorded for %s: add the API field it ends up in to apiTypes", w.path)
			}
			lo, hi, _ := strictconfig.IntRange(w.field.Type.Kind(), w.field.Tag.Get("api"))
			var apiLo, apiHi float64
			switch api.Kind() {
			case reflect.Int32:
				apiLo, apiHi = math.MinInt32, math.MaxInt32
			case reflect.Int64:
				apiLo, apiHi = math.MinInt64, math.MaxInt64
			case reflect.Float64:
				apiLo, apiHi = -math.MaxFloat64, math.MaxFloat64
			default:
				t.Fatalf("API type %v", api)
			}
			if float64(hi) > apiHi || float64(lo) < apiLo {
				t.Errorf("accepts %d to %d, the API's %v holds %g to %g", lo, hi, api, apiLo, apiHi)
			}
			// Configuration numbers arrive as float64: above 2^53 the
			// largest one below the bound stands for it.
			top := float64(hi)
			if hi > 1<<53 {
				top = math.Nextafter(float64(hi)+1, math.Inf(-1))
			}
			if !accepted(w, top) || !accepted(w, float64(lo)) {
				t.Errorf("refuses its own bounds %d or %.0f", lo, top)
			}
			if hi < math.MaxInt64 && accepted(w, float64(hi)+1) {
				t.Errorf("accepts %d, beyond %d", hi+1, hi)
			}
			for range 200 {
				var n float64
				switch rng.IntN(3) {
				case 0: // near the upper bound
					n = float64(hi) + float64(rng.IntN(2001)-1000)
				case 1: // anywhere an int64 reaches
					n = math.Trunc((rng.Float64()*2 - 1) * math.MaxInt64)
				default: // far beyond
					n = math.Trunc(rng.Float64() * 1e30)
				}
				// float64(hi)+1 is exact for int32 and 2^63 for int64, the first value out of range either way.
				if want := n >= float64(lo) && n < float64(hi)+1; accepted(w, n) != want {
					t.Errorf("%.0f: accepted %v, want %v", n, !want, want)
				}
			}
		})
	}
	for path := range apiTypes {
		if !strings.Contains(path, ".") && !strings.Contains(path, "[") {
			continue
		}
		found := false
		for _, w := range keys {
			found = found || w.path == path
		}
		if !found {
			t.Errorf("apiTypes names %s, which the configuration does not have", path)
		}
	}
}
