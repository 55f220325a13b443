/* NAL_SELECTOR (ABI.md 3.4): the three constructors, empty selectors,
 * timeouts, EINTR, result handling, interest recomputation, free/reset with
 * attached objects, and many attached connections. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <libnal/nal_devel.h>
#include "nal_testutil.h"

typedef NAL_SELECTOR *(*sel_ctor)(void);

static volatile sig_atomic_t ticks;
static int wake_fd = -1;

/* SIGALRM: count; after many ticks wake a selector that retried instead of
 * returning EINTR (so the test fails rather than hangs), and as a last
 * resort end the program */
static void on_alarm(int sig)
{
	static const char msg[] = "  select kept blocking through SIGALRM\n";
	ssize_t r = 0;
	(void)sig;
	ticks++;
	if (ticks >= 10 && wake_fd >= 0) r = write(wake_fd, "w", 1);
	if (ticks >= 40) {
		r = write(2, msg, sizeof(msg) - 1);
		_exit(70);
	}
	(void)r;
}

static void timer_set(long usec_first, long usec_every)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = usec_first / 1000000;
	it.it_value.tv_usec = usec_first % 1000000;
	it.it_interval.tv_sec = usec_every / 1000000;
	it.it_interval.tv_usec = usec_every % 1000000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* an FD:n connection on one end of a socketpair; *peer gets the other end */
static int fd_conn(NAL_CONNECTION *c, unsigned int size, int *peer)
{
	char buf[64];
	int sv[2];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(buf, sizeof(buf), "FD:%d", sv[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, size), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	NAL_ADDRESS_free(a);
	*peer = sv[1];
	return 1;
}

static int constructors_and_types(void)
{
	NAL_SELECTOR *d = NAL_SELECTOR_new(), *s = NAL_SELECTOR_new_fdselect();
	NAL_SELECTOR *p = NAL_SELECTOR_new_fdpoll(), *m = NAL_SELECTOR_malloc();
	CHECK(d && s && p && m);
	CHECK_EQ(NAL_SELECTOR_num_objects(d), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(p), 0);
	CHECK_EQ(nal_selector_get_type(d), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(nal_selector_get_type(m), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(nal_selector_get_type(s), NAL_SELECTOR_TYPE_FDSELECT);
	CHECK_EQ(nal_selector_get_type(p), NAL_SELECTOR_TYPE_FDPOLL);
	NAL_SELECTOR_free(d);
	NAL_SELECTOR_free(s);
	NAL_SELECTOR_free(p);
	NAL_SELECTOR_free(m);
	return 1;
}

static int dynamic_becomes_concrete_on_attach(void)
{
	NAL_SELECTOR *d = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, d), 0); /* unused conn */
	CHECK_EQ(nal_selector_get_type(d), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 10), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, d), 1);
	CHECK(nal_selector_get_type(d) != NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK(nal_selector_get_type(d) != NAL_SELECTOR_TYPE_ERROR);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(d);
	return 1;
}

static int null_selector_is_failure(void)
{
	NAL_SELECTOR_free(NULL);
	NAL_SELECTOR_reset(NULL);
	CHECK_EQ(NAL_SELECTOR_select(NULL, 1000, 1), -1);
	CHECK_EQ(NAL_SELECTOR_select(NULL, 0, 0), -1);
	CHECK_EQ(NAL_SELECTOR_num_objects(NULL), 0);
	return 1;
}

static int dynamic_empty_select_fails_at_once(void)
{
	/* guard: if it blocked, the alarm interrupts it */
	NAL_SELECTOR *d = NAL_SELECTOR_new();
	long t0 = tu_now_ms();
	signal(SIGALRM, on_alarm);
	alarm(3);
	CHECK_EQ(NAL_SELECTOR_select(d, 0, 0), -1);
	CHECK_EQ(NAL_SELECTOR_select(d, 2000000, 1), -1);
	alarm(0);
	CHECK(tu_now_ms() - t0 < 1000);
	NAL_SELECTOR_free(d);
	return 1;
}

static int concrete_empty_select_times_out(sel_ctor ctor)
{
	NAL_SELECTOR *s = ctor();
	long t0 = tu_now_ms(), dt;
	CHECK_EQ(NAL_SELECTOR_select(s, 150000, 1), 0);
	dt = tu_now_ms() - t0;
	CHECK(dt >= 140 && dt < 3000);
	NAL_SELECTOR_free(s);
	return 1;
}

