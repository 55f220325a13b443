#!/bin/sh
# A short soak with faults against the installed dc_server and dc_client:
# 16 checked workers while both processes are killed with SIGKILL and
# restarted, garbage is sent and requests are abandoned half-written
# (examples/soak.rs; the long runs are tools/soak.sh). Zero wrong answers,
# no unexpected failure, no hang, no process dying unless killed.
#
#   sh capi-tests/scenario_soak.sh PREFIX WORKDIR      (SOAK_SECONDS, default 40)
set -u
PREFIX=${1:?usage: scenario_soak.sh PREFIX WORKDIR}
WORK=${2:?usage: scenario_soak.sh PREFIX WORKDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if (cd "$ROOT" && cargo build --release --example soak -q) > "$WORK/build.log" 2>&1; then
	echo "PASS soak/build"
else
	echo "FAIL soak/build"; tail -20 "$WORK/build.log"; exit 1
fi
# The driver stops both processes itself (by PID), also when a check fails.
timeout $((${SOAK_SECONDS:-40} + 60)) "$ROOT/target/release/examples/soak" \
	-server "$PREFIX/bin/dc_server" -client "$PREFIX/bin/dc_client" -dir "$WORK/run" \
	-seconds "${SOAK_SECONDS:-40}" -faults 1 > "$WORK/soak.log" 2>&1
rc=$?
grep -v ' passed, .* failed$' "$WORK/soak.log" | grep -E '^(PASS|FAIL|soak:|operations|answers|failures|faults|  problem)' |
	sed -e '/^\(PASS\|FAIL\)/!s/^/# /'
[ "$rc" -eq 0 ] || echo "FAIL soak/exit_status ($rc)"
exit 0
