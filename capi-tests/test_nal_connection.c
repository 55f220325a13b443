/* NAL_CONNECTION (ABI.md 3.6, 3.2, 7.3 dummy): states, buffers, data over
 * unix / TCP / IPv6 / FD / socket pairs across fork(), EOF, connect
 * completion, Nagle, and failure paths. */
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "nal_testutil.h"

static int new_connection_is_unused(void)
{
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK(c != NULL);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK(NAL_CONNECTION_get_send(c) == NULL);
	CHECK(NAL_CONNECTION_get_read_c(c) == NULL);
	CHECK(NAL_CONNECTION_get_send_c(c) == NULL);
	CHECK_EQ(NAL_CONNECTION_is_established(c), 0);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 100), 0);
	CHECK_EQ(NAL_CONNECTION_io(c), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	NAL_CONNECTION_del_from_selector(c);
	NAL_CONNECTION_reset(c);
	NAL_CONNECTION_free(c);
	NAL_SELECTOR_free(s);
	return 1;
}

static int malloc_alias_gives_unused_connection(void)
{
	NAL_CONNECTION *c = NAL_CONNECTION_malloc(), *d = NAL_CONNECTION_new();
	CHECK(c != NULL);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_pair(c, d, 10), 1);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(d);
	return 1;
}

static int null_connection_is_failure(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "UNIX:/nonexistent/x", 0), 1);
	NAL_CONNECTION_free(NULL);
	NAL_CONNECTION_reset(NULL);
	NAL_CONNECTION_del_from_selector(NULL);
	CHECK_EQ(NAL_CONNECTION_create(NULL, a), 0);
	CHECK_EQ(NAL_CONNECTION_create(c, NULL), 0);
	CHECK_EQ(NAL_CONNECTION_set_size(NULL, 10), 0);
	CHECK(NAL_CONNECTION_get_read(NULL) == NULL);
	CHECK(NAL_CONNECTION_get_send(NULL) == NULL);
	CHECK(NAL_CONNECTION_get_read_c(NULL) == NULL);
	CHECK(NAL_CONNECTION_get_send_c(NULL) == NULL);
	CHECK_EQ(NAL_CONNECTION_io(NULL), 0);
	CHECK_EQ(NAL_CONNECTION_is_established(NULL), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(NULL, s), 0);
	CHECK_EQ(NAL_CONNECTION_create_pair(NULL, c, 10), 0);
	CHECK_EQ(NAL_CONNECTION_create_pair(c, NULL, 10), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_dummy(NULL, 10), 0);
	NAL_CONNECTION_free(c);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int create_needs_connectable_address(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0); /* unused address */
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	NAL_ADDRESS_reset(a);
	if (tu_have_ipv6()) {
		CHECK_EQ(NAL_ADDRESS_create(a, "IPv6:9001", 0), 1);
		CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
		CHECK(NAL_CONNECTION_get_read(c) == NULL);
	}
	NAL_CONNECTION_free(c);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unix_connect_without_listener_fails(void)
{
	char buf[200], good[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new(), *g = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "nobody"), 0), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_CONNECTION_is_established(c), 0);
	NAL_ADDRESS_reset(a);
	CHECK_EQ(NAL_ADDRESS_create(a, "UNIX:", 0), 1); /* empty path */
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
	/* the failed connection is unused: a good create works */
	CHECK_EQ(NAL_ADDRESS_create(g, tu_unix_addr(good, sizeof(good), "somebody"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, g), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, g), 1);
	CHECK_EQ(NAL_CONNECTION_is_established(c), 1); /* unix: at once */
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	NAL_ADDRESS_free(g);
	return 1;
}

