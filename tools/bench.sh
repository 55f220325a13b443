#!/bin/sh
# Benchmarks (not tests): builds, installs into _build/bench-prefix, then runs
# every bench program and prints its table. Ratios are measured in one run
# against a raw-socket baseline measured by the same program.
# BENCH=name runs only bench/name.c (e.g. BENCH=dc_bench make bench).
set -e
cd "$(dirname "$0")/.."
PREFIX=$(pwd)/_build/bench-prefix
make -s install PREFIX="$PREFIX" > /dev/null
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
mkdir -p _build/bench
missed=""
for src in bench/*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c)
	[ -z "${BENCH:-}" ] || [ "$BENCH" = "$name" ] || continue
	cc -O2 -std=gnu99 -o "_build/bench/$name" "$src" $(pkg-config --cflags --libs distcacheserver escrow) \
		-lpthread -Wl,-rpath,"$PREFIX/lib"
	echo "## $name"
	# A program exits non-zero when it missed a target; the others still run.
	"_build/bench/$name" "$PREFIX" || missed="$missed $name"
	echo
done
if [ -n "$missed" ]; then
	echo "targets missed in:$missed"
	exit 1
fi
echo "every target met"
