# lib.sh: shared settings and helpers for the make e2e-env scripts. Sourced, not run.
# Every version the environment pins is here; caches are keyed by them.

KUBE_VERSION=v1.34.2          # Kubernetes (kubelet 1.35 may refuse cgroup v1 hosts)
ETCD_VERSION=3.6.5            # kubeadm 1.34's DefaultEtcdVersion (image tag 3.6.5-0)
COREDNS_VERSION=v1.12.1       # kubeadm 1.34's CoreDNSVersion
PAUSE_VERSION=3.10.1          # kubeadm 1.34's PauseVersion
DEBIAN_SUITE=bookworm         # node rootfs: systemd, containerd 1.6, runc from Debian
NODE_IMAGE_REV=1              # bump when the node image recipe changes without a version change

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/../../.." && pwd)"
CACHE="${DEVLOOP_E2E_CACHE:-/var/cache/devloop-e2e}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

log() { printf '[e2e-env %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf '[e2e-env] FAILED: %s\n' "$*" >&2; exit 1; }

# pkg_tag NAME prints the installed version of the Debian package NAME as an
# image tag (epoch dropped, characters a tag cannot hold as -). It fails, naming
# the package, when NAME is not installed: call it only after host.sh has
# installed the packages, never when a script is read.
pkg_tag() {
	local v
	v="$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true)"
	case "$v" in
	"install ok installed "*) v="${v#install ok installed }" ;;
	*) die "the Debian package $1 is not installed: make e2e-env installs it in step 1 (test/e2e/env/host.sh)" ;;
	esac
	printf '%s' "$v" | sed 's/^[0-9]*://; s/[^a-zA-Z0-9.]/-/g'
}

# image_names sets the names of the images made from this host's Debian
# packages and the main module's BuildKit, and the busybox copy in the host
# registry. The one place those names are computed; host.sh calls it after its
# install step, images.sh and check-env.sh at their start.
image_names() {
	BUSYBOX_VERSION="$(pkg_tag busybox-static)" || exit 1
	REGISTRY_VERSION="$(pkg_tag docker-registry)" || exit 1
	RUNC_VERSION="$(pkg_tag runc)" || exit 1
	BUILDKIT_VERSION="$(cd "$REPO_ROOT" && "$GO" list -m -f '{{.Version}}' github.com/moby/buildkit)" ||
		die "reading moby/buildkit's version from $REPO_ROOT/go.mod"
	BUSYBOX_IMAGE="devloop-e2e/busybox:$BUSYBOX_VERSION"
	REGISTRY_IMAGE="devloop-e2e/registry:$REGISTRY_VERSION"
	# r2: buildctl in the image (devloop reaches a managed buildkitd through `buildctl dial-stdio`).
	BUILDKIT_IMAGE="devloop-e2e/buildkit:$BUILDKIT_VERSION-runc$RUNC_VERSION-r2"
	REGISTRY_PORT="${DEVLOOP_E2E_REGISTRY_PORT:-5055}"
	BASE_IMAGE="127.0.0.1:$REGISTRY_PORT/devloop-e2e/busybox:$BUSYBOX_VERSION"
}

# stamp_ok DIR KEY reports whether DIR holds a finished build whose key is KEY.
stamp_ok() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$1/.stamp"; }

# hash_files prints one sha256 over the contents of the given files.
hash_files() { cat "$@" | sha256sum | cut -c1-16; }

# copy_with_libs_from ROOT DST FILE...: copies FILEs (absolute paths inside the
# tree ROOT, "/" for this host) into DST with every shared library they load
# (ldd, run inside ROOT), keeping paths and following symlinks to their targets.
copy_with_libs_from() {
	local root="${1%/}" dst="$2" f t
	shift 2
	{
		for f in "$@"; do
			echo "$f"
			if [ -z "$root" ]; then ldd "$f" 2>/dev/null; else chroot "$root" ldd "$f" 2>/dev/null; fi | grep -o '/[^ ]*' || true
		done
	} | sort -u | while read -r f; do
		while :; do
			[ -e "$root$f" ] || [ -L "$root$f" ] || break
			mkdir -p "$dst$(dirname "$f")"
			cp -a "$root$f" "$dst$f"
			[ -L "$root$f" ] || break
			t="$(readlink "$root$f")"
			case "$t" in /*) f="$t" ;; *) f="$(dirname "$f")/$t" ;; esac
		done
	done
}