static int create_on_active_connection_fails(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *d = NAL_CONNECTION_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "reuse"), 500), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create_pair(c, d, 100), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 100); /* untouched */
	NAL_CONNECTION_reset(c);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 500);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(d);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int buffers_sized_from_address(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	const NAL_CONNECTION *cc = c;
	NAL_BUFFER *r, *s;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "sized"), 1234), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	r = NAL_CONNECTION_get_read(c);
	s = NAL_CONNECTION_get_send(c);
	CHECK(r != NULL && s != NULL && r != s);
	CHECK(NAL_CONNECTION_get_read_c(cc) == r);
	CHECK(NAL_CONNECTION_get_send_c(cc) == s);
	CHECK_EQ(NAL_BUFFER_size(r), 1234);
	CHECK_EQ(NAL_BUFFER_size(s), 1234);
	CHECK_EQ(NAL_BUFFER_empty(r), 1);
	CHECK_EQ(NAL_BUFFER_empty(s), 1);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int set_size_limits(void)
{
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *d = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(c, d, 100), 1);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 32769), 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 100);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(c)), 100);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 32768), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 32768);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(c)), 32768);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 7), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 7);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(c)), 7);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(d)), 100); /* peer untouched */
	/* NAL_BUFFER_set_size semantics: held data is cropped, not dropped */
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"abcdef", 6), 6);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 4), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(c)), 4);
	CHECK(memcmp(NAL_BUFFER_data(NAL_CONNECTION_get_send(c)), "abcd", 4) == 0);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(d);
	return 1;
}

/* whether no socket descriptor can be created any more */
static int sockets_exhausted(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), sv[2];
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	return 1;
}

/* lowers the descriptor limit and fills every free slot but `spare`;
 * returns the number of filler descriptors (in fill[]), -1 if impossible
 * (valgrind, for one, does not enforce a lowered limit for every call) */
static int exhaust_fds(struct rlimit *saved, int *fill, int max, int spare)
{
	struct rlimit rl;
	int n = 0, fd, top = 0, i;
	if (getrlimit(RLIMIT_NOFILE, saved) != 0) return -1;
	for (fd = 0; fd < 4096 && fd < max; fd++)
		if (fcntl(fd, F_GETFD) != -1) top = fd;
	rl = *saved;
	rl.rlim_cur = (rlim_t)top + 8;
	if (rl.rlim_cur > saved->rlim_cur || setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
	while (n < max && (fd = open("/dev/null", O_RDONLY)) >= 0) fill[n++] = fd;
	if (n == max || !sockets_exhausted()) {
		while (n > 0) close(fill[--n]);
		setrlimit(RLIMIT_NOFILE, saved);
		return -1;
	}
	for (i = 0; i < spare && n > 0; i++) close(fill[--n]);
	return n;
}

static void restore_fds(const struct rlimit *saved, const int *fill, int n)
{
	while (n > 0) close(fill[--n]);
	setrlimit(RLIMIT_NOFILE, saved);
}

static int failures_without_descriptors_leave_objects_unused(void)
{
	/* defect N14: a create_pair that fails for lack of descriptors leaves
	 * both connections unused and reusable; same for create/listen */
	char buf[200];
	static int fill[4200];
	int n;
	struct rlimit saved;
	NAL_ADDRESS *a = NAL_ADDRESS_new(), *a2 = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new(), *l2 = NAL_LISTENER_new();
	NAL_CONNECTION *x = NAL_CONNECTION_new(), *y = NAL_CONNECTION_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	int rp, rc, rl;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "nofds"), 16), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_ADDRESS_create(a2, tu_unix_addr(buf, sizeof(buf), "nofds2"), 16), 1);
	n = exhaust_fds(&saved, fill, 4200, 1); /* one free slot: a pair needs two */
	if (n < 0) {
		fprintf(stderr, "  note: cannot enforce a lower RLIMIT_NOFILE, test skipped\n");
		NAL_CONNECTION_free(x); NAL_CONNECTION_free(y); NAL_CONNECTION_free(c);
		NAL_LISTENER_free(l); NAL_LISTENER_free(l2);
		NAL_ADDRESS_free(a); NAL_ADDRESS_free(a2);
		return 1;
	}
	rp = NAL_CONNECTION_create_pair(x, y, 16);
	fill[n] = open("/dev/null", O_RDONLY); /* take the last free slot */
	if (fill[n] >= 0) n++;
	rc = NAL_CONNECTION_create(c, a);
	rl = NAL_LISTENER_create(l2, a2);
	restore_fds(&saved, fill, n);
	CHECK_EQ(rp, 0);
	CHECK(NAL_CONNECTION_get_read(x) == NULL);
	CHECK(NAL_CONNECTION_get_read(y) == NULL);
	CHECK_EQ(NAL_CONNECTION_is_established(x), 0);
	CHECK_EQ(rc, 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(rl, 0);
	/* with descriptors back, the same objects work */
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 16), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_LISTENER_create(l2, a2), 1);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_LISTENER_free(l2);
	NAL_ADDRESS_free(a);
	NAL_ADDRESS_free(a2);
	return 1;
}

