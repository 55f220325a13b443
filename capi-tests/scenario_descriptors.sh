#!/bin/sh
# Out of descriptors, no server tool may spin (docs/timeouts.md). dc_server,
# dc_client, dc_snoop and escrowd run under `prlimit --nofile=256` and get
# 400 idle connections each, all at once; over the next 5 s each process
# may use at most 0.25 s of CPU, a connection made before the exhaustion is
# still served, each logs the episode once, and once the idle connections
# are gone a new client is served within 0.5 s.
#
# dc_snoop takes at most 10 pairs, and escrowd serves one client at a time
# (an idle one holds it, as the traditional daemon did): neither runs out
# on its own, so their soft limit is lowered to what they use while the
# idle connections wait (prlimit --pid), then raised back.
#
#   sh scenario_descriptors.sh PREFIX WORKDIR
set -u
PREFIX=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$PREFIX/bin
. "$HERE/lib/scenario.sh"
scenario_begin descriptors

P=$W/timeouts
if ! ${CC:-cc} -std=c99 -D_GNU_SOURCE -O2 -Wall -Werror -I"$PREFIX/include" -o "$P" "$HERE/scenario-src/timeouts.c" \
	-L"$PREFIX/lib" -ldistcache -lescrow -lpthread -Wl,-rpath,"$PREFIX/lib" 2> "$W/build.err"; then
	cat "$W/build.err"; bad build; exit 1
fi
command -v prlimit > /dev/null || { bad prlimit_missing; exit 1; }

rm -f "$W"/up "$W"/srv "$W"/cli "$W"/snoop "$W"/esc
# The upstream server of dc_client and dc_snoop (no limit).
"$BIN/dc_server" -listen "UNIX:$W/up" 2> "$W/up.err" &
UP=$!; PIDS="$PIDS $UP"
prlimit --nofile=256 "$BIN/dc_server" -listen "UNIX:$W/srv" 2> "$W/srv.err" &
SRV=$!; PIDS="$PIDS $SRV"
wait_sock "$W/up" && wait_sock "$W/srv" || { bad servers_start; exit 1; }
prlimit --nofile=256 "$BIN/dc_client" -listen "UNIX:$W/cli" -server "UNIX:$W/up" 2> "$W/cli.err" &
CLI=$!; PIDS="$PIDS $CLI"
prlimit --nofile=256 "$BIN/dc_snoop" -listen "UNIX:$W/snoop" -server "UNIX:$W/up" -nodecode 2> "$W/snoop.err" &
SNOOP=$!; PIDS="$PIDS $SNOOP"
prlimit --nofile=256 "$BIN/escrowd" -t 4 "$W/esc" 2> "$W/esc.err" &
ESC=$!; PIDS="$PIDS $ESC"
wait_sock "$W/cli" && wait_sock "$W/snoop" && wait_sock "$W/esc" || { bad tools_start; exit 1; }
"$P" escrow "$W/esc" > /dev/null || { bad escrowd_answers; exit 1; }

python3 - "$W" "$P" $SRV $CLI $SNOOP $ESC > "$W/result" 2> "$W/python.err" << 'PY'
import os, resource, socket, struct, subprocess, sys, time
W, probe = sys.argv[1], sys.argv[2]
pids = dict(zip(["dc_server", "dc_client", "dc_snoop", "escrowd"], map(int, sys.argv[3:7])))
paths = {"dc_server": W + "/srv", "dc_client": W + "/cli", "dc_snoop": W + "/snoop", "escrowd": W + "/esc"}
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
HZ = os.sysconf("SC_CLK_TCK")

def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ

def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(path)
    return s

uid = [0]
def have(s):
    """One HAVE over s; the seconds it took, or None without an answer."""
    uid[0] += 1
    t = time.monotonic()
    s.sendall(struct.pack(">IBIBBBH", 0x00110000, 0, uid[0], 0, 3, 1, 2) + b"id")
    h = b""
    try:
        while len(h) < 14:
            c = s.recv(14 - len(h))
            if not c:
                return None
            h += c
        n = struct.unpack(">IBIBBBH", h)[6]
        while n:
            n -= len(s.recv(n))
    except OSError:
        return None
    return time.monotonic() - t

def limit(pid, soft):
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:256" % soft], check=True)

# Connections made before the exhaustion, still to be served during it.
existing = {n: conn(paths[n]) for n in ["dc_server", "dc_client", "dc_snoop"]}
for n, s in existing.items():
    print("existing_before", n, "ok" if have(s) is not None else "none")
