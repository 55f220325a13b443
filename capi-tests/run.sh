#!/bin/sh
# Runs the C conformance suite against an installed tree.
#
#   sh capi-tests/run.sh PREFIX
#
# Every capi-tests/test_*.c is compiled with cc against PREFIX/include and
# linked against the installed shared libraries through pkg-config; each
# program prints PASS/FAIL lines. Then: the ABI prototype unit is compiled
# as C99 with -Werror and as C++; one program is linked statically against
# the .a archives; and (unless NO_VALGRIND=1) every program runs again under
# valgrind memcheck, where any error or leak fails that program; then
# (unless SANITIZE=0) every program is rebuilt with AddressSanitizer and
# UndefinedBehaviorSanitizer (-fsanitize=address,undefined, leak detection
# on, any report fatal) and run again — a separate pass, since valgrind and
# ASan cannot be combined. SANITIZE=only runs just that pass (with the
# scenarios skipped). The last line is "N passed, N failed".
set -u
PREFIX=${1:?usage: run.sh PREFIX}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out}
rm -rf "$OUT"; mkdir -p "$OUT"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
# The distcache tests start the installed server themselves.
export DC_SERVER_BIN="$PREFIX/bin/dc_server"
CFLAGS="-std=c99 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(pkg-config --cflags libnal distcache distcacheserver escrow)"
LIBS="$(pkg-config --libs distcacheserver escrow) -lpthread -Wl,-rpath,$PREFIX/lib"
STATIC_LIBS="$PREFIX/lib/libnal.a $(pkg-config --static --libs-only-l libnal | sed 's/-lnal//')"
passed=0; failed=0

note_fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# Runs one program (optionally under a wrapper), counting its PASS/FAIL lines.
run_prog() {
	label=$1; shift
	log=$OUT/$label.log
	"$@" > "$log" 2> "$log.err"
	rc=$?
	cat "$log"
	p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		note_fail "$label (exit status $rc)"
	fi
	if [ "$rc" -ne 0 ]; then sed 's/^/    /' "$log.err" | tail -40; fi
}

# 1. Build every test program against the installed headers and .so files.
progs=""
for src in "$HERE"/test_*.c; do
	name=$(basename "$src" .c)
	if ${CC:-cc} $CFLAGS -I"$HERE" -o "$OUT/$name" "$src" $LIBS 2> "$OUT/$name.build"; then
		progs="$progs $name"
	else
		cat "$OUT/$name.build"; note_fail "$name (does not compile)"
	fi
done

# 2. Signature checks: each abi_*.c assigns every exported function of one
#    header to a pointer of the exact prototype written out from the ABI
#    specification; compiled as C99 with -Werror and as C++.
for src in "$HERE"/abi_*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c)
	if ${CC:-cc} $CFLAGS -Wstrict-prototypes -c -o "$OUT/$name.o" "$src" 2> "$OUT/$name.c.err"; then
		passed=$((passed + 1)); echo "PASS $name/c99"
	else cat "$OUT/$name.c.err"; note_fail "$name/c99"; fi
	if ${CXX:-c++} -x c++ -std=c++11 -Wall -Wextra -Werror -I"$PREFIX/include" -c -o "$OUT/$name.cxx.o" "$src" 2> "$OUT/$name.cxx.err"; then
		passed=$((passed + 1)); echo "PASS $name/cxx"
	else cat "$OUT/$name.cxx.err"; note_fail "$name/cxx"; fi
done

# 2a. Every installed header together, as strict C89 and C++98: programs
#     built with old standards and -pedantic -Werror keep compiling.
printf '%s\n' '#include <stddef.h>' '#include <libnal/nal.h>' '#include <libnal/nal_devel.h>' \
	'#include <distcache/dc_client.h>' '#include <distcache/dc_plug.h>' '#include <distcache/dc_server.h>' \
	'#include <escrow.h>' 'int main(void) { return 0; }' > "$OUT/all_headers.c"
if ${CC:-cc} -std=c89 -pedantic -Wall -Wextra -Werror -I"$PREFIX/include" -c -o "$OUT/all_headers.o" "$OUT/all_headers.c" 2> "$OUT/all_headers.c89.err"; then
	passed=$((passed + 1)); echo "PASS headers/c89_pedantic"
else cat "$OUT/all_headers.c89.err"; note_fail "headers/c89_pedantic"; fi
if ${CXX:-c++} -x c++ -std=c++98 -pedantic -Wall -Wextra -Werror -I"$PREFIX/include" -c -o "$OUT/all_headers.cxx.o" "$OUT/all_headers.c" 2> "$OUT/all_headers.cxx.err"; then
	passed=$((passed + 1)); echo "PASS headers/cxx98_pedantic"
