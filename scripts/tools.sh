#!/usr/bin/env bash
# Provides the real tools the test suite runs against, built or installed on
# demand and cached outside the repository, keyed by version:
#
#   kube-apiserver  built from the k8s.io/kubernetes module (Go module proxy)
#   etcd            built from the go.etcd.io/etcd/server/v3 module (Go module proxy)
#   pulumi          the Pulumi CLI built from the Go module proxy
#   ShellCheck      the shellcheck on PATH, else Debian's shellcheck package
#                   (apt-get: needs root or password-less sudo); lints the
#                   scripts and the workflows' run: steps. It is written in
#                   Haskell, so it is the one tool Go cannot build here.
#   golangci-lint   the linters make test runs, built from the Go module proxy
#   pulumi-resource-kubernetes
#                   the real pulumi-kubernetes provider plugin, built from the
#                   Go module proxy at the commit of the release the program's
#                   SDK is (heavy: about 12 minutes and 4.6 GB on 2 cores)
#   pulumi-resource-gcp
#                   the real pulumi-gcp provider plugin, the release the
#                   program's SDK asks for
#   pulumi-language-go
#                   the real Go language host of the CLI's release
#   mockgcp-server  a server for mockgcp, the fake of Google's APIs that
#                   Google's Config Connector team maintains
#
# The module proxy does not serve the last three. They come from the shared
# tools folder (ASYNCJOBS_SHARED_TOOLS, by default ../shared/tools beside the
# repository): xz-compressed binaries with a SHA256SUMS file, rebuilt from
# their public sources (its README says how). Each is used only when both
# that file and the checksum pinned below agree with the binary. Without the
# folder, the gcp plugin comes from the vendor with
# `pulumi plugin install`, checked against ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256
# (the release archive's checksum, which you pin), and the language host
# from a vendor-installed Pulumi CLI of the same release on PATH; mockgcp has
# no other source.
#
# Usage:
#   scripts/tools.sh path <tool>        print the tool's absolute path (build it first if missing)
#   scripts/tools.sh ensure all|<tool>  build/install the tool(s)
#   scripts/tools.sh list               print the tool names
#
# Cache: ${ASYNCJOBS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/asyncjobs-tools}/<tool>-<version>/
# Only the path goes to stdout; progress goes to stderr and each build keeps a
# log in the cache directory (<tool>-<version>.build.log).
set -euo pipefail
shopt -s inherit_errexit

KUBE_VERSION="${ASYNCJOBS_KUBE_VERSION:-v1.32.0}"
# kube-apiserver 1.32 supports etcd 3.5.
GOLANGCI_LINT_VERSION="${ASYNCJOBS_GOLANGCI_LINT_VERSION:-v2.15.0}"
ETCD_VERSION="${ASYNCJOBS_ETCD_VERSION:-v3.5.35}"
PULUMI_VERSION="${ASYNCJOBS_PULUMI_VERSION:-v3.216.0}"
# The provider must be the release of github.com/pulumi/pulumi-kubernetes/sdk/v4
# in go.mod (the SDK asks the engine for exactly that plugin version). The
# proxy serves the provider module of that release only under the
# pseudo-version of its commit.
K8S_PROVIDER_VERSION="${ASYNCJOBS_K8S_PROVIDER_VERSION:-v4.25.0}"
K8S_PROVIDER_MODULE_VERSION="${ASYNCJOBS_K8S_PROVIDER_MODULE_VERSION:-v4.0.0-20260115033456-f47bc2d6f199}"
GCP_PROVIDER_VERSION="v7.38.0"
LANGUAGE_GO_VERSION="$PULUMI_VERSION"
# The commit of k8s-config-connector the mockgcp server was built from.
MOCKGCP_VERSION="cdb85ecf17085561"
# sha256 of each shared tool's uncompressed binary: the shared folder's
# SHA256SUMS must say the same, and so must the binary.
declare -A SHARED_SHA256=(
	[pulumi-resource-gcp]=d5048b492c8abaed133fd5741546faff572929d248945b32b68ef7a4236f0376
	[pulumi-language-go]=a84823a99dcb083a34d770004c025f9aa171de6e1b60c8b24239f99d49450e08
	[mockgcp-server]=894e440daafb14f0e5727d3a3232a7caba79f35245085c6ddc96dbc995dd0f37
)
# The name of each shared tool's file in the shared folder (plus .xz).
declare -A SHARED_FILE=(
	[pulumi-resource-gcp]="pulumi-resource-gcp-${GCP_PROVIDER_VERSION}"
	[pulumi-language-go]="pulumi-language-go-${LANGUAGE_GO_VERSION}"
	[mockgcp-server]=mockgcp-server
)
GO="${GO:-go}"
TOOLS=(kube-apiserver etcd pulumi shellcheck golangci-lint pulumi-resource-kubernetes pulumi-resource-gcp pulumi-language-go mockgcp-server)

