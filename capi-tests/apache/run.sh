#!/bin/sh
# Apache httpd + mod_ssl sharing TLS sessions through this project's
# libraries, with Apache's own mod_socache_dc.
#
#   sh capi-tests/apache/run.sh PREFIX [WORKDIR]
#
# PREFIX is an installed tree (make install PREFIX=...): bin/dc_server,
# bin/dc_client, lib/*.so.1, lib/pkgconfig, headers. WORKDIR (default
# capi-tests/out/apache) keeps the logs, configurations and openssl output.
# APACHE_TEST_VARIANTS="stock" (or "fixed") runs one variant only.
# DC_LIBDIR=/usr/lib/<multiarch> (tools/test-deb.sh: the Debian packages)
# tests libraries in the system library directory instead of PREFIX/lib:
# the module and helper are then built without an rpath, pkg-config finds
# the .pc files on its default path and ldd must resolve to DC_LIBDIR.
# APACHE_TEST_LOAD_PAIRS sets the pairs per load loop (default 50).
#
# 1. Installs apache2, apache2-dev, openssl, curl (and dpkg-dev) with apt
#    when missing; fetches Debian's apache2 source package through a
#    temporary deb-src entry (removed again afterwards, also on failure) and
#    extracts modules/cache/mod_socache_dc.c from it. Nothing of Apache's
#    source is kept outside the temporary directory.
# 2. Builds that module with apxs against PREFIX (pkg-config distcache) in
#    two variants and checks with ldd that it resolves libdistcache.so.1
#    and libnal.so.1 to PREFIX/lib:
#      stock - the file as shipped (it passes only the millisecond fraction
#              of the expiry as the timeout), with dc_server -expiry-floor;
#      fixed - apr_time_msec(expiry) -> apr_time_as_msec(expiry), no floor.
# 3. For each variant: dc_server on a unix socket, dc_client in front of it
#    (Apache talks to dc_client only), and two Apache instances (mpm_event,
#    same ServerName, self-signed certificate, SSLSessionTickets off,
#    SSLSessionCache dc:UNIX:<dc_client socket>) on 127.0.0.1; then, each a
#    PASS/FAIL line:
#      a  both instances serve a page over TLS (curl);
#      b  a TLS 1.2 session made on A is Reused on B (openssl s_client);
#      c  dc_server, asked directly through DC_CTX, holds it (same id and
#         master key);
#      d  the same as b for TLS 1.3, B to A;
#      e  8 parallel loops x 50 handshake+resume pairs alternating A and B:
#         every resume Reused; no child crash in the error logs;
#      f  dc_server killed: New sessions, both serve, nothing hangs;
#         dc_server restarted: resumption again;
#      g  a session resumes 1.5 s after it was made; for the stock module,
#         the control: without the floor it has expired by then;
#      h  dc_server stopped with SIGSTOP (accepts, never answers): both
#         instances still serve pages over TLS, every handshake (New) is
#         delayed at most dc_client's -server-timeout (default 800 ms, +20%) over
#         the slowest one measured just before; after SIGCONT, resumption
#         returns (docs/timeouts.md).
#      i  dc_server -snapshot: a TLS session made on A before dc_server
#         restarts (SIGTERM, then started again with the same file)
#         resumes on B after it.
# 4. Variant "tls" (the fixed module): one dc_server on 127.0.0.1 with
#    TLS (certificates made by capi-tests/lib/tls_certs.sh), each Apache
#    instance with its own dc_client connecting to it over TLS:
#      a  both serve; a TLS 1.2 session made on A is Reused on B, and a
#         TLS 1.3 one made on B is Reused on A;
#      b  B's dc_client restarted with a certificate from another CA:
#         dc_server refuses it (one log line per attempt, naming the
#         reason), B falls back to full handshakes (New), both serve,
#         no child crashes, A's sessions still go to dc_server.
# 5. A farm on Valkey/Redis (unless APACHE_TEST_REDIS=0): a redis-server
#    (tools/deps.sh installs it) on a free 127.0.0.1 port, two dc_servers
#    each on its own socket with -cache redis://..., Apache A on the first
#    and B on the second (the fixed module, or the stock one with the
#    floor):
#      redis/a  both serve; b  a TLS 1.2 session made on A is Reused on B;
#      redis/c  it is in Redis; d  TLS 1.3, B to A; then every process
#      stopped.
#
# Must run as root (or with password-less sudo) when packages are missing;
# as root Apache's children run as www-data. Every process started here is
# stopped by pid on exit, every wait is bounded. Last line:
# "N passed, N failed".
set -u

PREFIX=${1:?usage: run.sh PREFIX [WORKDIR]}
PREFIX=$(cd "$PREFIX" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${2:-$HERE/../out/apache}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd) || exit 2

SERVERNAME=dc-test.localdomain
APACHE_MODULES=/usr/lib/apache2/modules
APACHE_BIN=/usr/sbin/apache2
FLOOR_MS=300000
LOAD_LOOPS=8
LOAD_PAIRS=${APACHE_TEST_LOAD_PAIRS:-50}
# Upper bound of one openssl/curl command (a loaded machine may be slow).
CONN_TIMEOUT=30
VARIANTS=${APACHE_TEST_VARIANTS:-stock fixed tls}
# The modules to build: the tls variant uses the fixed one.
BUILD_VARIANTS=$(for v in $VARIANTS; do [ $v = tls ] && echo fixed || echo $v; done | sort -u | xargs)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS apache/$1"; }
bad() { failed=$((failed + 1)); echo "FAIL apache/$1${2:+ ($2)}"; }
note() { echo "  $*"; }

T=$(mktemp -d /tmp/dc-apache.XXXXXX) || { bad setup/tempdir "mktemp failed"; echo "$passed passed, $failed failed"; exit 1; }
# Apache's children (www-data) read the document root and use the socket.
chmod 755 "$T"
SRC_LIST=/etc/apt/sources.list.d/distcache-test-apache-src-${T##*.}.sources

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null && SUDO="sudo -n"
fi

# ---------------------------------------------------------------------------
# Process bookkeeping and cleanup.
DC_SERVER_PID=""
DC_CLIENT_PID=""
DC_CLIENT_B_PID=""
REDIS_PID=""
DC_A_PID=""
DC_B_PID=""
LOAD_PIDS=""
APACHE_A_PID=""
APACHE_B_PID=""
SRC_LIST_ADDED=0

# True while PID still runs (and is not a zombie).
alive() {
	[ -n "$1" ] && kill -0 "$1" 2> /dev/null || return 1
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/$1/status 2> /dev/null)
	[ "$st" != Z ]
}

