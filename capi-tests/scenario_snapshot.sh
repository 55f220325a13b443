#!/bin/sh
# dc_server -snapshot through the installed server and client library:
#  - 10,000 sessions, SIGTERM, restart with the same file: every one back
#    byte for byte; remaining lifetimes kept (a session with 8 s left is
#    there 7.2 s after it was added, gone at 9.0 s); expired ones dropped;
#  - kill -9 after a periodic snapshot: what was added before it is back,
#    nothing added after it;
#  - the file is mode 0600 and, with -user, owned by that user;
#  - the corruption matrix: truncated, a flipped byte (session data or a
#    record header), wrong version, empty file, a directory, an unreadable
#    file, an unwritable (read-only) directory, a full disk. Each: a clear
#    message naming the file, the server serves, a bad file is moved aside
#    as FILE.bad-<time>, a failed write keeps the previous snapshot.
#
#   sh scenario_snapshot.sh PREFIX WORKDIR
#
# Servers listen on unix sockets under WORKDIR and are stopped by pid;
# the tmpfs and bind mounts (root only) are removed on exit.
set -u
PREFIX=$1
W=$2
BIN=$PREFIX/bin/dc_server
export PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-$PREFIX/lib/pkgconfig}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/scenario.sh"
scenario_begin snapshot
MOUNTS=""
scenario_extra_cleanup() {
	for m in $MOUNTS; do umount "$m" 2> /dev/null; done
}

