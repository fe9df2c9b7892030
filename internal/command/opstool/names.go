package opstool

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
)

var (
	// queuePathRE is the shape of a queue name; gcpname.IsQueueID checks
	// its last segment.
	queuePathRE = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/queues/([^/]+)$`)
	// taskIDRE follows google/cloud/tasks/v2/task.proto: TASK_ID is
	// letters, digits, hyphens and underscores, at most 500 characters.
	taskIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,500}$`)
	// serviceAccountRE accepts user-managed and Google-managed service
	// account emails.
	serviceAccountRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$`)
)

// MaxTaskIDLength is the longest task ID Cloud Tasks accepts.
const MaxTaskIDLength = 500

// CheckQueuePath checks a full Cloud Tasks queue name.
func CheckQueuePath(p string) error {
	if m := queuePathRE.FindStringSubmatch(p); len(m) < 4 || !gcpname.IsQueueID(m[3]) {
		return fmt.Errorf("%q is not a queue name: want projects/PROJECT/locations/LOCATION/queues/QUEUE "+
			"with QUEUE made of letters, digits and hyphens (at most %d)", p, gcpname.MaxQueue)
	}
	return nil
}

// CheckTaskID checks a task ID (the last segment of a task name).
func CheckTaskID(id string) error {
	if strings.Contains(id, "/") {
		return fmt.Errorf("%q: give the task ID only, not a full task name", id)
	}
	if !taskIDRE.MatchString(id) {
		return fmt.Errorf("%q is not a task ID: want 1 to %d letters, digits, hyphens or underscores", id, MaxTaskIDLength)
	}
	return nil
}

// CheckTopicPath checks a full Pub/Sub topic name.
func CheckTopicPath(p string) error {
	return checkPubSubPath(p, "topics", "TOPIC")
}

// CheckSubscriptionPath checks a full Pub/Sub subscription name.
func CheckSubscriptionPath(p string) error {
	return checkPubSubPath(p, "subscriptions", "SUBSCRIPTION")
}

func checkPubSubPath(p, collection, placeholder string) error {
	parts := strings.Split(p, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != collection {
		return fmt.Errorf("%q is not a %s name: want projects/PROJECT/%s/%s", p, strings.TrimSuffix(collection, "s"), collection, placeholder)
	}
	id := parts[3]
	if !gcpname.IsPubSubID(id) {
		return fmt.Errorf("%q: %s ID %q must start with a letter, use only letters, digits and -_.~+%%, be %d to %d characters and not start with goog",
			p, strings.TrimSuffix(collection, "s"), id, gcpname.MinPubSub, gcpname.MaxPubSub)
	}
	return nil
}

// ProjectOf returns the project segment of a projects/PROJECT/... name.
func ProjectOf(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 || parts[0] != "projects" {
		return ""
	}
	return parts[1]
}

// LastSegment returns the part of a resource name after its last slash.
func LastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}

// CheckServiceAccount checks that email looks like a service account.
func CheckServiceAccount(email string) error {
	if !serviceAccountRE.MatchString(email) {
		return fmt.Errorf("%q is not a service account email (want NAME@PROJECT.iam.gserviceaccount.com)", email)
	}
	return nil
}
