#!/usr/bin/env bash
# node-image.sh BIN_DIR: step 4 of make e2e-env. Builds the kind node image
# $NODE_IMAGE offline: a debootstrap'd Debian rootfs with systemd, containerd,
# runc and the CNI plugins from Debian; kind's base-image files (entrypoint,
# systemd units) read from the sigs.k8s.io/kind module in the Go module cache;
# the Kubernetes binaries from BIN_DIR (build-k8s.sh); and the component images
# kubeadm expects, built FROM scratch and preloaded into the node's containerd.
# Prints the image name. Skips when the image exists for the same inputs.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="${1:?usage: node-image.sh BIN_DIR (from build-k8s.sh) | --base-only}"
# Packages of the node, as kind's base image has them (jq: kind's mount-product-files.sh hook; minus fuse-overlayfs,
# nfs and iscsi, which no test here uses).
NODE_PACKAGES=systemd,systemd-sysv,dbus,jq,containerd,runc,containernetworking-plugins,iptables,nftables,conntrack,iproute2,ethtool,kmod,util-linux,mount,libseccomp2,pigz,procps,ca-certificates,socat

# debian_mirror prints the Debian mirror apt already uses (the node rootfs
# comes from the same place), or DEVLOOP_E2E_DEBIAN_MIRROR.
debian_mirror() {
	if [ -n "${DEVLOOP_E2E_DEBIAN_MIRROR:-}" ]; then echo "$DEVLOOP_E2E_DEBIAN_MIRROR"; return; fi
	local m
	m="$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'; } |
		grep -v security | grep -m1 '/debian/\?$' || true)"
	echo "${m:-http://deb.debian.org/debian}"
}

# 1. The base rootfs, cached as a tarball keyed by suite and package list.
base_key="$DEBIAN_SUITE-$(echo "$NODE_PACKAGES" | sha256sum | cut -c1-12)"
base_tar="$CACHE/debootstrap/$base_key.tar"
if [ ! -s "$base_tar" ]; then
	mirror="$(debian_mirror)"
	log "debootstrap $DEBIAN_SUITE from $mirror (cold: ~2 min)"
	mkdir -p "$CACHE/debootstrap"
	d="$CACHE/debootstrap/$base_key.dir"
	rm -rf "$d"
	nice debootstrap --variant=minbase --include="$NODE_PACKAGES" "$DEBIAN_SUITE" "$d" "$mirror" >"$CACHE/debootstrap/$base_key.log" 2>&1 ||
		die "debootstrap $DEBIAN_SUITE from $mirror: see $CACHE/debootstrap/$base_key.log (set DEVLOOP_E2E_DEBIAN_MIRROR to another mirror)"
	rm -rf "$d/var/cache/apt/archives/"*.deb "$d/var/lib/apt/lists/"*
	tar -C "$d" --numeric-owner -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
	rm -rf "$d"
fi

[ "$BIN" != --base-only ] || exit 0

KIND_MOD="sigs.k8s.io/kind@$(cd "$REPO_ROOT" && "$GO" list -m -f '{{.Version}}' sigs.k8s.io/kind)"
KIND_BASE="$("$GO" env GOMODCACHE)/$KIND_MOD/images/base/files"
if [ ! -d "$KIND_BASE" ]; then
	(cd "$REPO_ROOT" && "$GO" mod download sigs.k8s.io/kind) || die "downloading $KIND_MOD (its images/base/files are the node's entrypoint and units)"
fi
[ -f "$KIND_BASE/usr/local/bin/entrypoint" ] || die "$KIND_BASE/usr/local/bin/entrypoint is missing"

self_hash="$(hash_files "$E2E_DIR/node-image.sh" "$E2E_DIR/lib.sh" "$E2E_DIR/iptables-wrapper.sh")"
key="$KUBE_VERSION-$DEBIAN_SUITE-r$NODE_IMAGE_REV-$(cat "$BIN/../.stamp" 2>/dev/null | sha256sum | cut -c1-8)-$self_hash-$(echo "$KIND_MOD" | sha256sum | cut -c1-4)"
NODE_IMAGE="devloop-e2e/node:$KUBE_VERSION-$(echo "$key" | sha256sum | cut -c1-12)"
if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
	log "node image: $NODE_IMAGE exists"
	echo "$NODE_IMAGE"
	exit 0
fi
start=$SECONDS