/* link over addr_string, then one message each way */
static int data_both_ways(const char *addr_string)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	CHECK(tu_link(s, addr_string, 1024, l, client, server));
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 3);
	CHECK(tu_send_str(s, client, server, "hello from the client"));
	CHECK(tu_send_str(s, server, client, "and hello back from the server"));
	CHECK(tu_send_str(s, client, server, "x"));
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	NAL_SELECTOR_free(s);
	return 1;
}

static int unix_data_both_ways(void)
{
	char buf[200];
	return data_both_ways(tu_unix_addr(buf, sizeof(buf), "both"));
}

static int tcp_data_both_ways(void)
{
	char buf[64];
	return data_both_ways(tu_ip4_addr(buf, sizeof(buf)));
}

static int tcp_localhost_name_data_both_ways(void)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "IP:localhost:%d", tu_free_port(AF_INET));
	return data_both_ways(buf);
}

static int ipv6_data_both_ways(void)
{
	char buf[64];
	if (!tu_have_ipv6()) {
		fprintf(stderr, "  note: no IPv6 loopback, IPv6 data not tested\n");
		return 1;
	}
	return data_both_ways(tu_ip6_addr(buf, sizeof(buf)));
}

/* 32 KiB each way with buffers of `size` bytes */
static int transfer_32k(const char *addr_string, unsigned int size)
{
	unsigned char *data = malloc(32768);
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	CHECK(data != NULL);
	CHECK(tu_link(s, addr_string, size, l, client, server));
	tu_pattern(data, 32768, 3);
	CHECK(tu_transfer(s, client, server, data, 32768));
	tu_pattern(data, 32768, 11);
	CHECK(tu_transfer(s, server, client, data, 32768));
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	free(data);
	return 1;
}

static int unix_transfer_32k_full_buffers(void)
{
	char buf[200];
	return transfer_32k(tu_unix_addr(buf, sizeof(buf), "big1"), 32768);
}

static int unix_transfer_32k_small_buffers(void)
{
	char buf[200];
	return transfer_32k(tu_unix_addr(buf, sizeof(buf), "big2"), 1000);
}

static int tcp_transfer_32k(void)
{
	char buf[64];
	return transfer_32k(tu_ip4_addr(buf, sizeof(buf)), 4096);
}

static int ipv6_transfer_32k(void)
{
	char buf[64];
	if (!tu_have_ipv6()) {
		fprintf(stderr, "  note: no IPv6 loopback, IPv6 transfer not tested\n");
		return 1;
	}
	return transfer_32k(tu_ip6_addr(buf, sizeof(buf)), 32768);
}

/* peer sends `msg` and goes away; `conn` must report 0 within the round
 * limit while the message stays readable */
static int eof_after(NAL_SELECTOR *s, NAL_CONNECTION *peer, NAL_CONNECTION *conn)
{
	int i, r = 1;
	unsigned char got[16];
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(peer), (const unsigned char *)"bye", 3), 3);
	for (i = 0; i < TU_MAX_ROUNDS && NAL_BUFFER_notempty(NAL_CONNECTION_get_send(peer)); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(peer), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(peer)), 0);
	NAL_CONNECTION_free(peer);
	for (i = 0; i < TU_MAX_ROUNDS && r; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		r = NAL_CONNECTION_io(conn);
	}
	CHECK_EQ(r, 0);
	/* still active: the data read before EOF is there */
	CHECK(NAL_CONNECTION_get_read(conn) != NULL);
	CHECK_EQ(NAL_BUFFER_read(NAL_CONNECTION_get_read(conn), got, sizeof(got)), 3);
	CHECK(memcmp(got, "bye", 3) == 0);
	return 1;
}

static int eof_from_closed_pair_peer(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(b, s), 1);
	CHECK(eof_after(s, a, b));
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 1);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int eof_from_closed_tcp_peer(void)
{
	char buf[64];
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	CHECK(tu_link(s, tu_ip4_addr(buf, sizeof(buf)), 256, l, client, server));
	CHECK(eof_after(s, server, client));
	NAL_CONNECTION_free(client);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	return 1;
}

