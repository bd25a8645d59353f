#!/bin/sh
# tests/template/fuzz_run.sh FUZZER WORK_CORPUS SEED_CORPUS [SECONDS]
# Runs a libFuzzer target for a bounded time (default 30 s). New inputs go to
# WORK_CORPUS (in the build tree), never into the seed corpus in the sources.
# Any finding (crash, sanitizer report, timeout, leak) fails the test: libFuzzer's
# own exit codes (77 among them, which meson would read as "skipped") become 1.
set -u
fuzzer=$1 work=$2 seeds=$3 secs=${4:-30}
mkdir -p "$work"
"$fuzzer" -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" "$seeds"
rc=$?
[ "$rc" = 0 ] || { echo "fuzzer exited with $rc: see the artifact in $work" >&2; exit 1; }
