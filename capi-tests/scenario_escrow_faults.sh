#!/bin/sh
# escrowd under faults: filled to its descriptor limit (started under
# `ulimit -n 40`), then fed garbage, truncated messages, descriptors on
# requests that take none, mid-message disconnects (some with a descriptor
# in flight) and a client that never reads; every entry accepted before
# stays retrievable with its file and payload, and the daemon stays up with
# no descriptor leaked. The daemon is killed by PID on exit.
#
#   sh capi-tests/scenario_escrow_faults.sh PREFIX WORKDIR
set -u
PREFIX=${1:?usage: scenario_escrow_faults.sh PREFIX WORKDIR}
WORK=${2:?usage: scenario_escrow_faults.sh PREFIX WORKDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK" || exit 1
rm -rf esc files ./*.log
mkdir files
daemon=""
trap '[ -n "$daemon" ] && kill -9 "$daemon" 2> /dev/null' EXIT
trap 'exit 1' INT TERM

if ${CC:-cc} -std=c99 -D_GNU_SOURCE -Wall -Werror -I"$PREFIX/include" -o faults "$HERE/scenario-src/escrow_faults.c" \
	-L"$PREFIX/lib" -lescrow -Wl,-rpath,"$PREFIX/lib" 2> build.log; then
	echo "PASS escrow_faults/build"
else
	echo "FAIL escrow_faults/build"; cat build.log; exit 1
fi

(ulimit -n 40 && exec "$PREFIX/bin/escrowd" -t 4 "$WORK/esc") 2> daemon.log &
daemon=$!
n=50
while [ $n -gt 0 ] && ! [ -S esc ]; do sleep 0.1; n=$((n - 1)); done
[ -S esc ] || { echo "FAIL escrow_faults/daemon_starts"; cat daemon.log; exit 1; }

fds_before=$(ls /proc/"$daemon"/fd | wc -l)
timeout 120 ./faults "$WORK/esc" "$WORK/files" || echo "FAIL escrow_faults/checker_exit_status"
if kill -0 "$daemon" 2> /dev/null; then echo "PASS escrow_faults/daemon_alive"; else echo "FAIL escrow_faults/daemon_alive"; fi
# Every descriptor the daemon holds is the listener's, a standard one or an
# entry's: after the run it holds exactly the stored entries' files more.
stored=$(ls files | wc -l)
# The daemon closes the checker's last connections on its own time: look
# again (at most 5 s) until the count settles on the expected one.
n=50
while :; do
	fds_after=$(ls /proc/"$daemon"/fd 2> /dev/null | wc -l)
	files_open=$(ls -l /proc/"$daemon"/fd 2> /dev/null | grep -c "$WORK/files/")
	[ "$fds_after" -eq $((fds_before + files_open)) ] || [ $n -eq 0 ] && break
	sleep 0.1; n=$((n - 1))
done
if [ "$files_open" -ge 5 ] && [ "$fds_after" -eq $((fds_before + files_open)) ]; then
	echo "PASS escrow_faults/no_descriptor_leak ($fds_before + $files_open entries = $fds_after)"
else
	echo "FAIL escrow_faults/no_descriptor_leak (before $fds_before, after $fds_after, entry files $files_open of $stored)"
fi
[ -s daemon.log ] && { echo "# daemon stderr:"; sed 's/^/#   /' daemon.log | tail -5; }
exit 0