static int io_needs_attachment(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_CONNECTION_io(a), 0); /* active but not attached */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_CONNECTION_io(a), 1); /* attached, no results yet */
	CHECK_EQ(NAL_SELECTOR_select(s, 20000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(a), 1);
	NAL_CONNECTION_del_from_selector(a);
	CHECK_EQ(NAL_CONNECTION_io(a), 0);
	CHECK(NAL_CONNECTION_get_read(a) != NULL); /* still active */
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

/* io consumes the results of a select: a second call reads nothing new */
static int io_consumes_results(NAL_CONNECTION *c, int peer_fd)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_BUFFER *r = NAL_CONNECTION_get_read(c);
	int i;
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(write(peer_fd, "abc", 3), 3);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(r), 3);
	CHECK_EQ(write(peer_fd, "def", 3), 3);
	CHECK_EQ(NAL_CONNECTION_io(c), 1); /* no new select: nothing done */
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(r), 3);
	for (i = 0; i < 20 && NAL_BUFFER_used(r) < 6; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(r), 6);
	CHECK(memcmp(NAL_BUFFER_data(r), "abcdef", 6) == 0);
	NAL_SELECTOR_free(s);
	return 1;
}

static int socket_io_consumes_results(void)
{
	char buf[200], path[200];
	struct sockaddr_un su;
	int fd, i, ok = 0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "consume"), 64), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", tu_path(path, sizeof(path), "consume"));
	CHECK_EQ(connect(fd, (struct sockaddr *)&su, sizeof(su)), 0);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		ok = NAL_CONNECTION_accept(c, l);
	}
	CHECK_EQ(ok, 1);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	CHECK(io_consumes_results(c, fd));
	close(fd);
	NAL_CONNECTION_free(c);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fd_io_consumes_results(void)
{
	/* defect N8: FD connections must consume results like sockets */
	char buf[64];
	int sv[2];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(buf, sizeof(buf), "FD:%d", sv[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 64), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_CONNECTION_is_established(c), 1);
	CHECK(io_consumes_results(c, sv[1]));
	NAL_CONNECTION_free(c);
	CHECK(fcntl(sv[0], F_GETFD) == -1); /* owned and closed by the connection */
	close(sv[1]);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fd_connection_two_descriptors(void)
{
	/* defect N7: FD:r:w must both read and write */
	char buf[64];
	int in[2], out[2], i;
	unsigned char got[8];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_BUFFER *r, *w;
	CHECK_EQ(pipe(in), 0);
	CHECK_EQ(pipe(out), 0);
	snprintf(buf, sizeof(buf), "FD:%d:%d", in[0], out[1]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 128), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	r = NAL_CONNECTION_get_read(c);
	w = NAL_CONNECTION_get_send(c);
	CHECK_EQ(NAL_BUFFER_size(r), 128);
	CHECK_EQ(NAL_BUFFER_size(w), 128);
	CHECK_EQ(write(in[1], "ping", 4), 4);
	CHECK_EQ(NAL_BUFFER_write(w, (const unsigned char *)"pong", 4), 4);
	for (i = 0; i < 20 && (NAL_BUFFER_used(r) < 4 || NAL_BUFFER_notempty(w)); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(r), 4);
	CHECK(memcmp(NAL_BUFFER_data(r), "ping", 4) == 0);
	CHECK_EQ(NAL_BUFFER_used(w), 0);
	CHECK_EQ(read(out[0], got, sizeof(got)), 4);
	CHECK(memcmp(got, "pong", 4) == 0);
	NAL_CONNECTION_free(c);
	CHECK(fcntl(in[0], F_GETFD) == -1);
	CHECK(fcntl(out[1], F_GETFD) == -1);
	close(in[1]);
	close(out[0]);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fd_connection_same_descriptor_twice(void)
{
	/* FD:n:n is the two-descriptor form naming one descriptor: it must
	 * read, write, and stay quiet when idle */
	char buf[64];
	int sv[2], i;
	unsigned char got[8];
	long t0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_BUFFER *r, *w;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(buf, sizeof(buf), "FD:%d:%d", sv[0], sv[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 64), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	r = NAL_CONNECTION_get_read(c);
	w = NAL_CONNECTION_get_send(c);
	t0 = tu_now_ms();
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK(tu_now_ms() - t0 >= 90);
	CHECK_EQ(write(sv[1], "in", 2), 2);
	CHECK_EQ(NAL_BUFFER_write(w, (const unsigned char *)"out", 3), 3);
	for (i = 0; i < 20 && (NAL_BUFFER_used(r) < 2 || NAL_BUFFER_notempty(w)); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(r), 2);
	CHECK_EQ(NAL_BUFFER_used(w), 0);
	CHECK_EQ(read(sv[1], got, sizeof(got)), 3);
	CHECK(memcmp(got, "out", 3) == 0);
	NAL_BUFFER_reset(r);
	t0 = tu_now_ms();
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0); /* idle again */
	CHECK(tu_now_ms() - t0 >= 90);
	NAL_CONNECTION_free(c);
	close(sv[1]);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fd_connection_read_only(void)
{
	char buf[64];
	int p[2], i;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(pipe(p), 0);
	snprintf(buf, sizeof(buf), "FD:%d:-1", p[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 100), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 100);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(c)), 0); /* absent side */
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"x", 1), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(write(p[1], "data", 4), 4);
	for (i = 0; i < 20 && NAL_BUFFER_used(NAL_CONNECTION_get_read(c)) < 4; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 4);
	/* writer gone: end of file */
	close(p[1]);
	for (i = 0; i < 20; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		if (!NAL_CONNECTION_io(c)) break;
	}
	CHECK(i < 20);
	NAL_CONNECTION_free(c);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int timed_out_select_leaves_io_idle(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(b, s), 1);
	CHECK(tu_send_str(s, a, b, "warm"));
	CHECK_EQ(NAL_SELECTOR_select(s, 30000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(a), 1);
	CHECK_EQ(NAL_CONNECTION_io(b), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(a)), 0);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(b)), 0);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int tcp_connect_completes_through_io(void)
{
	/* a pending TCP connect is established by the io after a select; data
	 * queued before that is delivered */
	char buf[64];
	unsigned char got[16];
	int i, r;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *srv = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 256), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	if (NAL_CONNECTION_is_established(c))
		fprintf(stderr, "  note: TCP connect completed at once, pending path not exercised\n");
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"early", 5), 5);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	for (i = 0; i < 40 && !NAL_CONNECTION_is_established(c); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_CONNECTION_is_established(c), 1);
	for (i = 0; i < 40; i++) {
		if (!NAL_CONNECTION_get_read(srv)) {
			CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
			if (NAL_CONNECTION_accept(srv, l))
				CHECK_EQ(NAL_CONNECTION_add_to_selector(srv, s), 1);
			continue;
		}
		if (NAL_BUFFER_used(NAL_CONNECTION_get_read(srv)) >= 5) break;
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
		r = NAL_CONNECTION_io(srv);
		CHECK_EQ(r, 1);
	}
	CHECK(NAL_CONNECTION_get_read(srv) != NULL);
	CHECK_EQ(NAL_BUFFER_read(NAL_CONNECTION_get_read(srv), got, sizeof(got)), 5);
	CHECK(memcmp(got, "early", 5) == 0);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(srv);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int tcp_connect_refused(void)
{
	/* no listener: create fails at once, or io reports the failure */
	char buf[64];
	int i, r = 1;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 256), 1);
	if (NAL_CONNECTION_create(c, a)) {
		CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
		for (i = 0; i < 20 && r; i++) {
			CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
			r = NAL_CONNECTION_io(c);
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(NAL_CONNECTION_is_established(c), 0);
	} else {
		CHECK(NAL_CONNECTION_get_read(c) == NULL);
	}
	NAL_CONNECTION_free(c);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int write_to_closed_peer_fails(void)
{
	/* SIGPIPE is ignored in main (ABI.md 0.5); io must report 0. The read
	 * buffer has no room, so only the send side is exercised. */
	unsigned char data[4096];
	int i, r = 1;
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, sizeof(data)), 1);
	CHECK_EQ(NAL_BUFFER_set_size(NAL_CONNECTION_get_read(a), 0), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	NAL_CONNECTION_free(b);
	tu_pattern(data, sizeof(data), 1);
	for (i = 0; i < 20 && r; i++) {
		NAL_BUFFER_write(NAL_CONNECTION_get_send(a), data, sizeof(data));
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		r = NAL_CONNECTION_io(a);
	}
	CHECK_EQ(r, 0);
	NAL_CONNECTION_free(a);
	NAL_SELECTOR_free(s);
	return 1;
}

