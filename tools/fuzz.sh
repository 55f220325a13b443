#!/bin/sh
# Builds the libFuzzer targets in fuzz/ and runs each of them.
#
#   sh tools/fuzz.sh build                 build only
#   FUZZ_SECONDS=600 sh tools/fuzz.sh run  every target for FUZZ_SECONDS (default 30)
#   FUZZ_RUNS=10000000 sh tools/fuzz.sh run  every target for that many executions
#   FUZZ_TARGETS="dc_frame nal_address" ...  only these targets
#   sh tools/fuzz.sh replay                run every committed corpus and
#                                          regression input once (no fuzzing)
#   sh tools/fuzz.sh smoke                 replay, then every target for
#                                          FUZZ_SECONDS (default 30): make check
#   sh tools/fuzz.sh summary               the summary lines of the last runs
#
# Needs only the stable toolchain and Debian's libclang-rt-14-dev (libFuzzer's
# runtime, pulled in by libclang-dev). The targets are ordinary Rust binaries
# that define LLVMFuzzerTestOneInput; rustc instruments them with LLVM's
# SanitizerCoverage (8-bit edge counters, PC table, comparison tracing) and
# they link libFuzzer's archive, which provides main(). Overflow checks and
# debug assertions are on; panics abort, so libFuzzer records them as crashes.
#
# Summary fields: execs = inputs run; cov = instrumented edges reached / all
# instrumented edges in the binary (libFuzzer's "cov"); ft = libFuzzer's
# features (edges with hit-count buckets, comparisons); rss_mb = resident
# memory after loading the corpus -> peak (libFuzzer's own RSS check fails a
# run above -rss_limit_mb).
#
# Seeds: fuzz/corpus/<target>/ (committed; made from shared/vectors by
# tools/fuzz-seeds.py). New inputs found during a run go to
# fuzz/_work/<target>/corpus (not committed); crashes to fuzz/_work/<target>/.
# Every crash input that was fixed is kept in fuzz/regressions/<target>/ and
# replayed by every run. Prints one summary line per target and, last,
# "N passed, N failed".
set -u
# The logs hold raw input bytes (dictionary entries): parse them as bytes.
export LC_ALL=C
HERE=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$HERE/fuzz
WORK=${FUZZ_WORK:-$FUZZ/_work}
TARGET_DIR=${FUZZ_TARGET_DIR:-$HERE/target/fuzz}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
ALL_TARGETS="dc_frame dc_plug_server dc_plug_client dc_payload escrow_daemon escrow_client nal_address nal_decode"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
SECONDS_PER=${FUZZ_SECONDS:-30}
RUNS=${FUZZ_RUNS:-}
MODE=${1:-run}

find_libfuzzer() {
	for f in /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

build() {
	LIBFUZZER_LIB=${LIBFUZZER_LIB:-$(find_libfuzzer)} || {
		echo "libFuzzer runtime not found (apt-get install libclang-rt-14-dev)"; return 1; }
	export LIBFUZZER_LIB
	# --target keeps these flags off build scripts (the main crate's build.rs).
	RUSTFLAGS="-C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4 \
-C llvm-args=-sanitizer-coverage-inline-8bit-counters -C llvm-args=-sanitizer-coverage-pc-table \
-C llvm-args=-sanitizer-coverage-trace-compares -C debug-assertions -C overflow-checks \
-C force-frame-pointers=yes" \
	cargo build --release --manifest-path "$FUZZ/Cargo.toml" --target "$TRIPLE" \
		--target-dir "$TARGET_DIR" --bins
}

bin() { echo "$TARGET_DIR/$TRIPLE/release/$1"; }

# Input size limit per target. The distcache targets take up to 40000 bytes
# (a 32 KiB message is 16 frames, 33008 bytes, and the longest-message check
# needs one frame more). The escrow targets pay several system calls per
# message and per input, so they take up to 512 bytes (dozens of messages):
# every header and length check is reached with that; whole 32 KiB entries
# are covered by the unit and C tests.
opts() {
	case $1 in
	nal_address) echo "-max_len=300" ;;
	nal_decode) echo "-max_len=512" ;;
	escrow_client | escrow_daemon) echo "-max_len=512" ;;
	*) echo "-max_len=40000" ;;
	esac
}

# Summary of one target's last run, from its log.
summarize() {
	log=$1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
	last=$(grep -aE '^#[0-9]+.*DONE' "$log" | tail -1)
	[ -n "$last" ] || last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	first_rss=$(grep -E '^#[0-9]+.*(INITED|pulse)' "$log" | head -1 | sed -n 's/.* rss: \([0-9]*\)Mb.*/\1/p')
	edges=$(sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -1)
	echo "execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?}/${edges:-?} ft=${ft:-?} corpus=${corp:-?} rss_mb=${first_rss:-?}->${rss:-?}"
}

if [ "$MODE" = summary ]; then
	for t in $TARGETS; do
		[ -f "$WORK/$t/fuzz.log" ] && echo "$t: $(summarize "$WORK/$t/fuzz.log")"
	done
	exit 0
fi

build || exit 1
[ "$MODE" = build ] && exit 0
if [ "$MODE" = smoke ]; then
	mkdir -p "$WORK"
	FUZZ_SECONDS=${FUZZ_SECONDS:-30} sh "$0" replay > "$WORK/replay.log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL)' "$WORK/replay.log"
	replay_passed=$(grep -c '^PASS' "$WORK/replay.log")
	replay_failed=$(grep -c '^FAIL' "$WORK/replay.log")
	[ "$rc" -eq 0 ] || [ "$replay_failed" -gt 0 ] || replay_failed=1
	SECONDS_PER=${FUZZ_SECONDS:-30}
	MODE=run
fi

passed=${replay_passed:-0}; failed=${replay_failed:-0}
for t in $TARGETS; do
	mkdir -p "$WORK/$t/corpus" "$FUZZ/regressions/$t"
	log=$WORK/$t/fuzz.log
	dirs="$WORK/$t/corpus $FUZZ/corpus/$t $FUZZ/regressions/$t"
	if [ "$MODE" = replay ]; then
		# Each committed input once; a crash fails.
		files=$(find "$FUZZ/corpus/$t" "$FUZZ/regressions/$t" -type f 2>/dev/null)
		# shellcheck disable=SC2086
		if [ -z "$files" ] || "$(bin "$t")" -rss_limit_mb=2048 -timeout=10 $files > "$log" 2>&1; then
			passed=$((passed + 1)); echo "PASS fuzz-replay/$t ($(echo "$files" | grep -c .) inputs)"
		else
			failed=$((failed + 1)); echo "FAIL fuzz-replay/$t"; tail -30 "$log" | sed 's/^/    /'
		fi
		continue
	fi
	if [ -n "$RUNS" ]; then limit="-runs=$RUNS"; else limit="-max_total_time=$SECONDS_PER"; fi
	# shellcheck disable=SC2046,SC2086
	nice "$(bin "$t")" $(opts "$t") -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$WORK/$t/" $limit $dirs > "$log" 2>&1
	rc=$?
	summary="$t: $(summarize "$log")"
	if [ "$rc" -eq 0 ] && ! grep -qE '^==[0-9]+== ERROR|deadly signal|Timeout|out-of-memory' "$log"; then
		passed=$((passed + 1)); echo "PASS fuzz/$summary"
	else
		failed=$((failed + 1)); echo "FAIL fuzz/$summary (exit status $rc)"
		grep -E 'panicked|ERROR|deadly|Timeout|out-of-memory|artifact' "$log" | head -10 | sed 's/^/    /'
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
