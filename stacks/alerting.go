package stacks

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/program/duration"
)

// What makes a stack production. policy/lib.rego holds the same definition
// for the policy rules (production_stack_names, production_label_values);
// a test keeps the two equal.
var (
	// ProductionStackNames are stack names that are production.
	ProductionStackNames = []string{"prod", "production"}
	// ProductionStackPrefix starts the names of further production stacks.
	ProductionStackPrefix = "prod-"
	// ProductionLabel and ProductionLabelValues: a stack labelled
	// environment=prod (or production) is production whatever its name.
	ProductionLabel       = "environment"
	ProductionLabelValues = []string{"prod", "production"}
)

// ProductionReasons says why a stack is production; it is empty when the
// stack is not.
func (c Config) ProductionReasons() []string {
	var reasons []string
	for _, n := range ProductionStackNames {
		if c.Stack == n {
			reasons = append(reasons, fmt.Sprintf("stack %q is a production stack", c.Stack))
		}
	}
	if strings.HasPrefix(c.Stack, ProductionStackPrefix) {
		reasons = append(reasons, fmt.Sprintf("stack %q is a production stack", c.Stack))
	}
	v := c.Labels[ProductionLabel]
	for _, p := range ProductionLabelValues {
		if v == p {
			reasons = append(reasons, fmt.Sprintf("labels %s=%s", ProductionLabel, v))
		}
	}
	return reasons
}

// IsProduction reports whether the stack is production.
func (c Config) IsProduction() bool { return len(c.ProductionReasons()) > 0 }

// Warning is something valid that deserves attention: it does not stop the
// stack. cmd/plan prints them; the program logs them.
type Warning struct {
	// Path is the configuration key path, e.g. asyncjobs:alerting.notificationChannels.
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (w Warning) String() string { return w.Path + ": " + w.Message }

// validateAlerting adds the rules alerting spans: a production stack's
// alerts must notify someone.
func (c Config) validateAlerting() field.ErrorList {
	errs := c.Alerting.Validate(key("alerting"))
	read := !c.Alerting.Unread.Any("enabled", "notificationChannels", "emails")
	if read && c.Alerting.Enabled && !c.Alerting.HasChannels() && c.IsProduction() {
		errs = append(errs, field.Required(key("alerting").Child("notificationChannels"),
			fmt.Sprintf("alerts in a production stack (%s) must notify someone: set notificationChannels or emails", strings.Join(c.ProductionReasons(), "; "))))
	}
	return errs
}

// alertingWarnings lists what about alerting is valid but deserves
// attention, in a stable order.
func (c Config) alertingWarnings() []Warning {
	var ws []Warning
	add := func(p *field.Path, format string, args ...any) {
		ws = append(ws, Warning{Path: p.String(), Message: fmt.Sprintf(format, args...)})
	}
	a := c.Alerting
	if !a.Enabled {
		if c.IsProduction() {
			add(key("alerting").Child("enabled"), "no alert policies are declared for a production stack (%s)", strings.Join(c.ProductionReasons(), "; "))
		}
		return ws
	}
	if !a.HasChannels() {
		add(key("alerting").Child("notificationChannels"),
			"the alert policies notify nobody: set notificationChannels or emails (an error in a production stack)")
	}
	for i, j := range c.CronJobs {
		o, err := c.cronJob(j.Name).Overdue()
		p := key("cronJobs").Index(i).Child("schedule")
		switch {
		case err != nil:
			add(p, "no overdue alert for CronJob %s: %v", j.Name, err)
		case !o.OK:
			add(p, "no overdue alert for CronJob %s: its runs are up to %s apart, so a run is overdue after %s without a completion, "+
				"longer than the %s Cloud Monitoring allows an absence condition; its failed and missed runs are still alerted",
				j.Name, duration.Human(o.Gap), duration.Human(o.Window), duration.Human(monitoring.MaxAbsence))
		}
	}
	if len(c.CronJobs) > 0 && c.ClusterProject() != c.Project {
		add(key("gke").Child("project"),
			"the CronJob alerts read log-based metrics created in the cluster's project %s; "+
				"add it to the metrics scope of %s, where the alert policies and the dashboard live",
			c.ClusterProject(), c.Project)
	}
	return ws
}

// ClusterProject is the Google project of the GKE cluster (gke.project,
// else the stack's, as resolved): where GKE writes the CronJobs' events,
// the stack's log-based metrics live, and the bootstrap creates the
// completions metric the overdue alerts read.
func (c Config) ClusterProject() string { return c.GKE.Names.Project }

func (c Config) cronJob(name string) monitoring.CronJob {
	for _, j := range c.CronJobs {
		if j.Name == name {
			return monitoring.CronJob{Name: j.Name, Schedule: j.Schedule, TimeZone: j.TimeZone}
		}
	}
	return monitoring.CronJob{}
}

// monitoringArgs names every watched resource by its physical name.
func (c Config) monitoringArgs() monitoring.Args {
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	args := monitoring.Args{
		Project: c.Project,
		Labels:  labels,
		Spec:    c.Alerting,
		Worker:  monitoring.Service{Service: c.Worker.Names.Service, Region: c.Worker.Names.Region},
	}
	for _, t := range c.Topics {
		for _, s := range t.Subscriptions {
			sub := monitoring.Subscription{
				Ref:                 monitoring.SubscriptionRef{Topic: t.Name, Subscription: s.Name},
				Name:                s.Names.Subscription,
				DeadLetter:          s.Names.DeadLetter,
				MaxDeliveryAttempts: s.DeadLetter.MaxDeliveryAttempts,
				AckDeadline:         s.AckDeadline.Duration,
			}
			if s.Retry != nil {
				sub.MaxBackoff = s.Retry.MaximumBackoff.Duration
			}
			args.Subscriptions = append(args.Subscriptions, sub)
		}
	}
	for _, q := range c.Queues {
		args.Queues = append(args.Queues, monitoring.Queue{Name: q.Name, ID: q.Names.Queue, Location: q.Names.Location})
	}
	if c.HasWorkloads() {
		g := c.GKE.Names
		args.Cluster = monitoring.Cluster{Project: g.Project, Location: g.Location, Name: c.GKE.Name, Namespace: g.Namespace}
	}
	for _, j := range c.CronJobs {
		args.CronJobs = append(args.CronJobs, c.cronJob(j.Name))
	}
	return args
}
