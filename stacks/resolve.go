package stacks

import (
	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
)

// resolve fills, after decoding and before validation (the Kubernetes
// order: decode, default, validate the defaulted object), every value a
// stack file may leave to others and every value derived from several
// keys: locations and the cluster's project, the physical name of every
// resource named from the configuration, the workloads' namespace, the
// stack's metric names, the cluster's deletion protection. It is the one
// place each physical name is computed (gcpname.Physical is called nowhere
// else); the program, the monitoring arguments, the stack outputs and the
// plan's checks all read the values it sets. Components refuse a spec it
// has not resolved.
func (c *Config) resolve() {
	name := func(base string) string { return gcpname.Physical(base, c.NameSuffix) }

	w := &c.Worker
	w.Names.Region = c.Region
	w.Names.Service = name(w.Name)
	w.Names.RuntimeAccount = name(w.RuntimeAccountID())
	w.Names.PushAccount = ""
	if c.hasPush() {
		w.Names.PushAccount = name(w.PushAccountID())
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		q.Names.Location = q.Location
		if q.Names.Location == "" {
			q.Names.Location = c.Region
		}
		q.Names.Queue = name(q.Name)
		q.Names.InvokerAccount = name(q.InvokerID())
		q.Names.EnqueuerAccount = name(q.EnqueuerID())
	}
	for i := range c.Topics {
		t := &c.Topics[i]
		t.Names.Topic = name(t.Name)
		for j := range t.Subscriptions {
			s := &t.Subscriptions[j]
			s.Names.Subscription = name(s.Name)
			s.Names.DeadLetter = name(messaging.DeadLetterName(s.Name))
		}
	}
	g := &c.GKE
	g.Names.Project = g.Project
	if g.Names.Project == "" {
		g.Names.Project = c.Project
	}
	g.Names.Location = g.Location
	if g.Names.Location == "" {
		g.Names.Location = c.Region
	}
	g.Names.Namespace = name(g.Namespace)
	g.Names.DeletionProtection = g.Create && c.Protect
	for i := range c.Subscribers {
		s := &c.Subscribers[i]
		s.Names.Account = name(s.AccountID())
	}
	for i := range c.CronJobs {
		j := &c.CronJobs[i]
		j.Names.Account = ""
		if j.GoogleServiceAccount != nil {
			j.Names.Account = name(j.AccountID())
		}
	}
	c.Alerting.Names = monitoring.Names{
		Stack:               c.Stack,
		CronJobFailedMetric: name(monitoring.MetricCronJobFailed),
		CronJobMissedMetric: name(monitoring.MetricCronJobMissed),
	}
}
