#!/bin/sh
# Socket permissions and privilege handling of the installed tools
# (docs/security.md):
#  - dc_server and dc_client create their unix sockets with the process
#    umask (0755 under umask 022): only the owner may connect;
#  - -sockperms, -sockowner, -sockgroup change mode, owner and group, and
#    bad values are warnings only;
#  - -user switches uid, primary gid and supplementary groups after the
#    socket is made;
#  - escrowd's socket is 0600 whatever the umask.
# Connection attempts by other users run as a throw-away user and groups
# created here (root only; they are removed on exit). Servers are killed by
# PID on exit.
#
#   sh capi-tests/scenario_security.sh PREFIX WORKDIR
set -u
PREFIX=${1:?usage: scenario_security.sh PREFIX WORKDIR}
WORK=${2:?usage: scenario_security.sh PREFIX WORKDIR}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# Sockets live in a directory every user may traverse.
SOCKS=$(mktemp -d /tmp/dc-security.XXXXXX) || exit 1
chmod 711 "$SOCKS"
pids=""
U=dcsec$$u; G=dcsec$$g; X=dcsec$$x
made_user=0
cleanup() {
	for p in $pids; do kill -9 "$p" 2> /dev/null; done
	if [ "$made_user" = 1 ]; then
		userdel "$U" 2> /dev/null; groupdel "$G" 2> /dev/null; groupdel "$X" 2> /dev/null
	fi
	rm -rf "$SOCKS"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { if [ "$1" = 0 ]; then echo "PASS security/$2"; else echo "FAIL security/$2${3:+ ($3)}"; fi; }
mode() { stat -c %a "$1" 2> /dev/null; }
owner() { stat -c %U:%G "$1" 2> /dev/null; }
wait_sock() { n=50; while [ $n -gt 0 ] && ! [ -S "$1" ]; do sleep 0.1; n=$((n - 1)); done; [ -S "$1" ]; }
# start NAME ARGS...: starts a tool in the background, its stderr in WORK/NAME.err
start() {
	name=$1; shift
	"$@" 2> "$WORK/$name.err" &
	pids="$pids $!"
	last=$!
}
# connect_as USER PATH: 0 if USER can connect to the unix socket PATH.
connect_as() {
	python3 - "$1" "$2" << 'PY'
import os, pwd, socket, sys
u = pwd.getpwnam(sys.argv[1])
os.setgroups(os.getgrouplist(u.pw_name, u.pw_gid))
os.setgid(u.pw_gid)
os.setuid(u.pw_uid)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[2])
except OSError:
    sys.exit(1)
PY
}

if [ "$(id -u)" = 0 ] && command -v useradd > /dev/null && command -v python3 > /dev/null; then
	groupadd "$G" && groupadd "$X" && useradd -M -N -g "$G" -G "$X" -s /bin/false "$U" && made_user=1
fi
[ "$made_user" = 1 ] || echo "# not root (or no useradd): checks that need another user are skipped"

# 1. Defaults: the umask decides; 022 -> 0755, so others cannot connect.
(umask 022 && exec "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/server") 2> "$WORK/server.err" &
srv=$!; pids="$pids $srv"
wait_sock "$SOCKS/server"; ok $? server_listens
m=$(mode "$SOCKS/server"); [ "$m" = 755 ]; ok $? server_socket_mode_default "mode $m"
(umask 022 && exec "$PREFIX/bin/dc_client" -listen "UNIX:$SOCKS/proxy" -server "UNIX:$SOCKS/server") 2> "$WORK/client.err" &
pids="$pids $!"
wait_sock "$SOCKS/proxy"; ok $? client_listens
m=$(mode "$SOCKS/proxy"); [ "$m" = 755 ]; ok $? client_socket_mode_default "mode $m"
(umask 077 && exec "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/server077") 2> "$WORK/server077.err" &
pids="$pids $!"
wait_sock "$SOCKS/server077"
m=$(mode "$SOCKS/server077"); [ "$m" = 700 ]; ok $? server_socket_mode_follows_umask "mode $m"
if [ "$made_user" = 1 ]; then
	connect_as root "$SOCKS/server"; ok $? owner_can_connect
	connect_as "$U" "$SOCKS/server"; [ $? != 0 ]; ok $? other_user_refused_by_default
	connect_as "$U" "$SOCKS/proxy"; [ $? != 0 ]; ok $? other_user_refused_by_default_proxy
