package fakegcp

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Environment variables that point the fake GKE cluster at a real (local)
// Kubernetes API server.
const (
	// ClusterEndpointEnv is host:port of the API server (GKE's endpoint).
	ClusterEndpointEnv = "ASYNCJOBS_FAKEGCP_CLUSTER_ENDPOINT"
	// ClusterCAEnv is the base64 of the API server's PEM CA certificate
	// (GKE's masterAuth.clusterCaCertificate).
	ClusterCAEnv = "ASYNCJOBS_FAKEGCP_CLUSTER_CA"
)

// clusterCreds returns the endpoint and CA the fake cluster answers with.
func clusterCreds(getenv func(string) string) (endpoint, ca string, err error) {
	endpoint, ca = getenv(ClusterEndpointEnv), getenv(ClusterCAEnv)
	if endpoint == "" || ca == "" {
		return "", "", status.Errorf(codes.FailedPrecondition,
			"fakegcp: %s and %s must be set: the stand-in gcp provider answers for a GKE cluster with the address "+
				"(host:port) and the base64 PEM CA certificate of a Kubernetes API server the test runs", ClusterEndpointEnv, ClusterCAEnv)
	}
	der, err := base64.StdEncoding.DecodeString(ca)
	if err != nil {
		return "", "", status.Errorf(codes.FailedPrecondition, "fakegcp: %s is not base64: %v", ClusterCAEnv, err)
	}
	if block, _ := pem.Decode(der); block == nil || block.Type != "CERTIFICATE" {
		return "", "", status.Errorf(codes.FailedPrecondition,
			"fakegcp: %s must be the base64 of a PEM certificate (as GKE's clusterCaCertificate)", ClusterCAEnv)
	}
	return endpoint, ca, nil
}

// clusterCompute sets a created cluster's outputs: its address and CA
// come from the test's API server.
func clusterCompute(c *call, _ *state, outs resource.PropertyMap) error {
	endpoint, ca, err := clusterCreds(c.getenv)
	if err != nil {
		return err
	}
	loc := strings.Split(c.key, "/")[3] // projects/<p>/locations/<loc>/clusters/<name>
	set(outs, "name", c.short)
	set(outs, "location", loc)
	set(outs, "endpoint", endpoint)
	auth := resource.PropertyMap{}
	if m := obj(c.in, "masterAuth"); m != nil {
		auth = m.Copy()
	}
	set(auth, "clusterCaCertificate", ca)
	set(auth, "clientCertificate", "")
	set(auth, "clientKey", "")
	outs["masterAuth"] = resource.NewObjectProperty(auth)
	set(outs, "selfLink", "https://container.googleapis.com/v1beta1/"+c.key)
	set(outs, "masterVersion", "1.30.5-gke.1014001")
	return nil
}

// Functions lists the function (data source) tokens the stand-in answers.
var Functions = []string{
	"gcp:organizations/getProject:getProject",
	"gcp:container/getCluster:getCluster",
}

// invoke answers the data sources the program reads.
func (s *Server) invoke(tok string, args resource.PropertyMap) (resource.PropertyMap, error) {
	project, region := s.config()
	switch tok {
	case "gcp:organizations/getProject:getProject":
		p := str(args, "projectId")
		if p == "" {
			p = project
		}
		if p == "" {
			return nil, status.Errorf(codes.InvalidArgument,
				"%s: no projectId given and no gcp:project configured", tok)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id":        "projects/" + p,
			"projectId": p,
			"name":      p,
			"number":    ProjectNumber(p),
		}), nil
	case "gcp:container/getCluster:getCluster":
		name := str(args, "name")
		if name == "" {
			return nil, status.Errorf(codes.InvalidArgument, "%s: name is required", tok)
		}
		p := str(args, "project")
		if p == "" {
			p = project
		}
		loc := str(args, "location")
		if loc == "" {
			loc = region
		}
		if p == "" || loc == "" {
			return nil, status.Errorf(codes.InvalidArgument,
				"%s: project and location must be given or configured (gcp:project, gcp:region)", tok)
		}
		endpoint, ca, err := clusterCreds(s.getenv)
		if err != nil {
			return nil, err
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id":       fmt.Sprintf("projects/%s/locations/%s/clusters/%s", p, loc, name),
			"name":     name,
			"location": loc,
			"project":  p,
			"endpoint": endpoint,
			"masterAuths": []any{map[string]any{
				"clusterCaCertificate":     ca,
				"clientCertificate":        "",
				"clientKey":                "",
				"clientCertificateConfigs": []any{map[string]any{"issueClientCertificate": false}},
			}},
		}), nil
	}
	return nil, status.Errorf(codes.Unimplemented,
		"fakegcp: function %q is not modelled by the stand-in gcp provider (internal/rehearsal/fakegcp); add it there", tok)
}