static int fdselect_empty_select_times_out(void)
{
	return concrete_empty_select_times_out(NAL_SELECTOR_new_fdselect);
}

static int fdpoll_empty_select_times_out(void)
{
	return concrete_empty_select_times_out(NAL_SELECTOR_new_fdpoll);
}

static int emptied_dynamic_select_times_out(void)
{
	/* once concrete, an empty selector waits like any other */
	NAL_SELECTOR *d = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	long t0;
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 10), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, d), 1);
	NAL_CONNECTION_del_from_selector(a);
	CHECK_EQ(NAL_SELECTOR_num_objects(d), 0);
	t0 = tu_now_ms();
	CHECK_EQ(NAL_SELECTOR_select(d, 100000, 1), 0);
	CHECK(tu_now_ms() - t0 >= 90);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(d);
	return 1;
}

/* a select without timeout is interrupted by SIGALRM (handler installed
 * without SA_RESTART): -1 with errno EINTR (ABI.md 0.3, 3.4.3) */
static int select_interrupted(sel_ctor ctor, int attach_idle)
{
	struct sigaction sa, old;
	NAL_SELECTOR *s = ctor();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	int peer = -1, r, e;
	CHECK(fd_conn(c, 16, &peer));
	if (attach_idle) {
		CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
		wake_fd = peer;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	CHECK_EQ(sigaction(SIGALRM, &sa, &old), 0);
	ticks = 0;
	timer_set(150000, 150000);
	errno = 0;
	r = NAL_SELECTOR_select(s, 0, 0);
	e = errno;
	timer_set(0, 0);
	sigaction(SIGALRM, &old, NULL);
	wake_fd = -1;
	CHECK_EQ(r, -1);
	CHECK_EQ(e, EINTR);
	CHECK(ticks >= 1);
	NAL_CONNECTION_free(c);
	close(peer);
	NAL_SELECTOR_free(s);
	return 1;
}

static int fdselect_select_interrupted(void)
{
	return select_interrupted(NAL_SELECTOR_new_fdselect, 1);
}

static int fdpoll_select_interrupted(void)
{
	return select_interrupted(NAL_SELECTOR_new_fdpoll, 1);
}

static int dynamic_select_interrupted(void)
{
	return select_interrupted(NAL_SELECTOR_new, 1);
}

static int empty_fdpoll_select_blocks_until_signal(void)
{
	return select_interrupted(NAL_SELECTOR_new_fdpoll, 0);
}

static int timed_out_select_has_no_results(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	NAL_CONNECTION *extra = NAL_CONNECTION_new();
	CHECK(tu_link(s, tu_unix_addr(buf, sizeof(buf), "timeout"), 64, l, client, server));
	CHECK(tu_send_str(s, client, server, "settle"));
	CHECK_EQ(NAL_SELECTOR_select(s, 50000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_io(client), 1);
	CHECK_EQ(NAL_CONNECTION_io(server), 1);
	CHECK_EQ(NAL_CONNECTION_accept(extra, l), 0);
	CHECK(NAL_CONNECTION_get_read(extra) == NULL);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(server)), 0);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_CONNECTION_free(extra);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	return 1;
}

static int num_objects_counts_attachments(void)
{
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *x = NAL_CONNECTION_new(), *y = NAL_CONNECTION_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "count"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create_pair(x, y, 10), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(x, s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(y, s), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 3);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(y, s), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 3);
	NAL_CONNECTION_del_from_selector(x);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 2);
	NAL_LISTENER_reset(l);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 1);
	NAL_CONNECTION_reset(y);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(y);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

/* links a listener and two connections on a selector, then frees or resets
 * the selector with everything attached; the objects must be detached and
 * keep working on another selector (ABI.md 3.4.3, defects N3/N4) */
