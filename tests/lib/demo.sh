#!/usr/bin/env bash
# Starts Trellis on embedded defaults for a first look: trellisd with its
# state under build/demo, the web front on https://localhost:8443 and the
# admin socket under build/demo/run. Stop it with Ctrl-C.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$top/build
demo=$build/demo
port=${TRELLIS_DEMO_PORT:-8443}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root: trellisd creates sandboxes and drops privileges" >&2
	exit 1
fi

# The web front runs as the system user trellis, as in production.
if ! getent passwd trellis >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin trellis
fi
getent group trellis-admin >/dev/null || groupadd --system trellis-admin

mkdir -p "$demo"
chmod 0711 "$demo"
rm -rf "$demo/portal"
cp -r "$top/portal" "$demo/portal"
chmod -R a+rX "$demo/portal"

cat >"$demo/trellisd.yaml" <<CONF
state_dir: $demo/state
run_dir: $demo/run
policy: $top/policy/example-policy.yaml
web:
  listen: ["127.0.0.1:$port", "[::1]:$port"]
  static_dir: $demo/portal
  user: trellis
  origin: https://localhost:$port
admin:
  socket: $demo/run/admin.sock
  group: trellis-admin
workers:
  directory: $build/broker/web
CONF

cat <<BANNER
Trellis demo
  portal:         https://localhost:$port/  (self-signed certificate; its
                  SHA-256 fingerprint is in the trellisd log below)
  health check:   curl --cacert $demo/state/tls/cert.pem https://localhost:$port/healthz
  admin:          $build/admin/trellis-admin --socket $demo/run/admin.sock status
  audit check:    $build/admin/trellis-admin --socket $demo/run/admin.sock audit verify
  stop:           Ctrl-C

BANNER
exec "$build/broker/trellisd" --config "$demo/trellisd.yaml"
