#!/usr/bin/env bash
# Quarantine throughput: hashes and copies one file into a quarantine
# folder as the airlock does on submission, and compares the time with
# sha256sum reading the same file. The file is in the page cache for both.
#
#   bench/quarantine_bench.sh [BUILDDIR] [SIZE_MB]
#
# BUILDDIR defaults to ./build-airlock and SIZE_MB to 1024 (1 GiB). Needs
# tests/tools/quarantine-copy from `make check` (or make it alone).
set -eu

build=${1:-build-airlock}
size_mb=${2:-1024}
tool=$build/tests/tools/quarantine-copy
[ -x "$tool" ] || { echo "missing $tool: run make -C $build tests/tools/quarantine-copy" >&2; exit 1; }

tmp=$(mktemp -d /tmp/quarantine-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 0700 "$tmp/quarantine"
head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$tmp/file"
cat "$tmp/file" >/dev/null

seconds() { # runs the command and prints its wall time in seconds
	local start end
	start=$(date +%s.%N)
	"$@" >/dev/null
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}

copy_s=$(seconds "$tool" "$tmp/file" "$tmp/quarantine")
rm -f "$tmp/quarantine"/*
copy_s=$(seconds "$tool" "$tmp/file" "$tmp/quarantine")
hash_s=$(seconds sha256sum "$tmp/file")
[ "$("$tool" "$tmp/file" "$tmp/quarantine" | cut -d' ' -f1)" = \
	"$(sha256sum "$tmp/file" | cut -d' ' -f1)" ] ||
	{ echo "hash mismatch between quarantine-copy and sha256sum" >&2; exit 1; }

printf 'file               %d MiB\n' "$size_mb"
printf 'quarantine copy    %.2f s  %.0f MB/s (SHA-256, write, fsync, rename)\n' \
	"$copy_s" "$(echo "$size_mb * 1.048576 / $copy_s" | bc -l)"
printf 'sha256sum          %.2f s  %.0f MB/s (read and hash only)\n' \
	"$hash_s" "$(echo "$size_mb * 1.048576 / $hash_s" | bc -l)"
printf 'ratio              %.2f x sha256sum time\n' "$(echo "$copy_s / $hash_s" | bc -l)"
