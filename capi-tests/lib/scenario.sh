# Shared by the scenario scripts (sourced, not run):
#
#   . "$HERE/lib/scenario.sh"; scenario_begin NAME
#
# gives PASS/FAIL lines named NAME/..., a PIDS list killed on exit, and
# helpers to wait for sockets and to send one distcache request by hand.

scenario_begin() {
	SCENARIO=$1
	PIDS=""
	trap scenario_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Every process in PIDS is killed on exit; a script adds its own steps by
# defining scenario_extra_cleanup.
scenario_cleanup() {
	for p in $PIDS; do kill -9 "$p" 2> /dev/null; done
	if command -v scenario_extra_cleanup > /dev/null 2>&1; then scenario_extra_cleanup; fi
}

ok() { echo "PASS $SCENARIO/$1"; }
bad() { echo "FAIL $SCENARIO/$1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# Waits up to TRIES x 20 ms (default 300) for a unix socket file.
wait_sock() {
	i=0
	while [ $i -lt "${2:-300}" ]; do
		[ -S "$1" ] && return 0
		sleep 0.02; i=$((i + 1))
	done
	return 1
}

# One request over a unix socket: ask SOCKET OP(0 add, 1 get, 2 remove,
# 3 have) UID HEXPAYLOAD. Prints the response payload as hex ("empty" for
# none, "EOF" if the server closed instead).
ask() {
	python3 - "$@" << 'PY'
import socket, struct, sys
path, op, uid, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
s.sendall(struct.pack(">IBIBBBH", 0x00110000, 0, uid, 0, op, 1, len(payload)) + payload)
out = b""
while True:
    h = b""
    while len(h) < 14:
        c = s.recv(14 - len(h))
        if not c:
            print("EOF"); sys.exit(0)
        h += c
    level, resp, ruid, cls, rop, complete, n = struct.unpack(">IBIBBBH", h)
    d = b""
    while len(d) < n:
        d += s.recv(n - len(d))
    out += d
    if complete:
        break
assert resp == 1 and ruid == uid and rop == op
print(out.hex() or "empty")
PY
}

# The payload of an ADD: add_payload TIMEOUT_MS HEXID HEXDATA.
add_payload() { printf '%08x%08x%s%s' "$1" $((${#2} / 2)) "$2" "$3"; }
