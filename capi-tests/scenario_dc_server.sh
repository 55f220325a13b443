#!/bin/sh
# dc_server as a program: options, statistics line, pid file, daemon mode,
# -killable, socket permissions and the expiry floor on the wire.
#
#   sh scenario_dc_server.sh PREFIX WORKDIR
#
# Servers listen on unix sockets under WORKDIR and are stopped by pid.
set -u
PREFIX=$1
W=$2
BIN=$PREFIX/bin/dc_server
. "$(dirname "$0")/lib/scenario.sh"
scenario_begin dc_server_tool

rm -f "$W"/s1 "$W"/s2 "$W"/s3 "$W"/s4 "$W"/*.pid

# -h: usage on stderr, status 0
"$BIN" -h > "$W/h.out" 2> "$W/h.err"; rc=$?
check usage_exit_0 '[ $rc -eq 0 ] && grep -q -- -listen "$W/h.err" && grep -q -- -expiry-floor "$W/h.err" && [ ! -s "$W/h.out" ]'
# argument errors: status 1
"$BIN" > /dev/null 2> "$W/e1"; rc=$?
check missing_listen '[ $rc -eq 1 ] && grep -q "must provide -listen" "$W/e1"'
"$BIN" -listen UNIX:$W/x -sessions 63 > /dev/null 2> "$W/e2"; rc=$?
check sessions_below_64_refused '[ $rc -eq 1 ] && grep -qxF "dc_server: invalid -sessions '"'"'63'"'"': give a whole number from 64 to 60000" "$W/e2"'
"$BIN" -listen UNIX:$W/x --sessions 0 > /dev/null 2> "$W/e2b"; rc=$?
check sessions_zero_says_range '[ $rc -eq 1 ] && grep -qxF "dc_server: invalid --sessions '"'"'0'"'"': give a whole number from 64 to 60000" "$W/e2b"'
"$BIN" -listen UNIX:$W/x -expiry-floor -1 > /dev/null 2> "$W/e2c"; rc=$?
check expiry_floor_says_range '[ $rc -eq 1 ] && grep -qxF "dc_server: invalid -expiry-floor '"'"'-1'"'"': give a whole number of milliseconds from 0 to 604800000" "$W/e2c"'
"$BIN" -listen > /dev/null 2> "$W/e3"; rc=$?
check missing_value '[ $rc -eq 1 ] && grep -qxF "dc_server: -listen requires an argument" "$W/e3"'
"$BIN" --listen > /dev/null 2> "$W/e3b"; rc=$?
check missing_value_long_form '[ $rc -eq 1 ] && grep -qxF "dc_server: --listen requires an argument" "$W/e3b"'
"$BIN" -bogus > /dev/null 2> "$W/e4"; rc=$?
check unknown_option '[ $rc -eq 1 ] && grep -qxF "dc_server: unrecognised option '"'"'-bogus'"'"'" "$W/e4"'
"$BIN" -listen IP:nonsense:xx > /dev/null 2> "$W/e5"; rc=$?
check cannot_listen_bad_address '[ $rc -eq 1 ] && grep -qF "dc_server: can'"'"'t listen on '"'"'IP:nonsense:xx'"'"' (-listen): not a valid address (expected UNIX:/path, IP:port" "$W/e5"'
"$BIN" -listen "UNIX:$W/no/such/dir/s" > /dev/null 2> "$W/e6"; rc=$?
check cannot_listen_says_os_reason '[ $rc -eq 1 ] && grep -qxF "dc_server: can'"'"'t listen on '"'"'UNIX:$W/no/such/dir/s'"'"' (-listen): No such file or directory" "$W/e6"'
: > "$W/afile"
"$BIN" -listen "UNIX:$W/afile/s" > /dev/null 2> "$W/e7"; rc=$?
check cannot_listen_not_a_directory '[ $rc -eq 1 ] && grep -qxF "dc_server: can'"'"'t listen on '"'"'UNIX:$W/afile/s'"'"' (-listen): Not a directory" "$W/e7"'
# A TCP port already taken by another listener.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" -listen "IP:127.0.0.1:$port" 2> /dev/null &
PT=$!; PIDS="$PIDS $PT"
i=0; while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2> /dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$BIN" -listen "IP:127.0.0.1:$port" > /dev/null 2> "$W/e8"; rc=$?
check cannot_listen_port_in_use '[ $rc -eq 1 ] && grep -qxF "dc_server: can'"'"'t listen on '"'"'IP:127.0.0.1:$port'"'"' (-listen): Address already in use" "$W/e8"'
kill -9 $PT
# A start that fails after binding leaves neither socket nor pid file.
"$BIN" -listen "UNIX:$W/left1" -pidfile "$W/no/such/dir/p" > /dev/null 2> "$W/e9"; rc=$?
check bad_pidfile_says_why_and_cleans_up '[ $rc -eq 1 ] && [ ! -e "$W/left1" ] &&
	grep -qxF "dc_server: couldn'"'"'t write the pid file '"'"'$W/no/such/dir/p'"'"' (-pidfile): No such file or directory" "$W/e9"'
"$BIN" -listen "UNIX:$W/left2" -pidfile "$W/left2.pid" -user no-such-user-dc > /dev/null 2> "$W/e10"; rc=$?
check unknown_user_says_why_and_cleans_up '[ $rc -eq 1 ] && [ ! -e "$W/left2" ] && [ ! -e "$W/left2.pid" ] &&
	grep -qxF "dc_server: couldn'"'"'t become user '"'"'no-such-user-dc'"'"' (-user): no such user" "$W/e10"'
# Every flag has a two-dash form too.
"$BIN" --listen "UNIX:$W/long" --sessions 100 --expiry-floor 10 --pidfile "$W/long.pid" --killable 2> /dev/null &
PL=$!; PIDS="$PIDS $PL"
wait_sock "$W/long"
check long_forms_accepted '[ "$(ask "$W/long" 3 9 6b)" = 01 ] && [ "$(cat "$W/long.pid")" = "$PL" ]'
kill -USR1 $PL

# statistics line, -progress, pid file, socket permissions, -killable
"$BIN" -listen UNIX:$W/s1 -progress 3 -pidfile "$W/s1.pid" -sockperms 640 -killable 2> "$W/s1.err" &
P1=$!; PIDS="$PIDS $P1"
wait_sock "$W/s1"
check pidfile_has_pid_without_newline '[ "$(cat "$W/s1.pid")" = "$P1" ] && [ "$(wc -c < "$W/s1.pid")" -eq ${#P1} ]'
check sockperms_applied '[ "$(stat -c %a "$W/s1")" = 640 ]'
r1=$(ask "$W/s1" 0 1 "$(add_payload 60000 6b6579 76616c7565)")
r2=$(ask "$W/s1" 3 2 6b6579)
r3=$(ask "$W/s1" 1 3 6b6579)
check add_have_get '[ "$r1" = 00 ] && [ "$r2" = 00 ] && [ "$r3" = 76616c7565 ]'
sleep 1.2
# a line when the session count changes, and one at the -progress 3 boundary
check statistics_line 'grep -Eq "^Info, total operations = +[0-9]+  \(\+ +[0-9]+\), total sessions =     1  \(\+  1\)$" "$W/s1.err" &&
	tail -1 "$W/s1.err" | grep -Eq "^Info, total operations =       3  \(\+ +[0-9]+\), total sessions =     1  \([+=] +[01]\)$"'
kill -USR1 $P1; i=0
while kill -0 $P1 2> /dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
wait $P1; rc=$?
check killable_exits_cleanly '[ $rc -eq 0 ]'

# without -killable SIGUSR1 is ignored
"$BIN" -listen UNIX:$W/s2 2> /dev/null &
P2=$!; PIDS="$PIDS $P2"
wait_sock "$W/s2"
kill -USR1 $P2; sleep 0.3
check usr1_ignored_without_killable 'kill -0 $P2 2> /dev/null'
# a 1 ms session is gone almost at once without a floor
r=$(ask "$W/s2" 0 1 "$(add_payload 1 6b 76616c7565)"); sleep 0.05
check no_floor_short_session_expires '[ "$r" = 00 ] && [ "$(ask "$W/s2" 3 2 6b)" = 01 ]'
kill -9 $P2

# -expiry-floor: short timeouts are stored for the floor
"$BIN" -listen UNIX:$W/s3 -expiry-floor 2000 2> /dev/null &
P3=$!; PIDS="$PIDS $P3"
wait_sock "$W/s3"
r=$(ask "$W/s3" 0 1 "$(add_payload 5 6b 76616c7565)"); sleep 0.5
check expiry_floor_keeps_session '[ "$r" = 00 ] && [ "$(ask "$W/s3" 3 2 6b)" = 00 ]'
sleep 1.8
check expiry_floor_then_expires '[ "$(ask "$W/s3" 3 3 6b)" = 01 ]'
r=$(ask "$W/s3" 0 4 "$(add_payload 604800001 6c 76)")
check floor_keeps_range_check '[ "$r" = 66 ]'
kill -9 $P3

# -daemon: the foreground process exits 0, the server keeps serving
"$BIN" -listen UNIX:$W/s4 -daemon -pidfile "$W/s4.pid"; rc=$?
wait_sock "$W/s4"
i=0; while [ ! -s "$W/s4.pid" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
P4=$(cat "$W/s4.pid" 2> /dev/null); PIDS="$PIDS $P4"
check daemon_detaches '[ $rc -eq 0 ] && [ -n "$P4" ] && kill -0 "$P4" 2> /dev/null && [ "$(ask "$W/s4" 3 1 6b)" = 01 ]'
[ -n "$P4" ] && kill -9 "$P4"
exit 0
