/* The older API of the seed document (ABI.md 7): programs that register
 * objects with NAL_SELECTOR_add_* before every select, call
 * NAL_CONNECTION_io(conn, sel), NAL_LISTENER_accept(list, sel, conn),
 * accept_block, io_cap, create_dummy and the *_malloc constructors. */
#define NAL_SEED_API
#include <signal.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "nal_testutil.h"

static volatile sig_atomic_t ticks;

/* SIGALRM guard: counts; ends the program if a blocking call ignores it */
static void on_alarm(int sig)
{
	static const char msg[] = "  blocking call survived repeated SIGALRM\n";
	ssize_t r = 0;
	(void)sig;
	ticks++;
	if (ticks >= 30) {
		r = write(2, msg, sizeof(msg) - 1);
		_exit(70);
	}
	(void)r;
}

/* installs on_alarm without SA_RESTART and arms a repeating timer */
static void guard_on(long first_usec)
{
	struct sigaction sa;
	struct itimerval it;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	ticks = 0;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = first_usec / 1000000;
	it.it_value.tv_usec = first_usec % 1000000;
	it.it_interval.tv_usec = 200000;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void guard_off(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_IGN);
}

/* one seed-style round: register every given connection (skipping NULL and
 * unused ones), select, then io on each; returns 0 if any io failed */
static int seed_idle; /* consecutive timed-out selects of seed_round */

static int seed_round(NAL_SELECTOR *s, NAL_LISTENER *l, NAL_CONNECTION **c, int n)
{
	int i, ok = 1, r;
	if (l) CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	for (i = 0; i < n; i++)
		if (c[i] && NAL_CONNECTION_get_read(c[i])) CHECK_EQ(NAL_SELECTOR_add_conn(s, c[i]), 1);
	r = NAL_SELECTOR_select(s, TU_ROUND_USEC, 1);
	CHECK(r >= 0);
	seed_idle = r ? 0 : seed_idle + 1;
	CHECK(seed_idle < TU_MAX_IDLE); /* stuck: nothing happens any more */
	for (i = 0; i < n; i++)
		if (c[i] && NAL_CONNECTION_get_read(c[i]) && !NAL_CONNECTION_io(c[i], s)) ok = 0;
	return ok;
}

/* moves msg from `from` to `to` with seed-style rounds */
static int seed_send(NAL_SELECTOR *s, NAL_CONNECTION *from, NAL_CONNECTION *to, const char *msg)
{
	NAL_CONNECTION *both[2];
	unsigned int len = (unsigned int)strlen(msg), got = 0;
	unsigned char in[256];
	int i;
	both[0] = from;
	both[1] = to;
	CHECK(len <= sizeof(in));
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(from), (const unsigned char *)msg, len), len);
	seed_idle = 0;
	for (i = 0; i < TU_MAX_ROUNDS && got < len; i++) {
		CHECK(seed_round(s, NULL, both, 2));
		got += NAL_BUFFER_takedata(NAL_CONNECTION_get_read(to), in + got, len - got);
	}
	CHECK_EQ(got, len);
	CHECK(memcmp(in, msg, len) == 0);
	return 1;
}

static int malloc_constructors(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_CONNECTION *c = NAL_CONNECTION_malloc();
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_BUFFER *b = NAL_BUFFER_malloc();
	CHECK(a && l && c && s && b);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_BUFFER_size(b), 0);
	NAL_ADDRESS_free(a);
	NAL_LISTENER_free(l);
	NAL_CONNECTION_free(c);
	NAL_SELECTOR_free(s);
	NAL_BUFFER_free(b);
	return 1;
}

/* the seed document's server loop: register listener and connections,
 * select, io, accept; the server echoes what it reads */
