#!/bin/sh
# The example systemd units: systemd-analyze accepts them (pointed at the
# installed binaries), and the option lines they start the tools with are
# accepted by the tools.
#
#   sh scenario_tools_units.sh PREFIX WORKDIR
set -u
PREFIX=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
UNITS=$HERE/../systemd
. "$HERE/lib/scenario.sh"
scenario_begin tools_units

for u in dc_server dc_client; do
	f=$UNITS/$u.service
	check "$u/present" '[ -f "$f" ]'
	[ -f "$f" ] || continue
	check "$u/hardened" 'grep -q "^NoNewPrivileges=yes" "$f" && grep -q "^ProtectSystem=strict" "$f" &&
		grep -q "^User=distcache" "$f" && grep -q "^CapabilityBoundingSet=$" "$f"'
	if command -v systemd-analyze > /dev/null; then
		sed "s|/usr/local/bin/|$PREFIX/bin/|" "$f" > "$W/$u.service"
		systemd-analyze verify --man=no "$W/$u.service" > "$W/$u.verify" 2>&1
		check "$u/systemd_analyze_verify" '[ $? -eq 0 ] && [ ! -s "$W/$u.verify" ]'
		sed 's/^/    /' "$W/$u.verify" | head -5
		# systemd's own rating of the hardening (offline: no running
		# systemd needed): exposure at most 2.0 of 10 ("OK").
		systemd-analyze security --offline=yes --threshold=20 "$W/$u.service" > "$W/$u.security" 2>&1
		check "$u/systemd_analyze_security_at_most_2.0" '[ $? -eq 0 ]'
		grep 'Overall exposure' "$W/$u.security" | sed 's/^/    /'
	fi
done

# The command lines of the units, with their default settings, under
# WORKDIR: the server answers through the proxy.
rm -f "$W/srv.sock" "$W/cli.sock"
"$PREFIX/bin/dc_server" -listen "UNIX:$W/srv.sock" -sessions 20000 2> "$W/srv.err" &
PIDS="$PIDS $!"
i=0; while [ ! -S "$W/srv.sock" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
G=$(id -gn)
"$PREFIX/bin/dc_client" -listen "UNIX:$W/cli.sock" -server "UNIX:$W/srv.sock" -sockgroup "$G" -sockperms 660 \
	-retry 5000 2> "$W/cli.err" &
PIDS="$PIDS $!"
i=0; while [ ! -S "$W/cli.sock" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
check unit_options_accepted '[ ! -s "$W/cli.err" ] && [ "$(stat -c %a:%G "$W/cli.sock")" = "660:$G" ]'
"$PREFIX/bin/dc_test" -connect "UNIX:$W/cli.sock" -ops 200 2> "$W/test.err"
check proxy_from_unit_serves '[ $? -eq 0 ] && grep -q "all tests complete" "$W/test.err"'
exit 0
