#!/bin/sh
# make demo: build, install into ./_install, start what the project provides
# and show it working. Every process started here is stopped on exit.
set -e
cd "$(dirname "$0")/.."
sh tools/deps.sh
make -s all
rm -rf _install
make -s install PREFIX="$(pwd)/_install" > /dev/null
PREFIX=$(pwd)/_install
WORK=$(mktemp -d /tmp/distcache-demo.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

echo "== installed into $PREFIX"
for lib in libnal libdistcache libdistcacheserver libescrow; do
	printf '   %-26s SONAME %-26s %4d symbols\n' "$lib.so.1" \
		"$(readelf -d "$PREFIX/lib/$lib.so.1" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" \
		"$(nm -D --defined-only "$PREFIX/lib/$lib.so.1" | grep -c ' T ')"
done

echo "== libnal: echo server and client (examples-c) over a unix socket"
make -s -C examples-c INCDIR="$PREFIX/include" LIBDIR="$PREFIX/lib" OUT="$WORK/bin" > /dev/null
"$WORK/bin/nal-echo-server" "UNIX:$WORK/echo.sock" 1 &
pids="$pids $!"
sleep 0.3
"$WORK/bin/nal-echo-client" "UNIX:$WORK/echo.sock" "hello from libnal" 3
wait
echo "== demo finished"