static int reset_returns_to_unused(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"zz", 2), 2);
	NAL_CONNECTION_reset(a);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0); /* detached */
	CHECK(NAL_CONNECTION_get_read(a) == NULL);
	CHECK(NAL_CONNECTION_get_send(a) == NULL);
	CHECK_EQ(NAL_CONNECTION_is_established(a), 0);
	CHECK_EQ(NAL_CONNECTION_io(a), 0);
	NAL_CONNECTION_reset(b);
	/* reusable, and old data is gone */
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 32), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(a)), 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(a)), 32);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(b, s), 1);
	CHECK(tu_send_str(s, a, b, "again"));
	NAL_CONNECTION_free(a);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 1); /* free detaches */
	NAL_CONNECTION_free(b);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	NAL_SELECTOR_free(s);
	return 1;
}

static int add_to_selector_rules(void)
{
	NAL_SELECTOR *s1 = NAL_SELECTOR_new(), *s2 = NAL_SELECTOR_new_fdpoll();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, NULL), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s1), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s1), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s2), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 0);
	NAL_CONNECTION_del_from_selector(a);
	NAL_CONNECTION_del_from_selector(a);
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s2), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(b, s2), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 2);
	CHECK(tu_send_str(s2, b, a, "moved"));
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s1);
	NAL_SELECTOR_free(s2);
	return 1;
}

