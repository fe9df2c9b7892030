package stacks

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/components/messaging"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpiam"
	"github.com/asyncjobs/asyncjobs/internal/program/gcpname"
)

func key(name string) *field.Path { return field.NewPath(Namespace + ":" + name) }

// Validate checks the whole configuration and returns every problem at once.
// Each component's own rules live with the component; this adds the rules
// that span components (unique names, required keys).
func (c Config) Validate() field.ErrorList {
	var errs field.ErrorList
	if c.Project != "" {
		errs = append(errs, gcpname.ValidateProject(field.NewPath(ProjectKey), c.Project)...)
	}
	if c.Region == "" {
		errs = append(errs, field.Required(key("region"), "a region such as asia-northeast1"))
	} else {
		errs = append(errs, gcpname.ValidateRegion(key("region"), c.Region)...)
	}
	errs = append(errs, gcpname.ValidateSuffix(key("nameSuffix"), c.NameSuffix)...)
	errs = append(errs, gcpname.ValidateLabels(key("labels"), c.Labels)...)
	if _, ok := c.Labels[messaging.RoleLabel]; ok {
		errs = append(errs, field.Forbidden(key("labels").Key(messaging.RoleLabel), "this label is set by asyncjobs"))
	}
	errs = append(errs, gcpiam.ValidateMembers(key("deployers"), c.Deployers)...)
	errs = append(errs, c.Worker.Validate(key("worker"))...)

	accounts := newUnique("service account id")
	accounts.add(key("worker").Child("serviceAccountId"), c.Worker.RuntimeAccountID())
	if c.Worker.Names.PushAccount != "" {
		accounts.add(key("worker").Child("pushServiceAccountId"), c.Worker.PushAccountID())
	}

	queues := newUnique("queue name")
	for i, q := range c.Queues {
		p := key("queues").Index(i)
		errs = append(errs, q.Validate(p)...)
		queues.add(p.Child("name"), q.Name)
		accounts.add(p.Child("invokerAccountId"), q.InvokerID())
		accounts.add(p.Child("enqueuerAccountId"), q.EnqueuerID())
	}

	topics := newUnique("topic name")
	subs := newUnique("subscription name")
	for i, t := range c.Topics {
		p := key("topics").Index(i)
		errs = append(errs, t.Validate(p)...)
		topics.add(p.Child("name"), t.Name)
		for j, s := range t.Subscriptions {
			sp := p.Child("subscriptions").Index(j).Child("name")
			subs.add(sp, s.Name)
			// The dead-letter topic and subscription share this derived name.
			topics.add(sp, messaging.DeadLetterName(s.Name))
			subs.add(sp, messaging.DeadLetterName(s.Name))
		}
	}
	errs = append(errs, c.validateWorkloads(accounts)...)
	errs = append(errs, c.validateAlerting()...)
	errs = append(errs, accounts.errs...)
	errs = append(errs, queues.errs...)
	errs = append(errs, topics.errs...)
	errs = append(errs, subs.errs...)
	return errs
}

func (c Config) hasPush() bool {
	for _, t := range c.Topics {
		for _, s := range t.Subscriptions {
			if s.Push != nil {
				return true
			}
		}
	}
	return false
}

// unique collects names that must not repeat within one kind of resource.
type unique struct {
	what string
	seen map[string]*field.Path
	errs field.ErrorList
}

func newUnique(what string) *unique { return &unique{what: what, seen: map[string]*field.Path{}} }

func (u *unique) add(path *field.Path, name string) {
	if name == "" {
		return
	}
	if first, ok := u.seen[name]; ok {
		u.errs = append(u.errs, field.Duplicate(path, fmt.Sprintf("%s %q is already used by %s", u.what, name, first)))
		return
	}
	u.seen[name] = path
}

// Namespace is the physical name of the workloads' namespace, as resolved
// (gke.Names.Namespace).
func (c Config) Namespace() string { return c.GKE.Names.Namespace }

// HasWorkloads reports whether the stack runs anything on GKE.
func (c Config) HasWorkloads() bool { return len(c.Subscribers) > 0 || len(c.CronJobs) > 0 }

// subscription finds a "<topic>/<subscription>" reference.
func (c Config) subscription(ref string) (messaging.TopicSpec, messaging.SubscriptionSpec, bool) {
	topic, sub, ok := strings.Cut(ref, "/")
	if !ok {
		return messaging.TopicSpec{}, messaging.SubscriptionSpec{}, false
	}
	for _, t := range c.Topics {
		if t.Name != topic {
			continue
		}
		for _, s := range t.Subscriptions {
			if s.Name == sub {
				return t, s, true
			}
		}
	}
	return messaging.TopicSpec{}, messaging.SubscriptionSpec{}, false
}

func (c Config) hasTopic(name string) bool {
	for _, t := range c.Topics {
		if t.Name == name {
			return true
		}
	}
	return false
}

func (c Config) subscriptionRefs() []string {
	var refs []string
	for _, t := range c.Topics {
		for _, s := range t.Subscriptions {
			refs = append(refs, t.Name+"/"+s.Name)
		}
	}
	return refs
}

func (c Config) validateWorkloads(accounts *unique) field.ErrorList {
	if !c.HasWorkloads() {
		return nil
	}
	errs := c.GKE.Validate(key("gke"))
	// Deployments, CronJobs and their service accounts share one namespace.
	names := newUnique("Kubernetes workload name")
	for i, s := range c.Subscribers {
		p := key("subscribers").Index(i)
		errs = append(errs, s.Validate(p)...)
		names.add(p.Child("name"), s.Name)
		accounts.add(p.Child("serviceAccountId"), s.AccountID())
		if _, sub, ok := c.subscription(s.Subscription); !ok {
			if !c.namesUnknown() {
				errs = append(errs, field.NotSupported(p.Child("subscription"), s.Subscription, c.subscriptionRefs()))
			}
		} else if sub.Push != nil {
			errs = append(errs, field.Invalid(p.Child("subscription"), s.Subscription, "is a push subscription; a subscriber Deployment pulls"))
		}
	}
	for i, j := range c.CronJobs {
		p := key("cronJobs").Index(i)
		errs = append(errs, j.Validate(p)...)
		names.add(p.Child("name"), j.Name)
		if j.GoogleServiceAccount != nil {
			accounts.add(p.Child("googleServiceAccount", "accountId"), j.AccountID())
			for k, g := range j.GoogleServiceAccount.Grants {
				gp := p.Child("googleServiceAccount", "grants").Index(k)
				if g.Topic != "" && !c.hasTopic(g.Topic) && !c.namesUnknown() {
					errs = append(errs, field.NotFound(gp.Child("topic"), g.Topic))
				}
				if g.Subscription != "" && !c.namesUnknown() {
					if _, _, ok := c.subscription(g.Subscription); !ok {
						errs = append(errs, field.NotSupported(gp.Child("subscription"), g.Subscription, c.subscriptionRefs()))
					}
				}
			}
		}
	}
	return append(errs, names.errs...)
}