static int echo_program(const char *listen_str, const char *connect_str)
{
	const char *msg = "hello from a seed-era client";
	unsigned int len = (unsigned int)strlen(msg);
	NAL_ADDRESS *la = NAL_ADDRESS_malloc(), *ca = NAL_ADDRESS_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_CONNECTION *client = NAL_CONNECTION_malloc(), *server = NAL_CONNECTION_malloc();
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *conns[2];
	unsigned char *p;
	int i;
	CHECK_EQ(NAL_ADDRESS_create(la, listen_str, 512), 1);
	CHECK_EQ(NAL_ADDRESS_create(ca, connect_str, 512), 1);
	CHECK_EQ(NAL_ADDRESS_can_listen(la), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(ca), 1);
	CHECK_EQ(NAL_LISTENER_create(l, la), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, ca), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(client), (const unsigned char *)msg, len), len);
	conns[0] = client;
	conns[1] = server;
	seed_idle = 0;
	for (i = 0; i < TU_MAX_ROUNDS && NAL_BUFFER_used(NAL_CONNECTION_get_read(client)) < len; i++) {
		CHECK(seed_round(s, l, conns, 2));
		if (!NAL_CONNECTION_get_read(server))
			NAL_LISTENER_accept(l, s, server);
		else
			NAL_BUFFER_transfer(NAL_CONNECTION_get_send(server),
					    NAL_CONNECTION_get_read(server), 0);
	}
	CHECK_EQ(NAL_CONNECTION_is_established(client), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(client)), len);
	p = NAL_BUFFER_read_ptr(NAL_CONNECTION_get_read(client));
	CHECK(p != NULL);
	CHECK(memcmp(p, msg, len) == 0);
	CHECK_EQ(NAL_BUFFER_takedata(NAL_CONNECTION_get_read(client), NULL, len), len);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(client)), 0);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(la);
	NAL_ADDRESS_free(ca);
	return 1;
}

static int echo_over_unix(void)
{
	char buf[200];
	tu_unix_addr(buf, sizeof(buf), "echo");
	return echo_program(buf, buf);
}

static int echo_over_tcp_localhost(void)
{
	/* the seed document's client target form, IP:localhost:port */
	char lbuf[64], cbuf[64];
	int port = tu_free_port(AF_INET);
	snprintf(lbuf, sizeof(lbuf), "IP:%d", port);
	snprintf(cbuf, sizeof(cbuf), "IP:localhost:%d", port);
	return echo_program(lbuf, cbuf);
}

static int echo_over_ipv6(void)
{
	char buf[64];
	if (!tu_have_ipv6()) {
		fprintf(stderr, "  note: no IPv6 loopback, IPv6 echo not tested\n");
		return 1;
	}
	tu_ip6_addr(buf, sizeof(buf));
	return echo_program(buf, buf);
}