log() { printf 'tools.sh: %s\n' "$*" >&2; }
die() {
	printf 'tools.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/tools.sh path <tool>         print the absolute path of <tool>, building/installing it if missing
       scripts/tools.sh ensure all|<tool>   build/install the tool(s)
       scripts/tools.sh list                print the tool names
tools: kube-apiserver, etcd, pulumi, shellcheck, golangci-lint, pulumi-resource-kubernetes,
       pulumi-resource-gcp, pulumi-language-go, mockgcp-server
EOF
	exit 2
}

cache_root() {
	local root
	if [[ -n "${ASYNCJOBS_TOOLS_CACHE:-}" ]]; then
		root="$ASYNCJOBS_TOOLS_CACHE"
	elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
		root="$XDG_CACHE_HOME/asyncjobs-tools"
	elif [[ -n "${HOME:-}" ]]; then
		root="$HOME/.cache/asyncjobs-tools"
	else
		die "cannot choose a cache directory: set ASYNCJOBS_TOOLS_CACHE, XDG_CACHE_HOME or HOME"
	fi
	mkdir -p "$root" || die "cannot create cache directory $root"
	(cd "$root" && pwd -P)
}

check_tool() {
	local t
	for t in "${TOOLS[@]}"; do
		[[ "$1" == "$t" ]] && return 0
	done
	die "unknown tool '$1' (known: ${TOOLS[*]})"
}

tool_version() {
	case "$1" in
	kube-apiserver) printf '%s\n' "$KUBE_VERSION" ;;
	etcd) printf '%s\n' "$ETCD_VERSION" ;;
	golangci-lint) printf '%s\n' "$GOLANGCI_LINT_VERSION" ;;
	pulumi) printf '%s\n' "$PULUMI_VERSION" ;;
	pulumi-resource-kubernetes) printf '%s\n' "$K8S_PROVIDER_VERSION" ;;
	pulumi-resource-gcp) printf '%s\n' "$GCP_PROVIDER_VERSION" ;;
	pulumi-language-go) printf '%s\n' "$LANGUAGE_GO_VERSION" ;;
	mockgcp-server) printf '%s\n' "$MOCKGCP_VERSION" ;;
	*) die "no version for $1" ;;
	esac
}

# Takes an exclusive lock on file $1 on file descriptor 9 (held until the
# calling (sub)shell exits), telling the user when it has to wait.
take_lock() {
	local lockfile="$1"
	command -v flock >/dev/null 2>&1 || die "flock not found (install util-linux)"
	exec 9>"$lockfile"
	if ! flock -n 9; then
		log "waiting for ${lockfile} (another process is providing the same tool)"
		flock 9
	fi
}

# Prints the "old oldver new newver" fields of each replace directive of the
# go.mod file $1 (oldver/newver are "-" when absent), one per line.
gomod_replaces() {
	awk '
		/^replace[[:space:]]*\(/ { block = 1; next }
		block && /^[[:space:]]*\)/ { block = 0; next }
		{
			line = $0
			sub(/\/\/.*$/, "", line)
			if (!block) {
				if (line !~ /^replace[[:space:]]/) next
				sub(/^replace[[:space:]]+/, "", line)
			}
			n = split(line, f, " ")
			arrow = 0
			for (i = 1; i <= n; i++) if (f[i] == "=>") arrow = i
			if (arrow != 2 && arrow != 3) next
			oldver = (arrow == 3) ? f[2] : "-"
			newver = (arrow + 2 <= n) ? f[arrow + 2] : "-"
			print f[1], oldver, f[arrow + 1], newver
		}
	' "$1"
}