rm -rf "$W"/*
mkdir -p "$W"
SNAP=$W/tool
if ! ${CC:-cc} -std=c99 -O2 -Wall -Werror -o "$SNAP" "$HERE/tools/dc_snap.c" \
	$(pkg-config --cflags --libs distcache) -Wl,-rpath,"$PREFIX/lib" 2> "$W/build.err"; then
	cat "$W/build.err"; bad build_dc_snap; exit 1
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sleep_until MS: sleeps until the wall clock reaches MS.
sleep_until() {
	d=$(($1 - $(now_ms)))
	[ $d -gt 0 ] && sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
	return 0
}
# start NAME ARGS...: starts dc_server on $W/NAME.sock, stderr in $W/NAME.err.
start() {
	sn=$1; shift
	rm -f "$W/$sn.sock"
	"$BIN" -listen "UNIX:$W/$sn.sock" "$@" 2> "$W/$sn.err" &
	SP=$!; PIDS="$PIDS $SP"
	wait_sock "$W/$sn.sock" || { bad "$sn/started"; cat "$W/$sn.err"; }
}
# stop PID SIGNAL: sends the signal and waits for the exit; RC = status.
# (After 60 s it is killed: the status then says so.)
stop() {
	kill -"$2" "$1" 2> /dev/null; i=0
	while [ $i -lt 1200 ] && [ -r "/proc/$1/stat" ] && ! grep -q ') Z ' "/proc/$1/stat" 2> /dev/null; do
		sleep 0.05; i=$((i + 1))
	done
	kill -9 "$1" 2> /dev/null
	wait "$1" 2> /dev/null; RC=$?
}
# wait_log FILE PATTERN: up to 10 s for a line.
wait_log() {
	i=0
	while ! grep -q "$2" "$1" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	grep -q "$2" "$1"
}

# ---------------------------------------------------------------- restart
D=$W/data; mkdir -p "$D"
start a -sessions 20000 -snapshot "$D/snap" -snapshot-interval 0
PA=$SP
"$SNAP" fill "UNIX:$W/a.sock" main 0 10000 600000 300 > "$W/fill_main"
t0=$(now_ms)
"$SNAP" fill "UNIX:$W/a.sock" life 0 100 8000 500 > "$W/fill_life"
"$SNAP" fill "UNIX:$W/a.sock" short 0 50 1000 100 > "$W/fill_short"
check fill_10000 'grep -qx "added 10000 failed 0" "$W/fill_main" && grep -qx "added 100 failed 0" "$W/fill_life"'
stop $PA TERM; rc=$RC
check sigterm_exits_0_after_final_snapshot '[ "$rc" = 0 ] && grep -q "^Info, snapshot .$D/snap.: at shutdown: wrote 10150 sessions" "$W/a.err"'
check file_mode_0600 '[ "$(stat -c %a "$D/snap")" = 600 ] && [ ! -e "$D/snap.tmp" ]'
cp "$D/snap" "$W/good.snap"
sleep_until $((t0 + 1500))
start b -sessions 20000 -snapshot "$D/snap" -snapshot-interval 0
PB=$SP
# (the socket exists before the file is loaded: wait for the line)
check restart_logs_loaded 'wait_log "$W/b.err" "^Info, snapshot .$D/snap.: loaded 10100 sessions in .* (50 expired dropped, 0 evicted as over -sessions)"'
check all_10000_byte_identical '[ "$("$SNAP" check "UNIX:$W/b.sock" main 0 10000 300)" = "identical 10000 missing 0 different 0" ]'
check expired_gone '[ "$("$SNAP" has "UNIX:$W/b.sock" short 0 50)" = "present 0 absent 50 failed 0" ]'
sleep_until $((t0 + 7200))
check lifetime_kept_not_shortened '[ "$("$SNAP" has "UNIX:$W/b.sock" life 0 100)" = "present 100 absent 0 failed 0" ]'
sleep_until $((t0 + 9000))
check lifetime_kept_not_lengthened '[ "$("$SNAP" has "UNIX:$W/b.sock" life 0 100)" = "present 0 absent 100 failed 0" ]'
stop $PB INT
check sigint_writes_final_snapshot 'grep -q "at shutdown: wrote 10000 sessions" "$W/b.err"'

# ------------------------------------------------- kill -9 after a periodic
K=$W/kill; mkdir -p "$K"
start k -snapshot "$K/snap" -snapshot-interval 3 -sessions 5000
PK=$SP
"$SNAP" fill "UNIX:$W/k.sock" before 0 500 600000 200 > /dev/null
wait_log "$W/k.err" "wrote 500 sessions"
"$SNAP" fill "UNIX:$W/k.sock" after 0 500 600000 200 > /dev/null
kill -9 $PK; wait $PK 2> /dev/null
check periodic_snapshot_written 'grep -q "^Info, snapshot .$K/snap.: wrote 500 sessions, [0-9]* bytes, in" "$W/k.err"'
start k2 -snapshot "$K/snap" -snapshot-interval 0 -sessions 5000
PK2=$SP
check kill9_before_snapshot_back '[ "$("$SNAP" check "UNIX:$W/k2.sock" before 0 500 200)" = "identical 500 missing 0 different 0" ]'
check kill9_after_snapshot_not_claimed '[ "$("$SNAP" has "UNIX:$W/k2.sock" after 0 500)" = "present 0 absent 500 failed 0" ]'
stop $PK2 HUP
check sighup_writes_final_snapshot '[ "$RC" = 0 ] && grep -q "at shutdown: wrote 500 sessions" "$W/k2.err"'

# ------------------------------------------------------ corruption matrix
# A small good snapshot to damage: 20 sessions of 100 bytes.
G=$W/small; mkdir -p "$G"
start g -snapshot "$G/snap" -snapshot-interval 0
"$SNAP" fill "UNIX:$W/g.sock" m 0 20 600000 100 > /dev/null
stop $SP TERM
size=$(stat -c %s "$G/snap")
rec=$((19 + 4 + 100 + 4))   # record header, id "m-NN" (4 bytes for 10..19), data, crc

# bad NAME EXPECTED_SESSIONS MESSAGE: FILE already in $C/snap; starts the
# server, checks the message names the file, the sessions loaded, that it
# serves, that the file was moved aside, and that the final snapshot is
# written in its place.
bad_case() {
	name=$1; want=$2; msg=$3; shift 3
	start "c_$name" -snapshot "$C/snap" -snapshot-interval 0 "$@"
	p=$SP
	r=$(ask "$W/c_$name.sock" 0 1 "$(add_payload 60000 6b6579 76616c7565)")
	n=$("$SNAP" check "UNIX:$W/c_$name.sock" m 0 20 100)
	stop $p TERM; rc=$RC
	check "$name/message_names_file_and_problem" 'grep -q "^Error, snapshot .$C/snap.: .*$msg" "$W/c_$name.err"'
	check "$name/keeps_verified_sessions_$want" '[ "$n" = "identical $want missing $((20 - want)) different 0" ]'
	check "$name/serves_and_exits_0" '[ "$r" = 00 ] && [ "$rc" = 0 ]'
	check "$name/moved_aside" 'ls "$C" | grep -q "^snap\.bad-[0-9]\{8\}T[0-9]\{6\}Z$" && grep -q "moved aside as .$C/snap.bad-" "$W/c_$name.err"'
	check "$name/new_snapshot_written" 'grep -q "at shutdown: wrote $((want + 1)) sessions" "$W/c_$name.err" && [ -f "$C/snap" ]'
}
newcase() { C=$W/case_$1; rm -rf "$C"; mkdir -p "$C"; }

newcase truncated; head -c $((size - 200)) "$G/snap" > "$C/snap"
bad_case truncated 18 "truncated: the file ends at byte $((size - 200))"
newcase data_flip; cp "$G/snap" "$C/snap"
# one byte inside the data of the 6th record (ids m-0..m-9 are 3 bytes)
printf '\377' | dd of="$C/snap" bs=1 seek=$((28 + 5 * (19 + 3 + 100 + 4) + 19 + 3 + 50)) conv=notrunc 2> /dev/null
bad_case data_flip 19 "checksum mismatch in the session at byte $((28 + 5 * (19 + 3 + 100 + 4)))"
newcase header_flip; cp "$G/snap" "$C/snap"
printf '\377' | dd of="$C/snap" bs=1 seek=$((28 + 2 * (19 + 3 + 100 + 4) + 10)) conv=notrunc 2> /dev/null
bad_case header_flip 2 "damaged record header at byte $((28 + 2 * (19 + 3 + 100 + 4)))"
# another version (with a valid header checksum), and a damaged version field
newcase version; cp "$G/snap" "$C/snap"
python3 - "$C/snap" << 'PY'
import struct, sys
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF
d = bytearray(open(sys.argv[1], "rb").read())
d[8:12] = struct.pack(">I", 7)
d[24:28] = struct.pack(">I", crc32c(bytes(d[:24])))
open(sys.argv[1], "wb").write(d)
PY
bad_case version 0 "format version 7 (this dc_server reads version 1)"
newcase version_flip; cp "$G/snap" "$C/snap"
printf '\007' | dd of="$C/snap" bs=1 seek=11 conv=notrunc 2> /dev/null
bad_case version_flip 0 "header checksum mismatch"
newcase empty; : > "$C/snap"
bad_case empty 0 "the file is empty"
newcase directory; mkdir "$C/snap"
bad_case directory 0 "not a regular file"
# unreadable: the file belongs to root with mode 0600, the server runs as
# nobody (which owns the directory); the new snapshot belongs to nobody.
if id nobody > /dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	newcase unreadable; cp "$G/snap" "$C/snap"; chmod 600 "$C/snap"; chown nobody "$C"
	bad_case unreadable 0 "cannot read it: Permission denied" -user nobody
	check unreadable/new_file_owned_by_user_mode_0600 '[ "$(stat -c "%U %a" "$C/snap")" = "nobody 600" ]'
else
	bad "unreadable (needs root and a user nobody)"
fi

# unwritable directory (read-only bind mount): reported at start and at
# the failed write; the good snapshot is loaded and stays as it was.
if [ "$(id -u)" = 0 ]; then
	C=$W/case_ro; mkdir -p "$C.src" "$C"; cp "$G/snap" "$C.src/snap"
	if mount --bind "$C.src" "$C" && MOUNTS="$C $MOUNTS" && mount -o remount,ro,bind "$C"; then
		start ro -snapshot "$C/snap" -snapshot-interval 0
		r=$(ask "$W/ro.sock" 0 1 "$(add_payload 60000 6b6579 76616c7565)")
		n=$("$SNAP" check "UNIX:$W/ro.sock" m 0 20 100)
		stop $SP TERM; rc=$RC
		check ro_dir/reported_at_start 'grep -q "^Error, snapshot .$C/snap.: snapshots cannot be written: .*Read-only file system" "$W/ro.err"'
		check ro_dir/write_failure_has_os_reason 'grep -q "^Error, snapshot .$C/snap.: at shutdown: writing failed: .*Read-only file system (os error 30); the previous snapshot is kept, serving goes on" "$W/ro.err"'
		check ro_dir/serves_loads_keeps_old_file '[ "$r" = 00 ] && [ "$rc" = 0 ] && [ "$n" = "identical 20 missing 0 different 0" ] && cmp -s "$G/snap" "$C/snap"'
		umount "$C"
		# a bad file that cannot be moved aside is not overwritten either
		: > "$C.src/snap"; printf 'x' > "$C.src/snap"
		if mount --bind "$C.src" "$C" && mount -o remount,ro,bind "$C"; then
			start robad -snapshot "$C/snap" -snapshot-interval 0
			r=$(ask "$W/robad.sock" 0 1 "$(add_payload 60000 6b6579 76616c7565)")
			stop $SP TERM
			check ro_dir_bad_file/not_moved_not_overwritten_said_so '[ "$r" = 00 ] && [ "$RC" = 0 ] && [ "$(cat "$C/snap")" = x ] &&
				grep -q "^Error, snapshot .$C/snap.: cannot move the bad file aside: Read-only file system (os error 30); no snapshot will be written" "$W/robad.err" &&
				grep -q "^Error, snapshot .$C/snap.: at shutdown: no snapshot written (the bad file could not be moved aside); 1 sessions are not saved" "$W/robad.err"'
			umount "$C"
		else
			bad "ro_dir_bad_file (bind mount failed)"
		fi
	else
		bad "ro_dir (bind mount failed)"
	fi
	# a full disk: a 512 KiB tmpfs holding a good snapshot; 4000 more
	# sessions of 300 bytes do not fit.
	C=$W/case_full; mkdir -p "$C"
	if mount -t tmpfs -o size=512k,mode=0700 tmpfs "$C" && MOUNTS="$C $MOUNTS"; then
		cp "$G/snap" "$C/snap"
		start full -snapshot "$C/snap" -snapshot-interval 1 -sessions 5000
		"$SNAP" fill "UNIX:$W/full.sock" big 0 4000 600000 300 > /dev/null
		wait_log "$W/full.err" "writing failed"
		n=$("$SNAP" check "UNIX:$W/full.sock" big 0 4000 300)
		stop $SP TERM; rc=$RC
		check disk_full/logged_with_os_reason 'grep -q "^Error, snapshot .$C/snap.: writing failed: .*No space left on device (os error 28); the previous snapshot is kept, serving goes on" "$W/full.err"'
		check disk_full/serving_goes_on '[ "$n" = "identical 4000 missing 0 different 0" ] && [ "$rc" = 0 ]'
		check disk_full/previous_snapshot_kept 'cmp -s "$G/snap" "$C/snap" && [ ! -e "$C/snap.tmp" ]'
		umount "$C"
	else
		bad "disk_full (tmpfs mount failed)"
	fi
else
	bad "ro_dir and disk_full (need root for the mounts)"
fi

# option errors
"$BIN" -listen "UNIX:$W/x.sock" -snapshot-interval 99999 2> "$W/opt.err"; rc=$?
check interval_out_of_range_refused '[ $rc = 1 ] && grep -qxF "dc_server: invalid -snapshot-interval '"'"'99999'"'"': give a whole number of seconds from 0 to 86400" "$W/opt.err"'
"$BIN" -h 2> "$W/h.err"
check usage_lists_flags 'grep -q -- "-snapshot <file>" "$W/h.err" && grep -q -- "-snapshot-interval <secs>" "$W/h.err"'
exit 0