static int registrations_are_one_shot(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_BUFFER *rb;
	int i;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	rb = NAL_CONNECTION_get_read(b);
	CHECK(seed_send(s, a, b, "one"));
	/* round with only `a` registered: it sends, b is not looked at */
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"two", 3), 3);
	for (i = 0; i < 20 && NAL_BUFFER_notempty(NAL_CONNECTION_get_send(a)); i++) {
		CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(a, s), 1);
		CHECK_EQ(NAL_CONNECTION_io(b, s), 1); /* not part of the select */
	}
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(a)), 0);
	CHECK_EQ(NAL_BUFFER_used(rb), 0);
	/* nothing registered: b's waiting data does not end the wait */
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(b, s), 1);
	CHECK_EQ(NAL_BUFFER_used(rb), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io(b, s), 1);
	CHECK_EQ(NAL_BUFFER_used(rb), 3);
	CHECK(memcmp(NAL_BUFFER_data(rb), "two", 3) == 0);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int double_registration_is_harmless(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_BUFFER *rb;
	int i;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	rb = NAL_CONNECTION_get_read(b);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"once", 4), 4);
	for (i = 0; i < 20 && NAL_BUFFER_used(rb) < 4; i++) {
		CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
		CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
		CHECK_EQ(NAL_SELECTOR_add_conn_ex(s, a, NAL_SELECT_FLAG_READ), 1);
		CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
		CHECK_EQ(NAL_SELECTOR_add_conn_ex(s, b, NAL_SELECT_FLAG_RW), 1);
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(a, s), 1);
		CHECK_EQ(NAL_CONNECTION_io(b, s), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(rb), 4);
	CHECK(memcmp(NAL_BUFFER_data(rb), "once", 4) == 0);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(a)), 0);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int read_only_flag_keeps_output_queued(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_CONNECTION *both[2];
	NAL_BUFFER *sa;
	int i;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	both[0] = a;
	both[1] = b;
	sa = NAL_CONNECTION_get_send(a);
	CHECK(seed_send(s, b, a, "prime")); /* selector has seen both */
	NAL_BUFFER_reset(NAL_CONNECTION_get_read(a));
	CHECK_EQ(NAL_BUFFER_write(sa, (const unsigned char *)"queued", 6), 6);
	CHECK_EQ(NAL_SELECTOR_add_conn_ex(s, a, NAL_SELECT_FLAG_READ), 1);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
	/* a may only wake for input (none), b has nothing: timeout */
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(a, s), 1);
	CHECK_EQ(NAL_BUFFER_used(sa), 6);
	/* full registration flushes */
	seed_idle = 0;
	for (i = 0; i < 20 && NAL_BUFFER_used(NAL_CONNECTION_get_read(b)) < 6; i++)
		CHECK(seed_round(s, NULL, both, 2));
	CHECK_EQ(NAL_BUFFER_used(sa), 0);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(b)), 6);
	CHECK(memcmp(NAL_BUFFER_data(NAL_CONNECTION_get_read(b)), "queued", 6) == 0);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int del_conn_cancels_registration(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_BUFFER *rb;
	int i;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	rb = NAL_CONNECTION_get_read(b);
	CHECK(seed_send(s, a, b, "first"));
	NAL_BUFFER_reset(rb);
	/* get "later" onto the wire towards b */
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"later", 5), 5);
	for (i = 0; i < 20 && NAL_BUFFER_notempty(NAL_CONNECTION_get_send(a)); i++) {
		CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(a, s), 1);
	}
	CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
	CHECK_EQ(NAL_SELECTOR_del_conn(s, b), 1);
	CHECK_EQ(NAL_SELECTOR_del_conn(s, b), 1); /* nothing registered: still 1 */
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(b, s), 1);
	CHECK_EQ(NAL_BUFFER_used(rb), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io(b, s), 1);
	CHECK_EQ(NAL_BUFFER_used(rb), 5);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int registration_failure_paths(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc(), *fresh = NAL_SELECTOR_malloc();
	NAL_CONNECTION *unused = NAL_CONNECTION_malloc();
	NAL_LISTENER *lu = NAL_LISTENER_malloc(), *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	CHECK_EQ(NAL_SELECTOR_add_conn(NULL, unused), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, NULL), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, unused), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn_ex(s, unused, NAL_SELECT_FLAG_RW), 0);
	CHECK_EQ(NAL_SELECTOR_add_conn_ex(NULL, unused, NAL_SELECT_FLAG_READ), 0);
	CHECK_EQ(NAL_SELECTOR_del_conn(NULL, unused), 0);
	CHECK_EQ(NAL_SELECTOR_del_conn(s, NULL), 0);
	CHECK_EQ(NAL_SELECTOR_add_listener(s, NULL), 0);
	CHECK_EQ(NAL_SELECTOR_add_listener(NULL, lu), 0);
	CHECK_EQ(NAL_SELECTOR_add_listener(s, lu), 0);
	CHECK_EQ(NAL_SELECTOR_del_listener(NULL, lu), 0);
	CHECK_EQ(NAL_SELECTOR_del_listener(s, NULL), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "regfail"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_SELECTOR_del_listener(s, l), 1); /* nothing registered */
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK_EQ(NAL_SELECTOR_del_listener(s, l), 1);
	/* nothing ever registered: the (dynamic) selector fails at once */
	CHECK_EQ(NAL_SELECTOR_select(fresh, 2000000, 1), -1);
	CHECK_EQ(NAL_SELECTOR_select(NULL, 1000, 1), -1);
	CHECK_EQ(NAL_CONNECTION_io(NULL, s), 0);
	NAL_CONNECTION_free(unused);
	NAL_LISTENER_free(lu);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_SELECTOR_free(fresh);
	NAL_ADDRESS_free(a);
	return 1;
}