# dc_snoop and escrowd: down to what they hold now (see above).
# The soft limit is a bound on descriptor numbers: the lowest free one.
def lowest_free(pid):
    used = set(int(f) for f in os.listdir("/proc/%d/fd" % pid))
    return min(set(range(len(used) + 1)) - used)
for n, extra in [("dc_snoop", 3), ("escrowd", 0)]:
    limit(pids[n], lowest_free(pids[n]) + extra)
# escrowd's blocking accept took its descriptor before the limit fell: one
# connection that closes at once uses it up.
conn(paths["escrowd"]).close()
time.sleep(0.1)
idle = []
for n in paths:
    for i in range(400):
        try:
            idle.append(conn(paths[n]))
        except OSError as e:
            print("connect_failed", n, i, e)
            break
time.sleep(0.5)
before = {n: cpu(p) for n, p in pids.items()}
time.sleep(5)
for n, p in pids.items():
    print("cpu", n, "%.2f" % (cpu(p) - before[n]))
for n, s in existing.items():
    t = have(s)
    print("existing_during", n, "none" if t is None else "%.1f" % (t * 1000))
for n, f in [("dc_server", "srv"), ("dc_client", "cli"), ("dc_snoop", "snoop"), ("escrowd", "esc")]:
    print("logged", n, open("%s/%s.err" % (W, f)).read().count("cannot accept new connections"))
# Descriptors free up: the idle connections go (and the lowered limits
# are raised back); a new client is served within 0.5 s.
for s in idle:
    s.close()
limit(pids["dc_snoop"], 256)
limit(pids["escrowd"], 256)
t0 = time.monotonic()
for n in ["dc_server", "dc_client", "dc_snoop"]:
    t = None
    while t is None and time.monotonic() - t0 < 3:
        try:
            t = have(conn(paths[n]))
        except OSError:
            time.sleep(0.01)
    print("new_after", n, "none" if t is None else "%.1f" % ((time.monotonic() - t0) * 1000))
    t0 = time.monotonic()
r = subprocess.run([probe, "escrow", paths["escrowd"]], capture_output=True, timeout=5)
print("new_after", "escrowd", "%.1f" % ((time.monotonic() - t0) * 1000) if r.returncode == 0 else "none")
# Back at rest: no process keeps waking up (a pause that is over must not
# leave a zero timeout behind).
def wakeups(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
time.sleep(0.3)
w0 = {n: wakeups(p) for n, p in pids.items()}
time.sleep(1)
for n, p in pids.items():
    print("wakeups_at_rest", n, wakeups(p) - w0[n])
PY
sed 's/^/    /' "$W/result"
[ -s "$W/python.err" ] && sed 's/^/    /' "$W/python.err"
field() { awk -v k="$1" -v n="$2" '$1 == k && $2 == n { print $3 }' "$W/result"; }
for n in dc_server dc_client dc_snoop escrowd; do
	c=$(field cpu $n)
	check "${n}_cpu_over_5s_at_most_0.25s (${c:-?} s)" '[ -n "$c" ] && awk -v c=$c "BEGIN { exit !(c <= 0.25) }"'
	t=$(field new_after $n)
	check "${n}_new_client_served_within_500ms_after_descriptors_free (${t:-?} ms)" \
		'[ -n "$t" ] && [ "$t" != none ] && awk -v t=$t "BEGIN { exit !(t <= 500) }"'
done
for n in dc_server dc_client dc_snoop escrowd; do
	c=$(field wakeups_at_rest $n)
	check "${n}_at_rest_afterwards (${c:-?} wakeups in 1 s)" '[ -n "$c" ] && [ "$c" -le 20 ]'
done
for n in dc_server dc_client dc_snoop; do
	t=$(field existing_during $n)
	check "${n}_existing_connection_served_while_out_of_descriptors (${t:-?} ms)" \
		'[ "$(field existing_before $n)" = ok ] && [ -n "$t" ] && [ "$t" != none ]'
done
for n in dc_server dc_client dc_snoop escrowd; do
	c=$(field logged $n)
	check "${n}_logged_once_in_5s_out_of_descriptors (${c:-?})" '[ "$c" = 1 ]'
done
for p in $SRV $CLI $SNOOP $ESC; do check "alive_$p" 'kill -0 $p 2> /dev/null'; done
