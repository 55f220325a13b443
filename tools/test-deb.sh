#!/bin/sh
# make test-deb (part of make check): the Debian packages as a user of
# them sees them. Needs root: it installs them on this machine and purges
# them again at the end (also on failure).
#
#   sh tools/test-deb.sh [WORKDIR]
#
# 1. builds them with tools/build-deb.sh (no -dbgsym packages, to save
#    time) into _build/deb-test, reusing the release build;
# 2. lintian: no error (every warning and info tag is listed);
# 3. purges any earlier install of them, records the file list;
# 4. apt-get install ./*.deb, then: ldconfig -p resolves every SONAME in
#    /usr/lib/<multiarch>; the system user, the units (systemd-analyze
#    verify), the conffile; `man dc_server`; C programs built with
#    `pkg-config --cflags --libs` and nothing else (no -L, rpath or
#    LD_LIBRARY_PATH) use all four libraries against /usr/bin/dc_server and
#    /usr/bin/escrowd; /usr/bin/dc_test passes against /usr/bin/dc_server
#    and through /usr/bin/dc_client run as the services run them (user
#    distcache, the proxy's socket mode 660 for group www-data, dc_test as
#    www-data); Apache's mod_socache_dc built with apxs against the
#    packages resumes sessions (capi-tests/apache/run.sh, variant "fixed");
# 5. apt-get install --reinstall over the installed packages keeps a
#    changed /etc/default/distcache and works;
# 6. apt-get purge: no package left, the user and group are gone, and no
#    file is left behind (the file list equals the one of step 3, apart
#    from files another package owns).
#
# Every process started here is stopped by pid. Prints PASS/FAIL lines,
# the last line is "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$ROOT/_build/deb-test/work}
OUT=$ROOT/_build/deb-test
PKGS="libdistcache-core1 libnal1 libdistcache1 libdistcacheserver1 libescrow1 libdistcache-dev distcache"
SONAMES="libdistcache_core.so.1 libnal.so.1 libdistcache.so.1 libdistcacheserver.so.1 libescrow.so.1"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null || gcc -print-multiarch)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "PASS deb/$1"; }
bad() { failed=$((failed + 1)); echo "FAIL deb/$1${2:+ ($2)}"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
note() { echo "  $*"; }
# Seconds since the previous lap, for the timing lines.
LAP=$(date +%s)
lap() {
	now=$(date +%s)
	echo "  time: $1 $((now - LAP)) s"
	LAP=$now
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

apt_get() {
	env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -q -y -o DPkg::Lock::Timeout=300 "$@"
}
installed() { dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2> /dev/null | grep -q '^.[ic]'; }
any_installed() {
	for p in $PKGS; do installed "$p" && return 0; done
	return 1
}

PIDS=""
T=""
cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2> /dev/null; done
	# Never leave the packages on the machine (the rest of make check
	# tests the _build/check-prefix install).
	if any_installed; then apt_get purge $PKGS > "$W/purge-on-exit.log" 2>&1; fi
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ "$(id -u)" -ne 0 ]; then
	bad root "installing packages needs root"
	finish
fi
rm -rf "$W"
mkdir -p "$W"
T=$(mktemp -d /tmp/dc-deb.XXXXXX) || exit 2
# www-data and distcache read and use what is in here.
chmod 755 "$T"

# ---------------------------------------------------------------------------
# 1. Build.
start=$(date +%s)
if DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" sh "$ROOT/tools/build-deb.sh" "$OUT" > "$W/build.log" 2>&1; then
	ok "build ($(($(date +%s) - start)) s)"
else
	tail -20 "$W/build.log" | sed 's/^/    /'
	bad build "dpkg-buildpackage failed, see $W/build.log"
	finish
fi
DEBS=""
for p in $PKGS; do
	f=$(ls "$OUT/${p}_"*.deb 2> /dev/null | head -1)
	if [ -n "$f" ]; then DEBS="$DEBS $f"; else bad "built/$p"; fi
done
CHANGES=$(ls "$OUT"/*.changes | head -1)

# Each runtime package: its library in the multiarch directory, a symbols
# file, an exact dependency on the core (the filters take its code).
for l in core1:libdistcache_core nal1:libnal distcache1:libdistcache distcacheserver1:libdistcacheserver escrow1:libescrow; do
	pkg=lib${l%%:*}; [ "$pkg" = libcore1 ] && pkg=libdistcache-core1
	so=${l#*:}.so.1
	f=$(ls "$OUT/${pkg}_"*.deb 2> /dev/null | head -1)
	[ -n "$f" ] || continue
	dpkg-deb -c "$f" > "$W/$pkg.contents"
	dpkg-deb -I "$f" symbols > "$W/$pkg.symbols"
	check "contents/$pkg/library_in_multiarch_dir" 'grep -q " \./usr/lib/$MA/$so$" "$W/$pkg.contents"'
	check "contents/$pkg/symbols_file" 'grep -q "^$so $pkg " "$W/$pkg.symbols"'
	if [ "$pkg" != libdistcache-core1 ]; then
		check "contents/$pkg/depends_on_exact_core" 'dpkg-deb -f "$f" Depends | grep -q "libdistcache-core1 (= $(dpkg-deb -f "$f" Version))"'
	fi
done
f=$(ls "$OUT"/libdistcache-dev_*.deb 2> /dev/null | head -1)
[ -n "$f" ] && check contents/dev_pkgconfig_multiarch_libdir \
	'dpkg-deb --fsys-tarfile "$f" | tar -xOf - ./usr/lib/$MA/pkgconfig/distcache.pc | grep -x "libdir=\${exec_prefix}/lib/$MA" > /dev/null'

lap build
# ---------------------------------------------------------------------------
# 2. lintian: errors fail, the rest is listed (docs/debian.md says why).
lintian --fail-on error --display-info "$CHANGES" > "$W/lintian.log" 2>&1
rc=$?
grep -E '^[EWIXP]: ' "$W/lintian.log" | sort | uniq | sed 's/^/    /'
check "lintian_no_errors ($(grep -c '^E: ' "$W/lintian.log") errors, $(grep -c '^W: ' "$W/lintian.log") warnings, $(grep -c '^I: ' "$W/lintian.log") info)" \
	'[ $rc -eq 0 ] && ! grep -q "^E: " "$W/lintian.log"'

lap lintian
# ---------------------------------------------------------------------------
# 3. A clean start and the file list before.
if any_installed; then
	note "purging an earlier install first"
	apt_get purge $PKGS > "$W/purge-before.log" 2>&1
fi
snapshot() {
	find /etc /usr /var /opt /srv /run -xdev \
		\( -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt -o -path /var/cache/man \
		-o -path /var/cache/debconf -o -path /var/lib/dpkg -o -path /var/tmp -o -path /run/user \
		-o -path /run/lock -o -path /var/lib/systemd/coredump -o -path /usr/lib/python3 \
		-o -path '/etc/*-' -o -name __pycache__ \) -prune -o -print 2> /dev/null | sort
}
snapshot > "$W/files.before"

# ---------------------------------------------------------------------------
# 4. Install, then use as the packages' users do.
apt_get install $DEBS > "$W/install.log" 2>&1
rc=$?
all=1
for p in $PKGS; do installed "$p" || all=0; done
if [ $rc -eq 0 ] && [ $all = 1 ]; then ok apt_get_install; else tail -10 "$W/install.log" | sed 's/^/    /'; bad apt_get_install; fi

lap "file list and apt-get install"
ldconfig -p > "$W/ldconfig.txt"
for so in $SONAMES; do
	check "ldconfig_resolves/$so" 'grep -Eq "^[[:space:]]+$so \(.*\) => (/usr)?/lib/$MA/$so$" "$W/ldconfig.txt"'
done

check system_user 'u=$(getent passwd distcache) && [ "$(echo "$u" | cut -d: -f3)" -lt 1000 ] &&
	[ "$(echo "$u" | cut -d: -f7)" = /usr/sbin/nologin ] && [ "$(id -gn distcache)" = distcache ]'
check conffile '[ -f /etc/default/distcache ] && dpkg-query -W -f "\${Conffiles}" distcache | grep -q " /etc/default/distcache "'
for u in dc_server dc_client; do
	f=/lib/systemd/system/$u.service
	check "unit/$u/installed" 'grep -q "^ExecStart=/usr/bin/$u " "$f"'
	check "unit/$u/enabled" '[ -L /etc/systemd/system/multi-user.target.wants/$u.service ]'
	if command -v systemd-analyze > /dev/null; then
		systemd-analyze verify --man=no "$f" > "$W/$u.verify" 2>&1
		check "unit/$u/systemd_analyze_verify" '[ $? -eq 0 ] && [ ! -s "$W/$u.verify" ]'
		sed 's/^/    /' "$W/$u.verify" | head -5
	fi
done

LC_ALL=C.UTF-8 MANWIDTH=80 man dc_server > "$W/man.txt" 2> "$W/man.err"
check man_dc_server '[ $? -eq 0 ] && grep -q "^NAME" "$W/man.txt" && grep -q "dc_server" "$W/man.txt"'
LC_ALL=C.UTF-8 MANWIDTH=80 man 8 escrowd > /dev/null 2>&1
check man_escrowd '[ $? -eq 0 ]'

# The installed server on a unix socket in the temp dir.
wait_sock() {
	i=0
	while [ ! -S "$1" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
	[ -S "$1" ]
}
stop() { kill -TERM "$1" 2> /dev/null; wait "$1" 2> /dev/null; }
/usr/bin/dc_server -listen "UNIX:$T/srv.sock" -sessions 1000 2> "$W/dc_server.err" &
SRV=$!
PIDS="$PIDS $SRV"
check dc_server_listens 'wait_sock "$T/srv.sock"'
/usr/bin/dc_test -connect "UNIX:$T/srv.sock" -ops 200 > "$W/dc_test.out" 2>&1
check dc_test_against_dc_server '[ $? -eq 0 ] && grep -q "all tests complete" "$W/dc_test.out"'

# C programs: pkg-config only; no PKG_CONFIG_PATH, -L, rpath or
# LD_LIBRARY_PATH anywhere.
unset PKG_CONFIG_PATH LD_LIBRARY_PATH LIBRARY_PATH C_INCLUDE_PATH
cc -std=c99 -Wall -Werror -o "$T/dc_session" "$ROOT/capi-tests/apache/dc_session.c" \
	$(pkg-config --cflags --libs distcache) > "$W/cc-session.log" 2>&1
check "pkg_config_distcache_program_builds" '[ $? -eq 0 ]'
check "program_has_no_rpath" '! readelf -d "$T/dc_session" | grep -Eq "RPATH|RUNPATH"'
check "program_resolves_system_libraries" 'ldd "$T/dc_session" | grep -Eq "libdistcache\.so\.1 => (/usr)?/lib/$MA/libdistcache\.so\.1" &&
	ldd "$T/dc_session" | grep -Eq "libnal\.so\.1 => (/usr)?/lib/$MA/libnal\.so\.1"'
"$T/dc_session" -add 60000 "UNIX:$T/srv.sock" 0123456789abcdef > "$W/session-add.out" 2>&1
"$T/dc_session" "UNIX:$T/srv.sock" 0123456789abcdef "$T/got.der" > "$W/session-get.out" 2>&1
check "program_stores_and_fetches_session" '[ $? -eq 0 ] && grep -q "^add=1" "$W/session-add.out" && grep -q "^get=16" "$W/session-get.out"'

cat > "$T/all_libs.c" << 'EOF'
/* One call into each of the four libraries, through the system's .so files. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <libnal/nal.h>
#include <distcache/dc_client.h>
#include <distcache/dc_server.h>
#include <escrow.h>

int main(int argc, char **argv)
{
	NAL_ADDRESS *addr = NAL_ADDRESS_new();
	DC_CTX *ctx = DC_CTX_new("UNIX:/nonexistent", 0);
	DC_SERVER *srv = DC_SERVER_set_default_cache() ? DC_SERVER_new(100) : NULL;
	struct timeval now;
	struct escrow *e = NULL;
	char buf[8] = "";
	int fd = 0, rc = 1;
	int32_t nob = sizeof(buf);

	if (argc != 2)
		return 2;
	if (addr && NAL_ADDRESS_create(addr, "UNIX:/x", 1024) && NAL_ADDRESS_can_connect(addr))
		printf("nal=ok\n");
	if (ctx)
		printf("dc=ok\n");
	gettimeofday(&now, NULL);
	if (srv && DC_SERVER_items_stored(srv, &now) == 0)
		printf("dcserver=ok\n");
	if (escrow_init(argv[1], 0, 4, &e) == 0 && escrow_add(e, 1, 0, -1, 5, "hello") == 0 &&
	    escrow_get(e, 1, 0, &fd, &nob, buf) == 0 && nob == 5 && fd == -1 && memcmp(buf, "hello", 5) == 0) {
		printf("escrow=ok\n");
		rc = 0;
	}
	escrow_fini(e);
	DC_SERVER_free(srv);
	DC_CTX_free(ctx);
	NAL_ADDRESS_free(addr);
	return rc;
}
EOF
cc -std=c99 -Wall -Werror -o "$T/all_libs" "$T/all_libs.c" \
	$(pkg-config --cflags --libs libnal distcache distcacheserver escrow) > "$W/cc-all.log" 2>&1
check pkg_config_all_four_libraries_program_builds '[ $? -eq 0 ]'
sed 's/^/    /' "$W/cc-all.log" | head -10
/usr/bin/escrowd "$T/escrow.sock" 2> "$W/escrowd.err" &
ESC=$!
PIDS="$PIDS $ESC"
wait_sock "$T/escrow.sock"
"$T/all_libs" "$T/escrow.sock" > "$W/all_libs.out" 2>&1
check all_four_libraries_work '[ $? -eq 0 ] && [ "$(cat "$W/all_libs.out" | xargs)" = "nal=ok dc=ok dcserver=ok escrow=ok" ]'

# What a package built against ours would depend on (the symbols files):
# every library the program uses, with a version.
mkdir -p "$T/dependent/debian"
printf 'Source: dependent\n\nPackage: dependent\nArchitecture: any\n' > "$T/dependent/debian/control"
(cd "$T/dependent" && dpkg-shlibdeps -O "$T/all_libs") > "$W/shlibdeps.txt" 2> "$W/shlibdeps.err"
sed 's/^/    /' "$W/shlibdeps.txt"
deps_ok=1
for p in libnal1 libdistcache1 libdistcacheserver1 libescrow1; do
	grep -q "$p (>= [0-9][^)]*)" "$W/shlibdeps.txt" || deps_ok=0
done
check dependent_package_gets_versioned_dependencies '[ $deps_ok = 1 ]'

# The static archives (one file, the other names link to it): a program
# linked against one of them needs no shared library of ours.
cc -std=c99 -o "$T/all_libs.static" "$T/all_libs.c" /usr/lib/$MA/libescrow.a \
	$(pkg-config --static --libs-only-l libnal | sed 's/-lnal//') > "$W/cc-static.log" 2>&1
check static_archive_links '[ $? -eq 0 ] && ! ldd "$T/all_libs.static" | grep -q "libnal\|libdistcache\|libescrow" &&
	"$T/all_libs.static" "$T/escrow.sock" > /dev/null 2>&1'
sed 's/^/    /' "$W/cc-static.log" | head -5
stop $ESC

# The services' set-up by hand (no systemd needed): dc_server and dc_client
# as user distcache, the proxy in group www-data handing its socket to
# www-data, dc_test as www-data through it.
R=$T/run
mkdir -p "$R"
chown distcache:distcache "$R"
chmod 755 "$R"
setpriv --reuid=distcache --regid=distcache --clear-groups /usr/bin/dc_server \
	-listen "UNIX:$R/dc_server.sock" 2> "$W/svc-server.err" &
SSRV=$!
PIDS="$PIDS $SSRV"
wait_sock "$R/dc_server.sock"
setpriv --reuid=distcache --regid=distcache --groups=www-data /usr/bin/dc_client \
	-listen "UNIX:$R/dc_client.sock" -server "UNIX:$R/dc_server.sock" -sockgroup www-data -sockperms 660 -retry 5000 \
	2> "$W/svc-client.err" &
SCLI=$!
PIDS="$PIDS $SCLI"
wait_sock "$R/dc_client.sock"
check service_user_proxy_socket_for_www_data '[ "$(stat -c %a:%U:%G "$R/dc_client.sock")" = 660:distcache:www-data ] && [ ! -s "$W/svc-client.err" ]'
setpriv --reuid=www-data --regid=www-data --clear-groups /usr/bin/dc_test -connect "UNIX:$R/dc_client.sock" -ops 100 > "$W/svc-test.out" 2>&1
check www_data_uses_the_proxy '[ $? -eq 0 ] && grep -q "all tests complete" "$W/svc-test.out"'
stop $SCLI
stop $SSRV
stop $SRV

lap "checks of the installed packages"
# Apache's mod_socache_dc against the installed -dev package.
DC_LIBDIR=/usr/lib/$MA APACHE_TEST_VARIANTS=fixed APACHE_TEST_REDIS=0 APACHE_TEST_LOAD_PAIRS=${APACHE_TEST_LOAD_PAIRS:-10} \
	sh "$ROOT/capi-tests/apache/run.sh" /usr "$W/apache" > "$W/apache.log" 2>&1
grep -E '^(PASS|FAIL) ' "$W/apache.log" | sed 's/^\(PASS\|FAIL\) /\1 deb\//'
passed=$((passed + $(grep -c '^PASS ' "$W/apache.log")))
failed=$((failed + $(grep -c '^FAIL ' "$W/apache.log")))
grep -q '^[0-9]* passed, [0-9]* failed$' "$W/apache.log" || bad apache "no result line: $(tail -1 "$W/apache.log")"

lap apache
# ---------------------------------------------------------------------------
# 5. Reinstall over the installed packages: a changed conffile is kept.
echo "# local change (tools/test-deb.sh)" >> /etc/default/distcache
uid=$(id -u distcache)
apt_get install --reinstall $DEBS > "$W/reinstall.log" 2>&1
rc=$?
check reinstall_over_installed '[ $rc -eq 0 ] && grep -q "^# local change" /etc/default/distcache && [ "$(id -u distcache)" = "$uid" ]'
/usr/bin/dc_server -listen "UNIX:$T/srv2.sock" 2> /dev/null &
SRV=$!
PIDS="$PIDS $SRV"
wait_sock "$T/srv2.sock"
"$T/dc_session" -add 60000 "UNIX:$T/srv2.sock" 00ff > /dev/null 2>&1
check after_reinstall_programs_work '[ $? -eq 0 ]'
stop $SRV

# ---------------------------------------------------------------------------
# 6. Purge: nothing left.
apt_get purge $PKGS > "$W/purge.log" 2>&1
rc=$?
left=""
for p in $PKGS; do installed "$p" && left="$left $p"; dpkg-query -W "$p" > /dev/null 2>&1 && left="$left $p(known)"; done
check "apt_get_purge" '[ $rc -eq 0 ] && [ -z "$left" ]'
check purge_removes_user_and_group '! getent passwd distcache > /dev/null && ! getent group distcache > /dev/null'
snapshot > "$W/files.after"
# New paths another (e.g. newly pulled-in) package owns are not ours.
comm -13 "$W/files.before" "$W/files.after" | while read -r f; do
	dpkg -S "$f" > /dev/null 2>&1 || echo "$f"
done > "$W/files.left"
comm -23 "$W/files.before" "$W/files.after" > "$W/files.gone"
check "purge_leaves_no_file ($(wc -l < "$W/files.before") paths before and after)" '[ ! -s "$W/files.left" ] && [ ! -s "$W/files.gone" ]'
sed 's/^/    left: /' "$W/files.left" | head -20
sed 's/^/    gone: /' "$W/files.gone" | head -20
check purge_leaves_no_library_in_ldconfig '! ldconfig -p | grep -Eq "lib(nal|distcache|distcache_core|distcacheserver|escrow)\.so\.1 "'
lap "reinstall and purge"

finish