static int del_listener_cancels_registration(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *client = NAL_CONNECTION_malloc(), *srv = NAL_CONNECTION_malloc();
	NAL_CONNECTION *x = NAL_CONNECTION_malloc(), *y = NAL_CONNECTION_malloc();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "dellist"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, a), 1); /* waits in the backlog */
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 16), 1);
	CHECK(seed_send(s, x, y, "idle")); /* makes the selector concrete */
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK_EQ(NAL_SELECTOR_del_listener(s, l), 1);
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK_EQ(NAL_LISTENER_accept(l, s, srv), 0);
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_LISTENER_accept(l, s, srv), 1);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(srv);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

/* registers the listener for up to 20 rounds until an accept into c works */
static int accept_within_rounds(NAL_SELECTOR *s, NAL_LISTENER *l, NAL_CONNECTION *c)
{
	int i;
	for (i = 0; i < 20; i++) {
		CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		if (NAL_LISTENER_accept(l, s, c)) return 1;
	}
	CHECK(!"no connection accepted");
	return 0;
}

static int accept_rules(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc(), *lu = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *c1 = NAL_CONNECTION_malloc(), *c2 = NAL_CONNECTION_malloc();
	NAL_CONNECTION *c3 = NAL_CONNECTION_malloc();
	NAL_CONNECTION *s1 = NAL_CONNECTION_malloc(), *s2 = NAL_CONNECTION_malloc();
	NAL_CONNECTION *s3 = NAL_CONNECTION_malloc();
	NAL_CONNECTION *busy = NAL_CONNECTION_malloc();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "accept"), 300), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create_dummy(busy, 8), 1);
	/* nothing pending: registered listener times out, accept gives 0 */
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK_EQ(NAL_SELECTOR_select(s, 50000, 1), 0);
	CHECK_EQ(NAL_LISTENER_accept(l, s, s1), 0);
	CHECK(NAL_CONNECTION_get_read(s1) == NULL);
	/* bad arguments while a client is pending */
	CHECK_EQ(NAL_CONNECTION_create(c1, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(c2, a), 1);
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_LISTENER_accept(l, s, busy), 0); /* conn not unused */
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(busy)), 8);
	CHECK_EQ(NAL_LISTENER_accept(NULL, s, s1), 0);
	CHECK_EQ(NAL_LISTENER_accept(l, s, NULL), 0);
	CHECK_EQ(NAL_LISTENER_accept(lu, s, s1), 0);
	CHECK(NAL_CONNECTION_get_read(s1) == NULL);
	/* one accept per select round */
	CHECK(accept_within_rounds(s, l, s1));
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(s1)), 300);
	CHECK_EQ(NAL_CONNECTION_is_established(s1), 1);
	CHECK_EQ(NAL_LISTENER_accept(l, s, s2), 0); /* result consumed */
	CHECK(NAL_CONNECTION_get_read(s2) == NULL);
	CHECK(accept_within_rounds(s, l, s2));
	/* a client waits, but the listener was not part of the last select */
	CHECK_EQ(NAL_CONNECTION_create(c3, a), 1);
	CHECK(seed_send(s, c1, s1, "sync"));
	CHECK_EQ(NAL_LISTENER_accept(l, s, s3), 0);
	CHECK(NAL_CONNECTION_get_read(s3) == NULL);
	CHECK(accept_within_rounds(s, l, s3));
	NAL_CONNECTION_free(c1);
	NAL_CONNECTION_free(c2);
	NAL_CONNECTION_free(c3);
	NAL_CONNECTION_free(s1);
	NAL_CONNECTION_free(s2);
	NAL_CONNECTION_free(s3);
	NAL_CONNECTION_free(busy);
	NAL_LISTENER_free(l);
	NAL_LISTENER_free(lu);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_looks_up_the_given_selector(void)
{
	/* results belong to the selector that selected (ABI.md 7.2, 7.3) */
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc(), *other = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *client = NAL_CONNECTION_malloc(), *srv = NAL_CONNECTION_malloc();
	NAL_CONNECTION *x = NAL_CONNECTION_malloc(), *y = NAL_CONNECTION_malloc();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "othersel"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, a), 1);
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 16), 1);
	CHECK(seed_send(other, x, y, "other")); /* `other` has its own results */
	CHECK_EQ(NAL_SELECTOR_add_listener(s, l), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_LISTENER_accept(l, other, srv), 0);
	CHECK_EQ(NAL_LISTENER_accept(l, NULL, srv), 0);
	CHECK(NAL_CONNECTION_get_read(srv) == NULL);
	CHECK_EQ(NAL_LISTENER_accept(l, s, srv), 1);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(srv);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_SELECTOR_free(other);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_block_takes_waiting_client(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *client = NAL_CONNECTION_malloc(), *srv = NAL_CONNECTION_malloc();
	int r;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "block1"), 128), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, a), 1);
	guard_on(3000000);
	r = NAL_LISTENER_accept_block(l, srv);
	guard_off();
	CHECK_EQ(r, 1);
	CHECK_EQ(NAL_CONNECTION_is_established(srv), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(srv)), 128);
	CHECK(seed_send(s, client, srv, "blocked and accepted"));
	CHECK(seed_send(s, srv, client, "reply"));
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(srv);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_block_waits_for_late_client(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *srv = NAL_CONNECTION_malloc();
	NAL_CONNECTION *one[1];
	pid_t pid;
	int r, i, status = 0;
	long t0;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "block2"), 128), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* child: connect late with a plain socket, send, wait for EOF */
		struct sockaddr_un su;
		char tmp[16];
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		usleep(300000);
		memset(&su, 0, sizeof(su));
		su.sun_family = AF_UNIX;
		tu_path(su.sun_path, sizeof(su.sun_path), "block2");
		if (connect(fd, (struct sockaddr *)&su, sizeof(su)) != 0) _exit(2);
		if (write(fd, "late", 4) != 4) _exit(3);
		while (read(fd, tmp, sizeof(tmp)) > 0) ;
		_exit(0);
	}
	t0 = tu_now_ms();
	guard_on(5000000);
	r = NAL_LISTENER_accept_block(l, srv);
	guard_off();
	if (r != 1) kill(pid, SIGKILL);
	else {
		one[0] = srv;
		seed_idle = 0;
		for (i = 0; i < 20 && NAL_BUFFER_used(NAL_CONNECTION_get_read(srv)) < 4; i++)
			if (!seed_round(s, NULL, one, 1)) break;
	}
	r = r == 1 && NAL_BUFFER_used(NAL_CONNECTION_get_read(srv)) == 4 &&
	    memcmp(NAL_BUFFER_data(NAL_CONNECTION_get_read(srv)), "late", 4) == 0;
	NAL_CONNECTION_free(srv); /* child sees EOF and exits */
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(r);
	CHECK(tu_now_ms() - t0 >= 200);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_block_interrupted_returns_zero(void)
{
	char buf[200];
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *srv = NAL_CONNECTION_malloc();
	struct sigaction sa;
	int r;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "block3"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	/* plain alarm: a single SIGALRM after one second, no SA_RESTART */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	ticks = 0;
	alarm(1);
	r = NAL_LISTENER_accept_block(l, srv);
	alarm(0);
	signal(SIGALRM, SIG_IGN);
	CHECK_EQ(r, 0);
	CHECK_EQ(ticks, 1);
	CHECK(NAL_CONNECTION_get_read(srv) == NULL); /* untouched */
	NAL_CONNECTION_free(srv);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_block_failure_paths(void)
{
	char buf[200];
	NAL_LISTENER *l = NAL_LISTENER_malloc(), *lu = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *srv = NAL_CONNECTION_malloc(), *busy = NAL_CONNECTION_malloc();
	NAL_CONNECTION *client = NAL_CONNECTION_malloc();
	int r1, r2, r3, r4;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "block4"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, a), 1);
	CHECK_EQ(NAL_CONNECTION_create_dummy(busy, 4), 1);
	guard_on(2000000); /* none of these may block */
	r1 = NAL_LISTENER_accept_block(NULL, srv);
	r2 = NAL_LISTENER_accept_block(l, NULL);
	r3 = NAL_LISTENER_accept_block(lu, srv);
	r4 = NAL_LISTENER_accept_block(l, busy);
	guard_off();
	CHECK_EQ(r1, 0);
	CHECK_EQ(r2, 0);
	CHECK_EQ(r3, 0);
	CHECK_EQ(r4, 0);
	CHECK_EQ(ticks, 0);
	CHECK(NAL_CONNECTION_get_read(srv) == NULL);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(busy)), 4);
	NAL_CONNECTION_free(srv);
	NAL_CONNECTION_free(busy);
	NAL_CONNECTION_free(client);
	NAL_LISTENER_free(l);
	NAL_LISTENER_free(lu);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_block_on_fd_listener(void)
{
	char buf[64];
	int sv[2], r, i;
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *c = NAL_CONNECTION_malloc();
	NAL_CONNECTION *one[1];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(buf, sizeof(buf), "FD:%d", sv[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 32), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(write(sv[1], "fd!", 3), 3);
	guard_on(3000000);
	r = NAL_LISTENER_accept_block(l, c);
	guard_off();
	CHECK_EQ(r, 1);
	CHECK(NAL_LISTENER_finished(l) != 0);
	one[0] = c;
	seed_idle = 0;
	for (i = 0; i < 20 && NAL_BUFFER_used(NAL_CONNECTION_get_read(c)) < 3; i++)
		CHECK(seed_round(s, NULL, one, 1));
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 3);
	CHECK(memcmp(NAL_BUFFER_data(NAL_CONNECTION_get_read(c)), "fd!", 3) == 0);
	NAL_CONNECTION_free(c); /* owns sv[0] */
	close(sv[1]);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int io_cap_limits_each_direction(void)
{
	unsigned char data[100];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_BUFFER *sa, *rb;
	int i;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 200), 1);
	sa = NAL_CONNECTION_get_send(a);
	rb = NAL_CONNECTION_get_read(b);
	tu_pattern(data, sizeof(data), 9);
	CHECK_EQ(NAL_BUFFER_write(sa, data, sizeof(data)), 100);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io_cap(a, s, 0, 10), 1);
	CHECK_EQ(NAL_BUFFER_used(sa), 90);
	/* b reads at most 7 of the 10 bytes waiting */
	CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io_cap(b, s, 7, 0), 1);
	CHECK_EQ(NAL_BUFFER_used(rb), 7);
	CHECK(memcmp(NAL_BUFFER_data(rb), data, 7) == 0);
	/* 0 = no limit: the rest goes out and comes in */
	for (i = 0; i < 20 && NAL_BUFFER_used(rb) < 100; i++) {
		CHECK_EQ(NAL_SELECTOR_add_conn(s, a), 1);
		CHECK_EQ(NAL_SELECTOR_add_conn(s, b), 1);
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io_cap(a, s, 0, 0), 1);
		CHECK_EQ(NAL_CONNECTION_io_cap(b, s, 0, 0), 1);
	}
	CHECK_EQ(NAL_BUFFER_used(sa), 0);
	CHECK_EQ(NAL_BUFFER_used(rb), 100);
	CHECK(memcmp(NAL_BUFFER_data(rb), data, 100) == 0);
	CHECK_EQ(NAL_CONNECTION_io_cap(NULL, s, 1, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io_cap(a, NULL, 0, 0), 0); /* NULL object (0.2) */
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int eof_makes_io_fail_data_stays(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *a = NAL_CONNECTION_malloc(), *b = NAL_CONNECTION_malloc();
	NAL_CONNECTION *one[1];
	unsigned char got[8];
	int i, ok = 1;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 64), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(a), (const unsigned char *)"last", 4), 4);
	one[0] = a;
	seed_idle = 0;
	for (i = 0; i < 20 && NAL_BUFFER_notempty(NAL_CONNECTION_get_send(a)); i++)
		CHECK(seed_round(s, NULL, one, 1));
	NAL_CONNECTION_free(a);
	one[0] = b;
	seed_idle = 0;
	for (i = 0; i < 20 && ok; i++) ok = seed_round(s, NULL, one, 1);
	CHECK_EQ(ok, 0);
	CHECK_EQ(NAL_BUFFER_takedata(NAL_CONNECTION_get_read(b), got, sizeof(got)), 4);
	CHECK(memcmp(got, "last", 4) == 0);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int tcp_connect_established_by_io(void)
{
	char buf[64];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	NAL_CONNECTION *c = NAL_CONNECTION_malloc(), *srv = NAL_CONNECTION_malloc();
	NAL_CONNECTION *one[1];
	int i;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 64), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	one[0] = c;
	seed_idle = 0;
	for (i = 0; i < 20 && !NAL_CONNECTION_is_established(c); i++)
		CHECK(seed_round(s, NULL, one, 1));
	CHECK_EQ(NAL_CONNECTION_is_established(c), 1);
	guard_on(3000000);
	i = NAL_LISTENER_accept_block(l, srv);
	guard_off();
	CHECK_EQ(i, 1);
	CHECK(seed_send(s, c, srv, "tcp seed"));
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(srv);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int dummy_connection(void)
{
	unsigned char got[16];
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *d = NAL_CONNECTION_malloc();
	NAL_CONNECTION *x = NAL_CONNECTION_malloc(), *y = NAL_CONNECTION_malloc();
	NAL_BUFFER *r;
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 32769), 0);
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 32), 1);
	CHECK_EQ(NAL_CONNECTION_create_dummy(d, 32), 0);
	r = NAL_CONNECTION_get_read(d);
	CHECK(r != NULL && r == NAL_CONNECTION_get_send(d));
	CHECK_EQ(NAL_CONNECTION_is_established(d), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(d), (const unsigned char *)"loop", 4), 4);
	/* with an idle pair so the select has something real to wait on */
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 16), 1);
	CHECK(seed_send(s, x, y, "real"));
	CHECK_EQ(NAL_SELECTOR_add_conn(s, d), 1);
	CHECK_EQ(NAL_SELECTOR_add_conn(s, x), 1);
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0); /* dummy never wakes it */
	CHECK_EQ(NAL_CONNECTION_io(d, s), 1);
	CHECK_EQ(NAL_CONNECTION_io_cap(d, s, 1, 1), 1);
	CHECK_EQ(NAL_BUFFER_takedata(r, got, sizeof(got)), 4);
	CHECK(memcmp(got, "loop", 4) == 0);
	CHECK_EQ(NAL_CONNECTION_set_size(d, 8), 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(d)), 8);
	NAL_CONNECTION_free(d);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	NAL_SELECTOR_free(s);
	return 1;
}