else cat "$OUT/all_headers.cxx.err"; note_fail "headers/cxx98_pedantic"; fi

# 2b. Every function the four libraries export is called by name in at
#     least one test program (a new export without a C test fails here).
untested=""
for lib in libnal libdistcache libdistcacheserver libescrow; do
	for sym in $(nm -D --defined-only "$PREFIX/lib/$lib.so.1" | awk '$2 == "T" { print $3 }'); do
		grep -qw "$sym" "$HERE"/test_*.c || untested="$untested $lib:$sym"
	done
done
if [ -z "$untested" ] && nm -D --defined-only "$PREFIX/lib/libnal.so.1" | grep -qw NAL_ADDRESS_new; then
	passed=$((passed + 1)); echo "PASS exports/every_function_has_a_c_test"
else
	echo "  exported without a C test:$untested"; note_fail "exports/every_function_has_a_c_test"
fi

SANITIZE=${SANITIZE:-1}
if [ "$SANITIZE" = only ]; then NO_VALGRIND=1; fi

# 3. Run them.
if [ "$SANITIZE" != only ]; then
	for p in $progs; do run_prog "$p" "$OUT/$p"; done
fi

# 4. One program linked statically against the archives.
[ "$SANITIZE" = only ] || for name in test_nal_buffer; do
	[ -f "$HERE/$name.c" ] || continue
	if ${CC:-cc} $CFLAGS -I"$HERE" -o "$OUT/$name.static" "$HERE/$name.c" $STATIC_LIBS 2> "$OUT/$name.static.build"; then
		if ldd "$OUT/$name.static" | grep -q 'libnal\|libdistcache_core'; then
			note_fail "static/$name (still links a shared libnal)"
		else
			run_prog "$name.static" "$OUT/$name.static"
		fi
	else cat "$OUT/$name.static.build"; note_fail "static/$name (does not link)"; fi
done

# 5. Every program again under valgrind, counted once per program: any
#    memory error or leak (exit status 99) or failed check fails it.
if [ "${NO_VALGRIND:-0}" != 1 ] && command -v valgrind > /dev/null; then
	for p in $progs; do
		log=$OUT/valgrind.$p.log
		valgrind -q --error-exitcode=99 --leak-check=full \
			--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
			--child-silent-after-fork=yes "$OUT/$p" > "$log" 2> "$log.err"
		rc=$?
		if [ "$rc" -eq 0 ] && ! grep -q '^FAIL ' "$log"; then
			passed=$((passed + 1)); echo "PASS valgrind/$p"
		else
			note_fail "valgrind/$p (exit status $rc)"; grep '^FAIL ' "$log"; tail -60 "$log.err" | sed 's/^/    /'
		fi
	done
fi

# 5b. Every program again, built with ASan + UBSan: any memory error, leak
#     (LeakSanitizer also sees the library's allocations, which go through
#     malloc) or undefined behaviour ends the program with a report, which
#     fails it, as does a failed check.
if [ "$SANITIZE" != 0 ]; then
	SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	mkdir -p "$OUT/asan"
	for src in "$HERE"/test_*.c; do
		name=$(basename "$src" .c)
		log=$OUT/asan/$name.log
		if ! ${CC:-cc} $CFLAGS $SAN_FLAGS -I"$HERE" -o "$OUT/asan/$name" "$src" $LIBS 2> "$OUT/asan/$name.build"; then
			cat "$OUT/asan/$name.build"; note_fail "asan/$name (does not compile)"; continue
		fi
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98:${ASAN_OPTIONS:-} \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-} \
			"$OUT/asan/$name" > "$log" 2> "$log.err"
		rc=$?
		if [ "$rc" -eq 0 ] && ! grep -q '^FAIL ' "$log" && ! grep -q 'Sanitizer\|runtime error' "$log.err"; then
			passed=$((passed + 1)); echo "PASS asan/$name"
		else
			note_fail "asan/$name (exit status $rc)"; grep '^FAIL ' "$log"
			grep -A30 'ERROR\|runtime error' "$log.err" | head -60 | sed 's/^/    /'
		fi
	done
fi

# 6. Scenario scripts (servers, daemons, restarts): each scenario_*.sh gets
#    PREFIX and a private work directory and prints PASS/FAIL lines.
for sc in "$HERE"/scenario_*.sh; do
	[ -f "$sc" ] || continue
	[ "$SANITIZE" = only ] && break
	name=$(basename "$sc" .sh)
	mkdir -p "$OUT/$name.d"
	run_prog "$name" sh "$sc" "$PREFIX" "$OUT/$name.d"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
