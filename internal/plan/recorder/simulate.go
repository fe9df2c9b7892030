package recorder

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// PlaceholderProjectNumber answers project lookups offline. It is not a
// number on purpose, so that it can never be mistaken for a real one.
const PlaceholderProjectNumber = "PROJECT_NUMBER"

// PlaceholderClusterEndpoint stands for an existing GKE cluster's address.
const PlaceholderClusterEndpoint = "CLUSTER_ENDPOINT"

// PlaceholderClusterCAText is what PlaceholderClusterCA decodes to.
const PlaceholderClusterCAText = "CLUSTER_CA_CERTIFICATE"

// PlaceholderClusterCA stands for an existing GKE cluster's CA certificate:
// base64, as GKE gives it, of a text that is clearly no certificate.
var PlaceholderClusterCA = base64.StdEncoding.EncodeToString([]byte(PlaceholderClusterCAText))

// placeholders answer invokes offline with deterministic, clearly marked values.
var placeholders = map[string]func(args resource.PropertyMap) resource.PropertyMap{
	"gcp:container/getCluster:getCluster": func(args resource.PropertyMap) resource.PropertyMap {
		return resource.NewPropertyMapFromMap(map[string]any{
			"name":        str(args, "name"),
			"location":    str(args, "location"),
			"project":     str(args, "project"),
			"endpoint":    PlaceholderClusterEndpoint,
			"masterAuths": []any{map[string]any{"clusterCaCertificate": PlaceholderClusterCA}},
		})
	},
	"gcp:organizations/getProject:getProject": func(args resource.PropertyMap) resource.PropertyMap {
		id := str(args, "projectId")
		return resource.NewPropertyMapFromMap(map[string]any{
			"projectId": id,
			"number":    PlaceholderProjectNumber,
			"name":      id,
			"id":        "projects/" + id,
		})
	},
}

// Simulate returns the id and outputs a deployment would give a new
// resource, derived deterministically from its inputs (e-mails, URLs, paths
// in the formats Google uses). Tests use it to check wiring with known values.
func Simulate(typ, name string, inputs resource.PropertyMap) (string, resource.PropertyMap) {
	outs := inputs.Copy()
	set := func(k, v string) { outs[resource.PropertyKey(k)] = resource.NewProperty(v) }
	project := str(inputs, "project")
	id := name
	switch typ {
	case "gcp:serviceaccount/account:Account":
		email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", str(inputs, "accountId"), project)
		set("email", email)
		set("member", "serviceAccount:"+email)
		id = fmt.Sprintf("projects/%s/serviceAccounts/%s", project, email)
		set("name", id)
	case "gcp:cloudrunv2/service:Service":
		set("uri", fmt.Sprintf("https://%s-simulated-%s.a.run.app", str(inputs, "name"), regionCode(str(inputs, "location"))))
		id = fmt.Sprintf("projects/%s/locations/%s/services/%s", project, str(inputs, "location"), str(inputs, "name"))
	case "gcp:cloudtasks/queue:Queue":
		id = fmt.Sprintf("projects/%s/locations/%s/queues/%s", project, str(inputs, "location"), str(inputs, "name"))
	case "gcp:pubsub/topic:Topic":
		id = fmt.Sprintf("projects/%s/topics/%s", project, str(inputs, "name"))
	case "gcp:pubsub/subscription:Subscription":
		id = fmt.Sprintf("projects/%s/subscriptions/%s", project, str(inputs, "name"))
	case "gcp:projects/service:Service":
		id = project + "/" + str(inputs, "service")
	case "gcp:monitoring/notificationChannel:NotificationChannel":
		id = fmt.Sprintf("projects/%s/notificationChannels/simulated-%s", project, name)
		set("name", id)
	case "gcp:monitoring/alertPolicy:AlertPolicy":
		id = fmt.Sprintf("projects/%s/alertPolicies/simulated-%s", project, name)
		set("name", id)
	case "gcp:monitoring/dashboard:Dashboard":
		id = fmt.Sprintf("projects/%s/dashboards/simulated-%s", project, name)
	case "gcp:container/cluster:Cluster":
		id = fmt.Sprintf("projects/%s/locations/%s/clusters/%s", project, str(inputs, "location"), str(inputs, "name"))
		set("endpoint", PlaceholderClusterEndpoint)
		outs["masterAuth"] = resource.NewProperty(resource.NewPropertyMapFromMap(map[string]any{"clusterCaCertificate": PlaceholderClusterCA}))
	case "gcp:logging/metric:Metric":
		id = str(inputs, "name")
	}
	return id, outs
}

func str(m resource.PropertyMap, k string) string {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}

func regionCode(region string) string {
	parts := strings.Split(region, "-")
	code := ""
	for _, p := range parts {
		if p != "" {
			code += p[:1]
		}
	}
	return code
}