/* the seed document's parent/child IPC: pair, fork, each side frees the
 * other's end; the child doubles every byte it gets */
static int pair_child(NAL_CONNECTION *mine, NAL_CONNECTION *other)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *one[1];
	NAL_BUFFER *r, *w;
	unsigned char ch;
	int i, ok = 1;
	NAL_CONNECTION_free(other);
	r = NAL_CONNECTION_get_read(mine);
	w = NAL_CONNECTION_get_send(mine);
	one[0] = mine;
	seed_idle = 0;
	for (i = 0; i < TU_MAX_ROUNDS && ok; i++) {
		ok = seed_round(s, NULL, one, 1);
		while (NAL_BUFFER_unused(w) >= 2 && NAL_BUFFER_takedata(r, &ch, 1) == 1) {
			NAL_BUFFER_write(w, &ch, 1);
			NAL_BUFFER_write(w, &ch, 1);
		}
	}
	/* ends on the parent's EOF with everything sent */
	i = !ok && NAL_BUFFER_empty(w) && NAL_BUFFER_empty(r);
	NAL_CONNECTION_free(mine);
	NAL_SELECTOR_free(s);
	return i;
}

static int pair_parent(NAL_CONNECTION *mine)
{
	NAL_SELECTOR *s = NAL_SELECTOR_malloc();
	NAL_CONNECTION *one[1];
	NAL_BUFFER *r = NAL_CONNECTION_get_read(mine);
	int i;
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(mine), (const unsigned char *)"abc", 3), 3);
	one[0] = mine;
	seed_idle = 0;
	for (i = 0; i < TU_MAX_ROUNDS && NAL_BUFFER_used(r) < 6; i++)
		CHECK(seed_round(s, NULL, one, 1));
	CHECK_EQ(NAL_BUFFER_used(r), 6);
	CHECK(memcmp(NAL_BUFFER_data(r), "aabbcc", 6) == 0);
	NAL_SELECTOR_free(s);
	return 1;
}

