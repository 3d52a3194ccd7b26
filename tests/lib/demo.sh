#!/usr/bin/env bash
# Starts Trellis on embedded defaults for a first look: a throwaway slapd
# with three demo users, the demo policy with two projects, and trellisd
# with its state under build/demo and the portal on
# https://localhost:8443. Ctrl-C stops everything.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$top/build
demo=$build/demo
port=${TRELLIS_DEMO_PORT:-8443}
export TRELLIS_SRCDIR=$top

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root: trellisd creates sandboxes and drops privileges" >&2
	exit 1
fi

# The web front and the desktop hubs run as the system user trellis, as
# in production; members of trellis-admin may use trellis-admin.
if ! getent passwd trellis >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin trellis
fi
getent group trellis-admin >/dev/null || groupadd --system trellis-admin

mkdir -p "$demo"
chmod 0711 "$demo"
rm -rf "$demo/portal"
cp -r "$top/portal" "$demo/portal"
# noVNC for the desktop page, beneath the static directory like the rest.
mkdir -p "$demo/portal/novnc"
cp -r /usr/share/novnc/core /usr/share/novnc/vendor "$demo/portal/novnc/"
chmod -R a+rX "$demo/portal"
mkdir -p "$demo/workspaces"
chmod 0711 "$demo/workspaces"

# The directory: loopback only, stopped when the demo ends.
slapd_out=$(TRELLIS_LDAP_LDIF="$top/packaging/demo/directory.ldif" \
	"$top/tests/lib/slapd.sh" start)
slapd_url=$(echo "$slapd_out" | sed -n 's/^url=//p')
slapd_pid=$(echo "$slapd_out" | sed -n 's/^pid=//p')
slapd_dir=$(echo "$slapd_out" | sed -n 's/^dir=//p')

# A mail catcher for the airlock's notifications to output checkers: every
# message lands in $demo/mail.log instead of leaving the machine.
smtp_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" >>"$demo/mail.log" 2>&1 &
smtp_pid=$!
trap 'kill "$smtp_pid" 2>/dev/null; "$top/tests/lib/slapd.sh" stop "$slapd_pid" "$slapd_dir" 2>/dev/null || true' EXIT
printf 'service-secret' >"$demo/ldap-bind-password"
chmod 0600 "$demo/ldap-bind-password"

cat >"$demo/trellisd.yaml" <<CONF
state_dir: $demo/state
run_dir: $demo/run
policy: $top/packaging/demo/policy.yaml
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
sessions:
  workspace_root: $demo/workspaces
  images_dir: $top/images
  hub_path: $build/session/hub/trellis-hub
  hub_user: trellis
airlock:
  checker_path: $build/airlock/trellis-airlock-check
  checker_user: trellis
  smtp_url: smtp://127.0.0.1:$smtp_port
  mail_from: airlock@demo.invalid
auth:
  backend: ldap
  totp_issuer: Trellis demo
  ldap:
    uri: $slapd_url
    allow_plaintext: true
    bind_dn: cn=trellis,ou=services,dc=example,dc=org
    bind_password_file: $demo/ldap-bind-password
    base_dn: dc=example,dc=org
CONF

admin="$build/admin/trellis-admin --socket $demo/run/admin.sock"
cat <<BANNER
Trellis demo

  Portal: https://localhost:$port/
    The certificate is self-signed; its SHA-256 fingerprint is in the
    trellisd log below (event=tls_certificate).

  Demo users (directory passwords):
    rosa    rosa-demo-password     researcher in imaging-demo and genomics-demo
    oliver  oliver-demo-password   output checker
    stella  stella-demo-password   steward

  Airlock: https://localhost:$port/airlock.html
    rosa exports files from /workspace/outbox of a desktop or imports
    files from her computer; oliver reviews them. Imports need the
    desktop of the project to have been started once. Mail to oliver
    about new work lands in $demo/mail.log.

  Each user enrols a TOTP authenticator at first login. Without an
  authenticator app, copy the secret the enrolment page shows and get
  codes with:
    oathtool --totp -b SECRET

  Stewards' command line:
    $admin status
    $admin sessions list
    $admin audit verify

  Stop: Ctrl-C

BANNER

# trellisd keeps desktops running across its own restarts, which a demo
# should not: Ctrl-C stops every session first, then trellisd, then slapd
# (the EXIT trap). trellisd runs in its own session, so the terminal's
# Ctrl-C reaches only this script.
setsid "$build/broker/trellisd" --config "$demo/trellisd.yaml" &
daemon_pid=$!
stop_demo() {
	trap - INT TERM
	local id
	for id in $($admin --json sessions list 2>/dev/null |
		jq -r '.sessions[] | select(.state == "running" or .state == "starting") | .id'); do
		$admin sessions stop "$id" --reason "the demo stopped" >/dev/null 2>&1 ||
			true
	done
	# Stopping a session takes up to 3 seconds (docs/sessions.md).
	for _ in 1 2 3 4 5 6 7 8; do
		$admin --json sessions list 2>/dev/null |
			jq -e '[.sessions[] | select(.state == "stopping")] | length == 0' \
				>/dev/null && break
		sleep 0.5
	done
	kill -TERM "$daemon_pid" 2>/dev/null || true
	wait "$daemon_pid" || true
}
trap stop_demo INT TERM
wait "$daemon_pid"
