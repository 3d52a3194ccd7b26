#!/bin/sh
# Times trellis-airlock-check on a generated 100 MB CSV table and prints the
# ratio against sha256sum and wc -l reading the same file.
#
# usage: bench/airlock_check_bench.sh [BUILDDIR] [SIZE_MB]
# BUILDDIR holds airlock/trellis-airlock-check (default: build-airlock).
# Needs python3, which plays the master: it passes the file on fd 0 and an
# IPC socket on fd 3, sends the configuration and reads the verdict.
set -eu

builddir=${1:-build-airlock}
size_mb=${2:-100}
checker="$builddir/airlock/trellis-airlock-check"
[ -x "$checker" ] || { echo "$checker not found: build it first" >&2; exit 1; }

work=$(mktemp -d /tmp/trellis-airlock-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
table="$work/table.csv"

python3 - "$table" "$size_mb" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2]) * 1000 * 1000
rng = random.Random(7)
rows = ["area_label,region,count_a,count_b,count_c,\"note, quoted\"\n"]
for i in range(5000):
    rows.append('%d,"region %d",%d,%d,%d,"a, b ""c"""\n' % (
        i, i % 50, rng.randint(10, 99999), rng.randint(10, 99999),
        rng.randint(10, 99999)))
block = "".join(rows[1:]).encode()
with open(path, "wb") as f:
    f.write(rows[0].encode())
    written = 0
    while written < size:
        f.write(block)
        written += len(block)
PY

bytes=$(stat -c %s "$table")

# Milliseconds that the command takes.
time_of() {
	start=$(date +%s%N)
	"$@" > /dev/null
	end=$(date +%s%N)
	echo "$(( (end - start) / 1000000 ))"
}

run_checker() {
	python3 - "$checker" "$table" "$bytes" <<'PY'
import json, os, socket, struct, subprocess, sys
checker, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

def send(sock, kind, body):
    payload = json.dumps(body).encode()
    sock.sendall(struct.pack(">HHII4x", 0x5452, kind, 1, len(payload)) +
                 payload)

def receive(sock):
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        if not chunk:
            sys.exit("the checker closed the socket without a verdict")
        header += chunk
    magic, kind, _, length = struct.unpack(">HHII", header[:12])
    payload = b""
    while len(payload) < length:
        payload += sock.recv(length - len(payload))
    return kind, json.loads(payload)

master, worker = socket.socketpair()
with open(path, "rb") as f:
    # close_fds would close fd 3 after preexec_fn put the socket there.
    proc = subprocess.Popen([checker], stdin=f, close_fds=False,
                            preexec_fn=lambda: os.dup2(worker.fileno(), 3),
                            stderr=subprocess.DEVNULL)
worker.close()
assert receive(master)[0] == 1
send(master, 2, {
    "file_name": "table.csv", "size_bytes": size, "direction": "export",
    "rules": {"max_file_size": size, "allowed_types": ["csv"],
              "disclosure_control": {"min_cell_count": 10,
                                     "dominance": {"n": 2, "k": 0.9},
                                     "p_ratio": 0.1,
                                     "zeros_disclosive": True},
              "dicom_check": True, "malware_scan_required": False}})
kind, verdict = receive(master)
assert kind == 64, kind
proc.wait()
table = [f for f in verdict["findings"] if f["check"] == "table"][0]
with open(sys.argv[2] + ".verdict", "w") as out:
    out.write("verdict %s: %s\n" % (verdict["verdict"], table["reason"]))
PY
}

checker_ms=$(time_of run_checker)
sha_ms=$(time_of sha256sum "$table")
wc_ms=$(time_of wc -l "$table")

echo "file: $bytes bytes of CSV, $(wc -l < "$table") lines"
cat "$table.verdict"
echo "trellis-airlock-check: ${checker_ms} ms"
echo "sha256sum (baseline):  ${sha_ms} ms, ratio $(echo "scale=1; $checker_ms / $sha_ms" | bc)"
echo "wc -l (baseline):      ${wc_ms} ms, ratio $(echo "scale=1; $checker_ms / ($wc_ms + 1)" | bc)"
