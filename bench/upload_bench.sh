#!/usr/bin/env bash
# Airlock upload throughput: one file uploaded through trellis-web into
# the quarantine store (POST /api/airlock/uploads), against the baseline of
# copying the same file into a quarantine folder directly with
# tests/tools/quarantine-copy (SHA-256, write, fsync, rename, no network).
# Also prints the peak resident memory (VmHWM) of trellisd and trellis-web
# and the /healthz latency while the upload runs, against the same
# latency idle.
#
#   bench/upload_bench.sh BUILDDIR [SIZE_MB]
#
# SIZE_MB defaults to 1024 (1 GiB). Needs root (trellisd), slapd,
# ldap-utils, curl, jq, oathtool, bc and tests/tools/quarantine-copy from
# `make check`.
set -eu

build=$(cd "${1:?usage: upload_bench.sh BUILDDIR [SIZE_MB]}" && pwd)
size_mb=${2:-1024}
src=$(cd "$(dirname "$0")/.." && pwd)
export TRELLIS_SRCDIR=$src
tool=$build/tests/tools/quarantine-copy

[ "$(id -u)" -eq 0 ] || { echo "upload_bench.sh: needs root" >&2; exit 1; }
[ -x "$tool" ] || { echo "missing $tool: run make check in $build" >&2; exit 1; }

tmp=$(mktemp -d /tmp/upload-bench.XXXXXX)
chmod 0711 "$tmp"
port=$((20000 + RANDOM % 20000))
. "$src/bench/stack.sh"
cleanup() {
	bench_stop_stack
	rm -rf "$tmp"
}
trap cleanup EXIT
bench_start_slapd

cp -r "$src/portal" "$tmp/portal"
chmod -R a+rX "$tmp/portal"
printf 'service-secret\n' >"$tmp/bind-password"
chmod 0600 "$tmp/bind-password"
cat >"$tmp/policy.yaml" <<POLICY
version: 1
images:
  - name: desk
    location: /srv/images/desk
projects:
  - id: alpha
    title: Project alpha
    image: desk
    members:
      groups: ["cn=proj-alpha,ou=groups,dc=example,dc=org"]
    airlock:
      import:
        max_file_size: $((size_mb + 1))MiB
        allowed_types: [bin]
POLICY
cat >"$tmp/trellisd.yaml" <<CONF
state_dir: $tmp/state
run_dir: $tmp/run
policy: $tmp/policy.yaml
web:
  listen: ["127.0.0.1:$port"]
  static_dir: $tmp/portal
  user: nobody
  origin: $origin
admin:
  socket: $tmp/run/admin.sock
  group: nogroup
workers:
  directory: $build/broker/web
sessions:
  workspace_root: $tmp/ws
airlock:
  checker_path: $build/airlock/trellis-airlock-check
  checker_user: nobody
auth:
  backend: ldap
  ldap:
    uri: $slapd_url
    allow_plaintext: true
    bind_dn: cn=trellis,ou=services,dc=example,dc=org
    bind_password_file: $tmp/bind-password
    base_dn: dc=example,dc=org
CONF
bench_start_trellisd "$build/broker/trellisd"

# Alice logs in once, enrolling a TOTP secret.
jar=$tmp/alice.jar
post() { # post PATH BODY [CSRF]: the reply goes to $tmp/out.json
	local args=(-o "$tmp/out.json" -b "$jar" -c "$jar" -X POST -H "Origin: $origin"
		-H 'Content-Type: application/json' --data-binary "$2")
	[ -n "${3:-}" ] && args+=(-H "X-CSRF-Token: $3")
	fetch "${args[@]}" "$origin$1"
}
post /api/login '{"username":"alice","password":"alice-secret"}'
csrf=$(jq -r .csrf_token "$tmp/out.json")
post /api/enrol/begin '{}' "$csrf"
secret=$(jq -r .secret "$tmp/out.json")
post /api/enrol/confirm "{\"code\":\"$(oathtool --totp -b "$secret")\"}" "$csrf"
[ "$(jq -r .state "$tmp/out.json")" = active ] || { echo "upload_bench.sh: login of alice failed: $(cat "$tmp/out.json")" >&2; exit 1; }
csrf=$(jq -r .csrf_token "$tmp/out.json")