# 2. The node rootfs, assembled in a scratch directory.
work="$CACHE/work/node"
cleanup() {
	[ -n "${ctd_pid:-}" ] && kill "$ctd_pid" 2>/dev/null && wait "$ctd_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work/rootfs"
R="$work/rootfs"
tar -C "$R" --numeric-owner -xf "$base_tar"

log "assembling the node rootfs"
# kind's base image files: entrypoint, /kind/bin, sysctls, kubelet units.
install -m 0755 "$KIND_BASE/usr/local/bin/entrypoint" "$R/usr/local/bin/entrypoint"
mkdir -p "$R/kind/bin" "$R/kind/manifests" "$R/etc/systemd/system/kubelet.service.d" "$R/etc/kubernetes/manifests"
install -m 0755 "$KIND_BASE"/kind/bin/*.sh "$R/kind/bin/"
install -m 0644 "$KIND_BASE"/etc/sysctl.d/* "$R/etc/sysctl.d/"
install -m 0644 "$KIND_BASE/etc/default/kubelet" "$R/etc/default/kubelet"
install -m 0644 "$KIND_BASE/etc/crictl.yaml" "$R/etc/crictl.yaml"
for u in kubelet.service kubelet.slice undo-mount-hacks.service; do
	install -m 0644 "$KIND_BASE/etc/systemd/system/$u" "$R/etc/systemd/system/$u"
done
install -m 0644 "$KIND_BASE"/etc/systemd/system/kubelet.service.d/* "$R/etc/systemd/system/kubelet.service.d/"

# containerd from Debian, started as kind's unit does, but without
# OOMScoreAdjust=-999: lowering it needs CAP_SYS_RESOURCE, which a node here may lack.
cat >"$R/etc/systemd/system/containerd.service" <<'UNIT'
[Unit]
Description=containerd container runtime (Debian's, devloop e2e node)
After=network.target local-fs.target
StartLimitIntervalSec=0

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
UNIT
for b in containerd ctr containerd-shim-runc-v2; do ln -sf "/usr/bin/$b" "$R/usr/local/bin/$b"; done
mkdir -p "$R/opt/cni" && ln -sfn /usr/lib/cni "$R/opt/cni/bin"

# containerd: kind's settings plus the CRI pause image, the certs.d registry
# configuration that devloop's local registry uses, and restrict_oom_score_adj
# (pods cannot lower oom_score_adj without CAP_SYS_RESOURCE: every sandbox fails without it).
ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
	jq 'del(.process.rlimits)' >"$R/etc/containerd/cri-base.json"
cat >"$R/etc/containerd/config.toml" <<TOML
# devloop e2e node: containerd $(chroot "$R" dpkg-query -W -f='${Version}' containerd) from Debian.
version = 2

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = true
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler.options]
    SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"
  tolerate_missing_hugepages_controller = true
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "/etc/cni/net.d"
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
TOML
mkdir -p "$R/etc/containerd/certs.d"

# Pod network: one node, so a bridge with host-local IPAM on kind's default pod
# subnet and portmap for hostPort; kind applies default-cni.yaml, which here
# only records that (there is no kindnetd image).
mkdir -p "$R/etc/cni/net.d"
cat >"$R/etc/cni/net.d/10-devloop-bridge.conflist" <<'JSON'
{
  "cniVersion": "1.0.0",
  "name": "devloop-bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
cat >"$R/kind/manifests/default-cni.yaml" <<'YAML'
# devloop e2e node: pods use the bridge CNI configured in
# /etc/cni/net.d/10-devloop-bridge.conflist (single node, no kindnetd).
apiVersion: v1
kind: ConfigMap
metadata:
  name: devloop-e2e-cni
  namespace: kube-system
data:
  cni: bridge + host-local + portmap, /etc/cni/net.d/10-devloop-bridge.conflist
YAML
cat >"$R/kind/manifests/default-storage.yaml" <<'YAML'
# devloop e2e node: a default StorageClass named "standard" as kind has, but
# with no dynamic provisioner (kind's local-path-provisioner image is not
# available offline): PersistentVolumes must be created by hand.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
YAML
echo "$KUBE_VERSION" >"$R/kind/version"

for b in kubeadm kubelet kubectl; do install -m 0755 "$BIN/$b" "$R/usr/bin/$b"; done

# systemd as kind's base image sets it up.
find "$R/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$R"/lib/systemd/system/multi-user.target.wants/* "$R"/etc/systemd/system/*.wants/* \
	"$R"/lib/systemd/system/local-fs.target.wants/* "$R"/lib/systemd/system/sockets.target.wants/*udev* \
	"$R"/lib/systemd/system/sockets.target.wants/*initctl* "$R"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$R/etc/systemd/journald.conf"
chroot "$R" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1 ||
	die "systemctl enable in the node rootfs"
chroot "$R" systemctl mask systemd-binfmt.service >/dev/null 2>&1 || die "systemctl mask in the node rootfs"
: >"$R/etc/machine-id"

# 3. Component images FROM scratch, named as kubeadm expects them.
# stage_common DIR: the minimal files distroless images have.
stage_common() {
	mkdir -p "$1/etc" "$1/tmp" "$1/usr/local/bin" "$1/run" "$1/var"
	ln -sfn ../run "$1/var/run"
	chmod 1777 "$1/tmp"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$1/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
	echo 'hosts: files dns' >"$1/etc/nsswitch.conf"
	cp "$R/etc/protocols" "$R/etc/services" "$1/etc/"
	mkdir -p "$1/etc/ssl/certs" && cp "$R/etc/ssl/certs/ca-certificates.crt" "$1/etc/ssl/certs/"
}
copy_with_libs() { copy_with_libs_from "$R" "$@"; }
# import_image DIR NAME ENTRYPOINT_JSON
import_image() {
	tar -C "$1" --numeric-owner --owner=0 --group=0 -c . | docker import \
		-c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
		${3:+-c "ENTRYPOINT $3"} - "$2" >/dev/null || die "docker import $2"
}

images="$("$BIN/kubeadm" config images list --kubernetes-version "$KUBE_VERSION")" ||
	die "kubeadm config images list --kubernetes-version $KUBE_VERSION"
log "building component images: $(echo $images)"
for img in $images; do
	d="$work/img/$(basename "${img%%:*}")"
	mkdir -p "$d"
	stage_common "$d"
	case "$img" in
	*/kube-proxy:*)
		install -m 0755 "$BIN/kube-proxy" "$d/usr/local/bin/"
		# iptables (nft and legacy backends), their xtables extension modules
		# and conntrack, each with all its shared libraries: kube-proxy
		# programs Services through them.
		copy_with_libs "$d" /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack \
			/usr/sbin/nft $(cd "$R" && ls usr/lib/x86_64-linux-gnu/xtables/*.so | sed 's|^|/|')
		# iptables-wrapper.sh picks the node's backend on first use; it runs
		# under busybox sh (Debian's busybox-static).
		install -m 0755 "$E2E_DIR/iptables-wrapper.sh" "$d/usr/sbin/iptables-wrapper"
		mkdir -p "$d/bin" && install -m 0755 /bin/busybox "$d/bin/busybox"
		for a in sh grep ln timeout basename; do ln -sf busybox "$d/bin/$a"; done
		for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
			ln -sf iptables-wrapper "$d/usr/sbin/$t"
			ln -sf xtables-nft-multi "$d/usr/sbin/${t/tables/tables-nft}"
			ln -sf xtables-legacy-multi "$d/usr/sbin/${t/tables/tables-legacy}"
		done
		import_image "$d" "$img" ""
		;;
	*/kube-*:*)
		n="$(basename "${img%%:*}")"
		install -m 0755 "$BIN/$n" "$d/usr/local/bin/"
		import_image "$d" "$img" "[\"/usr/local/bin/$n\"]"
		;;
	*/etcd:*)
		install -m 0755 "$BIN/etcd" "$d/usr/local/bin/"
		import_image "$d" "$img" ""
		;;
	*/coredns:*)
		install -m 0755 "$BIN/coredns" "$d/coredns"
		import_image "$d" "$img" '["/coredns"]'
		;;
	*/pause:*)
		install -m 0755 "$BIN/pause" "$d/pause"
		import_image "$d" "$img" '["/pause"]'
		;;
	*) die "kubeadm expects $img, which node-image.sh does not know how to build" ;;
	esac