# wait_gone PID TENTHS: waits up to TENTHS/10 s for PID to end.
wait_gone() {
	i=0
	while alive "$1" && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
	! alive "$1"
}

# stop_pid PID: TERM, up to 5 s, then KILL; reaps it when it is our child.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2> /dev/null
	wait_gone "$1" 50 || kill -KILL "$1" 2> /dev/null
	wait "$1" 2> /dev/null
	return 0
}

# stop_apache PID: the parent stops its children on TERM; when it does not
# end within 10 s, its process group (it leads one: setsid) is killed.
stop_apache() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2> /dev/null
	wait_gone "$1" 100 || kill -KILL -- "-$1" 2> /dev/null
	return 0
}

# kill_tree PID: PID and every process below it (stopped first, so that it
# starts no more), by pid.
kill_tree() {
	kill -STOP "$1" 2> /dev/null || return 0
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -KILL "$1" 2> /dev/null
	kill -CONT "$1" 2> /dev/null
	return 0
}

apt_get() {
	$SUDO env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}

# apt-get update, tried three times (another apt may hold the lists lock).
apt_update() {
	for _ in 1 2 3; do
		apt_get update && return 0
		sleep 10
	done
	return 1
}

remove_src_list() {
	if [ "$SRC_LIST_ADDED" = 1 ]; then
		$SUDO rm -f "$SRC_LIST"
		SRC_LIST_ADDED=0
		apt_update > "$T/apt-update-after.log" 2>&1 || note "apt-get update after removing the deb-src entry failed"
	fi
}

# Logs and configurations stay in WORKDIR for inspection.
save_logs() {
	(cd "$T" && find . -name '*.log' -o -name '*.conf' -o -name 'load.[0-9]*' -o -name '*.out') 2> /dev/null |
		while read -r f; do
			mkdir -p "$WORK/$(dirname "$f")" && cp -f "$T/$f" "$WORK/$f"
		done
	return 0
}