static int create_pair_rules(void)
{
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	NAL_CONNECTION *x = NAL_CONNECTION_new(), *y = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 32769), 0);
	CHECK(NAL_CONNECTION_get_read(a) == NULL); /* both stay unused */
	CHECK(NAL_CONNECTION_get_read(b) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 16), 1);
	CHECK_EQ(NAL_CONNECTION_create_pair(a, y, 16), 0); /* second active */
	CHECK(NAL_CONNECTION_get_read(a) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_pair(x, b, 16), 0); /* first active */
	CHECK(NAL_CONNECTION_get_read(b) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 32768), 1);
	CHECK_EQ(NAL_CONNECTION_is_established(a), 1);
	CHECK_EQ(NAL_CONNECTION_is_established(b), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(a)), 32768);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(b)), 32768);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	return 1;
}

static int create_pair_size_zero(void)
{
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 0), 1);
	CHECK(NAL_CONNECTION_get_read(a) != NULL);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(a)), 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(b)), 0);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"x", 1), 0);
	/* resizable afterwards */
	CHECK_EQ(NAL_CONNECTION_set_size(a, 10), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(a)), 10);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	return 1;
}

/* child side of the fork test: answer "ping" with "pong", then exit */
static int pair_child(NAL_CONNECTION *mine, NAL_CONNECTION *parents)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_BUFFER *r, *w;
	int i, answered = 0;
	NAL_CONNECTION_free(parents); /* the child's copy of the other end */
	if (!s || !NAL_CONNECTION_add_to_selector(mine, s)) return 0;
	r = NAL_CONNECTION_get_read(mine);
	w = NAL_CONNECTION_get_send(mine);
	for (i = 0; i < TU_MAX_ROUNDS; i++) {
		if (answered && NAL_BUFFER_empty(w)) break;
		if (NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) < 0) break;
		if (!NAL_CONNECTION_io(mine)) break;
		if (!answered && NAL_BUFFER_used(r) >= 4) {
			if (memcmp(NAL_BUFFER_data(r), "ping", 4) != 0) break;
			NAL_BUFFER_read(r, NULL, 4);
			NAL_BUFFER_write(w, (const unsigned char *)"pong", 4);
			answered = 1;
		}
	}
	i = answered && NAL_BUFFER_empty(w);
	NAL_CONNECTION_free(mine);
	NAL_SELECTOR_free(s);
	return i;
}

