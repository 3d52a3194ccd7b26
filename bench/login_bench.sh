#!/usr/bin/env bash
# Measures full portal logins (password step, then TOTP step) through
# trellis-web and trellisd against a local slapd from tests/lib/slapd.sh.
#
#   bench/login_bench.sh BUILDDIR [USERS [PARALLEL]]
#
# Adds USERS (default 200) directory users to project alpha, enrols a TOTP
# secret for each, then logs each one in once with PARALLEL (default 8)
# clients at a time. Prints logins per second and the p50 and p99 latency
# of one full login: the sum of curl's time_total for its two requests
# (TLS handshake included, curl's process start excluded). Each user logs
# in once because a TOTP code is accepted only once per user and step.
# Needs root (trellisd), slapd, ldap-utils, curl, jq and oathtool.
set -eu

build=$(cd "${1:?usage: login_bench.sh BUILDDIR [USERS [PARALLEL]]}" && pwd)
users=${2:-200}
parallel=${3:-8}
src=$(cd "$(dirname "$0")/.." && pwd)
export TRELLIS_SRCDIR=$src

[ "$(id -u)" -eq 0 ] || { echo "login_bench.sh: needs root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/login-bench.XXXXXX)
chmod 0711 "$tmp"
port=$((20000 + RANDOM % 20000))
. "$src/bench/stack.sh"
cleanup() {
	bench_stop_stack
	rm -rf "$tmp"
}
trap cleanup EXIT
bench_start_slapd

# USERS entries bench1..benchN, all members of proj-alpha.
{
	for i in $(seq "$users"); do
		printf 'dn: uid=bench%d,ou=people,dc=example,dc=org\n' "$i"
		printf 'objectClass: inetOrgPerson\nuid: bench%d\ncn: Bench %d\n' "$i" "$i"
		printf 'sn: Bench\nuserPassword: bench-secret\n\n'
	done
	printf 'dn: cn=proj-alpha,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\n'
	for i in $(seq "$users"); do
		printf 'member: uid=bench%d,ou=people,dc=example,dc=org\n' "$i"
	done
} >"$tmp/users.ldif"
ldapmodify -a -x -H "$slapd_url" -D cn=admin,dc=example,dc=org -w admin-secret \
	-f "$tmp/users.ldif" >/dev/null

cp -r "$src/portal" "$tmp/portal"
chmod -R a+rX "$tmp/portal"
printf 'service-secret\n' >"$tmp/bind-password"
cat >"$tmp/policy.yaml" <<'POLICY'
version: 1
login:
  address_max_failures: 100000
images:
  - name: desk
    location: /srv/images/desk
projects:
  - id: alpha
    title: Project alpha
    image: desk
    members:
      groups: ["cn=proj-alpha,ou=groups,dc=example,dc=org"]
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
CONF
bench_start_trellisd "$build/broker/trellisd"

# post USER JAR PATH BODY [CSRF]: prints the status, then time_total in
# seconds, on one line; the reply body goes to JAR.json.
post() {
	local args=(-s --max-time 30 -o "$2.json" -w '%{http_code} %{time_total}\n'
		--cacert "$tmp/state/tls/cert.pem" --resolve "localhost:$port:127.0.0.1"
		-b "$2" -c "$2" -X POST -H "Origin: $origin"
		-H 'Content-Type: application/json' --data-binary "$4")
	[ -n "${5:-}" ] && args+=(-H "X-CSRF-Token: $5")
	curl "${args[@]}" "$origin$3"
}
export -f post
export tmp port origin

enrol() {
	local user=bench$1 jar=$tmp/jar.$1
	post "$user" "$jar" /api/login "{\"username\":\"$user\",\"password\":\"bench-secret\"}" >/dev/null
	local csrf; csrf=$(jq -r .csrf_token "$jar.json")
	post "$user" "$jar" /api/enrol/begin '{}' "$csrf" >/dev/null
	local secret; secret=$(jq -r .secret "$jar.json")
	echo "$secret" >"$tmp/secret.$1"
	local code; code=$(oathtool --totp -b "$secret")
	post "$user" "$jar" /api/enrol/confirm "{\"code\":\"$code\"}" "$csrf" >/dev/null
	[ "$(jq -r .state "$jar.json")" = active ] || echo "enrol of $user failed" >&2
	rm -f "$jar" "$jar.json"
}

# One full login; prints its latency in milliseconds, or FAIL.
login() {
	local user=bench$1 jar=$tmp/login.$1
	local first second csrf code
	first=$(post "$user" "$jar" /api/login "{\"username\":\"$user\",\"password\":\"bench-secret\"}")
	csrf=$(jq -r .csrf_token "$jar.json")
	# The enrolment used the current step's code; the next step's is new.
	code=$(oathtool --totp -b "$(cat "$tmp/secret.$1")" -N "@$(($(date +%s) + 30))")
	second=$(post "$user" "$jar" /api/login/totp "{\"code\":\"$code\"}" "$csrf")
	if [ "${first%% *}" != 200 ] || [ "${second%% *}" != 200 ]; then
		echo FAIL
		return
	fi
	awk -v a="${first#* }" -v b="${second#* }" 'BEGIN { printf "%.3f\n", (a + b) * 1000 }'
}
export -f enrol login

seq "$users" | xargs -P "$parallel" -I{} bash -c 'enrol {}'

start=$(date +%s.%N)
seq "$users" | xargs -P "$parallel" -I{} bash -c 'login {}' >"$tmp/latency"
end=$(date +%s.%N)

failed=$(grep -c FAIL "$tmp/latency" || true)
grep -v FAIL "$tmp/latency" | sort -n >"$tmp/sorted"
count=$(wc -l <"$tmp/sorted")
if [ "$count" -eq 0 ]; then
	echo "login_bench.sh: no login succeeded; the end of the trellisd log:" >&2
	tail -20 "$tmp/trellisd.log" >&2
	exit 1
fi
p50=$(awk -v n="$count" 'NR == int((n + 1) * 0.50) || (NR == 1 && n < 2) { print; exit }' "$tmp/sorted")
p99=$(awk -v n="$count" 'NR == (int(n * 0.99) > 0 ? int(n * 0.99) : 1) { print; exit }' "$tmp/sorted")
rate=$(awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", n / (e - s) }')

echo "logins=$count failed=$failed parallel=$parallel"
echo "logins_per_second=$rate"
echo "latency_p50_ms=$p50"
echo "latency_p99_ms=$p99"
