#!/usr/bin/env bash
# Session benchmark: time from a session request to the first framebuffer
# update a viewer receives, and memory per idle session, over N sessions
# (default 10). The baseline is the same desktop (Xvnc, twm, xterm) started
# directly as an unprivileged uid, without trellisd, bubblewrap, cgroups or
# a hub, and read by the same viewer on Xvnc's own socket.
#
#   sudo bench/session_bench.sh [BUILD_DIR] [N]
#
# Session memory is the hub's RSS plus the sandbox's cgroup memory usage
# (which includes page cache the desktop touched) and, for the ratio, the
# hub's RSS plus the RSS of every process in the sandbox. Baseline memory
# is the RSS of Xvnc and the desktop's processes.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
count=${2:-10}
trellisd=$build/broker/trellisd
admin=$build/admin/trellis-admin
client=$build/tests/tools/rfb-client
uid_start=231000
baseline_uid=$((uid_start + 999))

[ "$(id -u)" -eq 0 ] || { echo "session_bench: run as root" >&2; exit 1; }
for f in "$trellisd" "$admin" "$client" "$build/session/hub/trellis-hub"; do
	[ -x "$f" ] || { echo "session_bench: $f is missing (build with make, then make check)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/session-bench.XXXXXX)
chmod 0711 "$tmp"
mkdir -p "$tmp/ws" "$tmp/portal"
daemon_pid=
baseline_pids=()
cleanup() {
	local id
	if [ -n "$daemon_pid" ]; then
		for id in $("$admin" --socket "$tmp/run/admin.sock" --json sessions list 2>/dev/null | jq -r '.sessions[].id'); do
			"$admin" --socket "$tmp/run/admin.sock" sessions stop "$id" --reason "benchmark done" >/dev/null 2>&1
		done
		sleep 4
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	for id in "${baseline_pids[@]}"; do
		kill $(tree_pids "$id") 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Prints the pid and every descendant of PID.
tree_pids() {
	local pid=$1 child
	echo "$pid"
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		tree_pids "$child"
	done
}
stats() {
	sort -n | awk '{v[NR] = $1; s += $1}
		END {printf "mean %.0f median %.0f min %.0f max %.0f", s / NR,
		     v[int((NR + 1) / 2)], v[1], v[NR]}'
}
mean() { awk '{s += $1} END {printf "%.0f", s / NR}'; }

users=$(seq -s, 0 $((count - 1)) | sed 's/\([0-9]*\)/bench-\1/g')
cat >"$tmp/policy.yaml" <<POLICY
version: 1
roles:
  stewards:
    users: [root]
images:
  - name: host
    driver: ns
    location: /
projects:
  - id: bench
    title: Session benchmark
    members:
      users: [$users]
    image: host
    resources:
      cpus: 1
      memory: 1GiB
    recording:
      mode: off
    mfa: off
POLICY
cat >"$tmp/trellisd.yaml" <<CONF
state_dir: $tmp/state
run_dir: $tmp/run
policy: $tmp/policy.yaml
log_level: warn
web:
  listen: ["127.0.0.1:$((20000 + RANDOM % 20000))"]
  static_dir: $tmp/portal
  user: nobody
admin:
  socket: $tmp/run/admin.sock
  group: nogroup
workers:
  directory: $build/broker/web
sessions:
  workspace_root: $tmp/ws
  images_dir: $src/images
  hub_path: $build/session/hub/trellis-hub
  hub_user: nobody
  uid_range_start: $uid_start
  uid_range_size: 100
CONF

"$trellisd" --config "$tmp/trellisd.yaml" >"$tmp/trellisd.log" 2>&1 &
daemon_pid=$!
adm() { "$admin" --socket "$tmp/run/admin.sock" "$@"; }
for _ in $(seq 100); do adm status >/dev/null 2>&1 && break; sleep 0.1; done

echo "# $count sessions, $(nproc) CPUs, $(uname -r)"
echo "# trellis: request -> running -> viewer attached -> first update"
for i in $(seq 0 $((count - 1))); do
	begin=$(now_ms)
	id=$(adm --json sessions start --user "bench-$i" --project bench | jq -r .id)
	until [ "$(adm --json sessions show "$id" | jq -r .state)" = running ]; do
		sleep 0.01
	done
	running=$(now_ms)
	attach_begin=$(now_ms)
	first=$("$client" --admin-socket "$tmp/run/admin.sock" --session "$id" \
		--duration-ms 0 2>/dev/null | sed -n 's/^first_update_ms=//p')
	total=$((attach_begin + ${first:-0} - begin))
	echo "$id $((running - begin)) $total" >>"$tmp/trellis.times"
	echo "session $i: running after $((running - begin)) ms, first update after $total ms"
done

echo "# baseline: Xvnc and the same desktop started directly"
for i in $(seq 0 $((count - 1))); do
	dir=$tmp/baseline-$i
	mkdir -p "$dir"
	chown "$baseline_uid:$baseline_uid" "$dir"
	begin=$(now_ms)
	setpriv --reuid=$baseline_uid --regid=$baseline_uid --clear-groups \
		env HOME="$dir" bash -c '
		exec 3>"$0/display"
		Xvnc -displayfd 3 -rfbunixpath "$0/vnc.sock" -rfbunixmode 0600 \
			-rfbport -1 -nolisten tcp -SecurityTypes None \
			-desktop baseline -depth 24 -geometry 1280x800 &
		xvnc=$!
		for _ in $(seq 200); do [ -s "$0/display" ] && break; sleep 0.01; done
		DISPLAY=:$(cat "$0/display") sh "$1" &
		wait $xvnc' "$dir" "$src/images/host/desktop" \
		>"$dir/log" 2>&1 &
	baseline_pids+=($!)
	until [ -S "$dir/vnc.sock" ]; do sleep 0.005; done
	attach_begin=$(now_ms)
	first=$(setpriv --reuid=$baseline_uid --regid=$baseline_uid --clear-groups \
		"$client" --connect "$dir/vnc.sock" --duration-ms 0 2>/dev/null |
		sed -n 's/^first_update_ms=//p')
	total=$((attach_begin + ${first:-0} - begin))
	echo "$total" >>"$tmp/baseline.times"
	echo "baseline $i: first update after $total ms"
done

echo "# idle for 10 s, then memory"
sleep 10
while read -r id _ _; do
	show=$(adm --json sessions show "$id")
	hub_rss=$(rss_kb "$(jq -r .live.hub_pid <<<"$show")")
	memory_dir=$(jq -r '.live.cgroups[0]' <<<"$show")
	usage=$(cat "$memory_dir/memory.usage_in_bytes" 2>/dev/null ||
		cat "$memory_dir/memory.current")
	sandbox_rss=0
	for p in $(cat "$memory_dir/cgroup.procs"); do
		sandbox_rss=$((sandbox_rss + $(rss_kb "$p")))
	done
	echo "$hub_rss $((usage / 1024)) $sandbox_rss" >>"$tmp/trellis.memory"
done <"$tmp/trellis.times"
for pid in "${baseline_pids[@]}"; do
	total=0
	for p in $(tree_pids "$pid"); do
		[ "$(cat /proc/"$p"/comm 2>/dev/null)" = bash ] &&
			[ "$p" = "$pid" ] && continue
		total=$((total + $(rss_kb "$p")))
	done
	echo "$total" >>"$tmp/baseline.memory"
done

echo
echo "request to first update, ms (trellis):   $(awk '{print $3}' "$tmp/trellis.times" | stats)"
echo "request to running, ms (trellis):        $(awk '{print $2}' "$tmp/trellis.times" | stats)"
echo "start to first update, ms (baseline):    $(stats <"$tmp/baseline.times")"
echo "hub RSS, KiB:                            $(awk '{print $1}' "$tmp/trellis.memory" | stats)"
echo "sandbox cgroup memory usage, KiB:        $(awk '{print $2}' "$tmp/trellis.memory" | stats)"
echo "sandbox processes RSS, KiB:              $(awk '{print $3}' "$tmp/trellis.memory" | stats)"
echo "baseline desktop RSS, KiB:               $(stats <"$tmp/baseline.memory")"
t_trellis=$(awk '{print $3}' "$tmp/trellis.times" | mean)
t_base=$(mean <"$tmp/baseline.times")
m_trellis=$(awk '{print $1 + $3}' "$tmp/trellis.memory" | mean)
m_base=$(mean <"$tmp/baseline.memory")
echo "ratio first update, trellis / baseline:  $(awk -v a="$t_trellis" -v b="$t_base" 'BEGIN {printf "%.2f", a / b}')"
echo "ratio RSS (hub + sandbox) / baseline:    $(awk -v a="$m_trellis" -v b="$m_base" 'BEGIN {printf "%.2f", a / b}')"
