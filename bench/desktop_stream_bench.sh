#!/usr/bin/env bash
# Desktop stream benchmark: the browser's path (TLS WebSocket through
# trellis-web and trellis-hub) against a direct path to the same Xvnc
# through websockify (TLS WebSocket, same certificate), both read by
# tests/tools/desktop_ws.py with Raw encoding at 32 bits per pixel.
#
#   sudo bench/desktop_stream_bench.sh [BUILD_DIR] [SECONDS]
#
# It measures framebuffer updates per second and bytes per second while
# the session's terminal fills the screen with output that scrolls without
# pause. It also times a key press until the update that shows it (20
# presses on an idle screen, median and 90th percentile). It prints each
# number for both paths and their ratio (web path / direct).
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
seconds=${2:-10}
trellisd=$build/broker/trellisd
admin=$build/admin/trellis-admin
ws="python3 $src/tests/tools/desktop_ws.py"

[ "$(id -u)" -eq 0 ] || { echo "desktop_stream_bench: run as root" >&2; exit 1; }
for program in websockify xdotool slapd oathtool jq curl Xvnc bwrap; do
	command -v "$program" >/dev/null || {
		echo "desktop_stream_bench: $program is missing" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/desktop-bench.XXXXXX)
chmod 0711 "$tmp"
mkdir -p "$tmp/ws" "$tmp/portal"
proxy_pid=
cleanup() {
	local id
	if [ -n "$daemon_pid" ]; then
		for id in $("$admin" --socket "$tmp/run/admin.sock" --json sessions list 2>/dev/null | jq -r '.sessions[].id'); do
			"$admin" --socket "$tmp/run/admin.sock" sessions stop "$id" --reason "benchmark done" >/dev/null 2>&1
		done
		sleep 1
	fi
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	bench_stop_stack
	rm -rf "$tmp"
}

free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 20000))
		(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "$port"; return; }
	done
}
port=$(free_port)
proxy_port=$(free_port)
. "$src/bench/stack.sh"
trap cleanup EXIT
bench_start_slapd
printf 'service-secret\n' >"$tmp/bind-password"
chmod 0600 "$tmp/bind-password"

cat >"$tmp/policy.yaml" <<'POLICY'
version: 1
roles:
  stewards:
    users: [root]
images:
  - name: host
    driver: ns
    location: /
projects:
  - id: desk
    title: Desktop stream benchmark
    members:
      users: [alice]
    image: host
    resources:
      memory: 1GiB
    recording:
      mode: off
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
auth:
  backend: ldap
  ldap:
    uri: $slapd_url
    allow_plaintext: true
    bind_dn: cn=trellis,ou=services,dc=example,dc=org
    bind_password_file: $tmp/bind-password
    base_dn: dc=example,dc=org
sessions:
  workspace_root: $tmp/ws
  images_dir: $(realpath "$src/images")
  hub_path: $build/session/hub/trellis-hub
  hub_user: nobody
  uid_range_start: 232000
  uid_range_size: 10
CONF
bench_start_trellisd "$trellisd"
jar=$tmp/alice.jar
api() {
	local method=$1 path=$2 body=${3:-} csrf=${4:-}
	local args=(-o "$tmp/out.json" -w '%{http_code}' -b "$jar" -c "$jar"
		-X "$method" -H "Origin: $origin")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	[ -n "$csrf" ] && args+=(-H "X-CSRF-Token: $csrf")
	fetch "${args[@]}" "$origin$path"
}
out() { jq -r "$1" "$tmp/out.json"; }

api POST /api/login '{"username":"alice","password":"alice-secret"}' >/dev/null
csrf=$(out .csrf_token)
api POST /api/enrol/begin '{}' "$csrf" >/dev/null
secret=$(out .secret)
api POST /api/enrol/confirm "{\"code\":\"$(oathtool --totp -b "$secret")\"}" "$csrf" >/dev/null
csrf=$(out .csrf_token)
cookie=$(awk '$6 == "trellis_session" { print $7 }' "$jar")
api POST /api/sessions '{"project":"desk"}' "$csrf" >/dev/null
id=$(out .session.id)
for _ in $(seq 400); do
	api GET "/api/sessions/$id" >/dev/null
	[ "$(out .session.state)" = running ] && break
	sleep 0.1
done
[ "$(out .session.state)" = running ] || { echo "the session did not start" >&2; exit 1; }
sleep 2

# The direct path: websockify with the same certificate, to Xvnc's socket.
websockify --cert "$tmp/state/tls/cert.pem" --key "$tmp/state/tls/key.pem" \
	--unix-target "$tmp/run/sessions/$id/desktop.sock" \
	"127.0.0.1:$proxy_port" >"$tmp/websockify.log" 2>&1 &
proxy_pid=$!
sleep 1

web() {
	local ticket
	api POST "/api/sessions/$id/desktop" '{}' "$csrf" >/dev/null
	ticket=$(out .ticket)
	$ws rfb --port "$port" --ca "$tmp/state/tls/cert.pem" \
		--path "/api/sessions/$id/desktop?ticket=$ticket" \
		--cookie "$cookie" --origin "$origin" --protocol binary "$@"
}
direct() {
	$ws rfb --port "$proxy_port" --ca "$tmp/state/tls/cert.pem" --path / \
		--protocol binary "$@"
}
value() { sed -n "s/^$1=//p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# Key latency on an idle screen, typing into the terminal.
web_latency=$(web --click 300,300 --latency 20)
direct_latency=$(direct --click 300,300 --latency 20)

# A full-screen terminal whose output scrolls without pause.
web --click 300,300 --type $'xdotool search --name Terminal windowmove 0 0 windowsize 100% 100%; clear; od -An -tx1 /dev/urandom\n' >/dev/null
sleep 2
web_stream=$(web --stream "$seconds")
direct_stream=$(direct --stream "$seconds")

printf '%-24s %12s %12s %8s\n' metric web direct ratio
for metric in updates_per_s bytes_per_s; do
	a=$(echo "$web_stream" | value "$metric")
	b=$(echo "$direct_stream" | value "$metric")
	printf '%-24s %12s %12s %8s\n' "$metric" "$a" "$b" "$(ratio "$a" "$b")"
done
for metric in key_latency_median_ms key_latency_p90_ms; do
	a=$(echo "$web_latency" | value "$metric")
	b=$(echo "$direct_latency" | value "$metric")
	printf '%-24s %12s %12s %8s\n' "$metric" "$a" "$b" "$(ratio "$a" "$b")"
done
