package image

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidate(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a1", 32)
	for _, tc := range []struct {
		image string
		typ   field.ErrorType // "" when the image is accepted
		words string
	}{
		{"asia-docker.pkg.dev/p/sample/flask:ver1", "", ""},
		{"gcr.io/p/app@" + digest, "", ""},
		{"gcr.io/p/app:v1@" + digest, "", ""},
		{"localhost:5000/app:1.2.3", "", ""},
		{"busybox:1.37", "", ""},
		{"", field.ErrorTypeRequired, "a container image"},
		{"gcr.io/p/app", field.ErrorTypeInvalid, "must be pinned"},
		{"localhost:5000/app", field.ErrorTypeInvalid, "must be pinned"},
		{"gcr.io/p/app:latest", field.ErrorTypeInvalid, "latest"},
		{"gcr.io/p/app@sha256:abc", field.ErrorTypeInvalid, "sha256: followed by 64"},
		{"gcr.io/p/app@sha256:" + strings.Repeat("a", 63), field.ErrorTypeInvalid, "sha256: followed by 64"},
		{"gcr.io/p/app@sha512:" + strings.Repeat("a", 128), field.ErrorTypeInvalid, "sha256"},
		{"gcr.io/P/App:v1", field.ErrorTypeInvalid, "lowercase"},
		{"gcr.io/p/app:v 1", field.ErrorTypeInvalid, "image reference"},
		{"gcr.io/p/app:-v1", field.ErrorTypeInvalid, "image reference"},
		{"gcr.io/p/app:" + strings.Repeat("v", 129), field.ErrorTypeInvalid, "image reference"},
		{"gcr.io/" + strings.Repeat("a", 256) + ":v1", field.ErrorTypeInvalid, "longer than 255"},
	} {
		errs := Validate(field.NewPath("w", "image"), tc.image)
		if tc.typ == "" {
			if len(errs) != 0 {
				t.Errorf("%q: want accepted, got %v", tc.image, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[0].Type != tc.typ || errs[0].Field != "w.image" || !strings.Contains(errs[0].Error(), tc.words) {
			t.Errorf("%q: want one %s error at w.image saying %q, got %v", tc.image, tc.typ, tc.words, errs)
		}
	}
}
