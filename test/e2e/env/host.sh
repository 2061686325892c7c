#!/usr/bin/env bash
# host.sh: steps 1 and 2 of make e2e-env. Installs the Debian packages the test
# environment needs, starts dockerd if none answers, and installs the runc
# wrapper (runc-wrapper.sh) as docker's default runtime only when a privileged
# probe container fails on this host.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(docker.io containerd runc iptables curl debootstrap docker-registry busybox-static jq chromium chromium-driver)

install_packages() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "debian packages: all present"
		return
	fi
	log "installing debian packages: ${missing[*]}"
	[ "$(id -u)" = 0 ] || die "make e2e-env installs packages and runs dockerd: run it as root"
	apt-get update -qq || die "apt-get update (check /etc/apt/sources.list*)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]}"
}

docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

# start_dockerd runs dockerd in the background (its own session, so it outlives
# make) logging to $CACHE/dockerd.log, and waits until docker info answers.
start_dockerd() {
	log "starting dockerd (log: $CACHE/dockerd.log)"
	mkdir -p "$CACHE"
	setsid nohup dockerd >>"$CACHE/dockerd.log" 2>&1 </dev/null 9>&- &
	local deadline=$((SECONDS + 60))
	until docker_ok; do
		[ $SECONDS -lt $deadline ] || die "dockerd did not answer docker info within 60 s: see $CACHE/dockerd.log"
		kill -0 $! 2>/dev/null || die "dockerd exited: see the end of $CACHE/dockerd.log"
		sleep 0.5
	done
}

stop_dockerd() {
	local pid
	pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
	[ -n "$pid" ] || die "dockerd runs but /var/run/docker.pid is missing: restart dockerd by hand after editing /etc/docker/daemon.json"
	log "restarting dockerd (pid $pid) to apply /etc/docker/daemon.json"
	kill "$pid"
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || die "dockerd (pid $pid) did not stop within 60 s"
		sleep 0.2
	done
}

# busybox_image makes $BUSYBOX_IMAGE from Debian's busybox-static (nothing can
# be pulled): one static binary and its applet links, FROM scratch.
# (Its name comes from image_names, after install_packages.)
busybox_image() {
	if docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then return; fi
	log "building $BUSYBOX_IMAGE from /bin/busybox (busybox-static)"
	local d
	d="$(mktemp -d)"
	mkdir -p "$d/bin" "$d/tmp" "$d/etc" "$d/root"
	cp /bin/busybox "$d/bin/busybox"
	for a in $(/bin/busybox --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$d/etc/group"
	chmod 1777 "$d/tmp"
	tar -C "$d" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$BUSYBOX_IMAGE" >/dev/null
	rm -rf "$d"
}

privileged_ok() { docker run --rm --privileged --net=none "$BUSYBOX_IMAGE" true >/dev/null 2>"$CACHE/privileged-probe.err"; }

WRAPPER=/usr/local/libexec/devloop-e2e/runc
install_runc_wrapper() {
	install -D -m 0755 "$E2E_DIR/runc-wrapper.sh" "$WRAPPER"
	local cfg=/etc/docker/daemon.json want
	mkdir -p /etc/docker
	[ -s "$cfg" ] || echo '{}' >"$cfg"
	want="$(jq --arg p "$WRAPPER" '.runtimes["devloop-e2e-runc"] = {path: $p} | .["default-runtime"] = "devloop-e2e-runc"' "$cfg")" ||
		die "$cfg is not valid JSON: fix or remove it"
	if [ "$want" != "$(jq . "$cfg")" ]; then
		log "setting docker's default runtime to $WRAPPER in $cfg"
		printf '%s\n' "$want" >"$cfg"
		stop_dockerd
		start_dockerd
	fi
}

install_packages
image_names
mkdir -p "$CACHE"
# A wrapper installed by an earlier run follows this checkout's version.
if [ -f "$WRAPPER" ] && ! cmp -s "$E2E_DIR/runc-wrapper.sh" "$WRAPPER"; then
	install -m 0755 "$E2E_DIR/runc-wrapper.sh" "$WRAPPER"
fi
docker_ok || start_dockerd
busybox_image
if privileged_ok; then
	log "privileged containers work on this host"
else
	log "privileged containers fail here ($(tail -c 300 "$CACHE/privileged-probe.err" | tr '\n' ' ')): installing the CAP_SYS_RESOURCE-dropping runc wrapper"
	install_runc_wrapper
	privileged_ok || die "privileged containers still fail with the runc wrapper: $(cat "$CACHE/privileged-probe.err")"
	log "privileged containers work with the runc wrapper"
fi