done

# 4. Preload them into the node's containerd store with kind's import flags
# (less --label=io.cri-containerd.pinned=pinned, which containerd 1.6's ctr lacks),
# using a throwaway containerd (Debian's, the node's version) on the rootfs.
log "preloading the component images into the node's containerd"
mkdir -p "$work/ctd"
cat >"$work/ctd/config.toml" <<TOML
version = 2
root = "$R/var/lib/containerd"
state = "$work/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/ctd/ctd.sock"
TOML
containerd --config "$work/ctd/config.toml" >"$work/ctd/log" 2>&1 &
ctd_pid=$!
deadline=$((SECONDS + 30))
until ctr -a "$work/ctd/ctd.sock" version >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || die "the import containerd did not start: $(tail -5 "$work/ctd/log")"
	sleep 0.2
done
docker save $images | ctr -a "$work/ctd/ctd.sock" --namespace=k8s.io images import \
	--all-platforms --no-unpack --digests - >/dev/null ||
	die "ctr images import into the node rootfs"
got="$(ctr -a "$work/ctd/ctd.sock" --namespace=k8s.io images list -q)"
for img in $images; do grep -qxF "$img" <<<"$got" || die "$img missing from the node's containerd after import"; done
kill "$ctd_pid" && wait "$ctd_pid" 2>/dev/null || true
ctd_pid=""
# They live in the node only: keep registry.k8s.io names out of the host's docker.
docker rmi $images >/dev/null 2>&1 || true

# 5. The rootfs becomes the image: docker import (entrypoint, container=docker),
# then STOPSIGNAL (which docker import cannot set) with a one-line build FROM it.
log "importing the node rootfs as $NODE_IMAGE"
tar -C "$R" --numeric-owner -c . | docker import \
	-c 'ENV container=docker' \
	-c 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' - "$NODE_IMAGE-rootfs" >/dev/null ||
	die "docker import of the node rootfs"
mkdir -p "$work/stop"
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$NODE_IMAGE-rootfs" >"$work/stop/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$NODE_IMAGE" "$work/stop" >/dev/null || die "docker build of the STOPSIGNAL layer on $NODE_IMAGE-rootfs"
docker rmi "$NODE_IMAGE-rootfs" >/dev/null 2>&1 || true
# Older node images of this environment are superseded (one in use stays).
docker images --format '{{.Repository}}:{{.Tag}}' devloop-e2e/node | grep -vxF "$NODE_IMAGE" | xargs -r docker rmi >/dev/null 2>&1 || true
log "node image $NODE_IMAGE built in $((SECONDS - start)) s"
echo "$NODE_IMAGE"
