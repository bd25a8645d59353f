#!/bin/sh
# tests/template/fuzz_run.sh FUZZER WORK_CORPUS SEED_CORPUS [SECONDS]
# Runs the libFuzzer target for a bounded time (default 30 s). New inputs go to
# WORK_CORPUS (in the build tree), never into the seed corpus in the sources.
set -eu
fuzzer=$1 work=$2 seeds=$3 secs=${4:-30}
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" "$seeds"
