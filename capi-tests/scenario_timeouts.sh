#!/bin/sh
# A cache server that stops answering must not stop its clients
# (docs/timeouts.md). dc_server is stopped with SIGSTOP for 2 s while C
# clients of the installed libdistcache run operations:
#   direct, one connection per operation (1 thread);
#   direct, PERSISTENT (1 thread);
#   16 threads sharing one PERSISTENT context;
#   via dc_client (4 threads, per-operation context).
# Every operation must return within the deadline + 20%, fail while the
# server is stopped, fail within 1 ms during the back-off (except the probe
# after each back-off), and succeed again within back-off + 1 s of SIGCONT.
# Also: the default deadline with no environment variable set.
#
#   sh scenario_timeouts.sh PREFIX WORKDIR
set -u
PREFIX=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$PREFIX/bin
. "$HERE/lib/scenario.sh"
scenario_begin timeouts
# A stopped server must be continued before it is killed.
scenario_extra_cleanup() { [ -n "${SRV:-}" ] && kill -CONT "$SRV" 2> /dev/null; }

ms() { date +%s%3N; }

P=$W/timeouts
if ! ${CC:-cc} -std=c99 -D_GNU_SOURCE -O2 -Wall -Werror -I"$PREFIX/include" -o "$P" "$HERE/scenario-src/timeouts.c" \
	-L"$PREFIX/lib" -ldistcache -lescrow -lpthread -Wl,-rpath,"$PREFIX/lib" 2> "$W/build.err"; then
	cat "$W/build.err"; bad build; exit 1
fi

rm -f "$W/srv" "$W/cli"
"$BIN/dc_server" -listen "UNIX:$W/srv" 2> "$W/srv.err" &
SRV=$!; PIDS="$PIDS $SRV"
wait_sock "$W/srv" || { bad server_starts; exit 1; }
"$BIN/dc_client" -listen "UNIX:$W/cli" -server "UNIX:$W/srv" -retry 500 -server-timeout 250 2> "$W/cli.err" &
CLI=$!; PIDS="$PIDS $CLI"
wait_sock "$W/cli" || { bad proxy_starts; exit 1; }

# The deadline and back-off of this test (the defaults are 1000 / 2000 ms).
D=300; B=600
export DC_CTX_TIMEOUT_MS=$D DC_CTX_BACKOFF_MS=$B
RUN=5500
T0=$(ms)
"$P" ops "UNIX:$W/srv" 0 1 $RUN "$W/perop.log" > "$W/perop.out" & A=$!
"$P" ops "UNIX:$W/srv" 1 1 $RUN "$W/pers.log" > "$W/pers.out" & B1=$!
"$P" ops "UNIX:$W/srv" 1 16 $RUN "$W/threads.log" > "$W/threads.out" & C=$!
"$P" ops "UNIX:$W/cli" 0 4 $RUN "$W/proxy.log" > "$W/proxy.out" & E=$!
PIDS="$PIDS $A $B1 $C $E"
sleep 1.2
# (a clock read on each side of the signal: an operation between the two
# counts as neither before nor during the stop)
TS0=$(ms); kill -STOP $SRV; TS=$(ms)
sleep 2
TC=$(ms); kill -CONT $SRV
# Nothing hangs: every program ends by RUN + one deadline (+ slack).
LIMIT=$((T0 + RUN + D + 2000))
for p in $A $B1 $C $E; do
	while kill -0 $p 2> /dev/null && [ "$(ms)" -lt $LIMIT ]; do sleep 0.05; done
done
for name in perop pers threads proxy; do
	check "${name}_all_threads_returned" 'grep -q "^threads_done" "$W/$name.out"'
done
unset DC_CTX_TIMEOUT_MS DC_CTX_BACKOFF_MS

