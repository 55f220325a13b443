#!/bin/sh
# dc_server with its sessions in a real redis-server (-cache redis://...):
# the whole DC_CTX C suite (test_dc_ctx.c, test_dc_threads.c) runs against
# it unchanged, through a wrapper that starts every dc_server the tests
# start with "-cache redis://127.0.0.1:PORT -cache-prefix <fresh>:" (a
# fresh prefix per server start, so a restarted server starts empty as
# with the builtin cache); then the options as a program sees them.
#
#   sh scenario_redis.sh PREFIX WORKDIR
#
# redis-server (tools/deps.sh installs it) listens on a free 127.0.0.1
# port with its files in WORKDIR and is stopped by pid.
set -u
PREFIX=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/scenario.sh"
scenario_begin redis

if ! command -v redis-server > /dev/null || ! command -v redis-cli > /dev/null; then
	bad "redis_installed (run tools/deps.sh)"
	exit 0
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$W" \
	--logfile "$W/redis.log" &
RP=$!; PIDS="$PIDS $RP"
i=0
while [ $i -lt 250 ] && [ "$(redis-cli -p "$PORT" PING 2> /dev/null)" != PONG ]; do sleep 0.02; i=$((i + 1)); done
check redis_up '[ "$(redis-cli -p "$PORT" PING)" = PONG ]'

# Every dc_server the C tests start gets the Redis store.
cat > "$W/dc_server" << WRAP
#!/bin/sh
exec "$PREFIX/bin/dc_server" "\$@" -cache redis://127.0.0.1:$PORT -cache-prefix "ctx\$\$:"
WRAP
chmod +x "$W/dc_server"

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
CFLAGS="-std=c99 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(pkg-config --cflags libnal distcache distcacheserver)"
LIBS="$(pkg-config --libs distcacheserver) -lpthread -Wl,-rpath,$PREFIX/lib"
for t in test_dc_ctx test_dc_threads; do
	if ${CC:-cc} $CFLAGS -I"$HERE" -o "$W/$t" "$HERE/$t.c" $LIBS 2> "$W/$t.build"; then
		DC_SERVER_BIN="$W/dc_server" "$W/$t" > "$W/$t.log" 2> "$W/$t.err"
		rc=$?
		sed "s,^\(PASS\|FAIL\) ,\1 $SCENARIO/," "$W/$t.log"
		check "$t/exit_0" '[ $rc -eq 0 ] && ! grep -q "^FAIL" "$W/$t.log" && grep -q "^PASS" "$W/$t.log"'
	else
		cat "$W/$t.build"; bad "$t/builds"
	fi
done
check sessions_went_to_redis '[ "$(redis-cli -p "$PORT" --scan --pattern "ctx*" | wc -l)" -gt 0 ]'

# The program: -h lists the options, errors name what is wrong.
"$PREFIX/bin/dc_server" -h 2> "$W/h.err"
check usage_lists_cache_options 'for o in -cache -cache-prefix -cache-timeout -cache-ca -cache-password-file; do grep -q -- "$o " "$W/h.err" || exit 1; done'
"$PREFIX/bin/dc_server" -listen "UNIX:$W/x" -cache ftp://h > /dev/null 2> "$W/e1"; rc=$?
check bad_url_refused '[ $rc -eq 1 ] && grep -q "unknown scheme" "$W/e1"'
"$PREFIX/bin/dc_server" --listen "UNIX:$W/s1" --cache "redis://127.0.0.1:$PORT" --cache-prefix sc: 2> "$W/s1.err" &
P1=$!; PIDS="$PIDS $P1"
wait_sock "$W/s1"
r1=$(ask "$W/s1" 0 1 "$(add_payload 60000 6b6579 76616c7565)")
r2=$(ask "$W/s1" 1 2 6b6579)
check double_dash_forms_and_prefix '[ "$r1" = 00 ] && [ "$r2" = 76616c7565 ] && [ "$(redis-cli -p "$PORT" GET sc:key)" = value ]'
# The sessions in Redis, the dc_client <-> dc_server link over TLS: the
# store's answers come back through TLS, in each client's order.
bash "$HERE/lib/tls_certs.sh" "$W/certs" > /dev/null 2>&1
TP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PREFIX/bin/dc_server" -listen "IP:127.0.0.1:$TP" -cache "redis://127.0.0.1:$PORT" -cache-prefix tls: \
	-tls-cert "$W/certs/server.pem" -tls-key "$W/certs/server.key" -tls-ca "$W/certs/ca.pem" 2> "$W/tls-server.err" &
PT=$!; PIDS="$PIDS $PT"
"$PREFIX/bin/dc_client" -listen "UNIX:$W/tls-proxy" -server "IP:127.0.0.1:$TP" -retry 200 \
	-tls-cert "$W/certs/client.pem" -tls-key "$W/certs/client.key" -tls-ca "$W/certs/ca.pem" 2> "$W/tls-client.err" &
PC=$!; PIDS="$PIDS $PC"
wait_sock "$W/tls-proxy"
i=0; while [ $i -lt 100 ] && [ "$(ask "$W/tls-proxy" 3 1 6b)" != 01 ]; do sleep 0.05; i=$((i + 1)); done
"$PREFIX/bin/dc_test" -connect "UNIX:$W/tls-proxy" -sessions 20 -ops 2000 > /dev/null 2> "$W/tls-test.err"; rc1=$?
"$PREFIX/bin/dc_test" -connect "UNIX:$W/tls-proxy" -persistent -sessions 20 -ops 2000 > /dev/null 2> "$W/tls-test2.err"; rc2=$?
check tls_link_with_redis_store '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(redis-cli -p "$PORT" --scan --pattern "tls:*" | wc -l)" -gt 0 ]'
kill -9 "$PC" "$PT"
kill -9 "$RP"
r3=$(ask "$W/s1" 1 3 6b6579)
check store_lost_answers_failure '[ "$r3" = 02 ]'
