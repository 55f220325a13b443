#!/bin/sh
# Fault tests of the proxy path: application (client library) -> dc_client
# -> dc_server, on unix sockets under WORKDIR.
#
#   sh scenario_tools_faults.sh PREFIX WORKDIR
#
# (a) dc_server killed with SIGKILL under 8 running clients: every call
#     returns within 100 ms (failing while the server is away), and after a
#     restart the proxy reconnects within its -retry period;
# (b) dc_client restarted under PERSISTENT|RETRY contexts: their next
#     operation succeeds;
# (c) half frames, garbage and applications vanishing mid-request affect
#     nobody else;
# (d) -idle closes idle application connections and RETRY contexts ride
#     over it.
# Every process started here is killed by pid on exit.
set -u
PREFIX=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$PREFIX/bin
. "$HERE/lib/scenario.sh"
scenario_begin tools_faults
scenario_extra_cleanup() { exec 3>&- 2> /dev/null; }

# Waits at most SECS for PID to end; its exit status, or 124 after killing it.
wait_pid() {
	i=0
	while kill -0 "$1" 2> /dev/null && [ $i -lt $(($2 * 20)) ]; do sleep 0.05; i=$((i + 1)); done
	if kill -0 "$1" 2> /dev/null; then kill -9 "$1"; wait "$1" 2> /dev/null; return 124; fi
	wait "$1"
}

ms() { date +%s%3N; }

# The latency checks measure the programs, not a busy machine's scheduler:
# where allowed, the processes of (a) run at a raised priority.
HI=""
[ "$(id -u)" -eq 0 ] && HI="nice -n -10"

start_server() { # NAME
	rm -f "$W/$1"
	$HI "$BIN/dc_server" -listen "UNIX:$W/$1" 2> "$W/$1.err" &
	SRV=$!; PIDS="$PIDS $SRV"
	wait_sock "$W/$1"
}

start_proxy() { # NAME SERVER [options]
	name=$1; up=$2; shift 2
	rm -f "$W/$name"
	$HI "$BIN/dc_client" -listen "UNIX:$W/$name" -server "UNIX:$W/$up" "$@" 2> "$W/$name.err" &
	CLI=$!; PIDS="$PIDS $CLI"
	wait_sock "$W/$name"
}

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
LOAD=$W/dc_load
if ! ${CC:-cc} -std=c99 -O2 -Wall -Werror -o "$LOAD" "$HERE/tools/dc_load.c" \
	$(pkg-config --cflags --libs distcache) -lpthread -Wl,-rpath,"$PREFIX/lib" 2> "$W/build.err"; then
	cat "$W/build.err"; bad build_dc_load; exit 1
fi