# Prints the path of the go.mod file of module@version $1 (downloading it).
# Diagnostics go to stderr (the build log).
gomod_file() {
	local json gomod
	json="$("$GO" mod download -json "$1")" || {
		printf '%s\n' "$json" >&2
		echo "go mod download $1 failed" >&2
		return 1
	}
	gomod="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p')"
	if [[ -z "$gomod" || ! -f "$gomod" ]]; then
		printf '%s\n' "$json" >&2
		echo "could not find the go.mod of $1" >&2
		return 1
	fi
	printf '%s\n' "$gomod"
}

# Build steps. Each runs in its own subshell with `set -e`, inside the empty
# work directory $1, and writes the finished binary into directory $2. All
# their output goes to the build log.

build_kube_apiserver() {
	local out="$2" gomod staging_version old oldver new newver minor
	local -a edits=()
	# Staging modules are published as v0.X.Y for kubernetes v1.X.Y.
	staging_version="v0.${KUBE_VERSION#v1.}"
	minor="${KUBE_VERSION#v1.}"
	minor="${minor%%.*}"
	"$GO" mod init asyncjobs.invalid/tools/kube-apiserver
	gomod="$(gomod_file "k8s.io/kubernetes@${KUBE_VERSION}")"
	echo "k8s.io/kubernetes go.mod: $gomod"
	while read -r old oldver new newver; do
		: "$oldver" "$newver"
		if [[ "$new" == ./staging/* ]]; then
			edits+=("-replace=${old}=${old}@${staging_version}")
		fi
	done < <(gomod_replaces "$gomod")
	if [[ ${#edits[@]} -eq 0 ]]; then
		echo "no staging replace directives found in $gomod"
		return 1
	fi
	echo "replacing ${#edits[@]} staging modules with ${staging_version}"
	"$GO" mod edit "-require=k8s.io/kubernetes@${KUBE_VERSION}" "${edits[@]}"
	"$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}"
	local ldflags="-s -w"
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
	done
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
	"$out/kube-apiserver" --version
}

build_etcd() {
	local out="$2"
	"$GO" mod init asyncjobs.invalid/tools/etcd
	"$GO" get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
	"$out/etcd" --version
}

build_golangci_lint() {
	local out="$2"
	"$GO" mod init asyncjobs.invalid/tools/golangci-lint
	"$GO" get "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=${GOLANGCI_LINT_VERSION#v}" \
		-o "$out/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	"$out/golangci-lint" version
}

build_pulumi() {
	local out="$2" gomod old oldver new newver
	local -a edits=()
	"$GO" mod init asyncjobs.invalid/tools/pulumi
	gomod="$(gomod_file "github.com/pulumi/pulumi/pkg/v3@${PULUMI_VERSION}")"
	echo "pulumi pkg go.mod: $gomod"
	# Copy the replace directives that point at published modules (the
	# github.com/atotto/clipboard fork); local ones (../sdk) are the
	# monorepo layout and become the sdk requirement below.
	while read -r old oldver new newver; do
		case "$new" in
		./* | ../* | /*) continue ;;
		esac
		if [[ "$oldver" == "-" ]]; then oldver=""; else oldver="@${oldver}"; fi
		if [[ "$newver" == "-" ]]; then newver=""; else newver="@${newver}"; fi
		edits+=("-replace=${old}${oldver}=${new}${newver}")
	done < <(gomod_replaces "$gomod")
	echo "copied replace directives: ${edits[*]:-none}"
	"$GO" mod edit \
		"-require=github.com/pulumi/pulumi/pkg/v3@${PULUMI_VERSION}" \
		"-require=github.com/pulumi/pulumi/sdk/v3@${PULUMI_VERSION}" \
		${edits[@]+"${edits[@]}"}
	"$GO" get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@${PULUMI_VERSION}" "github.com/pulumi/pulumi/sdk/v3@${PULUMI_VERSION}"
	CGO_ENABLED=0 "$GO" build -trimpath \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
		-o "$out/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_HOME="$1/pulumi-home" "$out/pulumi" version
}

build_kubernetes_provider() {
	local out="$2" module=github.com/pulumi/pulumi-kubernetes/provider/v4 dir version
	version="${K8S_PROVIDER_VERSION#v}"
	"$GO" mod init asyncjobs.invalid/tools/pulumi-resource-kubernetes
	dir="$("$GO" mod download -json "${module}@${K8S_PROVIDER_MODULE_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p')"
	[[ -n "$dir" && -d "$dir" ]] || {
		echo "could not download ${module}@${K8S_PROVIDER_MODULE_VERSION}"
		return 1
	}
	# The module cache is read-only, and the provider's go.mod points its
	# SDK at ../sdk (the monorepo layout): build a writable copy against the
	# published SDK of the same release.
	cp -r "$dir" "$1/provider"
	chmod -R u+w "$1/provider"
	cd "$1/provider"
	"$GO" mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 \
		"-require=github.com/pulumi/pulumi-kubernetes/sdk/v4@${K8S_PROVIDER_VERSION}"
	# The embedded schema and mapping files are generated (upstream's own step).
	(cd cmd/pulumi-resource-kubernetes && VERSION="$version" "$GO" generate ./main.go)
	CGO_ENABLED=0 "$GO" build -trimpath \
		-ldflags "-s -w -X ${module}/pkg/version.Version=${version}" \
		-o "$out/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
	"$GO" version -m "$out/pulumi-resource-kubernetes" | grep -E 'pulumi-kubernetes/sdk/v4|version.Version'
}

# Builds Go tool $1 into the cache unless it is there already. Prints nothing
# on stdout.
ensure_built() {
	local tool="$1" version root final log work heartbeat rc start elapsed
	version="$(tool_version "$tool")"
	root="$(cache_root)"
	final="$root/$tool-$version"
	[[ -x "$final/$tool" ]] && return 0

	command -v "$GO" >/dev/null 2>&1 || die "cannot build $tool: '$GO' not found in PATH"
	take_lock "$root/.$tool-$version.lock"
	# Someone else may have built it while we waited.
	[[ -x "$final/$tool" ]] && return 0
	# Anything left here is from a build that was killed (builds hold the lock).
	rm -rf "$final" "$root/.tmp-$tool-$version."*

	log="$root/$tool-$version.build.log"
	work="$(mktemp -d "$root/.tmp-$tool-$version.XXXXXX")"
	# shellcheck disable=SC2064 # expand $work now
	trap "rm -rf '$work'" EXIT
	mkdir -p "$work/src" "$work/out"
	: >"$log"
	log "building $tool $version (this takes several minutes; log: $log)"
	start=$SECONDS
	# Heartbeat for long builds; it stops by itself when this script is gone.
	# sleep gets no copy of stderr or of the lock, so killing the loop
	# releases both at once.
	(
		while sleep 60 >/dev/null 2>&1 9>&- && kill -0 "$$" 2>/dev/null; do
			log "still building $tool $version ($((SECONDS - start))s)"
		done
	) &
	heartbeat=$!
	# shellcheck disable=SC2064 # expand $work and $heartbeat now
	trap "kill '$heartbeat' 2>/dev/null || true; rm -rf '$work'" EXIT
	set +e
	(
		set -e
		cd "$work/src"
		export GOFLAGS=-mod=mod GOWORK=off
		echo "== building $tool $version with $("$GO" version) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		case "$tool" in
		kube-apiserver) build_kube_apiserver "$work" "$work/out" ;;
		etcd) build_etcd "$work" "$work/out" ;;
		golangci-lint) build_golangci_lint "$work" "$work/out" ;;
		pulumi) build_pulumi "$work" "$work/out" ;;
		pulumi-resource-kubernetes) build_kubernetes_provider "$work" "$work/out" ;;
		esac
	) >>"$log" 2>&1 </dev/null
	rc=$?
	set -e
	kill "$heartbeat" 2>/dev/null || true
	elapsed=$((SECONDS - start))
	if [[ $rc -ne 0 || ! -x "$work/out/$tool" ]]; then
		log "building $tool $version FAILED after ${elapsed}s (exit $rc); last lines of $log:"
		tail -n 40 "$log" >&2 || true
		die "could not build $tool $version (full log: $log)"
	fi
	cp "$log" "$work/out/build.log"
	chmod 755 "$work/out" # mktemp made it 0700
	# Atomic: the directory appears complete or not at all.
	mv -T "$work/out" "$final"
	log "built $tool $version in ${elapsed}s: $final/$tool"
}

# The shared tools folder, or nothing when there is none.
shared_dir() {
	local dir="${ASYNCJOBS_SHARED_TOOLS:-}"
	if [[ -z "$dir" ]]; then
		dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/../shared/tools"
	fi
	[[ -d "$dir" ]] && (cd "$dir" && pwd -P)
	return 0
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Checks that binary $2 of shared tool $1 has the pinned checksum.
check_pinned() {
	local want="${SHARED_SHA256[$1]}" got
	got="$(sha256_of "$2")"
	[[ "$got" == "$want" ]] || die "$1: $2 has sha256 $got, want $want (pinned in scripts/tools.sh)"
}

# Decompresses shared tool $1 from the shared folder $2 into $3/$1 and
# checks it against SHA256SUMS and the pinned checksum.
from_shared() {
	local tool="$1" dir="$2" out="$3" file listed
	file="${SHARED_FILE[$tool]}"
	[[ -f "$dir/SHA256SUMS" ]] || die "$dir has no SHA256SUMS"
	listed="$(awk -v f="$file" '$2 == f || $2 == "*" f { print $1 }' "$dir/SHA256SUMS")"
	[[ "$listed" == "${SHARED_SHA256[$tool]}" ]] ||
		die "$tool: $dir/SHA256SUMS lists ${listed:-nothing} for $file, but scripts/tools.sh pins ${SHARED_SHA256[$tool]}"
	command -v xz >/dev/null 2>&1 || die "xz not found (install the Debian package xz-utils)"
	xz -dc "$dir/$file.xz" >"$out/$tool" || die "could not decompress $dir/$file.xz"
	check_pinned "$tool" "$out/$tool"
	chmod 755 "$out/$tool"
}

# The vendor's routes, for machines without the shared folder.
from_vendor() {
	local tool="$1" work="$2" out="$3" pulumi home bin
	case "$tool" in
	pulumi-resource-gcp)
		[[ -n "${ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256:-}" ]] ||
			die "pulumi-resource-gcp: no shared tools folder ($(shared_dir_hint)) and no ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256 to check the vendor's ${GCP_PROVIDER_VERSION} archive against: set ASYNCJOBS_SHARED_TOOLS, or pin the archive's sha256 from the release's checksums"
		ensure_tool pulumi
		pulumi="$(tool_path pulumi)"
		home="$work/pulumi-home"
		PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true "$pulumi" plugin install resource gcp "$GCP_PROVIDER_VERSION" \
			--checksum "$ASYNCJOBS_GCP_PLUGIN_ARCHIVE_SHA256" >&2 ||
			die "pulumi plugin install resource gcp ${GCP_PROVIDER_VERSION} failed (is the vendor reachable?)"
		bin="$home/plugins/resource-gcp-${GCP_PROVIDER_VERSION}/pulumi-resource-gcp"
		[[ -x "$bin" ]] || die "pulumi plugin install left no $bin"
		cp "$bin" "$out/$tool"
		;;
	pulumi-language-go)
		# A vendor-installed CLI has the language host beside it.
		pulumi="$(on_path pulumi)" || pulumi=""
		bin="${pulumi:+$(dirname "$(readlink -f "$pulumi")")/pulumi-language-go}"
		[[ -n "$bin" && -x "$bin" ]] ||
			die "pulumi-language-go: no shared tools folder ($(shared_dir_hint)) and no vendor-installed Pulumi CLI with its Go language host on PATH"
		"$bin" -version 2>/dev/null | grep -qx "$LANGUAGE_GO_VERSION" ||
			die "pulumi-language-go: $bin is not ${LANGUAGE_GO_VERSION} (install the Pulumi CLI ${LANGUAGE_GO_VERSION}, or set ASYNCJOBS_SHARED_TOOLS)"
		cp "$bin" "$out/$tool"
		;;
	mockgcp-server)
		die "mockgcp-server: no shared tools folder ($(shared_dir_hint)); it is built from Config Connector's sources and has no other source: set ASYNCJOBS_SHARED_TOOLS to a folder holding mockgcp-server.xz and SHA256SUMS"
		;;
	esac
}

shared_dir_hint() { printf '%s' "${ASYNCJOBS_SHARED_TOOLS:-../shared/tools beside the repository}"; }

# Installs shared tool $1 into the cache unless it is there already.
ensure_shared() {
	local tool="$1" version root final work dir
	version="$(tool_version "$tool")"
	root="$(cache_root)"
	final="$root/$tool-$version"
	[[ -x "$final/$tool" ]] && return 0
	take_lock "$root/.$tool-$version.lock"
	[[ -x "$final/$tool" ]] && return 0
	rm -rf "$final" "$root/.tmp-$tool-$version."*
	work="$(mktemp -d "$root/.tmp-$tool-$version.XXXXXX")"
	# shellcheck disable=SC2064 # expand $work now
	trap "rm -rf '$work'" EXIT
	mkdir -p "$work/out"
	dir="$(shared_dir)"
	if [[ -n "$dir" && -f "$dir/${SHARED_FILE[$tool]}.xz" ]]; then
		log "installing $tool $version from $dir"
		from_shared "$tool" "$dir" "$work/out"
	else
		log "installing $tool $version by the vendor's route"
		from_vendor "$tool" "$work" "$work/out"
		chmod 755 "$work/out/$tool"
	fi
	sha256_of "$work/out/$tool" >"$work/out/SHA256"
	chmod 755 "$work/out"
	mv -T "$work/out" "$final"
	log "installed $tool $version: $final/$tool"
}

# Tools that come from Debian packages: tool -> package and binary.
declare -A APT_PACKAGE=([shellcheck]=shellcheck)
declare -A APT_BIN=([shellcheck]=/usr/bin/shellcheck)

# Prints the path of tool $1 when it is on PATH already.
on_path() { command -v "$1" 2>/dev/null; }

# Installs the Debian package that provides tool $1 unless the tool is on
# PATH or its binary exists.
ensure_apt() {
	local tool="$1" root log
	local pkg="${APT_PACKAGE[$tool]}" bin="${APT_BIN[$tool]}"
	local -a sudo=()
	on_path "$tool" >/dev/null && return 0
	[[ -x "$bin" ]] && return 0
	root="$(cache_root)"
	take_lock "$root/.$tool.lock"
	[[ -x "$bin" ]] && return 0
	command -v apt-get >/dev/null 2>&1 ||
		die "$tool not found at $bin and apt-get is not available: install the Debian package $pkg"
	if [[ "$(id -u)" -ne 0 ]]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "$tool is not on PATH and installing it needs root: run 'apt-get install -y $pkg' as root (or put $tool on PATH)"
		fi
	fi
	log="$root/$tool.install.log"
	: >"$log"
	local -a apt=(${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
	log "installing Debian package $pkg (log: $log)"
	if ! "${apt[@]}" install -y --no-install-recommends "$pkg" >>"$log" 2>&1 </dev/null; then
		log "apt-get install failed; running apt-get update and retrying"
		if ! { "${apt[@]}" update >>"$log" 2>&1 </dev/null &&
			"${apt[@]}" install -y --no-install-recommends "$pkg" >>"$log" 2>&1 </dev/null; }; then
			tail -n 30 "$log" >&2 || true
			die "could not install $pkg with apt-get (full log: $log)"
		fi
	fi
	[[ -x "$bin" ]] || die "$pkg installed but $bin is missing"
	log "installed $("$bin" --version 2>/dev/null | head -n 2 | tr '\n' ' ')"
}

# Provides tool $1 and prints nothing on stdout. Runs in a subshell so that
# locks and traps end with it.
ensure_tool() {
	check_tool "$1"
	case "$1" in
	shellcheck) (ensure_apt "$1") ;;
	pulumi-resource-gcp | pulumi-language-go | mockgcp-server) (ensure_shared "$1") ;;
	*) (ensure_built "$1") ;;
	esac
}

tool_path() {
	case "$1" in
	shellcheck) on_path shellcheck || printf '%s\n' "${APT_BIN[$1]}" ;;
	*) printf '%s/%s-%s/%s\n' "$(cache_root)" "$1" "$(tool_version "$1")" "$1" ;;
	esac
}

main() {
	[[ $# -ge 1 ]] || usage
	case "$1" in
	path)
		[[ $# -eq 2 ]] || usage
		ensure_tool "$2"
		tool_path "$2"
		;;
	ensure)
		[[ $# -eq 2 ]] || usage
		local t
		if [[ "$2" == all ]]; then
			for t in "${TOOLS[@]}"; do
				ensure_tool "$t"
				log "ok: $t -> $(tool_path "$t")"
			done
		else
			ensure_tool "$2"
			log "ok: $2 -> $(tool_path "$2")"
		fi
		;;
	list) printf '%s\n' "${TOOLS[@]}" ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
