/* Shared helpers for the libnal conformance programs: a private temporary
 * directory for unix sockets, free loopback ports, an IPv6 probe, a clock,
 * and (1.5 API only) select/io pumps that move data between connections.
 *
 * Every helper that can fail is an `int` returning 1 on success and uses
 * CHECK, so a failure inside a helper fails the calling test with the
 * helper's file and line.
 */
#ifndef CAPI_TESTS_NAL_TESTUTIL_H
#define CAPI_TESTS_NAL_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <libnal/nal.h>
#include "harness.h"

/* Upper bound on select rounds in any pump loop (each round waits at most
 * TU_ROUND_USEC), so a broken implementation fails instead of hanging; a
 * pump also gives up after TU_MAX_IDLE consecutive timed-out selects. */
#define TU_MAX_ROUNDS 400
#define TU_ROUND_USEC 250000UL
#define TU_MAX_IDLE 8

static char tu_dir[64];

/* Creates the private socket directory; returns 1 on success. */
static inline int tu_dir_make(void)
{
	strcpy(tu_dir, "/tmp/naltest.XXXXXX");
	return mkdtemp(tu_dir) != NULL;
}

/* Removes every entry of the private directory (flat) and the directory. */
static inline void tu_dir_remove(void)
{
	DIR *d;
	struct dirent *e;
	char path[512];
	if (!tu_dir[0]) return;
	d = opendir(tu_dir);
	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
			snprintf(path, sizeof(path), "%s/%s", tu_dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tu_dir);
	tu_dir[0] = '\0';
}

/* path of `name` inside the private directory */
static inline const char *tu_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tu_dir, name);
	return buf;
}

/* "UNIX:<dir>/<name>" */
static inline const char *tu_unix_addr(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "UNIX:%s/%s", tu_dir, name);
	return buf;
}

/* A loopback port that was free a moment ago (bind to port 0, read it back). */
static inline int tu_free_port(int family)
{
	int fd, port = -1;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0) return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	close(fd);
	return port;
}

/* "IP:127.0.0.1:<free port>" */
static inline const char *tu_ip4_addr(char *buf, size_t n)
{
	snprintf(buf, n, "IP:127.0.0.1:%d", tu_free_port(AF_INET));
	return buf;
}

/* "IPv6:[::1]:<free port>" */
static inline const char *tu_ip6_addr(char *buf, size_t n)
{
	snprintf(buf, n, "IPv6:[::1]:%d", tu_free_port(AF_INET6));
	return buf;
}

/* Whether the machine has a usable IPv6 loopback (::1 can be bound). */
static inline int tu_have_ipv6(void)
{
	return tu_free_port(AF_INET6) > 0;
}

static inline long tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A byte pattern that differs at every position modulo 251. */
static inline void tu_pattern(unsigned char *p, unsigned int n, unsigned int seed)
{
	unsigned int i;
	for (i = 0; i < n; i++) p[i] = (unsigned char)((i * 7u + seed) % 251u);
}

/* Marks in `open` (size max) every descriptor below max that is open now. */
static inline void tu_fd_snapshot(unsigned char *open, int max)
{
	int fd;
	for (fd = 0; fd < max; fd++) open[fd] = fcntl(fd, F_GETFD) != -1;
}

/* The one socket descriptor below max that is open now but was not in the
 * snapshot; -1 if there is none or more than one. */
static inline int tu_fd_new_socket(const unsigned char *before, int max)
{
	int fd, found = -1;
	struct stat st;
	for (fd = 0; fd < max; fd++) {
		if (before[fd] || fcntl(fd, F_GETFD) == -1) continue;
		if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
		if (found != -1) return -1;
		found = fd;
	}
	return found;
}

#ifndef NAL_SEED_API
/* ---- 1.5 API pumps ---------------------------------------------------- */

/* Listens on `addr_string` with buffers of `size`, connects `client` to it,
 * accepts into `server`; listener, client and server end up attached to
 * `sel`, client established. */
static inline int tu_link(NAL_SELECTOR *sel, const char *addr_string, unsigned int size,
			  NAL_LISTENER *list, NAL_CONNECTION *client, NAL_CONNECTION *server)
{
	int i, accepted = 0, idle = 0, r;
	NAL_ADDRESS *addr = NAL_ADDRESS_new();
	CHECK(addr != NULL);
	CHECK_EQ(NAL_ADDRESS_create(addr, addr_string, size), 1);
	CHECK_EQ(NAL_LISTENER_create(list, addr), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, addr), 1);
	NAL_ADDRESS_free(addr);
	CHECK_EQ(NAL_LISTENER_add_to_selector(list, sel), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(client, sel), 1);
	for (i = 0; i < TU_MAX_ROUNDS && idle < TU_MAX_IDLE; i++) {
		if (accepted && NAL_CONNECTION_is_established(client)) break;
		r = NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1);
		CHECK(r >= 0);
		idle = r ? 0 : idle + 1;
		CHECK_EQ(NAL_CONNECTION_io(client), 1);
		if (!accepted && NAL_CONNECTION_accept(server, list)) {
			accepted = 1;
			CHECK_EQ(NAL_CONNECTION_add_to_selector(server, sel), 1);
		}
	}
	CHECK(accepted);
	CHECK_EQ(NAL_CONNECTION_is_established(client), 1);
	CHECK_EQ(NAL_CONNECTION_is_established(server), 1);
	return 1;
}

/* Sends len bytes from `from` to `to` (both attached to sel) through the
 * connections' buffers, feeding the send buffer and draining the read buffer
 * as room allows; the received bytes must equal the sent ones. */
static inline int tu_transfer(NAL_SELECTOR *sel, NAL_CONNECTION *from, NAL_CONNECTION *to,
			      const unsigned char *data, unsigned int len)
{
	unsigned int sent = 0, got = 0;
	unsigned char *in = malloc(len ? len : 1);
	NAL_BUFFER *sb = NAL_CONNECTION_get_send(from);
	NAL_BUFFER *rb = NAL_CONNECTION_get_read(to);
	int i, idle = 0, r;
	CHECK(in != NULL && sb != NULL && rb != NULL);
	for (i = 0; i < TU_MAX_ROUNDS && got < len && idle < TU_MAX_IDLE; i++) {
		sent += NAL_BUFFER_write(sb, data + sent, len - sent);
		r = NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1);
		CHECK(r >= 0);
		idle = r ? 0 : idle + 1;
		CHECK_EQ(NAL_CONNECTION_io(from), 1);
		CHECK_EQ(NAL_CONNECTION_io(to), 1);
		got += NAL_BUFFER_read(rb, in + got, len - got);
	}
	CHECK_EQ(got, len);
	CHECK(memcmp(in, data, len) == 0);
	CHECK_EQ(NAL_BUFFER_used(sb), 0);
	free(in);
	return 1;
}

/* tu_transfer with a short message */
static inline int tu_send_str(NAL_SELECTOR *sel, NAL_CONNECTION *from, NAL_CONNECTION *to,
			      const char *msg)
{
	return tu_transfer(sel, from, to, (const unsigned char *)msg, (unsigned int)strlen(msg));
}
#endif

#endif
