#!/usr/bin/env bash
# e2e-env.sh: make e2e-env. Builds and starts the offline test environment
# (TESTING.md) and writes .e2e/env. Idempotent: every step checks what exists
# (caches under $DEVLOOP_E2E_CACHE, default /var/cache/devloop-e2e, keyed by
# versions) and a rerun on a ready machine takes seconds and changes nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$SECONDS
# One run at a time per cache: a second make e2e-env waits for the first, then finds it all done.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "locking $CACHE/.lock"
step() { log "== $* (at $((SECONDS - t0)) s)"; }

step "1-2. host: packages, dockerd, privileged containers"
"$E2E_DIR/host.sh"

# The node's Debian rootfs downloads while the Go builds use the CPUs.
"$E2E_DIR/node-image.sh" --base-only &
base_pid=$!

step "3. Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, coredns $COREDNS_VERSION, pause"
bin="$("$E2E_DIR/build-k8s.sh" | tail -1)"
wait "$base_pid" || die "the node rootfs (debootstrap) failed: see its message above"

step "4. kind node image"
node_image="$("$E2E_DIR/node-image.sh" "$bin" | tail -1)"

step "5. registry, buildkitd and busybox images; host buildkitd and registry"
exports="$("$E2E_DIR/images.sh")"

step "6. writing $REPO_ROOT/.e2e/env"
mkdir -p "$REPO_ROOT/.e2e"
new="$(cat <<ENV
# Written by make e2e-env (test/e2e/env/e2e-env.sh); source it: . .e2e/env
# See TESTING.md for what each variable is.
export DEVLOOP_KIND_NODE_IMAGE=$node_image
$exports
export KUBECTL=$bin/kubectl
export DEVLOOP_E2E_CACHE=$CACHE
export DEVLOOP_E2E_KUBE_VERSION=$KUBE_VERSION
ENV
)"
if [ "$new" != "$(cat "$REPO_ROOT/.e2e/env" 2>/dev/null)" ]; then
	printf '%s\n' "$new" >"$REPO_ROOT/.e2e/env"
fi
cat "$REPO_ROOT/.e2e/env" >&2
step "7. checking what .e2e/env names"
"$E2E_DIR/check-env.sh" "$REPO_ROOT/.e2e/env"
log "test environment ready in $((SECONDS - t0)) s; caches: $(du -sh "$CACHE" 2>/dev/null | cut -f1) in $CACHE"
