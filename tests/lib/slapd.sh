#!/bin/sh
# Starts and stops a throwaway OpenLDAP slapd for tests.
#
#   slapd.sh start [--tls]   start slapd on free 127.0.0.1 ports with the test
#                            directory loaded; prints key=value lines:
#                            url, pid, dir and, with --tls, ldaps_url, ca
#                            (the CA that signed the server certificate) and
#                            wrong_ca (an unrelated CA)
#   slapd.sh stop PID DIR    stop that slapd and remove DIR
#
# slapd listens on loopback only and keeps everything in a temp directory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fixtures=${TRELLIS_SRCDIR:-$here/../..}/tests/fixtures/ldap
# The entries to load; the demo loads its own directory.
ldif=${TRELLIS_LDAP_LDIF:-$fixtures/directory.ldif}
schemadir=/etc/ldap/schema
rootdn="cn=admin,dc=example,dc=org"
rootpw="admin-secret"

die() {
	echo "slapd.sh: $*" >&2
	exit 1
}

make_certs() {
	dir=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj "/CN=Trellis test CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj "/CN=Unrelated test CA" \
		-keyout "$dir/wrong-ca.key" -out "$dir/wrong-ca.pem" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=127.0.0.1" \
		-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/server.ext"
	openssl x509 -req -in "$dir/server.csr" -days 2 \
		-CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
		-extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
}

# Prints a port in 20000-59999; a port in use makes slapd exit and the
# caller tries another.
random_port() {
	od -An -N2 -tu2 /dev/urandom | awk '{ print 20000 + $1 % 40000 }'
}

wait_ready() {
	url=$1
	pid=$2
	i=0
	while [ $i -lt 100 ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		if ldapsearch -x -H "$url" -o nettimeout=1 -b "" -s base 1.1 \
			>/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

start() {
	tls=no
	[ "${1:-}" = "--tls" ] && tls=yes

	command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] ||
		die "slapd not found (apt-get install slapd ldap-utils)"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/trellis-slapd.XXXXXX")
	mkdir "$dir/db"

	tls_conf=""
	if [ $tls = yes ]; then
		make_certs "$dir" || die "creating test certificates in $dir failed"
		tls_conf="TLSCACertificateFile $dir/ca.pem
TLSCertificateFile $dir/server.pem
TLSCertificateKeyFile $dir/server.key"
	fi
	awk -v dir="$dir" -v schemadir="$schemadir" -v tls="$tls_conf" '{
		gsub(/@DIR@/, dir); gsub(/@SCHEMADIR@/, schemadir);
		if ($0 == "@TLS@") $0 = tls;
		print }' "$fixtures/slapd.conf.in" >"$dir/slapd.conf"

	attempt=0
	while [ $attempt -lt 20 ]; do
		attempt=$((attempt + 1))
		port=$(random_port)
		url="ldap://127.0.0.1:$port/"
		urls=$url
		if [ $tls = yes ]; then
			tls_port=$((port + 1))
			ldaps_url="ldaps://127.0.0.1:$tls_port/"
			urls="$url $ldaps_url"
		fi
		# -d keeps slapd in the foreground, so $! is its pid.
		/usr/sbin/slapd -d 0 -h "$urls" -f "$dir/slapd.conf" \
			>"$dir/slapd.log" 2>&1 </dev/null &
		pid=$!
		if wait_ready "$url" "$pid"; then
			break
		fi
		kill "$pid" 2>/dev/null || true
		pid=""
	done
	[ -n "$pid" ] || die "slapd did not start, see $dir/slapd.log"

	if ! ldapadd -x -H "$url" -D "$rootdn" -w "$rootpw" \
		-f "$ldif" >"$dir/ldapadd.log" 2>&1; then
		kill "$pid" 2>/dev/null || true
		die "loading $ldif failed, see $dir/ldapadd.log"
	fi

	echo "url=$url"
	echo "pid=$pid"
	echo "dir=$dir"
	if [ $tls = yes ]; then
		echo "ldaps_url=$ldaps_url"
		echo "ca=$dir/ca.pem"
		echo "wrong_ca=$dir/wrong-ca.pem"
	fi
}

stop() {
	pid=${1:?usage: slapd.sh stop PID DIR}
	dir=${2:?usage: slapd.sh stop PID DIR}
	case $dir in
	*/trellis-slapd.*) ;;
	*) die "not removing $dir: the name does not match trellis-slapd.*" ;;
	esac
	# kill as root with -1 or 0 would signal far more than slapd.
	case $pid in
	'' | *[!0-9]* | 0 | 1) die "not stopping '$pid': not a single process id" ;;
	esac
	if kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}

case ${1:-} in
start)
	shift
	start "$@"
	;;
stop)
	shift
	stop "$@"
	;;
*)
	die "usage: slapd.sh start [--tls] | stop PID DIR"
	;;
esac
