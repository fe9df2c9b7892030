package asyncjobs

import rego.v1

# Cloud Tasks queues.

cloudtasks_queue := "gcp:cloudtasks/queue:Queue"

retry_fields := ["maxAttempts", "minBackoff", "maxBackoff", "maxDoublings"]

positive(v) if unknown(v)

positive(v) if {
	is_number(v)
	v > 0
}

# METADATA
# title: Cloud Tasks retry configuration
# description: >-
#   Every queue sets maxAttempts, minBackoff, maxBackoff and maxDoublings, so
#   retries follow the stack, not the service defaults (Pulumi best practice
#   cloud-tasks-retry-configuration).
# custom:
#   id: cloudtasks-retry-config
#   severity: error
deny_cloudtasks_retry_config contains msg if {
	some r in resources
	r.__type == cloudtasks_queue
	missing := [f | some f in retry_fields; not filled(object.get(r.__properties, ["retryConfig", f], null))]
	count(missing) > 0
	msg := message(
		r,
		sprintf("retryConfig does not set %s, so the service defaults decide how often and how fast tasks are retried", [concat(", ", missing)]),
		"set retryConfig.maxAttempts, minBackoff, maxBackoff and maxDoublings (asyncjobs:queues[].retry)",
	)
}

# METADATA
# title: Cloud Tasks logging in production
# description: In production every queue logs task operations (stackdriverLoggingConfig.samplingRatio above 0).
# custom:
#   id: cloudtasks-logging-in-production
#   severity: error
deny_cloudtasks_logging_in_production contains msg if {
	production
	some r in resources
	r.__type == cloudtasks_queue
	ratio := object.get(r.__properties, ["stackdriverLoggingConfig", "samplingRatio"], 0)
	not positive(ratio)
	msg := message(
		r,
		sprintf("logs no task operations in production (samplingRatio %v)", [ratio]),
		"set stackdriverLoggingConfig.samplingRatio above 0 (asyncjobs:queues[].loggingSamplingRatio)",
	)
}
