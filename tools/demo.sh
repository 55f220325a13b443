#!/bin/sh
# make demo: build, install into ./_install, start what the project provides
# and show it working. Every process started here is stopped on exit.
set -e
cd "$(dirname "$0")/.."
sh tools/deps.sh demo
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
echo_pid=$!
pids="$pids $echo_pid"
sleep 0.3
"$WORK/bin/nal-echo-client" "UNIX:$WORK/echo.sock" "hello from libnal" 3
wait "$echo_pid"

# distcache: application -> dc_client (per-host proxy) -> dc_server
wait_sock() { i=0; while [ ! -S "$1" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done; }
indent() { sed 's/^/   /'; }
BIN=$PREFIX/bin
start_server() {
	"$BIN/dc_server" -listen "UNIX:$WORK/server.sock" -sessions 1000 2>> "$WORK/server.log" &
	server_pid=$!
	pids="$pids $server_pid"
	wait_sock "$WORK/server.sock"
}
start_server
"$BIN/dc_client" -listen "UNIX:$WORK/proxy.sock" -server "UNIX:$WORK/server.sock" -retry 1000 &
pids="$pids $!"
wait_sock "$WORK/proxy.sock"

echo "== distcache: application (examples-c/dc-demo-client) -> dc_client -> dc_server"
echo "   dc_server -listen UNIX:$WORK/server.sock -sessions 1000"
echo "   dc_client -listen UNIX:$WORK/proxy.sock -server UNIX:$WORK/server.sock -retry 1000"
"$WORK/bin/dc-demo-client" "UNIX:$WORK/proxy.sock" | indent

echo "== the same with dc_snoop between a second dc_client and dc_server (trace on its stderr)"
"$BIN/dc_snoop" -listen "UNIX:$WORK/snoop.sock" -server "UNIX:$WORK/server.sock" 2> "$WORK/snoop.log" &
pids="$pids $!"
wait_sock "$WORK/snoop.sock"
"$BIN/dc_client" -listen "UNIX:$WORK/proxy2.sock" -server "UNIX:$WORK/snoop.sock" &
pids="$pids $!"
wait_sock "$WORK/proxy2.sock"
"$WORK/bin/dc-demo-client" "UNIX:$WORK/proxy2.sock" persistent > "$WORK/app2.log"
tail -1 "$WORK/app2.log" | indent
sleep 0.2
echo "   dc_snoop trace (the proxy's own request ids 1, 2, 3, ...), first 12 of $(wc -l < "$WORK/snoop.log") lines:"
head -12 "$WORK/snoop.log" | indent

echo "== dc_test through the proxy"
"$BIN/dc_test" -connect "UNIX:$WORK/proxy.sock" -progress 500 2>&1 | indent
"$BIN/dc_test" -connect "UNIX:$WORK/proxy.sock" -persistent -sessions 50 -ops 20000 -progress 10000 2>&1 | indent

echo "== the server goes away: the proxy fails requests at once, and reconnects by itself"
kill -9 "$server_pid"; wait "$server_pid" 2> /dev/null || true
start=$(date +%s%N)
"$WORK/bin/dc-demo-client" "UNIX:$WORK/proxy.sock" > "$WORK/down.log" || true
echo "   with dc_server killed: $(grep -c unexpected "$WORK/down.log") calls failed in $((($(date +%s%N) - start) / 1000000)) ms"
start_server
sleep 1.1
"$WORK/bin/dc-demo-client" "UNIX:$WORK/proxy.sock" > "$WORK/up.log"
echo "   dc_server restarted, one -retry period later: $(tail -1 "$WORK/up.log")"
echo "== dc_server statistics lines (stderr of the first and the restarted server)"
tail -3 "$WORK/server.log" | indent
echo "== escrow: an echo server hands its client connection to escrowd and takes it back after a restart"
"$BIN/escrowd" "$WORK/escrow.sock" &
esc_pid=$!
pids="$pids $esc_pid"
wait_sock "$WORK/escrow.sock"
echo "   escrowd $WORK/escrow.sock (pid $esc_pid)"
"$WORK/bin/echo-server" "$WORK/escrow.sock" "$WORK/echo-svc.sock" 2> "$WORK/echo1.log" &
echo1=$!
pids="$pids $echo1"
wait_sock "$WORK/echo-svc.sock"
"$WORK/bin/echo-client" "$WORK/echo-svc.sock" 1000 > "$WORK/echo-client.log" 2> "$WORK/echo-client.err" &
client=$!
pids="$pids $client"
sleep 0.5
echo "   echo-client connected to echo-server (pid $echo1): $(tail -1 "$WORK/echo-client.log" | sed 's/^echoed //') round trips"
kill -STOP "$client"
sleep 0.1
kill -9 "$echo1"
wait "$echo1" 2> /dev/null || true
echo "   echo-server killed with SIGKILL: the client's connection stays open inside escrowd"
kill -CONT "$client"
"$WORK/bin/echo-server" "$WORK/escrow.sock" "$WORK/echo-svc.sock" 2> "$WORK/echo2.log" &
echo2=$!
pids="$pids $echo2"
sleep 0.5
echo "   a new echo-server (pid $echo2) fetched the connection: $(tail -1 "$WORK/echo-client.log" | sed 's/^echoed //') round trips," \
	"the client connected $(grep -c '^connected' "$WORK/echo-client.log") time(s) and never noticed"
kill "$client" 2> /dev/null || true
echo "== sessions survive a restart: dc_server -snapshot FILE (add, SIGTERM, start again, get)"
cc -O2 -o "$WORK/bin/dc_snap" capi-tests/tools/dc_snap.c -I"$PREFIX/include" -L"$PREFIX/lib" -ldistcache -lnal \
	-Wl,-rpath,"$PREFIX/lib"
snap_server() {
	rm -f "$WORK/snap.sock"
	"$BIN/dc_server" -listen "UNIX:$WORK/snap.sock" -sessions 2000 -snapshot "$WORK/sessions.snap" 2>> "$WORK/snap.log" &
	snap_pid=$!; pids="$pids $snap_pid"; wait_sock "$WORK/snap.sock"
}
snap_server
echo "   1000 sessions of 2 KiB: $("$WORK/bin/dc_snap" fill "UNIX:$WORK/snap.sock" demo 0 1000 300000 2048)"
kill -TERM "$snap_pid"; wait "$snap_pid"
snap_server
echo "   after the restart: $("$WORK/bin/dc_snap" check "UNIX:$WORK/snap.sock" demo 0 1000 2048)"
kill -TERM "$snap_pid"; wait "$snap_pid"
sed -n "s|$WORK/||; /snapshot/p" "$WORK/snap.log" | head -3 | indent
echo "== demo finished"
