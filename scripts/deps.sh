#!/bin/bash
# scripts/deps.sh - install every Debian package tasklist needs to build, run, test and benchmark.
# Idempotent: installs only what is missing (apt-get update first, as a fresh machine needs).
# usage: scripts/deps.sh [--list] [build|run|cluster|test|bench]   (default: test = everything the test suite uses)
#        --list prints the package names instead of installing them
set -euo pipefail
BUILD="meson ninja-build pkg-config gcc libc6-dev libinih-dev libmemcached-dev libmariadb-dev
  libsasl2-dev libsodium-dev libsqlite3-dev libjansson-dev libxxhash-dev"
RUN="$BUILD nginx memcached sasl2-bin libmemcached-tools sqlite3 python3 curl procps util-linux"
# the package test (tests/package/): dpkg-buildpackage, lintian, man, the Prometheus text parser
PACKAGE="debhelper dpkg-dev lintian man-db python3-prometheus-client binutils git"
# scripts/run-cluster.sh: a Galera cluster (galera-4; rsync for state transfers) and the rest of RUN
CLUSTER="$RUN mariadb-server mariadb-client galera-4 rsync"
TEST="$CLUSTER clang libclang-rt-14-dev libfcgi-dev spawn-fcgi python3-jinja2 wrk psmisc openssl $PACKAGE"
BENCH="$TEST gnuplot-nox"
list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
case "${1:-test}" in
  build) want=$BUILD ;; run) want=$RUN ;; cluster) want=$CLUSTER ;; test) want=$TEST ;; bench) want=$BENCH ;;
  *) echo "usage: $0 [build|run|cluster|test|bench]" >&2; exit 2 ;;
esac
if [ "$list" = 1 ]; then echo $want; exit 0; fi
missing=()
for p in $want; do
  # nginx is only a fallback name: any nginx binary will do
  if [ "$p" = nginx ] && command -v nginx >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