cleanup() {
	for p in $LOAD_PIDS; do kill_tree "$p"; done
	stop_apache "$APACHE_A_PID"
	stop_apache "$APACHE_B_PID"
	stop_pid "$DC_CLIENT_PID"
	# (h) may have left it stopped
	[ -n "$DC_SERVER_PID" ] && kill -CONT "$DC_SERVER_PID" 2> /dev/null
	stop_pid "$DC_CLIENT_B_PID"
	stop_pid "$DC_SERVER_PID"
	stop_pid "$DC_A_PID"
	stop_pid "$DC_B_PID"
	stop_pid "$REDIS_PID"
	remove_src_list
	save_logs
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# ---------------------------------------------------------------------------
# Proof names, so that a setup failure still reports every proof as failed.
PROOFS="module_built module_links_our_libraries a_both_instances_serve_tls b_tls12_session_resumed_on_other_instance
c_session_stored_in_dc_server d_tls13_session_resumed_on_other_instance e_load_all_resumes_reused
e_no_child_crash f_server_down_new_sessions f_server_down_both_serve f_server_restarted_resumes
g_resumed_after_1500ms h_server_stopped_both_serve h_server_stopped_handshakes_within_deadline
h_server_continued_resumes i_session_survives_dc_server_restart all_processes_stopped"
TLS_PROOFS="a_both_serve a_tls12_resumed_a_to_b a_tls13_resumed_b_to_a b_wrong_ca_refused_and_logged
b_wrong_ca_full_handshakes b_wrong_ca_a_still_resumes b_wrong_ca_both_serve b_wrong_ca_no_child_crash all_processes_stopped"

fail_all_proofs() {
	for v in $VARIANTS; do
		if [ $v = tls ]; then
			for pr in $TLS_PROOFS; do bad "tls/$pr" "not run: $1"; done
		else
			for pr in $PROOFS; do bad "$v/$pr" "not run: $1"; done
		fi
	done
	bad "stock/control_without_floor_sessions_expire" "not run: $1"
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# ---------------------------------------------------------------------------
# 1. Packages and Apache's module source.
need=""
for pkg in apache2 apache2-dev openssl curl dpkg-dev; do
	dpkg -s "$pkg" > /dev/null 2>&1 || need="$need $pkg"
done
for cmd in setsid timeout python3 pkg-config pgrep; do
	command -v "$cmd" > /dev/null 2>&1 || { bad setup/tools "$cmd is missing"; fail_all_proofs "$cmd is missing"; finish; }
done
if [ -n "$need" ]; then
	if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
		bad setup/packages "missing:$need; installing them needs root"
		fail_all_proofs "packages missing"; finish
	fi
	# A machine without an init system must not start the packaged apache2.
	policy_added=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null && $SUDO chmod 755 /usr/sbin/policy-rc.d && policy_added=1
	fi
	if apt_update > "$T/apt-install.log" 2>&1 && apt_get install -y$need >> "$T/apt-install.log" 2>&1; then
		ok setup/packages
	else
		tail -5 "$T/apt-install.log" | sed 's/^/    /'
		bad setup/packages "apt-get could not install$need"
		[ $policy_added = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
		fail_all_proofs "packages missing"; finish
	fi
	[ $policy_added = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
else
	ok setup/packages
fi

# The deb-src entry mirrors the machine's own deb822 entries (same URIs,
# suites and keys); without that file, Debian's standard ones.
SRC=$T/src
mkdir -p "$SRC"
# Reports what it did (or why it failed) in FETCH_MSG.
fetch_source() {
	if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
		FETCH_MSG="adding a deb-src entry needs root"; return 1
	fi
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$T/src.sources"
	else
		cat > "$T/src.sources" <<- EOF
			Types: deb-src
			URIs: http://deb.debian.org/debian
			Suites: bookworm bookworm-updates
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

			Types: deb-src
			URIs: http://deb.debian.org/debian-security
			Suites: bookworm-security
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
	fi
	SRC_LIST_ADDED=1
	$SUDO cp "$T/src.sources" "$SRC_LIST" || { FETCH_MSG="cannot write $SRC_LIST"; return 1; }
	apt_update > "$T/apt-source.log" 2>&1 || { FETCH_MSG="apt-get update with the deb-src entry failed"; return 1; }
	# The version matching the installed apache2 first, then every other
	# version the source indexes list, newest first (a mirror may lack one).
	installed=$(dpkg-query -W -f '${source:Version}' apache2 2> /dev/null)
	others=$(apt-cache showsrc apache2 2> /dev/null | sed -n 's/^Version: //p' | sort -u -V -r | grep -vxF "${installed:-none}")
	[ -n "$installed$others" ] || { FETCH_MSG="no apache2 source package in the indexes"; return 1; }
	got=""
	for v in $installed $others; do
		rm -f "$SRC"/apache2_*
		if (cd "$SRC" && apt_get source --download-only "apache2=$v") >> "$T/apt-source.log" 2>&1; then
			got=$v; break
		fi
	done
	remove_src_list
	[ -n "$got" ] || { FETCH_MSG="apt-get source --download-only apache2 failed for: $(echo $installed $others)"; return 1; }
	FETCH_MSG="apache2 $got"
	dsc=$(ls "$SRC"/apache2_*.dsc 2> /dev/null | head -1)
	dpkg-source --no-check -x "$dsc" "$SRC/tree" > "$T/dpkg-source.log" 2>&1 || { FETCH_MSG="dpkg-source -x failed"; return 1; }
	[ -f "$SRC/tree/modules/cache/mod_socache_dc.c" ] || { FETCH_MSG="no modules/cache/mod_socache_dc.c in the source package"; return 1; }
	cp "$SRC/tree/modules/cache/mod_socache_dc.c" "$T/mod_socache_dc.c"
	rm -rf "$SRC/tree"
}
FETCH_MSG=""
fetch_source; rc=$?
remove_src_list
if [ $rc -eq 0 ]; then
	ok "setup/apache_source_package ($FETCH_MSG)"
else
	tail -5 "$T/apt-source.log" 2> /dev/null | sed 's/^/    /'
	bad setup/apache_source_package "$FETCH_MSG"
	fail_all_proofs "no mod_socache_dc.c"; finish
fi

# ---------------------------------------------------------------------------
# 2. Build both variants against PREFIX.
DC_LIBDIR=${DC_LIBDIR:-}
if [ -n "$DC_LIBDIR" ]; then
	LIB=$DC_LIBDIR; RPATH=""
	unset PKG_CONFIG_PATH
else
	LIB=$PREFIX/lib; RPATH="-Wl,-rpath,$LIB"
	export PKG_CONFIG_PATH=$LIB/pkgconfig
fi
DC_CFLAGS=$(pkg-config --cflags distcache)
DC_LIBS=$(pkg-config --libs distcache | xargs | tr ' ' ',')
for v in $BUILD_VARIANTS; do
	d=$T/mod-$v
	mkdir -p "$d"
	cp "$T/mod_socache_dc.c" "$d/"
	if [ $v = fixed ]; then
		sed -i 's/apr_time_msec(expiry)/apr_time_as_msec(expiry)/' "$d/mod_socache_dc.c"
		if [ "$(grep -c 'apr_time_as_msec(expiry)' "$d/mod_socache_dc.c")" != 1 ] || grep -q 'apr_time_msec(expiry)' "$d/mod_socache_dc.c"; then
			echo "FIXFAIL" > "$d/fix-failed"
		fi
	fi
	# libtool moves -l options in front of the linker flags; given inside
	# one -Wl,--no-as-needed,... they stay DT_NEEDED whatever the default.
	(cd "$d" && apxs -c -o mod_socache_dc.la $DC_CFLAGS mod_socache_dc.c \
		"-Wl,--no-as-needed,$DC_LIBS,--as-needed" $RPATH) > "$d/build.log" 2>&1
	if [ -f "$d/fix-failed" ]; then
		bad "$v/module_built" "the sed fix did not apply exactly once"
	elif [ -f "$d/.libs/mod_socache_dc.so" ]; then
		ok "$v/module_built"
	else
		tail -15 "$d/build.log" | sed 's/^/    /'
		bad "$v/module_built" "apxs failed"
	fi
	lib_ok=1
	for lib in libdistcache.so.1 libnal.so.1; do
		res=$(ldd "$d/.libs/mod_socache_dc.so" 2> /dev/null | awk -v l=$lib '$1 == l { print $3 }')
		if [ -z "$res" ] || [ "$(readlink -f "$res")" != "$(readlink -f "$LIB/$lib")" ]; then
			lib_ok=0; note "$v: $lib resolves to '${res:-nothing}'"
		fi
	done
	if [ $lib_ok = 1 ]; then ok "$v/module_links_our_libraries"; else bad "$v/module_links_our_libraries"; fi
done

# The session look-up helper, against the installed library.
HELPER=$T/dc_session
if ! ${CC:-cc} -std=c99 -Wall -Werror -o "$HELPER" "$HERE/dc_session.c" $(pkg-config --cflags --libs distcache) \
	$RPATH > "$T/helper-build.log" 2>&1; then
	cat "$T/helper-build.log"
	HELPER=""
fi

# A self-signed certificate for the shared ServerName, a page to serve.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=$SERVERNAME" -addext basicConstraints=critical,CA:FALSE \
	-addext "subjectAltName=DNS:$SERVERNAME" -keyout "$T/key.pem" -out "$T/cert.pem" > "$T/cert.log" 2>&1 ||
	note "certificate generation failed: $(tail -1 "$T/cert.log")"
mkdir -p "$T/htdocs"
echo "distcache-apache-test-page" > "$T/htdocs/index.html"
chmod -R a+rX "$T/htdocs"

# Four free loopback ports, picked together so that none is another's:
# Apache A and B, the TLS dc_server, redis-server.
PORTS=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
port_n() { echo "$PORTS" | cut -d' ' -f"$1"; }
PORT_A=$(port_n 1); PORT_B=$(port_n 2); PORT_TLS=$(port_n 3); PORT_REDIS=$(port_n 4)

SERVER_SOCK=$T/dc_server.sock
CLIENT_SOCK=$T/dc_client.sock
DC_CLIENT_BIN=$PREFIX/bin/dc_client
if [ -x "$DC_CLIENT_BIN" ]; then
	ok setup/dc_client_installed
else
	bad setup/dc_client_installed "no $DC_CLIENT_BIN: Apache talks to dc_server directly"
fi

wait_sock() {
	i=0
	while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -S "$1" ]
}

# The socket Apache uses: group www-data, mode 660 (as root; else the
# children run as this user, who owns it).
APACHE_SOCK_OPTS="-sockperms 660"
[ "$(id -u)" -eq 0 ] && APACHE_SOCK_OPTS="-sockgroup www-data -sockperms 660"

# Extra dc_server options (the snapshot proof sets them).
SNAP_OPTS=""

# start_dc_server LOG [FLOOR]
start_dc_server() {
	rm -f "$SERVER_SOCK"
	opts=$SNAP_OPTS
	[ -x "$DC_CLIENT_BIN" ] || opts="$SNAP_OPTS $APACHE_SOCK_OPTS"
	if [ -n "${2:-}" ]; then
		"$PREFIX/bin/dc_server" -listen "UNIX:$SERVER_SOCK" $opts -expiry-floor "$2" >> "$1" 2>&1 &
	else
		"$PREFIX/bin/dc_server" -listen "UNIX:$SERVER_SOCK" $opts >> "$1" 2>&1 &
	fi
	DC_SERVER_PID=$!
	wait_sock "$SERVER_SOCK"
}

# Apache's cache address: dc_client's socket, or dc_server's without it.
start_dc_client() {
	if [ -x "$DC_CLIENT_BIN" ]; then
		rm -f "$CLIENT_SOCK"
		"$DC_CLIENT_BIN" -listen "UNIX:$CLIENT_SOCK" -server "UNIX:$SERVER_SOCK" $APACHE_SOCK_OPTS -retry 1000 >> "$1" 2>&1 &
		DC_CLIENT_PID=$!
		CACHE_SOCK=$CLIENT_SOCK
		wait_sock "$CLIENT_SOCK"
	else
		CACHE_SOCK=$SERVER_SOCK
	fi
}

# write_conf DIR PORT MODULE
write_conf() {
	mkdir -p "$1"
	eval "CACHE_OF_$2=\$CACHE_SOCK"
	user=""
	[ "$(id -u)" -eq 0 ] && user="User www-data
Group www-data"
	cat > "$1/httpd.conf" <<- EOF
		ServerRoot "$1"
		ServerName $SERVERNAME
		Listen 127.0.0.1:$2
		PidFile "$1/httpd.pid"
		DefaultRuntimeDir "$1"
		Mutex file:$1 default
		ErrorLog "$1/error.log"
		LogLevel warn socache_dc:debug
		TransferLog "$1/access.log"
		$user
		LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
		LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
		LoadModule socache_shmcb_module $APACHE_MODULES/mod_socache_shmcb.so
		LoadModule socache_dc_module $3
		LoadModule ssl_module $APACHE_MODULES/mod_ssl.so
		StartServers 2
		ServerLimit 2
		ThreadsPerChild 16
		MaxRequestWorkers 32
		MinSpareThreads 8
		MaxSpareThreads 48
		DocumentRoot "$T/htdocs"
		<Directory "$T/htdocs">
		    Require all granted
		</Directory>
		SSLEngine on
		SSLCertificateFile "$T/cert.pem"
		SSLCertificateKeyFile "$T/key.pem"
		SSLSessionCache dc:UNIX:$CACHE_SOCK
		SSLSessionCacheTimeout 300
		SSLSessionTickets off
	EOF
}

# start_apache DIR PORT -> prints the pid; the instance answers HTTPS then.
start_apache() {
	setsid "$APACHE_BIN" -d "$1" -f "$1/httpd.conf" -DFOREGROUND > "$1/stdout.log" 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 150 ]; do
		alive $pid || break
		timeout 3 curl -ks -o /dev/null "https://127.0.0.1:$2/" && break
		sleep 0.1; i=$((i + 1))
	done
	echo $pid
}

# s_conn PORT OUTFILE [openssl s_client options...]: one handshake; prints
# "Reused", "New" or "error".
s_conn() {
	port=$1; out=$2; shift 2
	timeout $CONN_TIMEOUT openssl s_client -connect "127.0.0.1:$port" -servername "$SERVERNAME" "$@" < /dev/null > "$out" 2>&1
	if grep -q '^Reused,' "$out"; then echo Reused
	elif grep -q '^New,' "$out"; then echo New
	else echo error; fi
}

# s_conn13: TLS 1.3 sends the session after the handshake; stay two seconds.
s_conn13() {
	port=$1; out=$2; shift 2
	sleep 2 | timeout $CONN_TIMEOUT openssl s_client -tls1_3 -connect "127.0.0.1:$port" -servername "$SERVERNAME" "$@" > "$out" 2>&1
	if grep -q '^Reused,' "$out"; then echo Reused
	elif grep -q '^New,' "$out"; then echo New
	else echo error; fi
}

serves() { [ "$(timeout $CONN_TIMEOUT curl -ks "https://127.0.0.1:$1/index.html")" = distcache-apache-test-page ]; }

crash_lines() { grep -hE 'exit signal|Segmentation|Aborted' "$R"/a/error.log "$R"/b/error.log 2> /dev/null; }

# stored_wait FILE PORT: waits (2 s at most) until the session in FILE is in
# the cache the Apache on PORT stores to. OpenSSL sends its Finished before it
# stores a new session, so a quick client can ask the other Apache first; the
# lookup on the other Apache is then tested on its own.
stored_wait() {
	sock=$(eval echo "\${CACHE_OF_$2:-}")
	[ -n "$HELPER" ] && [ -n "$sock" ] || return 0
	id=$(openssl sess_id -in "$1" -noout -text 2> /dev/null | sed -n 's/^ *Session-ID: *//p')
	[ -n "$id" ] || return 0
	i=0
	while [ $i -lt 40 ]; do
		timeout 2 "$HELPER" "UNIX:$sock" "$id" > /dev/null 2>&1 && return 0
		sleep 0.05; i=$((i + 1))
	done
}

# pair DIR FROM TO [DELAY]: a new TLS 1.2 session on FROM, resumed on TO.
pair() {
	first=$(s_conn "$2" "$1-1.out" -tls1_2 -sess_out "$1.pem")
	[ "$first" = New ] && stored_wait "$1.pem" "$2"
	[ -n "${4:-}" ] && sleep "$4"
	if [ "$first" = New ] && [ -s "$1.pem" ]; then
		s_conn "$3" "$1-2.out" -tls1_2 -sess_in "$1.pem"
	else
		echo "first-$first"
	fi
}

# One load loop: PAIRS handshake+resume pairs, alternating A->B and B->A.
load_loop() {
	n=0
	: > "$R/load.$1"
	while [ $n -lt $LOAD_PAIRS ]; do
		if [ $((n % 2)) -eq 0 ]; then r=$(pair "$R/load-$1" $PORT_A $PORT_B); else r=$(pair "$R/load-$1" $PORT_B $PORT_A); fi
		echo "$r" >> "$R/load.$1"
		# keep what openssl said about every pair that did not resume
		[ "$r" = Reused ] || for f in "$R/load-$1"-[12].out; do cp -f "$f" "${f%.out}-pair$n.out"; done
		n=$((n + 1))
	done
}

# ---------------------------------------------------------------------------
# 3. The proofs, once per variant.
run_variant() {
	v=$1
	R=$T/run-$v
	mkdir -p "$R"
	floor=""
	[ $v = stock ] && floor=$FLOOR_MS
	module=$T/mod-$v/.libs/mod_socache_dc.so
	if [ ! -f "$module" ] || [ -z "$PORT_A" ] || [ ! -f "$T/cert.pem" ]; then
		for pr in $PROOFS; do
			case $pr in module_*) ;; *) bad "$v/$pr" "not run: no module, certificate or ports";; esac
		done
		return
	fi
	label="dc_server without floor"
	[ -n "$floor" ] && label="dc_server -expiry-floor $floor"
	[ -x "$DC_CLIENT_BIN" ] && label="$label, dc_client in front"
	note "$v: $label; Apache on 127.0.0.1:$PORT_A and :$PORT_B"
	start_dc_server "$R/dc_server.log" $floor || note "dc_server did not create its socket"
	start_dc_client "$R/dc_client.log" || note "dc_client did not create its socket"
	write_conf "$R/a" $PORT_A "$module"
	write_conf "$R/b" $PORT_B "$module"
	APACHE_A_PID=$(start_apache "$R/a" $PORT_A)
	APACHE_B_PID=$(start_apache "$R/b" $PORT_B)

	# (a) both instances serve a page over TLS
	if serves $PORT_A && serves $PORT_B; then
		ok "$v/a_both_instances_serve_tls"
	else
		tail -5 "$R/a/error.log" "$R/a/stdout.log" "$R/b/error.log" 2> /dev/null | sed 's/^/    /'
		bad "$v/a_both_instances_serve_tls"
	fi

	# (b) a TLS 1.2 session made on A is resumed on B
	first=$(s_conn $PORT_A "$R/b-1.out" -tls1_2 -sess_out "$R/s.pem")
	[ "$first" = New ] && stored_wait "$R/s.pem" $PORT_A
	second=$(s_conn $PORT_B "$R/b-2.out" -tls1_2 -sess_in "$R/s.pem")
	if [ "$first" = New ] && [ "$second" = Reused ]; then
		ok "$v/b_tls12_session_resumed_on_other_instance"
	else
		bad "$v/b_tls12_session_resumed_on_other_instance" "A: $first, B: $second"
	fi

	# (c) that session is in dc_server, asked directly: same id, same master key
	sid=$(openssl sess_id -in "$R/s.pem" -noout -text 2> /dev/null | sed -n 's/^ *Session-ID: *//p')
	mkey=$(openssl sess_id -in "$R/s.pem" -noout -text 2> /dev/null | sed -n 's/^ *Master-Key: *//p')
	if [ -z "$HELPER" ]; then
		bad "$v/c_session_stored_in_dc_server" "the helper did not compile"
	elif [ -z "$sid" ]; then
		bad "$v/c_session_stored_in_dc_server" "no session id in the client's session"
	else
		timeout $CONN_TIMEOUT "$HELPER" "UNIX:$SERVER_SOCK" "$sid" "$R/stored.der" > "$R/helper.out" 2>&1
		hrc=$?
		smkey=$(openssl sess_id -inform DER -in "$R/stored.der" -noout -text 2> /dev/null | sed -n 's/^ *Master-Key: *//p')
		ssid=$(openssl sess_id -inform DER -in "$R/stored.der" -noout -text 2> /dev/null | sed -n 's/^ *Session-ID: *//p')
		if [ $hrc -eq 0 ] && [ -n "$mkey" ] && [ "$smkey" = "$mkey" ] && [ "$ssid" = "$sid" ]; then
			ok "$v/c_session_stored_in_dc_server"
		else
			bad "$v/c_session_stored_in_dc_server" "helper status $hrc: $(tr '\n' ' ' < "$R/helper.out")id match: $([ "$ssid" = "$sid" ] && echo yes || echo no), master key match: $([ -n "$mkey" ] && [ "$smkey" = "$mkey" ] && echo yes || echo no)"
		fi
	fi

	# What the library does with the 0 ms timeout the stock module passes
	# for about one session in a thousand (shown, not counted).
	if [ $v = stock ] && [ -n "$HELPER" ]; then
		note "DC_CTX_add_session(timeout 0 ms) against dc_server -expiry-floor $FLOOR_MS:" \
			$(timeout $CONN_TIMEOUT "$HELPER" -add 0 "UNIX:$SERVER_SOCK" 00d15ca4e00000000000000000000001 2>&1)
	fi

	# (d) TLS 1.3: a session made on B is resumed on A
	first=$(s_conn13 $PORT_B "$R/d-1.out" -sess_out "$R/s13.pem")
	ticket=no
	openssl sess_id -in "$R/s13.pem" -noout -text 2> /dev/null | grep -q 'TLS session ticket:' && ticket=yes
	second=$(s_conn13 $PORT_A "$R/d-2.out" -sess_in "$R/s13.pem")
	if [ "$first" = New ] && [ "$second" = Reused ] && grep -q '^Reused, TLSv1.3' "$R/d-2.out"; then
		ok "$v/d_tls13_session_resumed_on_other_instance"
	else
		bad "$v/d_tls13_session_resumed_on_other_instance" "B: $first, ticket received: $ticket, A: $second"
	fi

	# (e) load: LOAD_LOOPS parallel loops of LOAD_PAIRS pairs
	start=$(date +%s)
	LOAD_PIDS=""
	l=1
	while [ $l -le $LOAD_LOOPS ]; do
		load_loop $l &
		LOAD_PIDS="$LOAD_PIDS $!"
		l=$((l + 1))
	done
	for p in $LOAD_PIDS; do
		now=$(date +%s)
		left=$((start + 600 - now))
		[ $left -lt 1 ] && left=1
		wait_gone $p $((left * 10)) || kill_tree $p
		wait $p 2> /dev/null
	done
	LOAD_PIDS=""
	secs=$(($(date +%s) - start))
	total=$(cat "$R"/load.* 2> /dev/null | wc -l)
	reused=$(cat "$R"/load.* 2> /dev/null | grep -c '^Reused$')
	want=$((LOAD_LOOPS * LOAD_PAIRS))
	if [ "$total" -eq $want ] && [ "$reused" -eq $want ]; then
		ok "$v/e_load_all_resumes_reused ($want pairs in ${secs}s)"
	else
		others=$(cat "$R"/load.* 2> /dev/null | grep -v '^Reused$' | sort | uniq -c | xargs)
		bad "$v/e_load_all_resumes_reused" "$reused of $want reused, $total done in ${secs}s; others: ${others:-none}; store failures the module logged (AH00740): $(cat "$R"/a/error.log "$R"/b/error.log 2> /dev/null | grep -c AH00740)"
	fi
	crashes=$(crash_lines)
	if [ -z "$crashes" ] && alive "$APACHE_A_PID" && alive "$APACHE_B_PID"; then
		ok "$v/e_no_child_crash"
	else
		echo "$crashes" | head -5 | sed 's/^/    /'
		bad "$v/e_no_child_crash"
	fi

	# (f) dc_server killed: new sessions only, both serve, nothing hangs;
	#     restarted: resumption again
	kill -KILL "$DC_SERVER_PID" 2> /dev/null
	wait "$DC_SERVER_PID" 2> /dev/null
	DC_SERVER_PID=""
	start=$(date +%s)
	r=$(pair "$R/f1" $PORT_A $PORT_B)
	r2=$(pair "$R/f2" $PORT_B $PORT_A)
	secs=$(($(date +%s) - start))
	if [ "$r" = New ] && [ "$r2" = New ] && [ $secs -lt $((CONN_TIMEOUT * 2)) ]; then
		ok "$v/f_server_down_new_sessions (2 pairs in ${secs}s)"
	else
		bad "$v/f_server_down_new_sessions" "resume attempts: $r, $r2 in ${secs}s"
	fi
	if serves $PORT_A && serves $PORT_B; then
		ok "$v/f_server_down_both_serve"
	else
		bad "$v/f_server_down_both_serve"
	fi
	start_dc_server "$R/dc_server.log" $floor || note "restarted dc_server did not create its socket"
	# dc_client reconnects within its -retry interval (1 s)
	tries=0; r=""; until=$(($(date +%s) + 30))
	while [ $tries -lt 15 ] && [ "$(date +%s)" -lt $until ]; do
		tries=$((tries + 1))
		r=$(pair "$R/f3" $PORT_A $PORT_B)
		[ "$r" = Reused ] && break
		sleep 0.5
	done
	if [ "$r" = Reused ]; then
		ok "$v/f_server_restarted_resumes (attempt $tries)"
	else
		bad "$v/f_server_restarted_resumes" "last attempt: $r"
	fi

	# (g) a session still resumes 1.5 s after it was made (the stock module
	#     asks for under a second; the floor keeps it)
	r=$(pair "$R/g" $PORT_B $PORT_A 1.5)
	if [ "$r" = Reused ]; then
		ok "$v/g_resumed_after_1500ms"
	else
		bad "$v/g_resumed_after_1500ms" "$r"
	fi

	# (h) dc_server stopped: it accepts but never answers. Handshakes are
	#     timed one by one: the baseline with the server answering, then
	#     with it stopped.
	ms() { date +%s%3N; }
	base=0; i=0
	while [ $i -lt 4 ]; do
		i=$((i + 1)); t0=$(ms); s_conn $PORT_A "$R/h-base$i.out" -tls1_2 > /dev/null; d=$(($(ms) - t0))
		[ $d -gt $base ] && base=$d
	done
	kill -STOP "$DC_SERVER_PID"
	worst=0; news=0; i=0
	while [ $i -lt 6 ]; do
		i=$((i + 1))
		if [ $((i % 2)) -eq 0 ]; then port=$PORT_A; else port=$PORT_B; fi
		t0=$(ms); r=$(s_conn $port "$R/h-stopped$i.out" -tls1_2); d=$(($(ms) - t0))
		[ "$r" = New ] && news=$((news + 1))
		[ $d -gt $worst ] && worst=$d
	done
	if serves $PORT_A && serves $PORT_B; then
		ok "$v/h_server_stopped_both_serve"
	else
		bad "$v/h_server_stopped_both_serve"
	fi
	if [ $news -eq 6 ] && [ $worst -le $((base + 960)) ]; then
		ok "$v/h_server_stopped_handshakes_within_deadline (slowest ${worst} ms, ${base} ms with the server answering)"
	else
		bad "$v/h_server_stopped_handshakes_within_deadline" "$news of 6 New, slowest ${worst} ms, limit $((base + 960)) ms"
	fi
	kill -CONT "$DC_SERVER_PID"
	tries=0; r=""; t0=$(ms)
	while [ $tries -lt 15 ] && [ $(($(ms) - t0)) -lt 10000 ]; do
		tries=$((tries + 1))
		r=$(pair "$R/h-cont" $PORT_A $PORT_B)
		[ "$r" = Reused ] && break
		sleep 0.3
	done
	if [ "$r" = Reused ]; then
		ok "$v/h_server_continued_resumes (after $(($(ms) - t0)) ms, attempt $tries)"
	else
		bad "$v/h_server_continued_resumes" "last attempt: $r"
	fi

	# (i) with -snapshot, a session made before a dc_server restart (SIGTERM:
	#     final snapshot; started again with the same file) resumes after it
	stop_pid "$DC_SERVER_PID"
	SNAP_OPTS="-snapshot $R/sessions.snap -snapshot-interval 0"
	start_dc_server "$R/dc_server.log" $floor || note "dc_server with -snapshot did not create its socket"
	tries=0; first=""; until=$(($(date +%s) + 30))
	while [ $tries -lt 15 ] && [ "$(date +%s)" -lt $until ]; do
		tries=$((tries + 1))
		first=$(s_conn $PORT_A "$R/h-1.out" -tls1_2 -sess_out "$R/h.pem")
		# (dc_client reconnects within a second: until then nothing is stored)
		hsid=$(openssl sess_id -in "$R/h.pem" -noout -text 2> /dev/null | sed -n 's/^ *Session-ID: *//p')
		[ "$first" = New ] && [ -n "$HELPER" ] && [ -n "$hsid" ] &&
			timeout $CONN_TIMEOUT "$HELPER" "UNIX:$SERVER_SOCK" "$hsid" "$R/h.der" > /dev/null 2>&1 && break
		sleep 0.5
	done
	stop_pid "$DC_SERVER_PID"
	start_dc_server "$R/dc_server.log" $floor || note "restarted dc_server with -snapshot did not create its socket"
	SNAP_OPTS=""
	tries=0; r=""; until=$(($(date +%s) + 30))
	while [ $tries -lt 15 ] && [ "$(date +%s)" -lt $until ]; do
		tries=$((tries + 1))
		r=$(s_conn $PORT_B "$R/h-2.out" -tls1_2 -sess_in "$R/h.pem")
		[ "$r" = Reused ] && break
		sleep 0.5
	done
	loaded=$(sed -n "s/^Info, snapshot '.*': loaded \([0-9]*\) sessions.*/\1/p" "$R/dc_server.log" | tail -1)
	if [ "$first" = New ] && [ "$r" = Reused ] && [ "${loaded:-0}" -ge 1 ]; then
		ok "$v/i_session_survives_dc_server_restart ($loaded sessions loaded, attempt $tries)"
	else
		bad "$v/i_session_survives_dc_server_restart" "A: $first, B after the restart: $r, sessions loaded: ${loaded:-none}"
	fi

	# Control: the stock module without the floor loses its sessions within
	# a second (shows what the floor does, and that g can fail).
	if [ $v = stock ]; then
		stop_pid "$DC_SERVER_PID"
		start_dc_server "$R/dc_server.log" || note "dc_server without floor did not create its socket"
		expired=0; i=0
		while [ $i -lt 3 ]; do
			i=$((i + 1))
			r=$(pair "$R/ctl$i" $PORT_A $PORT_B 1.5)
			[ "$r" = New ] && expired=$((expired + 1))
		done
		if [ $expired -eq 3 ]; then
			ok "stock/control_without_floor_sessions_expire"
		else
			bad "stock/control_without_floor_sessions_expire" "$expired of 3 expired"
		fi
	fi

	crashes=$(crash_lines)
	[ -z "$crashes" ] || { echo "$crashes" | head -5 | sed 's/^/    /'; bad "$v/no_child_crash_at_end"; }
	stop_apache "$APACHE_A_PID"; APACHE_A_PID=""
	stop_apache "$APACHE_B_PID"; APACHE_B_PID=""
	stop_pid "$DC_CLIENT_PID"; DC_CLIENT_PID=""
	stop_pid "$DC_SERVER_PID"; DC_SERVER_PID=""
	left=$(pgrep -f -- "$T/" | xargs)
	if [ -z "$left" ]; then ok "$v/all_processes_stopped"; else bad "$v/all_processes_stopped" "still running: $left"; fi
}

# ---------------------------------------------------------------------------
# 4. The dc_client <-> dc_server link over TLS.
TLS_CERTS=$T/tls-certs
# start_tls_client SOCK LOG CERTNAME: a dc_client for one Apache instance.
start_tls_client() {
	rm -f "$1"
	"$DC_CLIENT_BIN" -listen "UNIX:$1" -server "IP:127.0.0.1:$TLS_PORT" $APACHE_SOCK_OPTS -retry 500 \
		-tls-cert "$TLS_CERTS/$3.pem" -tls-key "$TLS_CERTS/$3.key" -tls-ca "$TLS_CERTS/ca.pem" >> "$2" 2>&1 &
	TLS_CLIENT_PID=$!
	wait_sock "$1"
}

run_tls() {
	R=$T/run-tls
	mkdir -p "$R"
	module=$T/mod-fixed/.libs/mod_socache_dc.so
	if [ ! -f "$module" ] || [ -z "$PORT_A" ] || [ ! -x "$DC_CLIENT_BIN" ] ||
		! bash "$HERE/../lib/tls_certs.sh" "$TLS_CERTS" > "$R/certs.log" 2>&1; then
		for pr in $TLS_PROOFS; do bad "tls/$pr" "not run: no module, ports, dc_client or certificates"; done
		return
	fi
	TLS_PORT=$PORT_TLS
	note "tls: dc_server on 127.0.0.1:$TLS_PORT with TLS; one dc_client per Apache instance"
	"$PREFIX/bin/dc_server" -listen "IP:127.0.0.1:$TLS_PORT" -tls-cert "$TLS_CERTS/server.pem" \
		-tls-key "$TLS_CERTS/server.key" -tls-ca "$TLS_CERTS/ca.pem" >> "$R/dc_server.log" 2>&1 &
	DC_SERVER_PID=$!
	start_tls_client "$R/dc_a.sock" "$R/dc_client_a.log" client; DC_CLIENT_PID=$TLS_CLIENT_PID
	start_tls_client "$R/dc_b.sock" "$R/dc_client_b.log" client; DC_CLIENT_B_PID=$TLS_CLIENT_PID
	CACHE_SOCK=$R/dc_a.sock; write_conf "$R/a" $PORT_A "$module"
	CACHE_SOCK=$R/dc_b.sock; write_conf "$R/b" $PORT_B "$module"
	APACHE_A_PID=$(start_apache "$R/a" $PORT_A)
	APACHE_B_PID=$(start_apache "$R/b" $PORT_B)

	# (a) resumption across the instances, the cache link on TLS
	if serves $PORT_A && serves $PORT_B; then ok tls/a_both_serve; else bad tls/a_both_serve; fi
	r=""; tries=0
	while [ $tries -lt 10 ]; do
		tries=$((tries + 1))
		r=$(pair "$R/a12" $PORT_A $PORT_B)
		[ "$r" = Reused ] && break
		sleep 0.5
	done
	if [ "$r" = Reused ]; then ok "tls/a_tls12_resumed_a_to_b (attempt $tries)"; else bad tls/a_tls12_resumed_a_to_b "$r"; fi
	first=$(s_conn13 $PORT_B "$R/a13-1.out" -sess_out "$R/s13.pem")
	second=$(s_conn13 $PORT_A "$R/a13-2.out" -sess_in "$R/s13.pem")
	if [ "$first" = New ] && [ "$second" = Reused ]; then
		ok tls/a_tls13_resumed_b_to_a
	else
		bad tls/a_tls13_resumed_b_to_a "B: $first, A: $second"
	fi

	# (b) B's dc_client with a certificate from another CA
	stop_pid "$DC_CLIENT_B_PID"
	refusals_before=$(grep -c 'refused client.*unknown issuer' "$R/dc_server.log")
	start_tls_client "$R/dc_b.sock" "$R/dc_client_b.log" other; DC_CLIENT_B_PID=$TLS_CLIENT_PID
	sleep 1.5
	news=0
	for i in 1 2 3; do
		r=$(pair "$R/b$i" $PORT_A $PORT_B)
		[ "$r" = New ] && news=$((news + 1))
	done
	refusals=$(($(grep -c 'refused client.*unknown issuer' "$R/dc_server.log") - refusals_before))
	reported=$(grep -c 'Error, TLS with the server.*UnknownCA' "$R/dc_client_b.log")
	if [ "$refusals" -ge 2 ] && [ "$reported" -ge 2 ] && alive "$DC_SERVER_PID" && alive "$DC_CLIENT_B_PID"; then
		ok "tls/b_wrong_ca_refused_and_logged ($refusals refusals logged by dc_server, $reported by dc_client)"
	else
		bad tls/b_wrong_ca_refused_and_logged "dc_server logged $refusals refusals, dc_client $reported reports"
	fi
	if [ $news -eq 3 ]; then ok tls/b_wrong_ca_full_handshakes; else bad tls/b_wrong_ca_full_handshakes "$news of 3 New"; fi
	r=$(pair "$R/aa" $PORT_A $PORT_A)
	if [ "$r" = Reused ]; then ok tls/b_wrong_ca_a_still_resumes; else bad tls/b_wrong_ca_a_still_resumes "$r"; fi
	if serves $PORT_A && serves $PORT_B; then ok tls/b_wrong_ca_both_serve; else bad tls/b_wrong_ca_both_serve; fi
	crashes=$(crash_lines)
	if [ -z "$crashes" ] && alive "$APACHE_A_PID" && alive "$APACHE_B_PID"; then
		ok tls/b_wrong_ca_no_child_crash
	else
		echo "$crashes" | head -5 | sed 's/^/    /'
		bad tls/b_wrong_ca_no_child_crash
	fi
	stop_apache "$APACHE_A_PID"; APACHE_A_PID=""
	stop_apache "$APACHE_B_PID"; APACHE_B_PID=""
	stop_pid "$DC_CLIENT_PID"; DC_CLIENT_PID=""
	stop_pid "$DC_CLIENT_B_PID"; DC_CLIENT_B_PID=""
	stop_pid "$DC_SERVER_PID"; DC_SERVER_PID=""
	left=$(pgrep -f -- "$T/" | xargs)
	if [ -z "$left" ]; then ok tls/all_processes_stopped; else bad tls/all_processes_stopped "still running: $left"; fi
}

for v in $VARIANTS; do
	if [ $v = tls ]; then run_tls; else run_variant $v; fi
done

# ---------------------------------------------------------------------------
# 5. Two Apaches, each with its own dc_server, both dc_servers on one Redis.
run_redis_farm() {
	R=$T/run-redis
	mkdir -p "$R"
	module=$T/mod-fixed/.libs/mod_socache_dc.so
	floor=""
	if [ ! -f "$module" ]; then
		module=$T/mod-stock/.libs/mod_socache_dc.so
		floor="-expiry-floor $FLOOR_MS"
	fi
	if [ ! -f "$module" ] || [ -z "$PORT_A" ] || [ ! -f "$T/cert.pem" ]; then
		bad redis/setup "not run: no module, certificate or ports"
		return
	fi
	if ! command -v redis-server > /dev/null || ! command -v redis-cli > /dev/null; then
		bad redis/setup "redis-server or redis-cli missing (tools/deps.sh installs them)"
		return
	fi
	rport=$PORT_REDIS
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$R" --logfile "$R/redis.log" &
	REDIS_PID=$!
	i=0
	while [ $i -lt 250 ] && [ "$(redis-cli -p "$rport" PING 2> /dev/null)" != PONG ]; do sleep 0.02; i=$((i + 1)); done
	note "redis: redis-server on 127.0.0.1:$rport; dc_server per Apache ($(basename "$(dirname "$(dirname "$module")")")${floor:+, $floor})"
	rm -f "$T/dc_a.sock" "$T/dc_b.sock"
	"$PREFIX/bin/dc_server" -listen "UNIX:$T/dc_a.sock" $APACHE_SOCK_OPTS $floor -cache "redis://127.0.0.1:$rport" >> "$R/dc_a.log" 2>&1 &
	DC_A_PID=$!
	"$PREFIX/bin/dc_server" -listen "UNIX:$T/dc_b.sock" $APACHE_SOCK_OPTS $floor -cache "redis://127.0.0.1:$rport" >> "$R/dc_b.log" 2>&1 &
	DC_B_PID=$!
	wait_sock "$T/dc_a.sock" && wait_sock "$T/dc_b.sock" || note "a dc_server did not create its socket"
	CACHE_SOCK=$T/dc_a.sock
	write_conf "$R/a" $PORT_A "$module"
	CACHE_SOCK=$T/dc_b.sock
	write_conf "$R/b" $PORT_B "$module"
	APACHE_A_PID=$(start_apache "$R/a" $PORT_A)
	APACHE_B_PID=$(start_apache "$R/b" $PORT_B)
	if serves $PORT_A && serves $PORT_B; then
		ok "redis/a_both_instances_serve_tls"
	else
		tail -5 "$R/a/error.log" "$R/b/error.log" "$R/dc_a.log" 2> /dev/null | sed 's/^/    /'
		bad "redis/a_both_instances_serve_tls"
	fi
	first=$(s_conn $PORT_A "$R/b-1.out" -tls1_2 -sess_out "$R/s.pem")
	[ "$first" = New ] && stored_wait "$R/s.pem" $PORT_A
	second=$(s_conn $PORT_B "$R/b-2.out" -tls1_2 -sess_in "$R/s.pem")
	if [ "$first" = New ] && [ "$second" = Reused ]; then
		ok "redis/b_tls12_session_made_on_a_resumed_on_b"
	else
		bad "redis/b_tls12_session_made_on_a_resumed_on_b" "A: $first, B: $second"
	fi
	sid=$(openssl sess_id -in "$R/s.pem" -noout -text 2> /dev/null | sed -n 's/^ *Session-ID: *//p' | tr 'A-F' 'a-f')
	keys=$(redis-cli -p "$rport" DBSIZE)
	# the key is "dc:" and the id's raw bytes, which may hold a newline or a
	# NUL: it goes to redis-cli on stdin (-x), never through the shell
	if [ -n "$sid" ] && [ "$keys" -gt 0 ] && [ "$(printf '%s' "$sid" | python3 -c 'import sys; sys.stdout.buffer.write(b"dc:" + bytes.fromhex(sys.stdin.read().strip()))' | redis-cli -p "$rport" -x EXISTS)" = 1 ]; then
		ok "redis/c_session_stored_in_redis ($keys keys)"
	else
		bad "redis/c_session_stored_in_redis" "id ${sid:-none}, $keys keys"
	fi
	first=$(s_conn13 $PORT_B "$R/d-1.out" -sess_out "$R/s13.pem")
	second=$(s_conn13 $PORT_A "$R/d-2.out" -sess_in "$R/s13.pem")
	if [ "$first" = New ] && [ "$second" = Reused ] && grep -q '^Reused, TLSv1.3' "$R/d-2.out"; then
		ok "redis/d_tls13_session_made_on_b_resumed_on_a"
	else
		bad "redis/d_tls13_session_made_on_b_resumed_on_a" "B: $first, A: $second"
	fi
	crashes=$(crash_lines)
	[ -z "$crashes" ] || { echo "$crashes" | head -5 | sed 's/^/    /'; bad "redis/no_child_crash"; }
	stop_apache "$APACHE_A_PID"; APACHE_A_PID=""
	stop_apache "$APACHE_B_PID"; APACHE_B_PID=""
	stop_pid "$DC_A_PID"; DC_A_PID=""
	stop_pid "$DC_B_PID"; DC_B_PID=""
	stop_pid "$REDIS_PID"; REDIS_PID=""
	left=$(pgrep -f -- "$T/" | xargs)
	if [ -z "$left" ]; then ok "redis/all_processes_stopped"; else bad "redis/all_processes_stopped" "still running: $left"; fi
}
[ "${APACHE_TEST_REDIS:-1}" = 0 ] || run_redis_farm
finish
