#!/usr/bin/env bash
# Installs the Pulumi plugins the workflows' jobs run, pinned and checked,
# before any job runs the CLI on a stack:
#
#   resource gcp         the version of github.com/pulumi/pulumi-gcp/sdk/v7 in go.mod
#   resource kubernetes  the version of github.com/pulumi/pulumi-kubernetes/sdk/v4 in go.mod
#   analyzer policy-opa  POLICY_OPA_VERSION below (the policy pack's runtime;
#                        CLI 3.216.0 does not fetch it by itself)
#
# each with `pulumi plugin install --checksum`, which refuses a release
# archive whose sha256 is not the one given. The checksums are the
# repository variables ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256,
# ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256 and
# ASYNCJOBS_POLICY_OPA_ARCHIVE_SHA256 (the linux-amd64 archives, from each
# release's checksums file; only an administrator of the repository can set
# them). The jobs run with PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true:
# the engine never downloads a plugin that a stack's state or program names
# (a provider's pluginDownloadURL in pull-request-written state included),
# it only runs these.
#
# Usage: scripts/plugins.sh install   install the three
#        scripts/plugins.sh versions  print "<kind> <name> <version>" per plugin
set -euo pipefail
shopt -s inherit_errexit

POLICY_OPA_VERSION="v1.1.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

die() {
	printf 'plugins.sh: error: %s\n' "$*" >&2
	exit 1
}

# The version go.mod requires of module $1.
gomod_version() {
	local v
	v="$(awk -v m="$1" '($1 == m && NF >= 2) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$ROOT/go.mod")"
	[[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "go.mod requires no release of $1 (found '${v}')"
	printf '%s\n' "$v"
}

# kind name version checksum-variable, one plugin a line.
plugins() {
	printf 'resource gcp %s ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256\n' "$(gomod_version github.com/pulumi/pulumi-gcp/sdk/v7)"
	printf 'resource kubernetes %s ASYNCJOBS_KUBERNETES_PLUGIN_ARCHIVE_SHA256\n' "$(gomod_version github.com/pulumi/pulumi-kubernetes/sdk/v4)"
	printf 'analyzer policy-opa %s ASYNCJOBS_POLICY_OPA_ARCHIVE_SHA256\n' "$POLICY_OPA_VERSION"
}

install() {
	local list kind name version var sum
	list="$(plugins)"
	# Every checksum first: no plugin is installed unless all can be checked.
	while read -r kind name version var; do
		sum="${!var:-}"
		[[ "$sum" =~ ^[0-9a-f]{64}$ ]] ||
			die "$var is '${sum}', not a sha256: set the repository variable $var to the sha256 of the $name $version release archive (linux-amd64) from the release's checksums file"
	done <<<"$list"
	while read -r kind name version var; do
		sum="${!var}"
		printf 'plugins.sh: installing %s %s %s (sha256 %s)\n' "$kind" "$name" "$version" "$sum" >&2
		PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_SKIP_UPDATE_CHECK=true \
			pulumi plugin install "$kind" "$name" "$version" --checksum "$sum" ||
			die "pulumi plugin install $kind $name $version failed (a checksum that does not match fails here)"
	done <<<"$list"
}

main() {
	case "${1:-}" in
	install) install ;;
	versions) plugins | cut -d' ' -f1-3 ;;
	*)
		echo "usage: scripts/plugins.sh install|versions" >&2
		exit 2
		;;
	esac
}

main "$@"
