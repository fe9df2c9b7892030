package rehearsal

// Release is a tagged release of asyncjobs.
type Release struct {
	// Tag is its git tag (v0.MINOR.PATCH) and Commit the commit the tag
	// names: the rehearsal checks out the commit, so a clone without tags
	// still has it.
	Tag, Commit string
	// KnownFailure, when not "", is what the release's own first up fails
	// with on every stack file (CHANGELOG.md says why): the upgrade
	// rehearsal accepts that failure of its deployment and no other.
	KnownFailure string
}

// PreviousRelease is the release the upgrade rehearsal deploys before
// this tree's program, on the same state, fake Google and API server. It
// is the one place that names it: when a release is tagged, it becomes the
// new one (CHANGELOG.md, "Releasing").
var PreviousRelease = Release{
	Tag:    "v0.1.0",
	Commit: "7ecb7c38737a8586c3adf7bebdddd3edb2ef62da",
	// v0.1.0 wrote a kubeconfig no parser accepts: its first up made the
	// Google resources and the Kubernetes provider, and failed at the
	// first Kubernetes object.
	KnownFailure: "failed to parse kubeconfig",
}

// LatestRelease is the newest tagged release. Users deploy tags (README,
// "Versions"), so most stacks this tree meets were deployed by it: the
// rehearsal deploys it and takes it to this tree as `git pull` does, and
// with the committed stack files nothing may change. When a release is
// tagged, it becomes the new one (CHANGELOG.md, "Releasing");
// TestPreviousRelease fails until it is.
var LatestRelease = Release{
	Tag:    "v0.2.0",
	Commit: "774b71052b252a96512c2a91e64e04ad84cb22b7",
}
