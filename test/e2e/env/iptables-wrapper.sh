#!/bin/sh
# iptables-wrapper.sh: installed as iptables, iptables-save, iptables-restore and
# their ip6tables twins in the e2e kube-proxy image (node-image.sh). On first use
# it picks the backend the node already uses, as upstream's iptables-wrappers do:
# the one holding kubelet's KUBE-IPTABLES-HINT/KUBE-KUBELET-CANARY chains, else
# the one with more rules (ties: legacy); then it points every name at that
# backend and runs the command it was called as.
set -eu
mode=""
for m in nft legacy; do
	if xtables-$m-multi iptables-save -t mangle 2>/dev/null | grep -q -e KUBE-IPTABLES-HINT -e KUBE-KUBELET-CANARY; then
		mode=$m
		break
	fi
done
if [ -z "$mode" ]; then
	legacy=$( (xtables-legacy-multi iptables-save || true; xtables-legacy-multi ip6tables-save || true) 2>/dev/null | grep -c '^-' || true)
	nft=$( (timeout 5 sh -c "xtables-nft-multi iptables-save; xtables-nft-multi ip6tables-save" || true) 2>/dev/null | grep -c '^-' || true)
	if [ "$legacy" -ge "$nft" ]; then mode=legacy; else mode=nft; fi
fi
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -sf "xtables-$mode-multi" "/usr/sbin/$t"
done
exec "/usr/sbin/$(basename "$0")" "$@"