# ---------------------------------------------------------------- (a)
R=500
phase_a() {
	start_server srv
	start_proxy cli srv -retry $R
	"$LOAD" probe "UNIX:$W/cli" 3000
	check a_proxy_up '[ $? -eq 0 ]'
	echo "$CLI $SRV" > "$W/watch.pids"
	DC_LOAD_WATCH="$W/watch.pids" $HI "$LOAD" run "UNIX:$W/cli" 8 6000 5 "$W/a.log" > "$W/a.out" &
	LP=$!; PIDS="$PIDS $LP"
	sleep 1.5
	TK0=$(ms); kill -9 $SRV; TK=$(ms); wait $SRV 2> /dev/null
	sleep 1.5
	TR=$(ms); start_server srv
	echo "$CLI $SRV" > "$W/watch.pids"
	wait_pid $LP 30
	check a_load_finished '[ $? -eq 0 ] && grep -q "^operations" "$W/a.out"'
	# Every call, before, during and after the outage, came back within 100 ms.
	SLOW=$(awk '{ if ($5 > m) m = $5 } END { print m + 0 }' "$W/a.log")
	check "a_every_call_within_100ms (slowest $((SLOW / 1000)) ms)" '[ "$SLOW" -lt 100000 ]'
	check a_all_good_before_kill \
		'awk -v t=$TK0 "\$1 < t - 20 { n++; if (!\$4) b++ } END { exit !(n > 100 && b == 0) }" "$W/a.log"'
	# While the server is away every call fails (and fails fast, see above).
	check a_all_fail_while_server_down \
		'awk -v a=$TK -v b=$TR "\$1 > a + 50 && \$1 < b { n++; if (\$4) g++ } END { exit !(n > 100 && g == 0) }" "$W/a.log"'
	# After the restart each client's first good call comes within the retry
	# period (plus scheduling slack), and from then on all calls succeed.
	RECON=$(awk -v t=$TR '$1 >= t && $4 && !($2 in first) { first[$2] = $1 - t }
		END { m = -1; n = 0; for (k in first) { n++; if (first[k] > m) m = first[k] } if (n < 8) m = 99999; print m }' "$W/a.log")
	check "a_reconnect_within_retry (all 8 clients good again $RECON ms after the restart, -retry $R)" \
		'[ "$RECON" -le $((R + 300)) ]'
	check a_all_good_after_reconnect \
		'awk -v t=$((TR + R + 600)) "\$1 > t { n[\$2]++; if (!\$4) b++ } END { c = 0; for (k in n) c++; exit !(c == 8 && b == 0) }" "$W/a.log"'
	check a_proxy_survived 'kill -0 $CLI 2> /dev/null'
}
# The limits are about the programs. When a run misses one while the
# machine itself held a process of the test back by 50 ms or more (the load
# generator's idle 1 ms sleeper overslept, or dc_client or dc_server waited
# that long on the run queue), the run says nothing about the programs and
# is repeated, at most twice.
attempt=1
while :; do
	phase_a > "$W/a.result"
	STALL=$(sed -n 's/.* stall_us \([0-9]*\) .*/\1/p' "$W/a.out"); STALL=${STALL:-0}
	grep -q '^FAIL' "$W/a.result" || break
	[ $attempt -lt 3 ] && [ "$STALL" -ge 50000 ] || break
	echo "    attempt $attempt missed a limit while the machine stalled the test for $((STALL / 1000)) ms; again:"
	grep '^FAIL' "$W/a.result" | sed 's/^/      /'
	kill -9 $SRV $CLI 2> /dev/null
	attempt=$((attempt + 1))
done
cat "$W/a.result"
sed 's/^/    /' "$W/a.out"

# ---------------------------------------------------------------- (b)
# The proxy from (a) goes away (SIGUSR1 with -killable) and a new one
# takes over its socket; held connections break underneath the contexts.
kill -9 $CLI
start_proxy cli srv -retry $R -killable
OLD=$CLI
rm -f "$W/hold.in"; mkfifo "$W/hold.in"
"$LOAD" hold "UNIX:$W/cli" 8 < "$W/hold.in" > "$W/hold.out" &
HP=$!; PIDS="$PIDS $HP"
exec 3> "$W/hold.in"
i=0; while ! grep -q READY "$W/hold.out" && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
check b_contexts_ready 'grep -q READY "$W/hold.out"'
kill -USR1 $OLD
wait_pid $OLD 5
check b_killable_exit_0 '[ $? -eq 0 ]'
start_proxy cli srv -retry $R
"$LOAD" probe "UNIX:$W/cli" 3000
echo go >&3
exec 3>&-
wait_pid $HP 10
check b_retry_contexts_survive_proxy_restart '[ $? -eq 0 ] && grep -q "^held 8 good 8 " "$W/hold.out"'
sed 's/^/    /' "$W/hold.out" | tail -1

# ---------------------------------------------------------------- (c)
"$LOAD" run "UNIX:$W/cli" 2 2500 5 "$W/c.log" > "$W/c.out" &
LP=$!; PIDS="$PIDS $LP"
python3 - "$W/cli" > "$W/c.bad" 2>&1 << 'EOF'
import socket, struct, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(path)
    return s
def frame(resp, uid, op, payload, level=0x00110000, complete=1):
    return struct.pack(">IBIBBBH", level, resp, uid, 0, op, complete, len(payload)) + payload
def closed(s):
    try:
        return s.recv(64) == b""
    except socket.timeout:
        return False
# a half frame that stays
half = conn()
half.sendall(frame(0, 5, 1, b"half")[:9])
results = []
for name, data in [("garbage", b"GET / HTTP/1.0\r\n\r\n" * 3),
                   ("foreign_version", frame(0, 1, 1, b"x", level=0x00100000)),
                   ("response_frame", frame(1, 1, 1, b"x")),
                   ("short_add", frame(0, 1, 0, b"\0\0\0\1")),
                   ("short_fragment", frame(0, 1, 1, b"abc", complete=0))]:
    s = conn(); s.sendall(data)
    results.append((name, closed(s)))
# applications vanishing right after a request, many times
for i in range(300):
    s = conn()
    s.sendall(frame(0, i, 3, b"gone-%d" % i))
    s.close()
# one that sends a request and half-closes without reading
for i in range(50):
    s = conn()
    s.sendall(frame(0, i, 1, b"x" * 40))
    s.shutdown(socket.SHUT_WR)
    s.close()
time.sleep(0.2)
half.settimeout(0.2)
still_open = not closed(half)
half.settimeout(3)
half.sendall(frame(0, 5, 1, b"half")[9:])
h = half.recv(64)
for name, c in results:
    print(("closed " if c else "open ") + name)
print("half_still_open" if still_open else "half_closed")
print("half_answered" if h[:9] == frame(1, 5, 1, b"")[:9] else "half_unanswered")
EOF
wait_pid $LP 15
check c_bad_inputs_closed '[ "$(grep -c ^closed "$W/c.bad")" -eq 5 ]'
check c_half_frame_waits_then_answered 'grep -q half_still_open "$W/c.bad" && grep -q half_answered "$W/c.bad"'
check c_good_clients_unaffected 'grep -q "^operations [1-9][0-9]* unexpected 0 " "$W/c.out"'
check c_proxy_survived 'kill -0 $CLI 2> /dev/null'
sed 's/^/    /' "$W/c.out"

# ---------------------------------------------------------------- (d)
start_proxy idle srv -idle 1000 -retry $R
IP=$CLI
"$LOAD" probe "UNIX:$W/idle" 3000
rm -f "$W/idle.in"; mkfifo "$W/idle.in"
"$LOAD" hold "UNIX:$W/idle" 4 < "$W/idle.in" > "$W/idle.out" &
HP=$!; PIDS="$PIDS $HP"
exec 3> "$W/idle.in"
i=0; while ! grep -q READY "$W/idle.out" && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
BEFORE=$(ls /proc/$IP/fd | wc -l)
sleep 2.5
AFTER=$(ls /proc/$IP/fd | wc -l)
check "d_idle_connections_closed ($BEFORE -> $AFTER descriptors)" '[ $((BEFORE - AFTER)) -eq 4 ]'
echo go >&3
exec 3>&-
wait_pid $HP 10
check d_retry_contexts_ride_over_idle_close '[ $? -eq 0 ] && grep -q "^held 4 good 4 " "$W/idle.out"'
exit 0
