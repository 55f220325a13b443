#!/bin/sh
# Installs the Debian packages the build and tests need, if any is missing.
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
#
#   sh tools/deps.sh demo     what `make demo` needs (a C compiler and make)
#   sh tools/deps.sh          everything `make check` needs
#   sh tools/deps.sh deb      what `make deb` and its test need (Debian's
#                             packaging tools, lintian, man-db)
set -e
need=""
have() { command -v "$1" > /dev/null 2>&1; }
have cc || need="$need gcc"
have make || need="$need make"
have readelf || need="$need binutils"
if [ "${1:-check}" = deb ]; then
# debhelper/dpkg-dev build the packages, chrpath drops the build tree's
# RUNPATH from the packaged libraries, lintian checks them, man-db shows
# the installed pages (tools/test-deb.sh).
for pkg in debhelper dpkg-dev chrpath lintian man-db groff-base; do
	dpkg -s "$pkg" > /dev/null 2>&1 || need="$need $pkg"
done
elif [ "${1:-check}" != demo ]; then
have c++ || need="$need g++"
have pkg-config || need="$need pkg-config"
have valgrind || need="$need valgrind"
have python3 || need="$need python3"
# certificates for the TLS tests (capi-tests/lib/tls_certs.sh)
have openssl || need="$need openssl"
# libclang for the bindgen prototype check (tests/header_prototypes.rs)
dpkg -s libclang-dev > /dev/null 2>&1 || need="$need libclang-dev"
EXTRA_DEBS="${EXTRA_DEBS:-} man-db groff-base" # manual page checks (capi-tests/scenario_tools_man.sh)
# real Redis servers (standalone, cluster, TLS, ACL) and a CA for the
# dc_server Redis backend tests (tests/redis_backend.rs, bench/redis.sh)
EXTRA_DEBS="$EXTRA_DEBS redis-server redis-tools openssl"
# libFuzzer's runtime for the fuzz targets (tools/fuzz.sh; normally pulled
# in by libclang-dev)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a > /dev/null 2>&1 || need="$need libclang-rt-14-dev"
for pkg in $EXTRA_DEBS; do dpkg -s "$pkg" > /dev/null 2>&1 || need="$need $pkg"; done
fi
[ -z "$need" ] && exit 0
echo "installing:$need"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q $need
