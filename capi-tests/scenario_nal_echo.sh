#!/bin/sh
# The NAL echo examples, built against the installed tree: server and client
# over a unix socket, over 127.0.0.1 and over ::1.
#   sh scenario_nal_echo.sh PREFIX WORKDIR
PREFIX=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM
if ! make -s -C "$HERE/../examples-c" INCDIR="$PREFIX/include" LIBDIR="$PREFIX/lib" OUT="$WORK/bin" \
	"$WORK/bin/nal-echo-server" "$WORK/bin/nal-echo-client" > "$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"; echo "FAIL nal_echo/examples_build"; exit 1
fi
echo "PASS nal_echo/examples_build"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run_case() { # name server-address client-address
	"$WORK/bin/nal-echo-server" "$2" 1 > "$WORK/$1.server" 2>&1 &
	spid=$!; pids="$pids $spid"
	i=0; while [ $i -lt 50 ] && ! grep -q listening "$WORK/$1.server"; do sleep 0.1; i=$((i + 1)); done
	if "$WORK/bin/nal-echo-client" "$3" "ping $1" 5 > "$WORK/$1.client" 2>&1 &&
	   [ "$(grep -c ': ok "ping' "$WORK/$1.client")" -eq 5 ]; then
		i=0; while [ $i -lt 50 ] && kill -0 "$spid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
		if grep -q 'served 1 client' "$WORK/$1.server"; then echo "PASS nal_echo/$1"; return; fi
	fi
	cat "$WORK/$1.server" "$WORK/$1.client"; echo "FAIL nal_echo/$1"
}
run_case unix "UNIX:$WORK/echo.sock" "UNIX:$WORK/echo.sock"
p=$(port); run_case ipv4 "IP:127.0.0.1:$p" "IP:127.0.0.1:$p"
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	p=$(port); run_case ipv6 "IPv6:[::1]:$p" "IPv6:[::1]:$p"
else
	echo "PASS nal_echo/ipv6 (no ::1 on this machine: skipped)"
fi
