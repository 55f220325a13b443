#!/bin/sh
# escrowd at its descriptor limit: started under `ulimit -n 24`, it answers
# the ADD it cannot receive a descriptor for with -EMFILE and keeps every
# earlier entry (the traditional daemon aborted and lost them all). Uses
# the installed escrowd and library; the daemon is killed by PID on exit.
#
#   sh capi-tests/scenario_escrow_limit.sh PREFIX WORKDIR
set -u
PREFIX=${1:?usage: scenario_escrow_limit.sh PREFIX WORKDIR}
WORK=${2:?usage: scenario_escrow_limit.sh PREFIX WORKDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK" || exit 1
rm -f esc ./*.log
daemon=""
trap '[ -n "$daemon" ] && kill -9 "$daemon" 2> /dev/null' EXIT
trap 'exit 1' INT TERM

if ${CC:-cc} -std=c99 -D_GNU_SOURCE -Wall -Werror -I"$PREFIX/include" -o limit "$HERE/scenario-src/escrow_limit.c" \
	-L"$PREFIX/lib" -lescrow -Wl,-rpath,"$PREFIX/lib" 2> build.log; then
	echo "PASS escrow_limit/build"
else
	echo "FAIL escrow_limit/build"; cat build.log; exit 1
fi

(ulimit -n 24 && exec "$PREFIX/bin/escrowd" -v -t 4 "$WORK/esc") 2> daemon.log &
daemon=$!
n=50
while [ $n -gt 0 ] && ! [ -S esc ]; do sleep 0.1; n=$((n - 1)); done
[ -S esc ] || { echo "FAIL escrow_limit/daemon_starts"; cat daemon.log; exit 1; }

timeout 60 ./limit "$WORK/esc" || echo "FAIL escrow_limit/checker_exit_status"
if kill -0 "$daemon" 2> /dev/null; then echo "PASS escrow_limit/daemon_alive"; else echo "FAIL escrow_limit/daemon_alive"; fi
if grep -q 'send: {REP -24 "Cannot receive a descriptor."}' daemon.log &&
	grep -q 'Session completed with -108.' daemon.log; then
	echo "PASS escrow_limit/verbose_trace"
else
	echo "FAIL escrow_limit/verbose_trace"; tail -5 daemon.log
fi
exit 0