static int survive_selector_teardown(int do_free)
{
	char buf[200];
	NAL_SELECTOR *s1 = NAL_SELECTOR_new(), *s2 = NAL_SELECTOR_new_fdpoll();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	NAL_CONNECTION *client2 = NAL_CONNECTION_new(), *server2 = NAL_CONNECTION_new();
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	int i, ok = 0;
	tu_unix_addr(buf, sizeof(buf), do_free ? "teardown_free" : "teardown_reset");
	CHECK(tu_link(s1, buf, 128, l, client, server));
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 3);
	if (do_free) {
		NAL_SELECTOR_free(s1);
		s1 = NULL;
	} else {
		NAL_SELECTOR_reset(s1);
		CHECK_EQ(NAL_SELECTOR_num_objects(s1), 0);
	}
	/* detached: io reports "not attached", attaching elsewhere works */
	CHECK_EQ(NAL_CONNECTION_io(client), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s2), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(client, s2), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(server, s2), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 3);
	CHECK(tu_send_str(s2, client, server, "after teardown"));
	CHECK(tu_send_str(s2, server, client, "still here"));
	/* the listener still accepts on its new selector */
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 128), 1);
	CHECK_EQ(NAL_CONNECTION_create(client2, a), 1);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s2, TU_ROUND_USEC, 1) >= 0);
		ok = NAL_CONNECTION_accept(server2, l);
	}
	CHECK_EQ(ok, 1);
	if (s1) {
		/* a reset selector is usable again */
		CHECK_EQ(NAL_CONNECTION_add_to_selector(client2, s1), 1);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(server2, s1), 1);
		CHECK_EQ(NAL_SELECTOR_num_objects(s1), 2);
		CHECK(tu_send_str(s1, client2, server2, "reset selector works"));
	}
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_CONNECTION_free(client2);
	NAL_CONNECTION_free(server2);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s1);
	NAL_SELECTOR_free(s2);
	NAL_ADDRESS_free(a);
	return 1;
}

static int free_detaches_attached_objects(void)
{
	return survive_selector_teardown(1);
}

static int reset_detaches_attached_objects(void)
{
	return survive_selector_teardown(0);
}

static int end_to_end(sel_ctor ctor)
{
	char buf[200];
	unsigned char data[20000];
	NAL_SELECTOR *s = ctor();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	CHECK(tu_link(s, tu_unix_addr(buf, sizeof(buf), "e2e"), 2048, l, client, server));
	tu_pattern(data, sizeof(data), 5);
	CHECK(tu_transfer(s, client, server, data, sizeof(data)));
	CHECK(tu_transfer(s, server, client, data, sizeof(data)));
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	client = NAL_CONNECTION_new();
	server = NAL_CONNECTION_new();
	l = NAL_LISTENER_new();
	CHECK(tu_link(s, tu_ip4_addr(buf, sizeof(buf)), 2048, l, client, server));
	CHECK(tu_transfer(s, client, server, data, sizeof(data)));
	CHECK(tu_transfer(s, server, client, data, sizeof(data)));
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	return 1;
}

static int fdselect_end_to_end(void)
{
	return end_to_end(NAL_SELECTOR_new_fdselect);
}

static int fdpoll_end_to_end(void)
{
	return end_to_end(NAL_SELECTOR_new_fdpoll);
}

static int dynamic_end_to_end(void)
{
	return end_to_end(NAL_SELECTOR_new);
}

/* readable and writable at once: select(2) counts per set, poll(2) per
 * descriptor (ABI.md 3.4.2) */
static int ready_count(sel_ctor ctor, int expect)
{
	NAL_SELECTOR *s = ctor();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	unsigned char got[4];
	int peer = -1;
	CHECK(fd_conn(c, 16, &peer));
	CHECK_EQ(write(peer, "x", 1), 1);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"y", 1), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1), expect);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_send(c)), 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(read(peer, got, sizeof(got)), 1);
	CHECK_EQ(got[0], 'y');
	NAL_CONNECTION_free(c);
	close(peer);
	NAL_SELECTOR_free(s);
	return 1;
}

static int fdselect_counts_per_set(void)
{
	return ready_count(NAL_SELECTOR_new_fdselect, 2);
}

static int fdpoll_counts_per_descriptor(void)
{
	return ready_count(NAL_SELECTOR_new_fdpoll, 1);
}

static int full_read_buffer_is_not_polled(void)
{
	/* interest is recomputed each select: no read interest while full */
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_BUFFER *r;
	unsigned char got[8];
	int peer = -1, i;
	CHECK(fd_conn(c, 4, &peer));
	r = NAL_CONNECTION_get_read(c);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(write(peer, "abcdefgh", 8), 8);
	for (i = 0; i < 20 && NAL_BUFFER_notfull(r); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_full(r), 1);
	CHECK_EQ(NAL_SELECTOR_select(s, 50000, 1), 0); /* data waits, not polled */
	CHECK_EQ(NAL_BUFFER_read(r, got, 4), 4);
	CHECK(memcmp(got, "abcd", 4) == 0);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_read(r, got, 4), 4);
	CHECK(memcmp(got, "efgh", 4) == 0);
	NAL_CONNECTION_free(c);
	close(peer);
	NAL_SELECTOR_free(s);
	return 1;
}

