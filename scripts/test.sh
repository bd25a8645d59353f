#!/bin/bash
# scripts/test.sh - set up and run the whole test suite on a fresh Debian machine.
# 1. installs the Debian packages (scripts/deps.sh test);
# 2. builds twice: build/ (-Werror, debugoptimized) and build-asan/ (AddressSanitizer + UBSan), both
#    with -Dwerror=true (not a default of meson.build: distributions' newer compilers must still build);
# 3. builds the libFuzzer targets with clang (build-fuzz/) and runs each for a bounded time;
# 4. runs `meson test` in each; the suites start their own real servers (SASL memcached,
#    MariaDB, nginx, spawn-fcgi) on free ports, so nothing else needs to run first.
#    TL_REQUIRE_SERVERS=1: a suite that cannot start its server fails instead of skipping.
# Ends with one line "N passed, N failed" summed over the three builds.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
export TL_REQUIRE_SERVERS=1
jobs=${TL_TEST_JOBS:-2}
status=0
run_build() { # dir, suite ("" = all), setup args...
  local dir=$1 suite=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"/tmp/tl-setup-$(basename "$dir").log" 2>&1 ||
      { cat "/tmp/tl-setup-$(basename "$dir").log"; return 1; }
  fi
  meson compile -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" ${suite:+--suite "$suite"} ${TL_TEST_ARGS:-} || return 1
}
run_build build "" -Dbuildtype=debugoptimized -Dwerror=true || status=1
run_build build-asan "" -Dbuildtype=debug -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false || status=1
# the fuzz build runs only the fuzz suite: the rest already ran twice
CC=clang run_build build-fuzz fuzz -Dbuildtype=debug -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false || status=1
python3 - build build-asan build-fuzz <<'PY'
import json, os, sys
passed = failed = 0
for d in sys.argv[1:]:
    path = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        failed += 1
        print(f"{d}: no test results")
        continue
    p = f = 0
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        else: f += 1   # FAIL, SKIP, TIMEOUT, ERROR, UNEXPECTEDPASS all count as failures here
    print(f"{d}: {p} passed, {f} failed")
    passed += p; failed += f
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
[ $? = 0 ] || status=1
exit $status
