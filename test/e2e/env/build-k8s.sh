#!/usr/bin/env bash
# build-k8s.sh: builds the Kubernetes server binaries ($KUBE_VERSION), etcd,
# coredns and the pause program from the Go module proxy into
# $CACHE/k8s/<key>/bin. Skips when that directory is complete for the same key.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

key="$KUBE_VERSION-etcd$ETCD_VERSION-coredns$COREDNS_VERSION-$(hash_files "$E2E_DIR"/k8s/go.mod "$E2E_DIR"/k8s/go.sum "$E2E_DIR"/k8s/pause/main.go "$E2E_DIR"/coredns/go.mod "$E2E_DIR"/coredns/go.sum)"
out="$CACHE/k8s/$key"
if stamp_ok "$out" "$key"; then
	log "kubernetes binaries: cached in $out"
	echo "$out/bin"
	exit 0
fi
mkdir -p "$out/bin"

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
# Same -X flags as kubernetes' hack/lib/version.sh, so every binary reports $KUBE_VERSION.
# buildDate is the release's module time: the same inputs give the same binaries.
info="$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Info": "\(.*\)".*/\1/p')"
date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info" 2>/dev/null || true)"
[ -n "$date" ] || die "cannot read k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy (is it reachable? go env GOPROXY)"
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
done

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
start=$(date +%s)
log "building kubernetes $KUBE_VERSION server binaries and etcd $ETCD_VERSION (cold: ~10 min on 2 cores)"
(cd "$E2E_DIR/k8s" && nice "$GO" build -trimpath -ldflags "$ldflags" -o "$out/bin/" \
	k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy) ||
	die "building kubernetes $KUBE_VERSION (see the go errors above; module test/e2e/env/k8s)"
(cd "$E2E_DIR/k8s" && nice "$GO" build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3) ||
	die "building etcd $ETCD_VERSION (module test/e2e/env/k8s)"
(cd "$E2E_DIR/k8s" && nice "$GO" build -trimpath -ldflags "-s -w -X main.version=$PAUSE_VERSION" -o "$out/bin/pause" ./pause) ||
	die "building pause (test/e2e/env/k8s/pause)"
log "building coredns $COREDNS_VERSION"
(cd "$E2E_DIR/coredns" && nice "$GO" build -trimpath -ldflags "-s -w" -o "$out/bin/coredns" github.com/coredns/coredns) ||
	die "building coredns $COREDNS_VERSION (module test/e2e/env/coredns)"

got="$("$out/bin/kubeadm" version -o short)"
[ "$got" = "$KUBE_VERSION" ] || die "kubeadm reports $got, want $KUBE_VERSION: the version ldflags did not apply"
stamp_set "$out" "$key"
log "kubernetes binaries built in $(( $(date +%s) - start )) s into $out"
echo "$out/bin"
