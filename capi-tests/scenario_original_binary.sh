#!/bin/sh
# A program linked against libraries with the original names (DT_NEEDED
# libnal.so.1, libdistcache.so.1, libdistcacheserver.so.1) runs against ours
# through LD_LIBRARY_PATH alone, and the process-wide Nagle switch applies.
# The stand-in "original" libraries are built here from empty stubs: they
# exist only so the program can be linked without our headers or libraries.
#   sh scenario_original_binary.sh PREFIX WORKDIR
PREFIX=$1; WORK=$2
mkdir -p "$WORK/orig"
cat > "$WORK/stub.c" <<'STUB'
void NAL_config_set_nagle(void) {}
void NAL_ADDRESS_new(void) {} void NAL_ADDRESS_create(void) {} void NAL_ADDRESS_free(void) {}
void NAL_LISTENER_new(void) {} void NAL_LISTENER_create(void) {} void NAL_LISTENER_free(void) {}
void NAL_LISTENER_add_to_selector(void) {}
void NAL_CONNECTION_new(void) {} void NAL_CONNECTION_create(void) {} void NAL_CONNECTION_free(void) {}
void NAL_CONNECTION_accept(void) {} void NAL_CONNECTION_add_to_selector(void) {}
void NAL_SELECTOR_new(void) {} void NAL_SELECTOR_select(void) {} void NAL_SELECTOR_free(void) {}
STUB
echo 'void dc_stub(void) {}' > "$WORK/empty.c"
cc -shared -fPIC -o "$WORK/orig/libnal.so.1" -Wl,-soname,libnal.so.1 "$WORK/stub.c" &&
cc -shared -fPIC -o "$WORK/orig/libdistcache.so.1" -Wl,-soname,libdistcache.so.1 "$WORK/empty.c" &&
cc -shared -fPIC -o "$WORK/orig/libdistcacheserver.so.1" -Wl,-soname,libdistcacheserver.so.1 "$WORK/empty.c" ||
	{ echo "FAIL original_binary/stand_in_libraries"; exit 1; }
# The program declares what it uses itself, as if built elsewhere.
cat > "$WORK/prog.c" <<'PROG'
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
typedef struct st_NAL_ADDRESS NAL_ADDRESS; typedef struct st_NAL_LISTENER NAL_LISTENER;
typedef struct st_NAL_CONNECTION NAL_CONNECTION; typedef struct st_NAL_SELECTOR NAL_SELECTOR;
void NAL_config_set_nagle(int);
NAL_ADDRESS *NAL_ADDRESS_new(void); int NAL_ADDRESS_create(NAL_ADDRESS *, const char *, unsigned int);
void NAL_ADDRESS_free(NAL_ADDRESS *);
NAL_LISTENER *NAL_LISTENER_new(void); int NAL_LISTENER_create(NAL_LISTENER *, const NAL_ADDRESS *);
void NAL_LISTENER_free(NAL_LISTENER *); int NAL_LISTENER_add_to_selector(NAL_LISTENER *, NAL_SELECTOR *);
NAL_CONNECTION *NAL_CONNECTION_new(void); int NAL_CONNECTION_create(NAL_CONNECTION *, const NAL_ADDRESS *);
void NAL_CONNECTION_free(NAL_CONNECTION *); int NAL_CONNECTION_accept(NAL_CONNECTION *, NAL_LISTENER *);
int NAL_CONNECTION_add_to_selector(NAL_CONNECTION *, NAL_SELECTOR *);
NAL_SELECTOR *NAL_SELECTOR_new(void); int NAL_SELECTOR_select(NAL_SELECTOR *, unsigned long, int);
void NAL_SELECTOR_free(NAL_SELECTOR *);

/* TCP_NODELAY of every TCP socket this process has open: -1 if none,
 * 0/1 if all agree, 2 if they differ. */
static int nodelay_of_open_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int seen = -1;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), v = 0;
		socklen_t len = sizeof(v);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) || ss.ss_family != AF_INET) continue;
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len)) continue;
		if (getpeername(fd, (struct sockaddr *)&ss, &sl)) continue; /* skip the listener */
		v = v != 0;
		seen = seen == -1 ? v : (seen == v ? v : 2);
	}
	closedir(d);
	return seen;
}

/* Makes one client and one accepted TCP connection; returns their NODELAY. */
static int pair_nodelay(int nagle)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
	NAL_SELECTOR *sel = NAL_SELECTOR_new();
	int i, r = -1;
	NAL_config_set_nagle(nagle);
	if (NAL_ADDRESS_create(a, "IP:127.0.0.1:0", 1024) && NAL_LISTENER_create(l, a)) {
		/* port 0: find the port the kernel chose via the listener's socket */
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		char spec[64] = "";
		while ((e = readdir(d)) != NULL) {
			struct sockaddr_in sin; socklen_t sl = sizeof(sin);
			int fd = atoi(e->d_name);
			if (!getsockname(fd, (struct sockaddr *)&sin, &sl) && sin.sin_family == AF_INET && sin.sin_port)
				snprintf(spec, sizeof(spec), "IP:127.0.0.1:%d", ntohs(sin.sin_port));
		}
		closedir(d);
		NAL_ADDRESS_free(a);
		a = NAL_ADDRESS_new();
		if (spec[0] && NAL_ADDRESS_create(a, spec, 1024) && NAL_CONNECTION_create(c, a) &&
		    NAL_LISTENER_add_to_selector(l, sel)) {
			for (i = 0; i < 50 && !NAL_CONNECTION_accept(s, l); i++)
				NAL_SELECTOR_select(sel, 100000, 1);
			r = nodelay_of_open_sockets();
		}
	}
	NAL_CONNECTION_free(c); NAL_CONNECTION_free(s); NAL_LISTENER_free(l);
	NAL_SELECTOR_free(sel); NAL_ADDRESS_free(a);
	return r;
}

int main(void)
{
	int off = pair_nodelay(0), on = pair_nodelay(1);
	printf("%s original_binary/nagle_off_sets_nodelay (%d)\n", off == 1 ? "PASS" : "FAIL", off);
	printf("%s original_binary/nagle_on_leaves_nodelay_off (%d)\n", on == 0 ? "PASS" : "FAIL", on);
	return off == 1 && on == 0 ? 0 : 1;
}
PROG
cc -o "$WORK/prog" "$WORK/prog.c" -L"$WORK/orig" -Wl,--no-as-needed -l:libdistcacheserver.so.1 -l:libdistcache.so.1 -l:libnal.so.1 ||
	{ echo "FAIL original_binary/link"; exit 1; }
needed=$(readelf -d "$WORK/prog" | sed -n 's/.*NEEDED.*\[\(lib[a-z]*\.so\.1\)\]/\1/p' | grep -v libc | sort | tr '\n' ' ')
if [ "$needed" = "libdistcache.so.1 libdistcacheserver.so.1 libnal.so.1 " ]; then
	echo "PASS original_binary/needs_original_sonames"
else
	echo "FAIL original_binary/needs_original_sonames ($needed)"
fi
resolved=$(LD_LIBRARY_PATH="$PREFIX/lib" ldd "$WORK/prog" | grep -c "$PREFIX/lib")
if [ "$resolved" -ge 4 ]; then echo "PASS original_binary/resolves_to_ours"; else
	LD_LIBRARY_PATH="$PREFIX/lib" ldd "$WORK/prog"; echo "FAIL original_binary/resolves_to_ours"; fi
LD_LIBRARY_PATH="$PREFIX/lib" "$WORK/prog"