static int pair_parent(NAL_CONNECTION *mine)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_BUFFER *r = NAL_CONNECTION_get_read(mine);
	int i, r_io = 1;
	CHECK_EQ(NAL_CONNECTION_add_to_selector(mine, s), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(mine), (const unsigned char *)"ping", 4), 4);
	for (i = 0; i < TU_MAX_ROUNDS && NAL_BUFFER_used(r) < 4 && r_io; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		r_io = NAL_CONNECTION_io(mine);
	}
	CHECK_EQ(NAL_BUFFER_used(r), 4);
	CHECK(memcmp(NAL_BUFFER_data(r), "pong", 4) == 0);
	/* the child exits after answering: EOF follows */
	for (i = 0; i < TU_MAX_ROUNDS && r_io; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		r_io = NAL_CONNECTION_io(mine);
	}
	CHECK_EQ(r_io, 0);
	NAL_SELECTOR_free(s);
	return 1;
}

static int create_pair_across_fork(void)
{
	NAL_CONNECTION *p = NAL_CONNECTION_new(), *c = NAL_CONNECTION_new();
	pid_t pid;
	int status = 0, ok;
	CHECK_EQ(NAL_CONNECTION_create_pair(p, c, 256), 1);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) _exit(pair_child(c, p) ? 0 : 1);
	NAL_CONNECTION_free(c);
	ok = pair_parent(p);
	if (!ok) kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	NAL_CONNECTION_free(p);
	CHECK(ok);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	return 1;
}

static int dummy_loops_back(void)
{
	unsigned char got[16];
	NAL_CONNECTION *d = NAL_CONNECTION_new(), *e = NAL_CONNECTION_new();
	NAL_BUFFER *r, *w;
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 32769), 0);
	CHECK(NAL_CONNECTION_get_read(d) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 16), 1);
	r = NAL_CONNECTION_get_read(d);
	w = NAL_CONNECTION_get_send(d);
	CHECK(r != NULL);
	CHECK(r == w);
	CHECK_EQ(NAL_BUFFER_size(r), 16);
	CHECK_EQ(NAL_CONNECTION_is_established(d), 1);
	CHECK_EQ(NAL_BUFFER_write(w, (const unsigned char *)"echo", 4), 4);
	CHECK_EQ(NAL_CONNECTION_io(d), 1); /* nothing to do, still fine */
	CHECK_EQ(NAL_BUFFER_read(r, got, sizeof(got)), 4);
	CHECK(memcmp(got, "echo", 4) == 0);
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 16), 0); /* active */
	CHECK_EQ(NAL_CONNECTION_set_size(d, 100), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(d)), 100);
	CHECK(NAL_CONNECTION_get_read(d) == NAL_CONNECTION_get_send(d));
	CHECK_EQ(NAL_CONNECTION_create_pair(d, e, 10), 0);
	CHECK(NAL_CONNECTION_get_read(e) == NULL);
	NAL_CONNECTION_reset(d);
	CHECK(NAL_CONNECTION_get_read(d) == NULL);
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 0), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(d)), 0);
	NAL_CONNECTION_free(d);
	NAL_CONNECTION_free(e);
	return 1;
}

/* TCP_NODELAY of a socket descriptor: 1, 0, or -1 on error */
static int nodelay_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0) return -1;
	return v ? 1 : 0;
}

/* connects and accepts over IPv4, reporting TCP_NODELAY of both new sockets
 * (found as the one new socket descriptor after each call); a switch_to of
 * 0 or 1 is given to NAL_config_set_nagle after the listener is created */
static int nodelay_of_new_sockets_switched(int *client_nd, int *server_nd, int switch_to)
{
	enum { MAXFD = 1024 };
	unsigned char before[MAXFD];
	char buf[64];
	int i, ok = 0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *srv = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 256), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	if (switch_to >= 0) NAL_config_set_nagle(switch_to);
	tu_fd_snapshot(before, MAXFD);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	*client_nd = nodelay_of(tu_fd_new_socket(before, MAXFD));
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
		tu_fd_snapshot(before, MAXFD);
		ok = NAL_CONNECTION_accept(srv, l);
	}
	CHECK_EQ(ok, 1);
	*server_nd = nodelay_of(tu_fd_new_socket(before, MAXFD));
	CHECK_EQ(NAL_CONNECTION_add_to_selector(srv, s), 1);
	CHECK(tu_send_str(s, c, srv, "nagle"));
	CHECK(tu_send_str(s, srv, c, "elgan"));
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(srv);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int nodelay_of_new_sockets(int *client_nd, int *server_nd)
{
	return nodelay_of_new_sockets_switched(client_nd, server_nd, -1);
}