static int attached_after_select_has_no_results(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *x = NAL_CONNECTION_new(), *c = NAL_CONNECTION_new();
	int px = -1, pc = -1;
	CHECK(fd_conn(x, 16, &px));
	CHECK(fd_conn(c, 16, &pc));
	CHECK_EQ(NAL_CONNECTION_add_to_selector(x, s), 1);
	CHECK_EQ(write(px, "1", 1), 1);
	CHECK_EQ(write(pc, "2", 1), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 0);
	CHECK_EQ(NAL_CONNECTION_io(x), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(x)), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 1);
	NAL_CONNECTION_free(x);
	NAL_CONNECTION_free(c);
	close(px);
	close(pc);
	NAL_SELECTOR_free(s);
	return 1;
}

static int detach_drops_results(void)
{
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	int pc = -1;
	CHECK(fd_conn(c, 16, &pc));
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(write(pc, "z", 1), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	NAL_CONNECTION_del_from_selector(c);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	CHECK_EQ(NAL_CONNECTION_io(c), 1);
	CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(c)), 0);
	NAL_CONNECTION_free(c);
	close(pc);
	NAL_SELECTOR_free(s);
	return 1;
}

static int attached_objects_survive_child_cleanup(void)
{
	/* a forked child that frees its copies of attached objects (a helper
	 * or daemon cleaning up) must not disturb the parent's selector: with
	 * poll(2) semantics the child's frees only close the child's copies */
	char buf[200];
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	NAL_CONNECTION *client2 = NAL_CONNECTION_new(), *server2 = NAL_CONNECTION_new();
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	pid_t pid;
	int status = 0, i, ok = 0;
	tu_unix_addr(buf, sizeof(buf), "forkclean");
	CHECK(tu_link(s, buf, 64, l, client, server));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		NAL_CONNECTION_free(client);
		NAL_CONNECTION_free(server);
		NAL_CONNECTION_free(client2);
		NAL_CONNECTION_free(server2);
		NAL_LISTENER_free(l);
		NAL_SELECTOR_free(s);
		NAL_ADDRESS_free(a);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK(tu_send_str(s, client, server, "parent still talks"));
	CHECK(tu_send_str(s, server, client, "and listens"));
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 64), 1);
	CHECK_EQ(NAL_CONNECTION_create(client2, a), 1);
	for (i = 0; i < 8 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		ok = NAL_CONNECTION_accept(server2, l);
	}
	CHECK_EQ(ok, 1);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_CONNECTION_free(client2);
	NAL_CONNECTION_free(server2);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

/* raises the descriptor limit to at least n; 0 if impossible */
static int want_fds(rlim_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
	if (rl.rlim_cur >= n) return 1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) return 0;
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* one pair exchanging `rounds` messages through sel */
static int ping_pong(NAL_SELECTOR *s, NAL_CONNECTION *a, NAL_CONNECTION *b, int rounds)
{
	char msg[32];
	int i;
	for (i = 0; i < rounds; i++) {
		snprintf(msg, sizeof(msg), "ping %d", i);
		CHECK(tu_send_str(s, a, b, msg));
		snprintf(msg, sizeof(msg), "pong %d", i);
		CHECK(tu_send_str(s, b, a, msg));
	}
	return 1;
}

static int many_idle_connections(void)
{
	enum { PAIRS = 1000 };
	NAL_CONNECTION **idle;
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	int i;
	if (!want_fds(2 * PAIRS + 64)) {
		fprintf(stderr, "  note: cannot raise RLIMIT_NOFILE, many-connection test skipped\n");
		NAL_CONNECTION_free(a);
		NAL_CONNECTION_free(b);
		NAL_SELECTOR_free(s);
		return 1;
	}
	idle = calloc(2 * PAIRS, sizeof(*idle));
	CHECK(idle != NULL);
	for (i = 0; i < 2 * PAIRS; i += 2) {
		idle[i] = NAL_CONNECTION_new();
		idle[i + 1] = NAL_CONNECTION_new();
		CHECK_EQ(NAL_CONNECTION_create_pair(idle[i], idle[i + 1], 64), 1);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(idle[i], s), 1);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(idle[i + 1], s), 1);
	}
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 256), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(a, s), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(b, s), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 2 * PAIRS + 2);
	CHECK(ping_pong(s, a, b, 50));
	/* the idle ones saw nothing */
	for (i = 0; i < 2 * PAIRS; i++) {
		CHECK_EQ(NAL_CONNECTION_io(idle[i]), 1);
		CHECK_EQ(NAL_BUFFER_used(NAL_CONNECTION_get_read(idle[i])), 0);
	}
	for (i = 0; i < 2 * PAIRS; i++) NAL_CONNECTION_free(idle[i]);
	free(idle);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 2);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	return 1;
}

