package gcpiam

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateMember(t *testing.T) {
	good := []string{
		"user:alice@example.com",
		"serviceAccount:producer@my-project.iam.gserviceaccount.com",
		"group:ops@example.com",
		"domain:example.com",
		"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p.svc.id.goog/subject/ns/default/sa/app",
		"principalSet://iam.googleapis.com/locations/global/workforcePools/pool/group/eng",
	}
	for _, m := range good {
		if errs := ValidateMember(field.NewPath("m"), m); len(errs) != 0 {
			t.Errorf("%s rejected: %v", m, errs)
		}
	}
	bad := map[string]field.ErrorType{
		"allUsers":              field.ErrorTypeForbidden,
		"allAuthenticatedUsers": field.ErrorTypeForbidden,
		"ALLUSERS":              field.ErrorTypeForbidden,
		"alice@example.com":     field.ErrorTypeInvalid,
		"user:alice":            field.ErrorTypeInvalid,
		"user:":                 field.ErrorTypeInvalid,
		"domain:example":        field.ErrorTypeInvalid,
		"robot:x@example.com":   field.ErrorTypeNotSupported,
		"serviceAccount:123456789-compute@developer.gserviceaccount.com": field.ErrorTypeForbidden,
		"serviceAccount:my-project@appspot.gserviceaccount.com":          field.ErrorTypeForbidden,
		"principal://with space":                                         field.ErrorTypeInvalid,
	}
	for m, typ := range bad {
		errs := ValidateMember(field.NewPath("m"), m)
		if len(errs) == 0 || errs[0].Type != typ {
			t.Errorf("%s: got %v, want %s", m, errs, typ)
		}
	}
}

func TestValidateMembersDuplicates(t *testing.T) {
	errs := ValidateMembers(field.NewPath("ms"), []string{"user:a@example.com", "user:a@example.com"})
	if len(errs) != 1 || errs[0].Field != "ms[1]" || errs[0].Type != field.ErrorTypeDuplicate {
		t.Errorf("got %v", errs)
	}
}

func TestTargetsDropsAbsent(t *testing.T) {
	var account *pulumi.ResourceState // a typed nil, as an optional account arrives
	present := &pulumi.ResourceState{}
	got := Targets(present, nil, account)
	if len(got) != 1 || got[0] != pulumi.Resource(present) {
		t.Errorf("Targets = %v, want only the present resource", got)
	}
}