head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$tmp/file.bin"
cat "$tmp/file.bin" >/dev/null

seconds() { # runs the command and prints its wall time in seconds
	local start end
	start=$(date +%s.%N)
	"$@" >/dev/null
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}
peak_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
web_pid=$(cat "/proc/$daemon_pid/task/$daemon_pid/children" | tr ' ' '\n' |
	while read -r pid; do
		[ -n "$pid" ] && grep -q trellis-web "/proc/$pid/comm" 2>/dev/null && echo "$pid"
	done | head -1)
[ -n "$web_pid" ] || { echo "upload_bench.sh: trellis-web not found" >&2; exit 1; }

# healthz_ms N: the median time of N /healthz requests, in milliseconds.
healthz_ms() {
	for _ in $(seq "$1"); do
		fetch -o /dev/null -w '%{time_total}\n' "$origin/healthz"
	done | sort -n | awk '{ t[NR] = $1 } END { printf "%.1f\n", t[int((NR + 1) / 2)] * 1000 }'
}
upload() {
	fetch --max-time 3600 -o "$tmp/upload.json" -w '%{http_code}' -b "$jar" \
		-H "Origin: $origin" \
		-H "X-CSRF-Token: $csrf" -H 'Content-Type: application/octet-stream' \
		-H 'Expect:' -X POST -T "$tmp/file.bin" \
		"$origin/api/airlock/uploads?project=alpha" >"$tmp/upload.status"
}

idle_ms=$(healthz_ms 20)
web_before=$(peak_kb "$web_pid")
master_before=$(peak_kb "$daemon_pid")

start=$(date +%s.%N)
upload &
upload_pid=$!
busy_ms=$(healthz_ms 20)
wait "$upload_pid"
upload_s=$(echo "$(date +%s.%N) - $start" | bc -l)
[ "$(cat "$tmp/upload.status")" = 201 ] ||
	{ echo "upload failed: $(cat "$tmp/upload.status") $(cat "$tmp/upload.json")" >&2; exit 1; }
[ "$(jq -r .upload.sha256 "$tmp/upload.json")" = "$(sha256sum "$tmp/file.bin" | cut -d' ' -f1)" ] ||
	{ echo "the uploaded hash differs from sha256sum's" >&2; exit 1; }

mkdir -m 0700 "$tmp/quarantine"
copy_s=$(seconds "$tool" "$tmp/file.bin" "$tmp/quarantine")

mb=$(echo "$size_mb * 1.048576" | bc -l)
printf 'file                   %d MiB\n' "$size_mb"
printf 'upload through web     %.2f s  %.0f MB/s (TLS, trellis-web, pipe, SHA-256, write, fsync, rename)\n' \
	"$upload_s" "$(echo "$mb / $upload_s" | bc -l)"
printf 'quarantine copy        %.2f s  %.0f MB/s (baseline: the same steps without network)\n' \
	"$copy_s" "$(echo "$mb / $copy_s" | bc -l)"
printf 'ratio upload/copy      %.2f\n' "$(echo "$upload_s / $copy_s" | bc -l)"
printf 'trellis-web VmHWM      %d kB before, %d kB after\n' "$web_before" "$(peak_kb "$web_pid")"
printf 'trellisd VmHWM         %d kB before, %d kB after\n' "$master_before" "$(peak_kb "$daemon_pid")"
printf '/healthz median        %.1f ms idle, %.1f ms during the upload (ratio %.2f)\n' \
	"$idle_ms" "$busy_ms" "$(echo "$busy_ms / $idle_ms" | bc -l)"