# analyse NAME THREADS MAX_SLOW: prints the numbers and checks them.
analyse() {
	awk -v ts0=$TS0 -v ts=$TS -v tc=$TC -v d=$D -v b=$B -v name=$1 '
	{ start = $1; ok = $3; us = $4; n++
	  if (us > maxus) maxus = us
	  if (start < ts0 - 50) { before++; if (!ok) before_bad++ }
	  else if (start > ts + 5 && start + us / 1000 < tc - 5) {
	    stopped++; if (ok) stopped_good++
	    if (us < 1000) fast++; else if (us >= 0.8 * d * 1000) slow++; else middle++
	  } else if (start > tc + b + 1000) { after++; if (!ok) after_bad++ }
	  if (start >= tc && ok && first_good == "") first_good = start - tc }
	END { printf "%s ops %d max_ms %.1f before %d/%d stopped %d (good %d fast %d slow %d other %d) after %d/%d first_good_after_cont_ms %s\n",
	        name, n, maxus / 1000, before - before_bad, before, stopped, stopped_good, fast, slow, middle,
	        after - after_bad, after, first_good == "" ? "none" : first_good }' "$W/$1.log"
}
for name in perop pers threads proxy; do
	R=$(analyse $name); echo "    $R"
	set -- $R
	max=$5; before_n=${7#*/}; before_good=${7%/*}; stopped=$9; good=${11}; fast=${13}; slow=${15}; other=${17%)}
	after_n=${19#*/}; after_good=${19%/*}; first=${21}
	case $name in threads) threads=16 ;; proxy) threads=4 ;; *) threads=1 ;; esac
	check "${name}_good_before_stop" '[ "$before_n" -gt 0 ] && [ "$before_good" -eq "$before_n" ]'
	check "${name}_every_op_within_deadline_plus_20pct (max ${max} ms, deadline $D ms)" \
		'awk -v m=$max -v d=$D "BEGIN { exit !(m <= d * 1.2) }"'
	check "${name}_all_fail_while_stopped" '[ "$stopped" -gt 0 ] && [ "$good" -eq 0 ]'
	# While stopped: failures within 1 ms, apart from the deadline-long
	# ones that detect the stop (one per thread at most) and one probe
	# per back-off (2 s / (D + B) ~ 3).
	if [ $name = proxy ]; then
		# dc_client fails requests at once while its link is down and
		# after -server-timeout (250 ms) while a reconnect hangs.
		check "${name}_fast_failures_while_link_down ($fast under 1 ms, $slow slow, $other between)" '[ "$fast" -gt "$slow" ]'
	else
		# A failure during back-off takes microseconds; on a loaded 2-core
		# machine a thread may still be descheduled for a millisecond now
		# and then (at most 2% of them, or 3, and never for a whole deadline).
		allowed=$((fast / 50)); [ $allowed -ge 3 ] || allowed=3
		check "${name}_fast_failures_during_backoff ($fast under 1 ms, $slow slow, $other between)" \
			'[ "$fast" -gt "$slow" ] && [ "$other" -le $allowed ] && [ "$slow" -le $((threads + 4)) ]'
	fi
	check "${name}_good_again_after_cont (first ${first} ms after SIGCONT, limit $((B + 1000)))" \
		'[ "$first" != none ] && [ "$first" -le $((B + 1000)) ]'
	check "${name}_all_good_after_backoff_plus_1s" '[ "$after_n" -gt 0 ] && [ "$after_good" -eq "$after_n" ]'
done

# The default deadline (no environment variable): one operation against
# the stopped server takes 1000 ms (+20%).
kill -STOP $SRV
R1=$("$P" once "UNIX:$W/srv"); echo "    default deadline: $R1"
kill -CONT $SRV
set -- $R1
rc1=$2; us1=$4
check "default_deadline_1000ms (took $((us1 / 1000)) ms)" '[ "$rc1" -eq -1 ] && [ "$us1" -ge 980000 ] && [ "$us1" -le 1200000 ]'
check proxy_alive 'kill -0 $CLI 2> /dev/null'
check proxy_logged_timeout 'grep -q "the server did not answer for 250 ms" "$W/cli.err"'

# -idle-timeout (seconds) on dc_server and dc_client (--idle-timeout form):
# a connection idle that long is closed, a busy one is not.
rm -f "$W/isrv" "$W/icli"
"$BIN/dc_server" -listen "UNIX:$W/isrv" -idle-timeout 1 2> "$W/isrv.err" &
ISRV=$!; PIDS="$PIDS $ISRV"
wait_sock "$W/isrv"
"$BIN/dc_client" -listen "UNIX:$W/icli" -server "UNIX:$W/isrv" --idle-timeout 1 2> "$W/icli.err" &
ICLI=$!; PIDS="$PIDS $ICLI"
wait_sock "$W/icli"
python3 - "$W/isrv" "$W/icli" > "$W/idle.out" 2>&1 << 'PY'
import socket, struct, sys, time
def conn(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(3); s.connect(p); return s
def have(s, uid):
    s.sendall(struct.pack(">IBIBBBH", 0x00110000, 0, uid, 0, 3, 1, 2) + b"id")
    h = s.recv(64)
    return len(h) >= 14
for name, path in [("dc_server", sys.argv[1]), ("dc_client", sys.argv[2])]:
    idle, busy = conn(path), conn(path)
    t0 = time.monotonic()
    ok = have(idle, 1) and have(busy, 1)
    for i in range(8):                      # busy: a request every 0.3 s
        time.sleep(0.3)
        ok = ok and have(busy, i + 2)
    idle.settimeout(0.01)
    try:
        closed = idle.recv(1) == b""
    except OSError:
        closed = False
    print(name, "answers" if ok else "no-answer", "idle-closed" if closed else "idle-open", "busy-open" if ok else "busy-closed")
PY
sed 's/^/    /' "$W/idle.out"
check dc_server_idle_timeout_closes_idle_only 'grep -q "^dc_server answers idle-closed busy-open" "$W/idle.out"'
check dc_client_idle_timeout_closes_idle_only 'grep -q "^dc_client answers idle-closed busy-open" "$W/idle.out"'
"$BIN/dc_server" -listen "UNIX:$W/bad" -idle-timeout 1x > /dev/null 2> "$W/bad.err"
rc=$?
check "idle_timeout_bad_value_refused ($(head -1 "$W/bad.err"))" \
	'[ $rc -eq 1 ] && grep -qxF "dc_server: invalid -idle-timeout '"'"'1x'"'"': give a whole number of seconds from 0 to 86400" "$W/bad.err"'
