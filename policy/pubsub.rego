package asyncjobs

import rego.v1

# Pub/Sub: every worker subscription dead-letters into a subscribed topic
# the service agent may publish to; nothing expires; values in the API's
# ranges (google/pubsub/v1/pubsub.proto).

pubsub_topic := "gcp:pubsub/topic:Topic"

pubsub_subscription := "gcp:pubsub/subscription:Subscription"

topics := [r | some r in resources; r.__type == pubsub_topic]

subscriptions := [r | some r in resources; r.__type == pubsub_subscription]

# role_label is the asyncjobs-role label the messaging component sets:
# worker, dead-letter (subscription) or dead-letter-topic.
role_label(r) := object.get(r.__properties, ["labels", "asyncjobs-role"], "")

# dead_letter_pairs: [subscription URN, dead-letter topic URN].
dead_letter_pairs contains [s.__urn, t.__urn] if {
	some s in subscriptions
	some t in topics
	links(s, "deadLetterPolicy", object.get(s.__properties, ["deadLetterPolicy", "deadLetterTopic"], null), t)
}

dead_letter_topic_urns contains pair[1] if {
	some pair in dead_letter_pairs
}

dead_letter_topic_urns contains t.__urn if {
	some t in topics
	role_label(t) == "dead-letter-topic"
}

subscribed(t) if {
	some s in subscriptions
	links(s, "topic", object.get(s.__properties, "topic", null), t)
}

reads_dead_letter_topic(s) if {
	some u in dead_letter_topic_urns
	links(s, "topic", object.get(s.__properties, "topic", null), by_urn[u])
}

# The Pub/Sub service agent, service-<project number>@gcp-sa-pubsub...
# The number comes from a lookup, so the member is known in a preview; an
# unknown member is some account created in the same run, not the agent.
pubsub_agent(member) if {
	known_string(member)
	regex.match(`^serviceAccount:service-[^@]+@gcp-sa-pubsub\.iam\.gserviceaccount\.com$`, member)
}

agent_granted(grant_type, key, role, target) if {
	some g in resources
	g.__type == grant_type
	g.__properties.role == role
	pubsub_agent(g.__properties.member)
	links(g, key, object.get(g.__properties, key, null), target)
}

