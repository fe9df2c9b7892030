// Package image checks container image references as the program receives
// them in configuration (the worker, subscriber and CronJob containers):
// parsed with the reference grammar registries and container runtimes use
// (github.com/distribution/reference), and pinned, by a tag other than
// latest or by a sha256 digest, so a deployment always runs what was
// reviewed.
package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate requires a pinned image reference at path: a tag other than
// latest, or a sha256 digest. A reference with neither is refused, not
// completed with latest as a container runtime would.
func Validate(path *field.Path, image string) field.ErrorList {
	if image == "" {
		return field.ErrorList{field.Required(path, "a container image")}
	}
	if _, d, ok := strings.Cut(image, "@"); ok {
		if parsed, err := digest.Parse(d); err != nil || parsed.Algorithm() != digest.SHA256 {
			return field.ErrorList{field.Invalid(path, image, "a digest must be sha256: followed by 64 lowercase hex digits")}
		}
	}
	ref, err := reference.Parse(image)
	if err != nil {
		return field.ErrorList{field.Invalid(path, image, describe(err))}
	}
	if _, ok := ref.(reference.Digested); ok {
		return nil
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return field.ErrorList{field.Invalid(path, image, "must be pinned: add a tag (not latest) or a digest")}
	}
	if tagged.Tag() == "latest" {
		return field.ErrorList{field.Invalid(path, image, "must not use the latest tag: pin a version or a digest")}
	}
	return nil
}

// describe turns the reference grammar's errors into what to change.
func describe(err error) string {
	switch {
	case errors.Is(err, reference.ErrNameContainsUppercase):
		return "must be a lowercase image reference (the repository name has capital letters)"
	case errors.Is(err, reference.ErrTagInvalidFormat):
		return "the tag must be up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
	case errors.Is(err, reference.ErrNameTooLong):
		return fmt.Sprintf("the repository name is longer than %d characters", reference.RepositoryNameTotalLengthMax)
	default:
		return "must be an image reference such as REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG or IMAGE@sha256:DIGEST (" + err.Error() + ")"
	}
}