static int fdselect_high_descriptor_is_safe(void)
{
	/* descriptors >= FD_SETSIZE: the select variant must refuse the attach
	 * or handle it without corruption (ABI.md 3.4.2, defect N5) */
	enum { FILL = 520 };
	NAL_CONNECTION **fill;
	NAL_SELECTOR *s = NAL_SELECTOR_new_fdselect(), *p = NAL_SELECTOR_new_fdpoll();
	NAL_CONNECTION *a = NAL_CONNECTION_new(), *b = NAL_CONNECTION_new();
	int i, ra, rb;
	if (!want_fds(2 * FILL + 64)) {
		fprintf(stderr, "  note: cannot raise RLIMIT_NOFILE, high-descriptor test skipped\n");
		NAL_CONNECTION_free(a);
		NAL_CONNECTION_free(b);
		NAL_SELECTOR_free(s);
		NAL_SELECTOR_free(p);
		return 1;
	}
	fill = calloc(2 * FILL, sizeof(*fill));
	CHECK(fill != NULL);
	for (i = 0; i < 2 * FILL; i += 2) {
		fill[i] = NAL_CONNECTION_new();
		fill[i + 1] = NAL_CONNECTION_new();
		CHECK_EQ(NAL_CONNECTION_create_pair(fill[i], fill[i + 1], 8), 1);
	}
	CHECK_EQ(NAL_CONNECTION_create_pair(a, b, 256), 1);
	ra = NAL_CONNECTION_add_to_selector(a, s);
	rb = NAL_CONNECTION_add_to_selector(b, s);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), (unsigned int)(ra + rb));
	if (ra && rb) {
		CHECK(ping_pong(s, a, b, 5));
	} else {
		NAL_CONNECTION_del_from_selector(a);
		NAL_CONNECTION_del_from_selector(b);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(a, p), 1);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(b, p), 1);
		CHECK(ping_pong(p, a, b, 5));
	}
	for (i = 0; i < 2 * FILL; i++) NAL_CONNECTION_free(fill[i]);
	free(fill);
	NAL_CONNECTION_free(a);
	NAL_CONNECTION_free(b);
	NAL_SELECTOR_free(s);
	NAL_SELECTOR_free(p);
	return 1;
}

int main(void)
{
	SUITE("nal_selector");
	signal(SIGPIPE, SIG_IGN);
	if (!tu_dir_make()) { printf("FAIL nal_selector/mkdtemp\n"); return 1; }
	RUN(attached_objects_survive_child_cleanup); /* early: children inherit no leak */
	RUN(constructors_and_types);
	RUN(dynamic_becomes_concrete_on_attach);
	RUN(null_selector_is_failure);
	RUN(dynamic_empty_select_fails_at_once);
	RUN(fdselect_empty_select_times_out);
	RUN(fdpoll_empty_select_times_out);
	RUN(emptied_dynamic_select_times_out);
	RUN(fdselect_select_interrupted);
	RUN(fdpoll_select_interrupted);
	RUN(dynamic_select_interrupted);
	RUN(empty_fdpoll_select_blocks_until_signal);
	RUN(timed_out_select_has_no_results);
	RUN(num_objects_counts_attachments);
	RUN(free_detaches_attached_objects);
	RUN(reset_detaches_attached_objects);
	RUN(fdselect_end_to_end);
	RUN(fdpoll_end_to_end);
	RUN(dynamic_end_to_end);
	RUN(fdselect_counts_per_set);
	RUN(fdpoll_counts_per_descriptor);
	RUN(full_read_buffer_is_not_polled);
	RUN(attached_after_select_has_no_results);
	RUN(detach_drops_results);
	RUN(many_idle_connections);
	RUN(fdselect_high_descriptor_is_safe);
	tu_dir_remove();
	return DONE();
}
