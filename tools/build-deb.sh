#!/bin/sh
# make deb: builds the Debian binary packages with dpkg-buildpackage from
# debian/ (debhelper) and writes them, with their .buildinfo and .changes,
# to _build/deb (not to the parent directory, dpkg-buildpackage's default).
# The release build of make all is reused when it is up to date.
#
#   sh tools/build-deb.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-_build/deb}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.deb "$OUT"/*.ddeb "$OUT"/*.changes "$OUT"/*.buildinfo
VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
DEB_OUT=$OUT dpkg-buildpackage -b --no-sign --post-clean \
	--buildinfo-option="-u$OUT" --changes-option="-u$OUT" \
	--buildinfo-file="$OUT/distcache_${VERSION}_$ARCH.buildinfo" \
	--changes-file="$OUT/distcache_${VERSION}_$ARCH.changes"
ls -l "$OUT"