static int nagle_off_by_default(void)
{
	/* runs before any NAL_config_set_nagle call in this program */
	int cn = -2, sn = -2;
	CHECK(nodelay_of_new_sockets(&cn, &sn));
	CHECK_EQ(cn, 1);
	CHECK_EQ(sn, 1);
	return 1;
}

static int nagle_switch_applies_to_new_connections(void)
{
	int cn = -2, sn = -2;
	NAL_config_set_nagle(1);
	CHECK(nodelay_of_new_sockets(&cn, &sn));
	CHECK_EQ(cn, 0);
	CHECK_EQ(sn, 0);
	NAL_config_set_nagle(0);
	CHECK(nodelay_of_new_sockets(&cn, &sn));
	CHECK_EQ(cn, 1);
	CHECK_EQ(sn, 1);
	return 1;
}

/* Accepted sockets start with their listener's TCP_NODELAY; the setting in
 * force at accept time is what they must end up with. */
static int nagle_switch_after_listen_applies_to_accepted(void)
{
	int cn = -2, sn = -2;
	NAL_config_set_nagle(0);
	CHECK(nodelay_of_new_sockets_switched(&cn, &sn, 1));
	CHECK_EQ(cn, 0);
	CHECK_EQ(sn, 0);
	NAL_config_set_nagle(1);
	CHECK(nodelay_of_new_sockets_switched(&cn, &sn, 0));
	CHECK_EQ(cn, 1);
	CHECK_EQ(sn, 1);
	NAL_config_set_nagle(0);
	return 1;
}

static int nagle_does_not_affect_unix_sockets(void)
{
	char buf[200];
	NAL_config_set_nagle(0);
	CHECK(data_both_ways(tu_unix_addr(buf, sizeof(buf), "nagle0")));
	NAL_config_set_nagle(1);
	CHECK(data_both_ways(tu_unix_addr(buf, sizeof(buf), "nagle1")));
	NAL_config_set_nagle(0);
	return 1;
}

int main(void)
{
	SUITE("nal_connection");
	signal(SIGPIPE, SIG_IGN);
	if (!tu_dir_make()) { printf("FAIL nal_connection/mkdtemp\n"); return 1; }
	RUN(nagle_off_by_default);
	RUN(create_pair_across_fork); /* early: children inherit no leak of a failed test */
	RUN(new_connection_is_unused);
	RUN(malloc_alias_gives_unused_connection);
	RUN(null_connection_is_failure);
	RUN(create_needs_connectable_address);
	RUN(unix_connect_without_listener_fails);
	RUN(create_on_active_connection_fails);
	RUN(buffers_sized_from_address);
	RUN(set_size_limits);
	RUN(failures_without_descriptors_leave_objects_unused);
	RUN(unix_data_both_ways);
	RUN(tcp_data_both_ways);
	RUN(tcp_localhost_name_data_both_ways);
	RUN(ipv6_data_both_ways);
	RUN(unix_transfer_32k_full_buffers);
	RUN(unix_transfer_32k_small_buffers);
	RUN(tcp_transfer_32k);
	RUN(ipv6_transfer_32k);
	RUN(eof_from_closed_pair_peer);
	RUN(eof_from_closed_tcp_peer);
	RUN(io_needs_attachment);
	RUN(socket_io_consumes_results);
	RUN(fd_io_consumes_results);
	RUN(fd_connection_two_descriptors);
	RUN(fd_connection_same_descriptor_twice);
	RUN(fd_connection_read_only);
	RUN(timed_out_select_leaves_io_idle);
	RUN(tcp_connect_completes_through_io);
	RUN(tcp_connect_refused);
	RUN(write_to_closed_peer_fails);
	RUN(reset_returns_to_unused);
	RUN(add_to_selector_rules);
	RUN(create_pair_rules);
	RUN(create_pair_size_zero);
	RUN(dummy_loops_back);
	RUN(nagle_switch_applies_to_new_connections);
	RUN(nagle_switch_after_listen_applies_to_accepted);
	RUN(nagle_does_not_affect_unix_sockets);
	tu_dir_remove();
	return DONE();
}
