#!/usr/bin/env bash
# fresh.sh [--cold]: make e2e-env-check. Proves that make e2e-env sets the test
# environment up from a bare state, not from what an earlier run left behind:
# it removes what it can safely remove, runs e2e-env.sh again, and that run ends
# with check-env.sh (every image .e2e/env names exists, DEVLOOP_BASE_IMAGE is in
# the host registry, buildkitd and kubectl answer).
#
# Always removed: the packages busybox-static, jq and docker-registry (dpkg
# refuses when something else depends on one: then it stays, and this says so),
# the busybox and registry images, the host registry (stopped, its data, so the
# base image is pushed again), the host buildkitd (stopped), and .e2e/env.
# With --cold, also: the whole cache ($DEVLOOP_E2E_CACHE: Kubernetes binaries,
# the debootstrap tarball, buildkitd), every devloop-e2e/* image, the runc
# wrapper and its daemon.json entries, and dockerd itself (stopped): the next
# run is what a machine that never ran the project does, less the Debian
# packages that are large (docker.io, chromium) and the Go caches.
# Root only; it changes this machine's packages. About 1-2 min without --cold
# (one apt-get update and install), about 15-20 min with it (TESTING.md).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cold=false
case "${1:-}" in
"") ;;
--cold) cold=true ;;
*) die "usage: fresh.sh [--cold]" ;;
esac
[ "$(id -u)" = 0 ] || die "make e2e-env-check removes packages and images: run it as root"

t0=$SECONDS
# stop_matching PATTERN stops the processes whose command line matches PATTERN (pkill -f) and waits for them.
stop_matching() {
	pkill -f "$1" 2>/dev/null || return 0
	local deadline=$((SECONDS + 30))
	while pgrep -f "$1" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || { pkill -9 -f "$1" 2>/dev/null || true; break; }
		sleep 0.2
	done
}

log "fresh: stopping the host registry and buildkitd"
stop_matching "docker-registry serve $CACHE/host-registry/"
stop_matching "$CACHE/buildkit/.*/buildkitd "
rm -rf "$CACHE/host-registry" "$REPO_ROOT/.e2e/env"

if timeout 10 docker info >/dev/null 2>&1; then
	if $cold; then
		imgs="$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '(^|/)devloop-e2e/' || true)"
	else
		imgs="$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '(^|/)devloop-e2e/(busybox|registry):' || true)"
	fi
	if [ -n "$imgs" ]; then
		log "fresh: removing images: $(echo $imgs)"
		# shellcheck disable=SC2086
		docker rmi -f $imgs >/dev/null
	fi
fi

if $cold; then
	log "fresh: stopping dockerd, removing the runc wrapper and $CACHE"
	pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
	fi
	rm -f /usr/local/libexec/devloop-e2e/runc
	if [ -s /etc/docker/daemon.json ] && command -v jq >/dev/null 2>&1; then
		jq 'del(.runtimes["devloop-e2e-runc"]) | if .["default-runtime"] == "devloop-e2e-runc" then del(.["default-runtime"]) else . end' \
			/etc/docker/daemon.json >/etc/docker/daemon.json.tmp && mv /etc/docker/daemon.json.tmp /etc/docker/daemon.json
	fi
	rm -rf "$CACHE"
fi

for p in busybox-static jq docker-registry; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || continue
	if dpkg --purge "$p" >/dev/null 2>&1; then
		log "fresh: removed the package $p"
	else
		log "fresh: kept the package $p (dpkg --purge refused: something depends on it)"
	fi
done

log "fresh: removed in $((SECONDS - t0)) s; running make e2e-env from this state"
t1=$SECONDS
"$E2E_DIR/e2e-env.sh"
log "fresh: make e2e-env passed from a bare state in $((SECONDS - t1)) s"
