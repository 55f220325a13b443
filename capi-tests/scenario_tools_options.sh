#!/bin/sh
# dc_client, dc_snoop and dc_test as programs: options, messages, exit
# codes, daemon mode, pid file, socket permissions, user switching, the FD
# listener, and dc_test's verdicts (including against a server that lies).
#
#   sh scenario_tools_options.sh PREFIX WORKDIR
#
# Unix sockets under WORKDIR only; every process is killed by pid on exit.
set -u
PREFIX=$1
W=$2
BIN=$PREFIX/bin
. "$(dirname "$0")/lib/scenario.sh"
scenario_begin tools_options

# Runs a tool with a time limit: run NAME TOOL ARGS...; sets rc, and the
# files $W/NAME.out and $W/NAME.err.
run() {
	name=$1; shift
	"$@" > "$W/$name.out" 2> "$W/$name.err" &
	p=$!; i=0
	while kill -0 $p 2> /dev/null && [ $i -lt 400 ]; do sleep 0.025; i=$((i + 1)); done
	kill -9 $p 2> /dev/null
	wait $p; rc=$?
}
has() { grep -qxF -- "$2" "$W/$1.err"; }
quiet() { [ ! -s "$W/$1.out" ]; }

rm -f "$W"/*.sock "$W"/*.pid
"$BIN/dc_server" -listen "UNIX:$W/srv.sock" 2> /dev/null &
SRV=$!; PIDS="$PIDS $SRV"
wait_sock "$W/srv.sock"
S="UNIX:$W/srv.sock"

# ------------------------------------------------------------ dc_client
C=$BIN/dc_client
run c_h "$C" -h
check client_usage '[ $rc -eq 0 ] && quiet c_h && grep -q -- "-retry" "$W/c_h.err" && grep -q -- "-sockperms" "$W/c_h.err"'
run c_none "$C" -listen "UNIX:$W/x.sock"
check client_no_server '[ $rc -eq 1 ] && has c_none "dc_client: no server specified: give -server <addr>, the dc_server to forward to"'
run c_two "$C" -server "$S" -server "$S"
check client_two_servers '[ $rc -eq 1 ] && has c_two "dc_client: too many servers: -server '"'"'$S'"'"' after -server; give one"'
run c_two2 "$C" -server "$S" -connect "$S"
check client_two_servers_connect '[ $rc -eq 1 ] && has c_two2 "dc_client: too many servers: -connect '"'"'$S'"'"' after -server; give one"'
for v in 0 abc 12a -5 3600001 ""; do
	run c_retry "$C" -server "$S" -retry "$v"
	check "client_retry_invalid[$v]" '[ $rc -eq 1 ] && has c_retry "dc_client: invalid -retry '"'"'$v'"'"': give a whole number of milliseconds from 1 to 3600000"'
done
for v in -1 1x 3600001; do
	run c_idle "$C" -server "$S" -idle "$v"
	check "client_idle_invalid[$v]" '[ $rc -eq 1 ] && has c_idle "dc_client: invalid -idle '"'"'$v'"'"': give a whole number of milliseconds from 0 to 3600000"'
done
run c_miss "$C" -server "$S" -listen
check client_missing_value '[ $rc -eq 1 ] && has c_miss "dc_client: -listen requires an argument"'
run c_unk "$C" -bogus
check client_unknown_option '[ $rc -eq 1 ] && has c_unk "dc_client: unrecognised option '"'"'-bogus'"'"'"'
run c_bad "$C" -server "$S" -listen IP:nonsense:xx
check client_bad_listen '[ $rc -eq 1 ] && grep -qF "dc_client: can'"'"'t listen on '"'"'IP:nonsense:xx'"'"' (-listen): not a valid address (expected UNIX:/path" "$W/c_bad.err"'
run c_srv "$C" -server IP:9001 -listen "UNIX:$W/y.sock"
check client_server_not_connectable '[ $rc -eq 1 ] && grep -qF "dc_client: invalid -server '"'"'IP:9001'"'"': a listening-only address" "$W/c_srv.err" && [ ! -e "$W/y.sock" ]'
run c_pid "$C" -server "$S" -listen "UNIX:$W/z.sock" -pidfile "$W/no/such/dir/p"
check client_pidfile_error '[ $rc -eq 1 ] && has c_pid "dc_client: couldn'"'"'t write the pid file '"'"'$W/no/such/dir/p'"'"' (-pidfile): No such file or directory" && [ ! -e "$W/z.sock" ]'
run c_user "$C" -server "$S" -listen "UNIX:$W/u.sock" -user no-such-user-here
check client_user_error '[ $rc -eq 1 ] && has c_user "dc_client: couldn'"'"'t become user '"'"'no-such-user-here'"'"' (-user): no such user" && [ ! -e "$W/u.sock" ]'

# Every flag has a two-dash form too.
"$C" --server "$S" --listen "UNIX:$W/long.sock" --retry 100 --idle 60000 --killable 2> /dev/null &
LP=$!; PIDS="$PIDS $LP"
wait_sock "$W/long.sock"
check client_long_forms_accepted '[ "$(ask "$W/long.sock" 3 9 6b)" = 01 ]'
kill -9 $LP
run c_lmiss "$C" --server
check client_missing_value_long_form '[ $rc -eq 1 ] && has c_lmiss "dc_client: --server requires an argument"'

# -daemon, -pidfile, socket permissions and ownership warnings
run c_daemon "$C" -server "$S" -listen "UNIX:$W/d.sock" -daemon -pidfile "$W/d.pid" -sockperms 640 \
	-sockowner no-such-user-here
wait_sock "$W/d.sock"
i=0; while [ ! -s "$W/d.pid" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
DP=$(cat "$W/d.pid" 2> /dev/null); [ -n "$DP" ] && PIDS="$PIDS $DP"
check client_daemon_detaches '[ $rc -eq 0 ] && [ -n "$DP" ] && kill -0 "$DP" 2> /dev/null'
check client_pidfile_no_newline '[ "$(wc -c < "$W/d.pid")" -eq ${#DP} ]'
check client_sockperms '[ "$(stat -c %a "$W/d.sock")" = 640 ]'
check client_sockowner_warning 'has c_daemon "Warning, can'"'"'t set socket ownership to user '"'"'no-such-user-here'"'"' and group '"'"'(null)'"'"', continuing anyway"'
check client_daemon_serves '[ "$(ask "$W/d.sock" 3 9 6b)" = 01 ]'
"$C" -server "$S" -listen "UNIX:$W/p.sock" -sockperms 9x9 -killable 2> "$W/c_perm.err" &
PP=$!; PIDS="$PIDS $PP"
wait_sock "$W/p.sock"
check client_sockperms_warning 'has c_perm "Warning, can'"'"'t set socket permissions to '"'"'9x9'"'"', continuing anyway"'
kill -USR1 "$DP" "$PP"
i=0; while kill -0 $PP 2> /dev/null && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
wait $PP; rc=$?
check client_killable_exit_0 '[ $rc -eq 0 ]'
check client_usr1_ignored_without_killable 'kill -0 "$DP" 2> /dev/null'
kill -9 "$DP"

# -user: gid, supplementary groups, then uid (only as root)
if [ "$(id -u)" -eq 0 ] && getent passwd nobody > /dev/null; then
	chmod 666 "$W/srv.sock"
	"$C" -server "$S" -listen "UNIX:$W/n.sock" -user nobody 2> /dev/null &
	NP=$!; PIDS="$PIDS $NP"
	wait_sock "$W/n.sock"
	NU=$(id -u nobody); NG=$(id -g nobody)
	i=0; while ! grep -Eq "^Uid:\s+$NU\s" /proc/$NP/status && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
	check client_user_switch "grep -Eq '^Uid:\s+$NU\s+$NU\s+$NU' /proc/$NP/status &&
		grep -Eq '^Gid:\s+$NG\s+$NG\s+$NG' /proc/$NP/status &&
		grep -Eq '^Groups:\s+$NG\s*$' /proc/$NP/status && [ \"\$(ask '$W/n.sock' 3 1 6b)\" = 01 ]"
	kill -9 $NP
fi

# FD listener: one pseudo-connection on stdin/stdout, clean exit after it
python3 - "$C" "$S" > "$W/fd.out" 2>&1 << 'EOF'
import subprocess, struct, sys
p = subprocess.Popen([sys.argv[1], "-listen", "FD:0:1", "-server", sys.argv[2]],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
req = struct.pack(">IBIBBBH", 0x00110000, 0, 4242, 0, 3, 1, 2) + b"zz"
p.stdin.write(req); p.stdin.flush()
resp = p.stdout.read(15)
p.stdin.close()
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    p.kill(); rc = "hung"
print(resp.hex(), rc)
EOF
check client_fd_listener '[ "$(cat "$W/fd.out")" = "001100000100001092000301000101 0" ]'

# ------------------------------------------------------------- dc_snoop
N=$BIN/dc_snoop
run n_h "$N" -h
check snoop_usage '[ $rc -eq 0 ] && quiet n_h && grep -q -- "-server" "$W/n_h.err"'
run n_none "$N"
check snoop_missing_addresses '[ $rc -eq 1 ] && has n_none "dc_snoop: must provide -listen <addr> and -server <addr>"'
run n_one "$N" -listen "UNIX:$W/q.sock"
check snoop_missing_server '[ $rc -eq 1 ] && has n_one "dc_snoop: must provide -listen <addr> and -server <addr>"'
run n_val "$N" -server "$S" -listen
check snoop_missing_value '[ $rc -eq 1 ] && has n_val "dc_snoop: -listen requires an argument"'
run n_bad "$N" -listen IP:nonsense:xx -server "$S"
check snoop_bad_address_says_why '[ $rc -eq 1 ] && grep -qF "dc_snoop: can'"'"'t listen on '"'"'IP:nonsense:xx'"'"' (-listen): not a valid address" "$W/n_bad.err"'
run n_unk "$N" -bogus
check snoop_unknown_option '[ $rc -eq 1 ] && has n_unk "dc_snoop: unrecognised option '"'"'-bogus'"'"'"'
"$N" -listen "UNIX:$W/snoop.sock" -connect "$S" > "$W/snoop.out" 2> "$W/snoop.err" &
NP=$!; PIDS="$PIDS $NP"
wait_sock "$W/snoop.sock"
r=$(ask "$W/snoop.sock" 3 31 6162)
# The trace of the answer may be written just after the answer is passed on.
n=50
while [ $n -gt 0 ] && ! grep -q "SNOOP_DECODED: connection 0, server->client" "$W/snoop.err"; do sleep 0.1; n=$((n - 1)); done
check snoop_passes_and_logs '[ "$r" = 01 ] && quiet snoop &&
	grep -qxF "SNOOP_DBG_MSG: connection 0, client->server, message completed (request_uid = 31), total_len=16" "$W/snoop.err" &&
	grep -qxF "SNOOP_DBG_MSG: connection 0, server->client, message completed (request_uid = 31), total_len=15" "$W/snoop.err" &&
	grep -qxF "SNOOP_DECODED: connection 0, server->client, HAVE response (request_uid = 31), payload_len=1, result=01 (notok)" "$W/snoop.err"'
kill -9 $NP

# ------------------------------------------------------------- escrowd
E=$BIN/escrowd
run e_h "$E" -h
check escrowd_help_exit_0 '[ $rc -eq 0 ] && grep -q "^Usage: escrowd" "$W/e_h.out" && grep -q -- "--tags" "$W/e_h.out"'
run e_lh "$E" --help
check escrowd_long_help_exit_0 '[ $rc -eq 0 ] && grep -q "^Usage: escrowd" "$W/e_lh.out"'
run e_none "$E"
check escrowd_missing_path '[ $rc -eq 1 ] && has e_none "escrowd: missing <socket-path>: give the path of the unix socket to listen on"'
run e_dir "$E" "$W/no/such/dir/esc"
check escrowd_says_os_reason '[ $rc -eq 1 ] && has e_dir "escrowd: can'"'"'t listen on '"'"'$W/no/such/dir/esc'"'"': No such file or directory"'
run e_tags "$E" --tags 0 "$W/esc"
check escrowd_tags_range '[ $rc -eq 1 ] && has e_tags "escrowd: invalid number of tags '"'"'0'"'"': give a whole number from 1 to 32768"'

# -------------------------------------------------------------- dc_test
T=$BIN/dc_test
run t_h "$T" -h
check test_usage '[ $rc -eq 0 ] && quiet t_h && grep -q -- "-persistent" "$W/t_h.err"'
run t_none "$T"
check test_no_connect '[ $rc -eq 1 ] && has t_none "dc_test: must provide -connect <addr>, the server to test"'
for v in 0 513; do
	run t_s "$T" -connect "$S" -sessions $v
	check "test_sessions_invalid_$v" '[ $rc -eq 1 ] && has t_s "dc_test: invalid -sessions '"'"'$v'"'"': give a whole number from 1 to 512"'
done
run t_ops "$T" -connect "$S" -ops 1000001
check test_ops_invalid '[ $rc -eq 1 ] && has t_ops "dc_test: invalid -ops '"'"'1000001'"'"': give a whole number from 0 to 1000000"'
run t_min "$T" -connect "$S" -datamin 3
check test_datamin '[ $rc -eq 1 ] && has t_min "dc_test: invalid -datamin 3: give at least 4"'
run t_max "$T" -connect "$S" -datamax 4097
check test_datamax '[ $rc -eq 1 ] && has t_max "dc_test: invalid -datamax 4097: give at most 4096"'
run t_var "$T" -connect "$S" -timeout 10 -timevar 10
check test_timevar '[ $rc -eq 1 ] && has t_var "dc_test: invalid -timevar 10: it must be smaller than -timeout (10)"'
run t_miss "$T" -connect
check test_missing_value '[ $rc -eq 1 ] && has t_miss "dc_test: -connect requires an argument"'
run t_cert "$T" -connect "$S" -withcert 1
check test_withcert '[ $rc -eq 1 ] && has t_cert "dc_test: -withcert is not available: this build has no OpenSSL support"'
run t_ctx "$T" -connect "UNIX:$W/nothing.sock" -persistent
check test_ctx_creation_failed '[ $rc -eq 1 ] && has t_ctx "dc_test: can'"'"'t connect to '"'"'UNIX:$W/nothing.sock'"'"' (-connect): No such file or directory"'
run t_run "$T" -connect "$S" -progress 300
check test_passes_against_server '[ $rc -eq 0 ] && quiet t_run &&
	[ "$(head -1 "$W/t_run.err")" = "Info, 10 sessions generated, will run 1000 random tests" ] &&
	[ "$(grep -c "^Info, total operations = " "$W/t_run.err")" -eq 3 ] &&
	has t_run "Info, total operations =     900" && [ "$(tail -1 "$W/t_run.err")" = "Info, all tests complete" ]'
run t_zero "$T" -connect "$S" -ops 0
check test_zero_ops '[ $rc -eq 0 ] && has t_zero "Info, 10 sessions generated, will run 0 random tests" && has t_zero "Info, all tests complete"'

# through a proxy, both modes, then with the server gone
"$C" -server "$S" -listen "UNIX:$W/cli.sock" -retry 60000 2> /dev/null &
CP=$!; PIDS="$PIDS $CP"
wait_sock "$W/cli.sock"
run t_proxy "$T" -connect "UNIX:$W/cli.sock" -sessions 20 -datamin 5 -datamax 4096
check test_passes_through_proxy '[ $rc -eq 0 ] && has t_proxy "Info, all tests complete"'
run t_proxyp "$T" -connect "UNIX:$W/cli.sock" -persistent -sessions 20 -ops 2000
check test_passes_through_proxy_persistent '[ $rc -eq 0 ] && has t_proxyp "Info, all tests complete"'
kill -9 $SRV
run t_down "$T" -connect "UNIX:$W/cli.sock"
check test_fails_loudly_without_server '[ $rc -eq 1 ] && grep -q "^Error, " "$W/t_down.err" &&
	grep -Eq "^Info, [0-9]+ tests succeeded before the first failure$" "$W/t_down.err"'

# against a server whose GET answers are off by one byte
rm -f "$W/liar.sock"
python3 - "$W/liar.sock" << 'EOF' &
import socket, struct, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(sys.argv[1]); l.listen(16)
store = {}
def recv_n(c, n):
    d = b""
    while len(d) < n:
        x = c.recv(n - len(d))
        if not x:
            raise EOFError
        d += x
    return d
while True:
    c, _ = l.accept()
    try:
        while True:
            payload = b""
            while True:
                h = recv_n(c, 14)
                payload += recv_n(c, struct.unpack(">H", h[12:])[0])
                if h[11] == 1:
                    break
            uid, op = h[5:9], h[10]
            if op == 0:
                n = struct.unpack(">I", payload[4:8])[0]
                k, v = payload[8:8 + n], payload[8 + n:]
                r = b"\x65" if k in store else b"\x00"
                store.setdefault(k, v)
            elif op == 1:
                r = store[payload][:-1] + bytes([store[payload][-1] ^ 1]) if payload in store else b"\x01"
            elif op == 2:
                r = b"\x00" if store.pop(payload, None) is not None else b"\x01"
            else:
                r = b"\x00" if payload in store else b"\x01"
            # framed as the protocol says (2048 bytes at most per frame):
            # the only lie is the flipped byte
            while True:
                part, r = r[:2048], r[2048:]
                c.sendall(b"\x00\x11\x00\x00\x01" + uid + bytes([0, op, 0 if r else 1]) + struct.pack(">H", len(part)) + part)
                if not r:
                    break
    except EOFError:
        c.close()
EOF
LIAR=$!; PIDS="$PIDS $LIAR"
wait_sock "$W/liar.sock"
# (a python server, slow to answer on a loaded machine: a generous client
# deadline, docs/timeouts.md, keeps this about the data)
export DC_CTX_TIMEOUT_MS=10000
run t_liar "$T" -connect "UNIX:$W/liar.sock"
rc1=$rc
# sessions of 2000 to 2100 bytes: about half the answers span two frames
run t_liar2 "$T" -connect "UNIX:$W/liar.sock" -datamin 2000
unset DC_CTX_TIMEOUT_MS
check test_detects_wrong_data '[ $rc1 -eq 1 ] && [ $rc -eq 1 ] && has t_liar "Error, received mismatched session" &&
	grep -Eq "^Info, [0-9]+ tests succeeded before the first failure$" "$W/t_liar.err" &&
	has t_liar2 "Error, received mismatched session" || { echo "    exit codes $rc1, $rc:"; sed "s/^/    /" "$W/t_liar.err" "$W/t_liar2.err"; false; }'
exit 0
