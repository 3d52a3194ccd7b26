# Sourced by the benchmarks that run slapd and trellisd. Before sourcing,
# set src (the source tree), tmp (a scratch folder) and port (trellisd's
# HTTPS port); each benchmark writes its own $tmp/trellisd.yaml.

daemon_pid=
slapd_pid=
slapd_dir=
origin=https://localhost:$port

# Starts a throwaway slapd with the test directory and sets slapd_url.
bench_start_slapd() {
	local env
	env=$("$src/tests/lib/slapd.sh" start) || { echo "slapd did not start" >&2; exit 1; }
	slapd_url=$(echo "$env" | sed -n 's/^url=//p')
	slapd_pid=$(echo "$env" | sed -n 's/^pid=//p')
	slapd_dir=$(echo "$env" | sed -n 's/^dir=//p')
}

# fetch CURL_ARGS...: curl against trellisd, trusting its own certificate.
fetch() {
	curl -s --max-time 60 --cacert "$tmp/state/tls/cert.pem" \
		--resolve "localhost:$port:127.0.0.1" "$@"
}

# Starts trellisd (the binary in $1) with $tmp/trellisd.yaml and waits up
# to 10 s for /healthz. Exits with the end of its log when it fails.
bench_start_trellisd() {
	"$1" --config "$tmp/trellisd.yaml" >"$tmp/trellisd.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		fetch -f -o /dev/null --max-time 2 "$origin/healthz" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "trellisd did not serve /healthz:" >&2
	tail -20 "$tmp/trellisd.log" >&2
	exit 1
}

# Stops trellisd and slapd, for the benchmark's cleanup.
bench_stop_stack() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	[ -n "$slapd_pid" ] && "$src/tests/lib/slapd.sh" stop "$slapd_pid" "$slapd_dir"
	return 0
}
