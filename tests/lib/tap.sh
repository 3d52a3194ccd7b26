# Helpers for integration tests that print TAP. Source this file.
#
#   plan_tests 3
#   ok "trellisd answers /healthz" test "$status" = 200
#   diag "some context"
#
# Each test script runs as root and cleans up what it started through
# add_cleanup, which runs in reverse order on exit.

tap_count=0
tap_failed=0
tap_cleanups=()

plan_tests() { echo "1..$1"; }

diag() { printf '# %s\n' "$*" | sed '2,$s/^/# /'; }

# ok DESCRIPTION COMMAND [ARG]...: one test that passes when COMMAND does.
ok() {
	local description=$1
	shift
	tap_count=$((tap_count + 1))
	if "$@"; then
		echo "ok $tap_count - $description"
	else
		echo "not ok $tap_count - $description"
		tap_failed=$((tap_failed + 1))
	fi
}

# bail DESCRIPTION: stops the whole script when setup failed.
bail() {
	echo "Bail out! $*"
	exit 1
}

add_cleanup() { tap_cleanups+=("$1"); }

run_cleanups() {
	local i
	for ((i = ${#tap_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${tap_cleanups[$i]}" || true
	done
}
trap run_cleanups EXIT

# wait_for SECONDS COMMAND [ARG]...: polls every 0.1 s until COMMAND
# succeeds; fails after SECONDS.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# is_pid VALUE: true for a positive process id above 1. kill(1) as root
# with -1 signals every process on the machine, so every kill in a test
# goes through signal_pid or stop_pid, which check with this first.
is_pid() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ]; }

# signal_pid SIGNAL PID: sends SIGNAL to one process the test started.
signal_pid() {
	if ! is_pid "$2"; then
		echo "# refusing to signal '$2': not a single process id" >&2
		return 1
	fi
	kill "-$1" "$2"
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; only for processes the
# test started itself.
stop_pid() {
	local pid=$1 i
	is_pid "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