static int create_pair_parent_child(void)
{
	NAL_CONNECTION *p = NAL_CONNECTION_malloc(), *c = NAL_CONNECTION_malloc();
	pid_t pid;
	int status = 0, ok;
	CHECK_EQ(NAL_CONNECTION_create_pair(p, c, 64), 1);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) _exit(pair_child(c, p) ? 0 : 1);
	NAL_CONNECTION_free(c);
	ok = pair_parent(p);
	NAL_CONNECTION_free(p); /* EOF lets the child finish */
	if (!ok) kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(ok);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	return 1;
}

int main(void)
{
	SUITE("nal_seed");
	signal(SIGPIPE, SIG_IGN);
	if (!tu_dir_make()) { printf("FAIL nal_seed/mkdtemp\n"); return 1; }
	/* fork tests first, so children inherit no leak of a failed test */
	RUN(create_pair_parent_child);
	RUN(accept_block_waits_for_late_client);
	RUN(malloc_constructors);
	RUN(echo_over_unix);
	RUN(echo_over_tcp_localhost);
	RUN(echo_over_ipv6);
	RUN(registrations_are_one_shot);
	RUN(double_registration_is_harmless);
	RUN(read_only_flag_keeps_output_queued);
	RUN(del_conn_cancels_registration);
	RUN(registration_failure_paths);
	RUN(del_listener_cancels_registration);
	RUN(accept_rules);
	RUN(accept_looks_up_the_given_selector);
	RUN(accept_block_takes_waiting_client);
	RUN(accept_block_interrupted_returns_zero);
	RUN(accept_block_failure_paths);
	RUN(accept_block_on_fd_listener);
	RUN(io_cap_limits_each_direction);
	RUN(eof_makes_io_fail_data_stays);
	RUN(tcp_connect_established_by_io);
	RUN(dummy_connection);
	tu_dir_remove();
	return DONE();
}
