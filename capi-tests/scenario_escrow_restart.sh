#!/bin/sh
# Zero-downtime restart with the escrow echo example (examples-c/):
# a client is connected and echoing; the server is killed with SIGKILL and
# started again; the same client connection goes on echoing, without a
# reconnect, because the new server fetched it from the escrow.
#
#   sh capi-tests/scenario_escrow_restart.sh PREFIX WORKDIR
#
# Everything runs on unix sockets in WORKDIR. Every process this script
# starts is killed by PID on exit (trap), including the auto-started escrow
# daemon, found by a marker in its environment (it is a fork of the first
# server). Every wait is bounded.
set -u
PREFIX=${1:?usage: scenario_escrow_restart.sh PREFIX WORKDIR}
WORK=${2:?usage: scenario_escrow_restart.sh PREFIX WORKDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK" || exit 1
rm -f esc echo.sock ./*.log

MARK="escrow-restart-$$-$(date +%s%N)"
export ESCROW_SCENARIO="$MARK"
pids=""

# PIDs of live processes carrying our marker, optionally only those named $1.
marked() {
	for env in /proc/[0-9]*/environ; do
		p=${env#/proc/}; p=${p%/environ}
		[ "$p" = "$$" ] && continue
		if { tr '\0' '\n' < "$env"; } 2> /dev/null | grep -qx "ESCROW_SCENARIO=$MARK"; then
			if [ -z "${1:-}" ] || [ "$(cat /proc/$p/comm 2> /dev/null)" = "$1" ]; then
				echo "$p"
			fi
		fi
	done
}

cleanup() {
	for p in $pids; do kill -9 "$p" 2> /dev/null; done
	for p in $(marked escrowd); do kill -9 "$p" 2> /dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "PASS escrow_restart/$1"; }
fail() { echo "FAIL escrow_restart/$1"; }

# wait_for TENTHS COMMAND...: polls COMMAND every 0.1 s, at most TENTHS times.
wait_for() {
	n=$1; shift
	while [ "$n" -gt 0 ]; do
		if "$@"; then return 0; fi
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

echoes() { n=$(grep -c '^echoed ' client.log 2> /dev/null); echo "${n:-0}"; }
echoes_above() { [ "$(echoes)" -gt "$1" ]; }
alive() { kill -0 "$1" 2> /dev/null; }
gone() { ! kill -0 "$1" 2> /dev/null; }

# 1. Build the examples against the installed library.
ok=1
for prog in echo-server echo-client; do
	${CC:-cc} -O2 -Wall -Werror -I"$PREFIX/include" -o "$WORK/$prog" "$ROOT/examples-c/$prog.c" \
		-L"$PREFIX/lib" -lescrow -Wl,-rpath,"$PREFIX/lib" 2> "build-$prog.log" || ok=0
done
if [ $ok = 1 ]; then pass build; else fail build; cat build-*.log; exit 1; fi

# 2. First server (auto-starts the escrow daemon), then the client.
./echo-server ./esc ./echo.sock 2> server1.log &
server1=$!; pids="$pids $server1"
wait_for 50 test -S echo.sock || { fail server_listens; exit 1; }
./echo-client ./echo.sock 500 > client.log 2> client.err &
client=$!; pids="$pids $client"
if wait_for 100 echoes_above 3; then pass echoing; else fail echoing; cat server1.log client.err; exit 1; fi
# The verbose trace of the first server: no socket file yet (ENOENT), so it
# started the daemon (which traces to the same stderr), got -ENOENT for
# (0, 0) and escrowed the accepted connection.
if grep -q '^Starting escrowd (2)\.$' server1.log && grep -q '^Listening on "./esc"$' server1.log &&
	grep -q '^Received from the escrowd: -2 "Non-existent index in a GET request\."$' server1.log &&
	grep -q '^send: {ADD   0   0 ' server1.log; then
	pass verbose_trace
else
	fail verbose_trace; cat server1.log
fi

# 3. Quiesce (pause the client so that no byte is half-echoed), kill -9.
kill -STOP "$client"
sleep 0.3
kill -9 "$server1"
wait "$server1" 2> /dev/null
if alive "$client"; then pass client_survives_kill; else fail client_survives_kill; fi
before=$(echoes)
kill -CONT "$client"
sleep 0.5
# (One echo may still arrive: the last byte answered before the kill.)
if [ "$(echoes)" -le $((before + 1)) ] && alive "$client"; then pass no_echo_while_down; else fail no_echo_while_down; fi
before=$(echoes)

# 4. Second server: fetches the connection from the escrow.
./echo-server ./esc ./echo.sock 2> server2.log &
server2=$!; pids="$pids $server2"
if wait_for 100 echoes_above $((before + 3)); then pass echo_resumes; else fail echo_resumes; cat server2.log client.err; fi
if [ "$(grep -c '^connected' client.log)" = 1 ] && alive "$client"; then
	pass same_connection
else
	fail same_connection
fi
if grep -q 'recv: {ADD   0   0 ' server2.log && ! grep -q 'Starting escrowd' server2.log; then
	pass connection_from_escrow
else
	fail connection_from_escrow; cat server2.log
fi
if [ "$(marked escrowd | wc -l)" = 1 ]; then pass one_daemon; else fail one_daemon; fi

# 5. The client leaves: the server deletes the entry and exits 0.
kill -9 "$client"
wait "$client" 2> /dev/null
if wait_for 50 gone "$server2"; then
	wait "$server2"; rc=$?
	if [ "$rc" = 0 ] && grep -q 'send: {DEL   0   0}' server2.log; then pass server_exits_cleanly; else fail server_exits_cleanly; fi
else
	fail server_exits_cleanly
fi
exit 0
