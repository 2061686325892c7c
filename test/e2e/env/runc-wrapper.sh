#!/bin/sh
# runc-wrapper.sh: installed by host.sh as docker's default runtime ONLY on hosts
# whose capability bounding set lacks CAP_SYS_RESOURCE (then every privileged
# container fails with "unable to apply caps"). It removes CAP_SYS_RESOURCE from
# the container spec (<bundle>/config.json) on create/run and from the process
# spec that `runc exec --process FILE` receives (docker exec, which kind uses for
# every step), then runs the real runc with the same arguments.
# Test environment only: devloop itself never installs or needs this.
set -eu
real="${DEVLOOP_REAL_RUNC:-/usr/sbin/runc}"
cmd="" bundle="" process="" prev=""
for a in "$@"; do
	case "$prev" in
	--bundle | -b) bundle="$a" ;;
	--process | -p) process="$a" ;;
	esac
	case "$a" in
	--bundle=*) bundle="${a#--bundle=}" ;;
	--process=*) process="${a#--process=}" ;;
	create | run | exec) [ -n "$cmd" ] || cmd="$a" ;;
	esac
	prev="$a"
done

# drop FILE FILTER rewrites the JSON file through jq, atomically.
drop() {
	[ -f "$1" ] || return 0
	tmp="$1.devloop.$$"
	jq -c "$2" "$1" > "$tmp" && mv -f "$tmp" "$1"
}
strip='map_values(if type == "array" then map(select(. != "CAP_SYS_RESOURCE")) else . end)'
case "$cmd" in
create | run) drop "${bundle:-.}/config.json" "if .process.capabilities then .process.capabilities |= $strip else . end" ;;
exec) [ -z "$process" ] || drop "$process" "if .capabilities then .capabilities |= $strip else . end" ;;
esac
exec "$real" "$@"
