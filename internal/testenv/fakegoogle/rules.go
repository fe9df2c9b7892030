package fakegoogle

import "time"

// newRules lists the layer's rules in the order a request meets them:
// first who calls, then the APIs the layer serves itself, then the checks
// Google makes before it acts, then what Google does as it acts.
func (g *Google) newRules() []rule {
	return []rule{
		tokenInfo{ids: g.ids},
		authentication{ids: g.ids},
		iamGrants{book: g.iam},
		newWorkloadIdentity(g.mock),
		newCloudKMS(g.mock),
		newServiceUsage(g.mock),
		bucketIAM{book: g.iam},
		actAs{book: g.iam, propagation: g.opts.Propagation},
		&alreadyExists{m: g.mock, created: map[string]bool{}},
		&queueNameReserved{deleted: map[string]time.Time{}},
		queueUpdateMask{},
		metricDelay{m: g.mock, clock: g.metrics, delay: g.opts.MetricDelay},
		deletedPrincipal{book: g.iam},
		resourcePolicy{book: g.iam},
	}
}
