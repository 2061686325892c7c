#!/usr/bin/env bash
# images.sh KUBE_BIN_DIR: step 5 of make e2e-env. Builds the images devloop
# needs and cannot pull (registry, buildkitd; busybox comes from host.sh),
# starts a buildkitd and a registry on this host for the tests, pushes the
# busybox image into that registry, and prints shell exports for .e2e/env.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

image_names
work="$CACHE/work/images"
trap 'rm -rf "$work"' EXIT

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
# stage_base DIR: /etc/passwd, /tmp and CA certificates, as distroless has them.
stage_base() {
	mkdir -p "$1/etc/ssl/certs" "$1/tmp" "$1/bin" "$1/var/run"
	chmod 1777 "$1/tmp"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$1/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
	echo 'hosts: files dns' >"$1/etc/nsswitch.conf"
	cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/" 2>/dev/null || true
}

# The registry image: Debian's docker-registry (distribution $REGISTRY_VERSION),
# run like registry:2 (port 5000, data in /var/lib/registry).
if ! image_exists "$REGISTRY_IMAGE"; then
	log "building $REGISTRY_IMAGE from Debian's docker-registry"
	d="$work/registry"
	rm -rf "$d" && mkdir -p "$d" && stage_base "$d"
	copy_with_libs_from / "$d" /usr/bin/docker-registry
	ln -sf /usr/bin/docker-registry "$d/bin/registry"
	mkdir -p "$d/etc/docker/registry" "$d/var/lib/registry"
	cat >"$d/etc/docker/registry/config.yml" <<'YAML'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
YAML
	tar -C "$d" --numeric-owner --owner=0 --group=0 -c . | docker import \
		-c 'ENTRYPOINT ["/bin/registry", "serve"]' -c 'CMD ["/etc/docker/registry/config.yml"]' \
		-c 'EXPOSE 5000' -c 'VOLUME ["/var/lib/registry"]' - "$REGISTRY_IMAGE" >/dev/null || die "docker import $REGISTRY_IMAGE"
fi

# buildkitd from this repository's moby/buildkit version, built once per version.
bk="$CACHE/buildkit/$BUILDKIT_VERSION"
if [ ! -x "$bk/buildkitd" ]; then
	log "building buildkitd $BUILDKIT_VERSION from the main module (cold: ~3 min)"
	mkdir -p "$bk"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 nice "$GO" build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
		-o "$bk/buildkitd.tmp" github.com/moby/buildkit/cmd/buildkitd) ||
		die "go build github.com/moby/buildkit/cmd/buildkitd in $REPO_ROOT (its go.mod pins the version)"
	mv "$bk/buildkitd.tmp" "$bk/buildkitd"
fi
if [ ! -x "$bk/buildctl" ]; then
	(cd "$REPO_ROOT" && CGO_ENABLED=0 nice "$GO" build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
		-o "$bk/buildctl.tmp" github.com/moby/buildkit/cmd/buildctl) ||
		die "go build github.com/moby/buildkit/cmd/buildctl in $REPO_ROOT"
	mv "$bk/buildctl.tmp" "$bk/buildctl"
fi
if ! image_exists "$BUILDKIT_IMAGE"; then
	log "building $BUILDKIT_IMAGE (buildkitd, buildctl, Debian's runc)"
	d="$work/buildkit"
	rm -rf "$d" && mkdir -p "$d" && stage_base "$d"
	mkdir -p "$d/usr/bin" "$d/var/lib/buildkit"
	install -m 0755 "$bk/buildkitd" "$d/usr/bin/buildkitd"
	install -m 0755 "$bk/buildctl" "$d/usr/bin/buildctl"
	copy_with_libs_from / "$d" /usr/sbin/runc
	tar -C "$d" --numeric-owner --owner=0 --group=0 -c . | docker import \
		-c 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin' \
		-c 'ENTRYPOINT ["/usr/bin/buildkitd"]' -c 'VOLUME ["/var/lib/buildkit"]' - "$BUILDKIT_IMAGE" >/dev/null ||
		die "docker import $BUILDKIT_IMAGE"
fi

# A registry on this host (127.0.0.1:$REGISTRY_PORT), standing in for a
# corporate mirror: it holds the busybox base image as DEVLOOP_BASE_IMAGE.
reg="$CACHE/host-registry"
reg_ok() { curl -fsS -m 2 "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; }
if ! reg_ok; then
	log "starting a registry on 127.0.0.1:$REGISTRY_PORT (log: $reg/registry.log)"
	mkdir -p "$reg/data"
	cat >"$reg/config.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $reg/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YAML
	setsid nohup /usr/bin/docker-registry serve "$reg/config.yml" >>"$reg/registry.log" 2>&1 </dev/null 9>&- &
	deadline=$((SECONDS + 30))
	until reg_ok; do
		[ $SECONDS -lt $deadline ] || die "the host registry did not answer on 127.0.0.1:$REGISTRY_PORT: see $reg/registry.log (port taken? set DEVLOOP_E2E_REGISTRY_PORT)"
		sleep 0.2
	done
fi
if ! curl -fs -m 5 -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://127.0.0.1:$REGISTRY_PORT/v2/devloop-e2e/busybox/manifests/$BUSYBOX_VERSION"; then
	image_exists "$BUSYBOX_IMAGE" || die "$BUSYBOX_IMAGE is missing: host.sh (step 1-2) builds it from busybox-static"
	log "pushing $BASE_IMAGE"
	docker tag "$BUSYBOX_IMAGE" "$BASE_IMAGE"
	docker push -q "$BASE_IMAGE" >/dev/null || die "docker push $BASE_IMAGE"
fi

# buildkitd on this host: root, Debian's runc, state under the cache, unix socket.
bks="$CACHE/host-buildkitd"
sock="$bks/buildkitd.sock"
bk_ok() { timeout 5 "$BIN_DIR/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1; }
BIN_DIR="$bk"
sock_ok() { [ -S "$sock" ] && bk_ok; }
if ! sock_ok; then
	log "starting buildkitd on unix://$sock (log: $bks/buildkitd.log)"
	mkdir -p "$bks/root"
	cat >"$bks/buildkitd.toml" <<TOML
# devloop e2e host buildkitd: the host registry speaks plain HTTP.
[registry."127.0.0.1:$REGISTRY_PORT"]
  http = true
  insecure = true
[registry."localhost:$REGISTRY_PORT"]
  http = true
  insecure = true
TOML
	rm -f "$sock"
	setsid nohup "$bk/buildkitd" --config "$bks/buildkitd.toml" --root "$bks/root" --addr "unix://$sock" \
		--oci-worker-binary /usr/sbin/runc --containerd-worker=false >>"$bks/buildkitd.log" 2>&1 </dev/null 9>&- &
	deadline=$((SECONDS + 60))
	until sock_ok; do
		[ $SECONDS -lt $deadline ] || die "buildkitd did not answer on $sock within 60 s: see $bks/buildkitd.log"
		sleep 0.3
	done
fi

cat <<ENV
export DEVLOOP_REGISTRY_IMAGE=$REGISTRY_IMAGE
export DEVLOOP_BUILDKIT_IMAGE=$BUILDKIT_IMAGE
export DEVLOOP_BUSYBOX_IMAGE=$BUSYBOX_IMAGE
export BUILDKIT_HOST=unix://$sock
export DEVLOOP_BASE_IMAGE=$BASE_IMAGE
export DEVLOOP_TEST_REGISTRY=127.0.0.1:$REGISTRY_PORT
ENV