agent_grant_gaps(s, t) := {gap |
	not agent_granted("gcp:pubsub/topicIAMMember:TopicIAMMember", "topic", "roles/pubsub.publisher", t)
	gap := sprintf("the Pub/Sub service agent has no roles/pubsub.publisher on its dead-letter topic %s, so dead-lettering fails and poison messages are redelivered forever", [t.__name])
} | {gap |
	not agent_granted("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "subscription", "roles/pubsub.subscriber", s)
	gap := "the Pub/Sub service agent has no roles/pubsub.subscriber on this subscription, so it cannot remove dead-lettered messages from it"
}

expiry_problem(ttl) := "has no expirationPolicy, so Pub/Sub deletes it, backlog included, after 31 days without activity" if ttl == null

expiry_problem(ttl) := sprintf("expires after %v without activity, backlog included", [ttl]) if ttl != null

backoff_problems(r) := {p |
	some field in ["minimumBackoff", "maximumBackoff"]
	d := r.__properties.retryPolicy[field]
	known_string(d)
	not between(duration_seconds(d), 0, 600)
	p := sprintf("retryPolicy.%s is %s, outside 0s-600s", [field, d])
} | {p |
	low := duration_seconds(r.__properties.retryPolicy.minimumBackoff)
	high := duration_seconds(r.__properties.retryPolicy.maximumBackoff)
	low > high
	p := sprintf("retryPolicy.minimumBackoff (%vs) is above maximumBackoff (%vs)", [low, high])
}

# METADATA
# title: Worker subscriptions dead-letter
# description: >-
#   Every subscription except the dead-letter subscriptions themselves has a
#   dead-letter policy (Pulumi best practice pubsub-dead-letter-queue).
# custom:
#   id: pubsub-dead-letter
#   severity: error
deny_pubsub_dead_letter contains msg if {
	some r in resources
	r.__type == pubsub_subscription
	role_label(r) != "dead-letter"
	not filled(object.get(r.__properties, ["deadLetterPolicy", "deadLetterTopic"], null))
	msg := message(
		r,
		"has no dead-letter policy: a message that always fails is redelivered until its retention runs out",
		"set deadLetterPolicy.deadLetterTopic (asyncjobs:topics[].subscriptions[].deadLetter)",
	)
}

# METADATA
# title: Dead-letter subscriptions read dead-letter topics
# description: >-
#   A subscription labelled asyncjobs-role=dead-letter is exempt from the
#   dead-letter rule, so it must read a dead-letter topic.
# custom:
#   id: pubsub-dead-letter-role
#   severity: error
stack_deny_pubsub_dead_letter_role contains msg if {
	some s in subscriptions
	role_label(s) == "dead-letter"
	not reads_dead_letter_topic(s)
	msg := message(
		s,
		"is labelled asyncjobs-role=dead-letter but does not read a dead-letter topic",
		"label worker subscriptions asyncjobs-role=worker and give them a dead-letter policy",
	)
}

# METADATA
# title: Dead-letter topics have a subscription
# description: >-
#   Pub/Sub drops messages published to a topic without subscriptions, so
#   every dead-letter topic has one, to inspect and replay dead letters.
# custom:
#   id: pubsub-dead-letter-topic-subscribed
#   severity: error
stack_deny_pubsub_dead_letter_topic_subscribed contains msg if {
	some u in dead_letter_topic_urns
	t := by_urn[u]
	not subscribed(t)
	msg := message(
		t,
		"is a dead-letter topic without a subscription: Pub/Sub drops messages published to it",
		"add a never-expiring pull subscription with long retention on it",
	)
}

# METADATA
# title: Service agent grants for dead-lettering
# description: >-
#   For each subscription and its dead-letter topic, the Pub/Sub service agent
#   has roles/pubsub.publisher on the topic and roles/pubsub.subscriber on the
#   subscription, each granted on that one resource.
# custom:
#   id: pubsub-dead-letter-agent-grants
#   severity: error
stack_deny_pubsub_dead_letter_agent_grants contains msg if {
	some pair in dead_letter_pairs
	s := by_urn[pair[0]]
	t := by_urn[pair[1]]
	some gap in agent_grant_gaps(s, t)
	msg := message(
		s,
		gap,
		"grant serviceAccount:service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com roles/pubsub.publisher with a TopicIAMMember on the dead-letter topic and roles/pubsub.subscriber with a SubscriptionIAMMember on the subscription",
	)
}

# METADATA
# title: Subscriptions never expire
# description: >-
#   expirationPolicy.ttl is "" (never): the API default deletes a
#   subscription, with its backlog, after 31 days of inactivity.
# custom:
#   id: pubsub-no-expiration
#   severity: error
deny_pubsub_no_expiration contains msg if {
	some r in resources
	r.__type == pubsub_subscription
	ttl := object.get(r.__properties, ["expirationPolicy", "ttl"], null)
	not unknown(ttl)
	ttl != ""
	msg := message(r, expiry_problem(ttl), "set expirationPolicy.ttl to \"\" (never expire)")
}

# METADATA
# title: Acknowledgement deadline 10-600 s
# description: ackDeadlineSeconds is between 10 and 600 (pubsub.proto).
# custom:
#   id: pubsub-ack-deadline-range
#   severity: error
deny_pubsub_ack_deadline_range contains msg if {
	some r in resources
	r.__type == pubsub_subscription
	v := r.__properties.ackDeadlineSeconds
	is_number(v)
	not between(v, 10, 600)
	msg := message(
		r,
		sprintf("ackDeadlineSeconds is %v, outside 10-600", [v]),
		"set the acknowledgement deadline between 10s and 600s (asyncjobs:topics[].subscriptions[].ackDeadline)",
	)
}

# METADATA
# title: Message retention 10 minutes to 31 days
# description: messageRetentionDuration of topics and subscriptions is between 600s and 2678400s (pubsub.proto).
# custom:
#   id: pubsub-retention-range
#   severity: error
deny_pubsub_retention_range contains msg if {
	some r in resources
	r.__type in {pubsub_topic, pubsub_subscription}
	d := r.__properties.messageRetentionDuration
	known_string(d)
	not between(duration_seconds(d), 600, 2678400)
	msg := message(
		r,
		sprintf("messageRetentionDuration is %s, outside 600s-2678400s (10 minutes to 31 days)", [d]),
		"set a retention between 10m and 31d (asyncjobs:topics[].messageRetention, subscriptions[].messageRetention, deadLetter.messageRetention)",
	)
}

# METADATA
# title: Retry backoff 0-600 s
# description: retryPolicy.minimumBackoff and maximumBackoff are between 0s and 600s, minimum not above maximum (pubsub.proto).
# custom:
#   id: pubsub-retry-backoff-range
#   severity: error
deny_pubsub_retry_backoff_range contains msg if {
	some r in resources
	r.__type == pubsub_subscription
	some problem in backoff_problems(r)
	msg := message(
		r,
		problem,
		"keep retryPolicy.minimumBackoff <= maximumBackoff, both between 0s and 600s (asyncjobs:topics[].subscriptions[].retry)",
	)
}

# METADATA
# title: Delivery attempts 5-100
# description: deadLetterPolicy.maxDeliveryAttempts is between 5 and 100 (0 means the default, 5).
# custom:
#   id: pubsub-max-delivery-attempts-range
#   severity: error
deny_pubsub_max_delivery_attempts_range contains msg if {
	some r in resources
	r.__type == pubsub_subscription
	v := r.__properties.deadLetterPolicy.maxDeliveryAttempts
	is_number(v)
	v != 0
	not between(v, 5, 100)
	msg := message(
		r,
		sprintf("deadLetterPolicy.maxDeliveryAttempts is %v, outside 5-100", [v]),
		"set deadLetter.maxDeliveryAttempts between 5 and 100",
	)
}

# METADATA
# title: Topic retention in production
# description: >-
#   In production worker topics keep their own messages, so a subscription
#   re-created after a replacement can seek back.
# custom:
#   id: pubsub-topic-retention-in-production
#   severity: warning
stack_warn_pubsub_topic_retention_in_production contains msg if {
	production
	some t in topics
	not t.__urn in dead_letter_topic_urns
	not filled(object.get(t.__properties, "messageRetentionDuration", null))
	msg := message(
		t,
		"keeps no messages of its own in production, so a re-created subscription cannot seek back",
		"set asyncjobs:topics[].messageRetention (for example 7d)",
	)
}
