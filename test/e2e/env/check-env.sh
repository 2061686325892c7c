#!/usr/bin/env bash
# check-env.sh [ENV_FILE]: checks that what .e2e/env names is really there:
# every image in docker's store, DEVLOOP_BASE_IMAGE in the host registry, the
# host buildkitd answering, kubectl running. make e2e-env ends with it, so a
# setup that only worked because an earlier run left something behind fails
# here, naming what is missing, instead of in a test minutes later.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_file="${1:-$REPO_ROOT/.e2e/env}"
[ -f "$env_file" ] || die "$env_file is missing: run make e2e-env"
# shellcheck disable=SC1090
. "$env_file"

bad=()
for v in DEVLOOP_KIND_NODE_IMAGE DEVLOOP_REGISTRY_IMAGE DEVLOOP_BUILDKIT_IMAGE DEVLOOP_BUSYBOX_IMAGE; do
	img="${!v:-}"
	if [ -z "$img" ]; then
		bad+=("$v is not set in $env_file")
	elif ! docker image inspect "$img" >/dev/null 2>&1; then
		bad+=("$v=$img is not in docker's image store")
	fi
done
# The images named here are the ones this host's packages give today.
image_names
[ "${DEVLOOP_BUSYBOX_IMAGE:-}" = "$BUSYBOX_IMAGE" ] || bad+=("DEVLOOP_BUSYBOX_IMAGE=${DEVLOOP_BUSYBOX_IMAGE:-} but busybox-static gives $BUSYBOX_IMAGE")
[ "${DEVLOOP_BASE_IMAGE:-}" = "$BASE_IMAGE" ] || bad+=("DEVLOOP_BASE_IMAGE=${DEVLOOP_BASE_IMAGE:-} but busybox-static gives $BASE_IMAGE")

# DEVLOOP_BASE_IMAGE = HOST:PORT/REPO:TAG, served by the host registry.
ref="${DEVLOOP_BASE_IMAGE:-}"
host="${ref%%/*}" rest="${ref#*/}"
repo="${rest%:*}" tag="${rest##*:}"
if ! curl -fsS -m 5 -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$host/v2/$repo/manifests/$tag" 2>/dev/null; then
	bad+=("DEVLOOP_BASE_IMAGE=$ref is not in the registry at $host")
fi

sock="${BUILDKIT_HOST#unix://}"
bk="$CACHE/buildkit/$BUILDKIT_VERSION/buildctl"
if ! timeout 10 "$bk" --addr "$BUILDKIT_HOST" debug workers >/dev/null 2>&1; then
	bad+=("BUILDKIT_HOST=$BUILDKIT_HOST does not answer ($bk debug workers; socket $sock)")
fi
if ! "${KUBECTL:-/nonexistent}" version --client >/dev/null 2>&1; then
	bad+=("KUBECTL=${KUBECTL:-} does not run")
fi

if [ ${#bad[@]} -gt 0 ]; then
	printf '[e2e-env] check: %s\n' "${bad[@]}" >&2
	die "the test environment is incomplete (${#bad[@]} problems above): rerun make e2e-env, or see TESTING.md"
fi
log "check: every image, the base image in the registry, buildkitd and kubectl are there"
