package asyncjobs

import rego.v1

# Cloud Monitoring. Alert policies are optional; these rules apply to the
# ones a stack declares.

# METADATA
# title: Alerts notify someone
# description: An alert policy names at least one notification channel.
# custom:
#   id: monitoring-alert-notification-channels
#   severity: warning
warn_monitoring_alert_notification_channels contains msg if {
	some r in resources
	r.__type == "gcp:monitoring/alertPolicy:AlertPolicy"
	count(object.get(r.__properties, "notificationChannels", [])) == 0
	msg := message(r, "notifies nobody when it fires", "set notificationChannels to gcp:monitoring/notificationChannel:NotificationChannel ids")
}

# METADATA
# title: Alerts notify someone in production
# description: In production an alert policy that notifies nobody is an error, as the stack's own validation says.
# custom:
#   id: monitoring-alert-notification-channels-in-production
#   severity: error
deny_monitoring_alert_notification_channels_in_production contains msg if {
	production
	some r in resources
	r.__type == "gcp:monitoring/alertPolicy:AlertPolicy"
	count(object.get(r.__properties, "notificationChannels", [])) == 0
	msg := message(r, "notifies nobody when it fires, in production", "set asyncjobs:alerting.notificationChannels or emails")
}
