package fakegoogle

import (
	"net/http"
	"slices"
	"testing"
)

// TestCloudKMS drives a key ring and a key as the bootstrap's resources
// do: create, read, patch the rotation, "delete" (destroy the versions,
// stop the rotation), re-create (409: KMS names are never free again), and
// grant on the key.
func TestCloudKMS(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	const kms = "cloudkms.googleapis.com"
	loc := "projects/" + project + "/locations/asia-northeast1"
	ring := loc + "/keyRings/asyncjobs-secrets"
	key := ring + "/cryptoKeys/dev"

	must(t, "create ring", do(t, c, http.MethodPost, kms, "/v1/"+loc+"/keyRings?keyRingId=asyncjobs-secrets", map[string]any{}), http.StatusOK)
	must(t, "get ring", do(t, c, http.MethodGet, kms, "/v1/"+ring, nil), http.StatusOK)
	got := must(t, "create key", do(t, c, http.MethodPost, kms, "/v1/"+ring+"/cryptoKeys?cryptoKeyId=dev&skipInitialVersionCreation=false",
		map[string]any{"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "7776000s"}), http.StatusOK).obj
	primary, _ := got["primary"].(map[string]any)
	if got["name"] != key || primary["state"] != "ENABLED" || got["nextRotationTime"] == nil {
		t.Errorf("created key: %v", got)
	}
	wantError(t, "a key in a missing ring", do(t, c, http.MethodPost, kms, "/v1/"+loc+"/keyRings/none/cryptoKeys?cryptoKeyId=dev", map[string]any{}),
		http.StatusNotFound, "NOT_FOUND", "KeyRing")

	// The provider's delete: destroy what is not destroyed, stop rotating.
	versions := must(t, "list versions",
		do(t, c, http.MethodGet, kms, "/v1/"+key+"/cryptoKeyVersions?filter=state%20!%3D%20DESTROYED%20AND%20state%20!%3D%20DESTROY_SCHEDULED", nil),
		http.StatusOK).obj
	list, _ := versions["cryptoKeyVersions"].([]any)
	if len(list) != 1 {
		t.Fatalf("versions: %v", versions)
	}
	v, _ := list[0].(map[string]any)
	name, _ := v["name"].(string)
	must(t, "destroy version", do(t, c, http.MethodPost, kms, "/v1/"+name+":destroy", map[string]any{}), http.StatusOK)
	must(t, "stop rotating", do(t, c, http.MethodPatch, kms, "/v1/"+key+"?updateMask=rotation_period,next_rotation_time", map[string]any{}), http.StatusOK)
	got = must(t, "get key", do(t, c, http.MethodGet, kms, "/v1/"+key, nil), http.StatusOK).obj
	if got["rotationPeriod"] != nil || got["nextRotationTime"] != nil {
		t.Errorf("the key still rotates: %v", got)
	}
	if after := do(t, c, http.MethodGet, kms, "/v1/"+key+"/cryptoKeyVersions?filter=state%20!%3D%20DESTROYED%20AND%20state%20!%3D%20DESTROY_SCHEDULED",
		nil).obj; after["cryptoKeyVersions"] != nil {
		t.Errorf("versions left after destroying: %v", after)
	}

	for _, tc := range []struct{ what, path, msg string }{
		{"re-create the ring", "/v1/" + loc + "/keyRings?keyRingId=asyncjobs-secrets", "KeyRing " + ring + " already exists."},
		{"re-create the key", "/v1/" + ring + "/cryptoKeys?cryptoKeyId=dev", "CryptoKey " + key + " already exists."},
	} {
		wantError(t, tc.what, do(t, c, http.MethodPost, kms, tc.path, map[string]any{}), http.StatusConflict, "ALREADY_EXISTS", tc.msg)
		if r := lastRule(t, g, http.MethodPost, pathOnly(tc.path)); r != "kms" {
			t.Errorf("%s: answered by rule %q, want kms", tc.what, r)
		}
	}

	grant(t, c, kms, "/v1/"+key, "roles/cloudkms.cryptoKeyEncrypterDecrypter", deployer)
	p := must(t, "key policy", do(t, c, http.MethodPost, kms, "/v1/"+key+":getIamPolicy", map[string]any{}), http.StatusOK).obj
	if got := members(p, "roles/cloudkms.cryptoKeyEncrypterDecrypter"); !slices.Equal(got, []string{deployer}) {
		t.Errorf("key policy: %v", p)
	}

	t.Run("the mock alone", func(t *testing.T) {
		a := direct(t, g, http.MethodPost, kms, "/v1/"+loc+"/keyRings?keyRingId=other", map[string]any{})
		if a.status != http.StatusNotFound {
			t.Errorf("the mock answered a key ring create with %d %v: it serves KMS now?", a.status, a.obj)
		}
	})
}

// TestBucketIAM: a bucket's policy, read and written as Storage's JSON API
// names it, lives in the mock's policy store and takes part in the
// deleted-principal rule.
func TestBucketIAM(t *testing.T) {
	g := start(t, Options{})
	c := g.Client(deployer)
	const gcs = "storage.googleapis.com"
	must(t, "bucket", do(t, c, http.MethodPost, gcs, "/storage/v1/b?project="+project, map[string]any{"name": "asyncjobs-state-dev"}), http.StatusOK)
	iamPath := "/storage/v1/b/asyncjobs-state-dev/iam"
	p := must(t, "get policy", do(t, c, http.MethodGet, gcs, iamPath+"?optionsRequestedPolicyVersion=3", nil), http.StatusOK).obj
	if p["kind"] != "storage#policy" || p["resourceId"] != "projects/_/buckets/asyncjobs-state-dev" {
		t.Errorf("bucket policy: %v", p)
	}
	email, _ := newAccount(t, c, project, "pulumi-dev")["email"].(string)
	p["bindings"] = []any{map[string]any{"role": "roles/storage.objectUser", "members": []any{"serviceAccount:" + email}}}
	must(t, "set policy", do(t, c, http.MethodPut, gcs, iamPath, p), http.StatusOK)
	wantError(t, "set with a stale etag", do(t, c, http.MethodPut, gcs, iamPath, p), http.StatusPreconditionFailed, "FAILED_PRECONDITION", "")
	wantError(t, "a missing bucket", do(t, c, http.MethodGet, gcs, "/storage/v1/b/none/iam", nil), http.StatusNotFound, "NOT_FOUND",
		"The specified bucket does not exist.")

	must(t, "delete the account", do(t, c, http.MethodDelete, "iam.googleapis.com", "/v1/projects/"+project+"/serviceAccounts/"+email, nil), http.StatusOK)
	p = must(t, "get policy", do(t, c, http.MethodGet, gcs, iamPath, nil), http.StatusOK).obj
	got := members(p, "roles/storage.objectUser")
	if len(got) != 1 || got[0] == "serviceAccount:"+email {
		t.Errorf("bucket policy after the account's delete: %v", got)
	}

	t.Run("the mock alone", func(t *testing.T) {
		if a := direct(t, g, http.MethodGet, gcs, iamPath, nil); a.status != http.StatusNotFound {
			t.Errorf("the mock answered a bucket policy read with %d %v: it serves bucket IAM now?", a.status, a.obj)
		}
	})
}