fi

# 2. -sockperms / -sockowner / -sockgroup.
start perms "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/perms" -sockperms 660
wait_sock "$SOCKS/perms"
m=$(mode "$SOCKS/perms"); [ "$m" = 660 ]; ok $? sockperms_660 "mode $m"
start badperms "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/badperms" -sockperms 99x
wait_sock "$SOCKS/badperms"; ok $? bad_sockperms_still_serves
grep -q "Warning, can't set socket permissions to '99x', continuing anyway" "$WORK/badperms.err"
ok $? bad_sockperms_warns
start badowner "$PREFIX/bin/dc_client" -listen "UNIX:$SOCKS/badowner" -server "UNIX:$SOCKS/server" -sockowner no-such-user-dc
wait_sock "$SOCKS/badowner"; ok $? bad_sockowner_still_serves
grep -q "Warning, can't set socket ownership to user 'no-such-user-dc' and group '(null)', continuing anyway" \
	"$WORK/badowner.err"
ok $? bad_sockowner_warns
if [ "$made_user" = 1 ]; then
	start own "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/own" -sockowner "$U" -sockperms 600
	wait_sock "$SOCKS/own"
	o=$(owner "$SOCKS/own"); [ "$o" = "$U:$G" ]; ok $? sockowner_sets_user_and_primary_group "$o"
	connect_as "$U" "$SOCKS/own"; ok $? sockowner_user_can_connect
	connect_as nobody "$SOCKS/own"; [ $? != 0 ]; ok $? others_still_refused
	start grp "$PREFIX/bin/dc_client" -listen "UNIX:$SOCKS/grp" -server "UNIX:$SOCKS/server" -sockgroup "$X" -sockperms 660
	wait_sock "$SOCKS/grp"
	o=$(owner "$SOCKS/grp"); [ "$o" = "root:$X" ]; ok $? sockgroup_sets_group_only "$o"
	connect_as "$U" "$SOCKS/grp"; ok $? supplementary_group_member_can_connect
	connect_as nobody "$SOCKS/grp"; [ $? != 0 ]; ok $? non_member_refused

	# 3. -user: uid, primary gid and supplementary groups after binding.
	start user "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/user" -user "$U"
	wait_sock "$SOCKS/user"
	sleep 0.3
	uid=$(awk '/^Uid:/{print $2" "$3" "$4" "$5}' /proc/"$last"/status)
	gid=$(awk '/^Gid:/{print $2" "$3" "$4" "$5}' /proc/"$last"/status)
	grps=$(awk '/^Groups:/{$1=""; print}' /proc/"$last"/status)
	want_uid=$(id -u "$U"); want_gid=$(getent group "$G" | cut -d: -f3); want_x=$(getent group "$X" | cut -d: -f3)
	[ "$uid" = "$want_uid $want_uid $want_uid $want_uid" ]; ok $? user_switches_all_uids "$uid"
	[ "$gid" = "$want_gid $want_gid $want_gid $want_gid" ]; ok $? user_switches_all_gids "$gid"
	echo " $grps " | grep -q " $want_x " && ! echo " $grps " | grep -q " 0 "
	ok $? user_sets_supplementary_groups "groups:$grps"
	o=$(owner "$SOCKS/user"); [ "$o" = root:root ]; ok $? user_socket_made_before_switch "$o"
	start nouser "$PREFIX/bin/dc_server" -listen "UNIX:$SOCKS/nouser" -user no-such-user-dc
	wait $last; rc=$?
	[ "$rc" = 1 ] && grep -q "dc_server: couldn't become user 'no-such-user-dc' (-user): no such user" "$WORK/nouser.err"
	ok $? unknown_user_is_fatal "exit $rc"
fi

# 4. escrowd: 0600 whatever the umask.
(umask 000 && exec "$PREFIX/bin/escrowd" "$SOCKS/escrow") 2> "$WORK/escrowd.err" &
pids="$pids $!"
wait_sock "$SOCKS/escrow"
m=$(mode "$SOCKS/escrow"); [ "$m" = 600 ]; ok $? escrowd_socket_0600_under_umask_000 "mode $m"
if [ "$made_user" = 1 ]; then
	connect_as "$U" "$SOCKS/escrow"; [ $? != 0 ]; ok $? escrowd_refuses_other_users
fi
exit 0
