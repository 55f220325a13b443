/* distcache benchmark: DC_CTX against the installed dc_server.
 *
 *   dc_bench PREFIX [seconds-per-row]
 *
 * Rows: ADD/GET/REMOVE mixes (each client loops add, get, remove on its
 * own ids) with 1, 4, 16, 64 and 1000 clients (one thread each; rows of
 * 1000 clients run at least 1.5 s),
 * persistent and per-operation connections, sessions of 100 B, 2 KiB and
 * 30 KiB, over a unix socket and 127.0.0.1 TCP. Baselines measured in the
 * same run: a raw socketpair (and TCP) ping-pong moving the same bytes as
 * one GET exchange, and a raw connect + ping-pong + close. The one-client
 * comparison runs three times: with the scheduler placing the processes,
 * with server and client pinned to one core, and pinned to two cores
 * (each baseline pinned the same way). A second mix table drives the
 * same rows from an event-driven load generator (one thread, every
 * connection with one request in flight), so that 1000 clients load the
 * server rather than the scheduler with 1000 client threads; both tables
 * show the server's CPU time per operation. The event-driven rows are
 * repeated against an echo server built like dc_server that keeps no
 * sessions (the floor: what any single-threaded server of this design
 * keeps with 1000 clients on this host). Also a server holding 60000
 * sessions against a nearly empty one. Prints markdown.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <distcache/dc_client.h>
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#include "bench_util.h"

static double row_secs = 0.4;
/* alternating runs of each one-client measurement; the best is kept
 * (interference from a shared machine only ever adds time), as
 * nal_bench does */
#define RUNS 7
/* runs of each event-driven cell (dc_server and echo floor alternately) */
#define EV_RUNS 3
static char dir[256];
static const char *server_bin;
/* CPU the servers (dc_server, raw echo) are pinned to; -1: not pinned */
static int server_cpu = -1;

static void pin_self(int cpu)
{
	cpu_set_t set;
	int i;
	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else
		for (i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The host's CPU time taken by the hypervisor (the "steal" column of
 * /proc/stat), so that each table says how much of the machine it had. */
static unsigned long long steal_at_mark, total_at_mark;

static void cpu_totals(unsigned long long *steal, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	*steal = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &v[6], &v[7]) == 8) {
		int i;
		for (i = 0; i < 8; i++)
			*total += v[i];
		*steal = v[7];
	}
	fclose(f);
}

static void steal_mark(void)
{
	cpu_totals(&steal_at_mark, &total_at_mark);
}

/* Prints the share of CPU time the hypervisor took since steal_mark(). */
static void steal_report(void)
{
	unsigned long long steal, total;
	cpu_totals(&steal, &total);
	if (total > total_at_mark)
		printf("(hypervisor steal during this table: %.0f%% of the CPU time, from /proc/stat)\n",
		       100.0 * (double)(steal - steal_at_mark) / (double)(total - total_at_mark));
	steal_mark();
}

/* user + system CPU seconds a process has used so far */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* ---------- servers ---------- */
/* CPU seconds the calling thread has used. */
static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static pid_t start_dc_server(const char *listen, const char *sessions)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", 1);
		if (fd >= 0)
			dup2(fd, 2); /* statistics lines */
		if (server_cpu >= 0)
			pin_self(server_cpu);
		execl(server_bin, server_bin, "-listen", listen, "-sessions", sessions, (char *)NULL);
		_exit(127);
	}
	usleep(150000);
	return pid;
}

/* A dc_server on a free 127.0.0.1 port below the ephemeral range (the
 * per-operation rows leave thousands of client ports in use there):
 * tries ports from *port on until one accepts a connection. */
static pid_t start_tcp_server(int *port, char *target, size_t target_len)
{
	int tries;
	for (tries = 0; tries < 20; tries++, (*port)++) {
		struct sockaddr_in in;
		pid_t pid;
		int fd, up;
		snprintf(target, target_len, "IP:127.0.0.1:%d", *port);
		pid = start_dc_server(target, "60000");
		memset(&in, 0, sizeof(in));
		in.sin_family = AF_INET;
		in.sin_port = htons((unsigned short)*port);
		in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		up = fd >= 0 && connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0;
		if (fd >= 0)
			close(fd);
		if (up && waitpid(pid, NULL, WNOHANG) == 0)
			return pid;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	fprintf(stderr, "dc_bench: no free TCP port for dc_server\n");
	exit(2);
}

/* ---------- DC_CTX rows ---------- */
typedef struct {
	const char *target;
	unsigned int flags;
	int size, id;
	int get_only;
	volatile int *go;
	double deadline;
	volatile double *shared_deadline;
	lat_t lat;
	long ops, fails;
	pthread_barrier_t *bar;
} worker_t;

static unsigned char payload[32768];

static void *worker(void *arg)
{
	worker_t *w = arg;
	DC_CTX *ctx = DC_CTX_new(w->target, w->flags);
	unsigned char id[32], *out = malloc(32768);
	unsigned int used;
	long i = 0;
	pthread_barrier_wait(w->bar); /* everyone connected */
	pthread_barrier_wait(w->bar); /* deadline set */
	w->deadline = *w->shared_deadline;
	if (!ctx) {
		w->fails++;
		free(out);
		return NULL;
	}
	if (w->get_only) {
		int n = snprintf((char *)id, sizeof(id), "g%06d-%09ld", w->id, 0L);
		if (!DC_CTX_add_session(ctx, id, n, payload, w->size, 600000))
			w->fails++;
		while (now_s() < w->deadline) {
			double t0 = now_s();
			if (!DC_CTX_get_session(ctx, id, n, out, 32768, &used) || used != (unsigned)w->size)
				w->fails++;
			lat_add(&w->lat, now_s() - t0);
			w->ops++;
		}
	} else {
		while (now_s() < w->deadline) {
			int n = snprintf((char *)id, sizeof(id), "c%06d-%09ld", w->id, i++);
			double t0 = now_s(), t1, t2, t3;
			if (!DC_CTX_add_session(ctx, id, n, payload, w->size, 600000))
				w->fails++;
			t1 = now_s();
			if (!DC_CTX_get_session(ctx, id, n, out, 32768, &used) || used != (unsigned)w->size)
				w->fails++;
			t2 = now_s();
			if (!DC_CTX_remove_session(ctx, id, n))
				w->fails++;
			t3 = now_s();
			lat_add(&w->lat, t1 - t0);
			lat_add(&w->lat, t2 - t1);
			lat_add(&w->lat, t3 - t2);
			w->ops += 3;
		}
	}
	DC_CTX_free(ctx);
	free(out);
	return NULL;
}

typedef struct {
	double ops_s, p50, p99, server_us, generator_us;
	long fails;
} result_t;

static result_t run_row(const char *target, unsigned int flags, int clients, int size, int get_only, pid_t srv)
{
	static int next_id;
	pthread_t *th = calloc(clients, sizeof(pthread_t));
	worker_t *w = calloc(clients, sizeof(worker_t));
	pthread_barrier_t bar;
	pthread_attr_t attr;
	lat_t all = { 0 };
	result_t r = { 0 };
	volatile double deadline = 0;
	double t0, t1, cpu0;
	long ops = 0;
	int i;
	size_t k;
	pthread_barrier_init(&bar, NULL, clients + 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < clients; i++) {
		w[i].target = target;
		w[i].flags = flags;
		w[i].size = size;
		w[i].id = next_id++;
		w[i].get_only = get_only;
		w[i].bar = &bar;
		w[i].shared_deadline = &deadline;
	}
	for (i = 0; i < clients; i++)
		pthread_create(&th[i], &attr, worker, &w[i]);
	/* the clock starts once every client has its context */
	pthread_barrier_wait(&bar);
	cpu0 = proc_cpu_s(srv);
	t0 = now_s();
	deadline = t0 + (clients > 100 && row_secs < 1.5 ? 1.5 : row_secs);
	pthread_barrier_wait(&bar);
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	for (i = 0; i < clients; i++) {
		ops += w[i].ops;
		r.fails += w[i].fails;
		for (k = 0; k < w[i].lat.n; k++)
			lat_add(&all, w[i].lat.v[k]);
		free(w[i].lat.v);
	}
	r.ops_s = ops / (t1 - t0);
	r.server_us = ops ? (proc_cpu_s(srv) - cpu0) / ops * 1e6 : 0;
	lat_pct(&all, &r.p50, &r.p99);
	free(all.v);
	free(th);
	free(w);
	pthread_barrier_destroy(&bar);
	return r;
}

/* ---------- raw baselines ---------- */
static int full_io(int fd, unsigned char *buf, size_t n, int writing)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = writing ? send(fd, buf + done, n - done, MSG_NOSIGNAL) : read(fd, buf + done, n - done);
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			return 0;
		}
		done += (size_t)k;
	}
	return 1;
}

/* Bytes of one GET exchange for a session of `size` bytes (16-byte id). */
static size_t req_bytes(void) { return 14 + 16; }
static size_t resp_bytes(int size) { return (size_t)size + 14 * ((size + 2047) / 2048); }

static void echo_loop(int fd, int size)
{
	unsigned char *buf = malloc(40000);
	while (full_io(fd, buf, req_bytes(), 0) && full_io(fd, buf, resp_bytes(size), 1))
		;
	free(buf);
}

/* The same echo as an event-driven server must do it: wait in epoll
 * (with a timeout, as dc_server does), then read, then write. This is the
 * floor for any single-threaded server that serves many clients. */
static void echo_loop_epoll(int fd, int size)
{
	unsigned char *buf = malloc(40000);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, got[16];
	size_t have = 0;
	int ep = epoll_create1(0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	for (;;) {
		ssize_t k;
		if (epoll_wait(ep, got, 16, 500) < 0 && errno != EINTR)
			break;
		k = read(fd, buf, 40000);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (k > 0)
			have += (size_t)k;
		if (have >= req_bytes()) {
			have -= req_bytes();
			if (send(fd, buf, resp_bytes(size), MSG_NOSIGNAL) != (ssize_t)resp_bytes(size))
				break;
		}
	}
	close(ep);
	free(buf);
}

static int make_listener(int tcp, struct sockaddr_storage *ss, socklen_t *len)
{
	int fd, one = 1;
	if (tcp) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		memset(ss, 0, sizeof(*ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		*len = sizeof(*in);
	} else {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		memset(ss, 0, sizeof(*ss));
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s/raw.sock", dir);
		unlink(un->sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		*len = sizeof(*un);
	}
	if (bind(fd, (struct sockaddr *)ss, *len) || listen(fd, 511))
		return -1;
	getsockname(fd, (struct sockaddr *)ss, len);
	return fd;
}

/* The floor for serving many clients at once: an echo server built the
 * way dc_server is (one thread, edge-triggered epoll, one read buffer
 * shared by all clients, each client's bytes written back at once and held
 * only when its socket is full, writability watched only then). It keeps
 * no sessions and parses nothing. */
typedef struct {
	unsigned char *held;
	size_t len, pos;
} echo_peer_t;

#define ECHO_FDS 65536
#define ECHO_CAP 65536

static void echo_close(int ep, int fd, echo_peer_t *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(p->held);
	memset(p, 0, sizeof(*p));
}

static void echo_watch(int ep, int fd, int write_too)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET | (write_too ? EPOLLOUT : 0) };
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void echo_serve(int ep, int fd, echo_peer_t *p, unsigned char *buf)
{
	for (;;) {
		ssize_t k, sent;
		if (p->held) {
			k = send(fd, p->held + p->pos, p->len - p->pos, MSG_NOSIGNAL);
			if (k < 0 && errno == EAGAIN)
				return;
			if (k <= 0)
				goto gone;
			if ((p->pos += (size_t)k) < p->len)
				return;
			free(p->held);
			p->held = NULL;
			echo_watch(ep, fd, 0);
		}
		k = read(fd, buf, ECHO_CAP);
		if (k < 0 && errno == EAGAIN)
			return;
		if (k <= 0)
			goto gone;
		sent = send(fd, buf, (size_t)k, MSG_NOSIGNAL);
		if (sent < 0 && errno == EAGAIN)
			sent = 0;
		if (sent < 0)
			goto gone;
		if (sent < k) {
			p->len = (size_t)(k - sent);
			p->pos = 0;
			p->held = malloc(p->len);
			memcpy(p->held, buf + sent, p->len);
			echo_watch(ep, fd, 1);
			return;
		}
		if (k < ECHO_CAP)
			return; /* a short read emptied the socket */
	}
gone:
	echo_close(ep, fd, p);
}

static void echo_many_loop(int lfd, int tcp)
{
	unsigned char *buf = malloc(ECHO_CAP);
	echo_peer_t *peers = calloc(ECHO_FDS, sizeof(echo_peer_t));
	struct epoll_event ev = { .events = EPOLLIN }, got[256];
	int ep = epoll_create1(0), one = 1;
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int i, k = epoll_wait(ep, got, 256, 500);
		if (k < 0 && errno != EINTR)
			break;
		for (i = 0; i < k; i++) {
			int fd = got[i].data.fd, c;
			if (fd != lfd) {
				echo_serve(ep, fd, &peers[fd], buf);
				continue;
			}
			while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				if (c >= ECHO_FDS) {
					close(c);
					continue;
				}
				if (tcp)
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				ev.events = EPOLLIN | EPOLLET;
				ev.data.fd = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				/* a new client has often sent its request already */
				echo_serve(ep, c, &peers[c], buf);
			}
		}
	}
	_exit(0);
}

/* Starts echo_many_loop on a unix socket under dir (tcp: 127.0.0.1);
 * *ss and *len get its address. */
static pid_t start_echo_many(int tcp, struct sockaddr_storage *ss, socklen_t *len)
{
	int lfd = make_listener(tcp, ss, len);
	pid_t pid;
	if (lfd < 0) {
		fprintf(stderr, "dc_bench: no listener for the echo floor\n");
		exit(2);
	}
	listen(lfd, 4096); /* the accept queue dc_server asks for */
	pid = fork();
	if (pid == 0)
		echo_many_loop(lfd, tcp);
	close(lfd);
	return pid;
}

/* p50 of a raw round trip; connect_each: connect+ping-pong+close;
 * event_driven: the echo side waits in epoll (echo_loop_epoll). */
static double raw_rtt(int tcp, int size, int connect_each, int socketpair_mode, int event_driven)
{
	void (*echo)(int, int) = event_driven ? echo_loop_epoll : echo_loop;
	struct sockaddr_storage ss;
	socklen_t len;
	lat_t l = { 0 };
	unsigned char *buf = malloc(40000);
	double p50, p99, end;
	int lfd = -1, fd = -1, one = 1, sv[2];
	pid_t pid;
	if (socketpair_mode) {
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		pid = fork();
		if (pid == 0) {
			close(sv[0]);
			if (server_cpu >= 0)
				pin_self(server_cpu);
			echo(sv[1], size);
			_exit(0);
		}
		close(sv[1]);
		fd = sv[0];
	} else {
		lfd = make_listener(tcp, &ss, &len);
		pid = fork();
		if (pid == 0) {
			if (server_cpu >= 0)
				pin_self(server_cpu);
			for (;;) {
				int c = accept(lfd, NULL, NULL);
				if (c < 0)
					_exit(0);
				if (tcp)
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				echo(c, size);
				close(c);
			}
		}
		close(lfd);
	}
	end = now_s() + row_secs;
	while (now_s() < end) {
		double t0 = now_s();
		if (!socketpair_mode && (connect_each || fd < 0)) {
			fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&ss, len) != 0)
				break;
			if (tcp)
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		if (!full_io(fd, buf, req_bytes(), 1) || !full_io(fd, buf, resp_bytes(size), 0))
			break;
		if (!socketpair_mode && connect_each) {
			close(fd);
			fd = -1;
		}
		lat_add(&l, now_s() - t0);
	}
	if (fd >= 0)
		close(fd);
	stop(pid);
	lat_pct(&l, &p50, &p99);
	free(l.v);
	free(buf);
	return p50;
}

/* ---------- event-driven load generator ----------
 * One thread keeps `n` connections busy, each with one request in flight
 * (closed loop: add, get, remove of its own ids), so the server sees n
 * concurrent clients while the generator itself costs little. Requests
 * are framed by hand (PROTOCOL.md A.2-A.10) and every answer is checked:
 * ADD and REMOVE must answer OK, GET the whole session. Like the server,
 * the generator builds and reads in buffers shared by all connections: a
 * connection owns memory only for a request its socket did not take at
 * once or the start of an answer still arriving, so that with 1000
 * clients the generator's own memory does not become what is measured. */
typedef struct {
	int fd, phase, sending;
	long k;
	size_t req_len, held_len, held_pos, in_len;
	unsigned char *held; /* request bytes the socket did not take yet */
	unsigned char *in;   /* the start of an answer (allocated on first need) */
	unsigned char head[14], tail[14];
	double t0;
} evconn_t;

#define EV_IN_CAP (32768 + 16 * 14)
#define EV_OUT_CAP (8 + 24 + 32768 + 16 * 14)

static size_t put_frames(unsigned char *dst, uint32_t uid, int op, const unsigned char *p, size_t n)
{
	size_t off = 0, done = 0;
	do {
		size_t chunk = n - done > 2048 ? 2048 : n - done;
		unsigned char *h = dst + off;
		h[0] = 0x00, h[1] = 0x11, h[2] = 0, h[3] = 0; /* proto level */
		h[4] = 0; /* request */
		h[5] = uid >> 24, h[6] = uid >> 16, h[7] = uid >> 8, h[8] = uid;
		h[9] = 0, h[10] = (unsigned char)op, h[11] = done + chunk == n;
		h[12] = chunk >> 8, h[13] = chunk & 0xff;
		memcpy(h + 14, p + done, chunk);
		off += 14 + chunk;
		done += chunk;
	} while (done < n);
	return off;
}

/* Bytes of the first whole message in b[0..n), 0 while incomplete;
 * *payload gets its payload length. */
static size_t msg_complete(const unsigned char *b, size_t n, size_t *payload)
{
	size_t off = 0, pl = 0;
	while (off + 14 <= n) {
		size_t dl = ((size_t)b[off + 12] << 8) | b[off + 13];
		if (off + 14 + dl > n)
			return 0;
		pl += dl;
		off += 14 + dl;
		if (b[off - 14 - dl + 11]) {
			*payload = pl;
			return off;
		}
	}
	return 0;
}

typedef struct {
	int ep, tcp, persistent, size, echo;
	const struct sockaddr *sa;
	socklen_t salen;
	evconn_t *c;
	unsigned char *out, *in; /* shared by all connections */
	int *retry, nretry, row;
	lat_t lat;
	long ops, fails;
} evrow_t;

/* Frames connection i's next request into the shared output buffer. */
static void ev_request(evrow_t *r, int i)
{
	evconn_t *c = &r->c[i];
	static uint32_t uid = 1;
	unsigned char id[24], add[8 + 24 + 32768];
	int n = snprintf((char *)id, sizeof(id), "r%03d-%05d-%07ld", r->row % 1000, i % 100000, c->k % 10000000);
	if (c->phase == 0) {
		uint32_t t = 600000;
		add[0] = t >> 24, add[1] = t >> 16, add[2] = t >> 8, add[3] = t;
		add[4] = 0, add[5] = 0, add[6] = 0, add[7] = (unsigned char)n;
		memcpy(add + 8, id, n);
		memcpy(add + 8 + n, payload, r->size);
		c->req_len = put_frames(r->out, uid++, 0, add, 8 + n + r->size);
	} else
		c->req_len = put_frames(r->out, uid++, c->phase, id, n);
	memcpy(c->head, r->out, 14);
	memcpy(c->tail, r->out + c->req_len - 14, 14);
	c->in_len = 0;
}

static void ev_open(evrow_t *r, int i)
{
	evconn_t *c = &r->c[i];
	struct epoll_event ev;
	int one = 1;
	c->fd = socket(r->sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (r->tcp && c->fd >= 0) {
		/* Each TCP connection comes from the next of 65536 loopback
		 * addresses, as per-operation clients of a real server come from
		 * many hosts: one source address would soon hold tens of
		 * thousands of TIME_WAIT ports, and the generator would spend
		 * its time in connect() searching for a free one. */
		static uint32_t next_source;
		struct sockaddr_in src;
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f010000u | (next_source++ & 0xffffu));
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		bind(c->fd, (struct sockaddr *)&src, sizeof(src));
	}
	if (c->fd < 0 || (connect(c->fd, r->sa, r->salen) != 0 && errno != EINPROGRESS)) {
		/* a full accept queue (unix: EAGAIN): try again next round */
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		r->retry[r->nretry++] = i;
		return;
	}
	if (r->tcp)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ev.data.u32 = (uint32_t)i;
	epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Connection i failed: a fresh connection next round. */
static void ev_failed(evrow_t *r, int i)
{
	evconn_t *c = &r->c[i];
	r->fails++;
	c->phase = 0;
	c->k++;
	c->sending = 0;
	c->in_len = 0;
	free(c->held);
	c->held = NULL;
	close(c->fd);
	c->fd = -1;
	r->retry[r->nretry++] = i;
}

static void ev_progress(evrow_t *r, int i);

static void ev_start(evrow_t *r, int i, int reconnect)
{
	evconn_t *c = &r->c[i];
	ssize_t sent = 0;
	if (reconnect && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->t0 = now_s();
	ev_request(r, i);
	if (c->fd < 0)
		ev_open(r, i);
	if (c->fd < 0)
		return; /* on the retry list; the request is built again */
	sent = send(c->fd, r->out, c->req_len, MSG_NOSIGNAL);
	if (sent < 0 && errno != EAGAIN && errno != ENOTCONN) {
		ev_failed(r, i);
		return;
	}
	if (sent < 0)
		sent = 0;
	c->sending = (size_t)sent < c->req_len;
	if (c->sending) {
		/* the socket took part of it: keep the rest for EPOLLOUT */
		c->held_len = c->req_len - (size_t)sent;
		c->held_pos = 0;
		c->held = malloc(c->held_len);
		memcpy(c->held, r->out + sent, c->held_len);
	}
	ev_progress(r, i);
}

static void ev_progress(evrow_t *r, int i)
{
	evconn_t *c = &r->c[i];
	for (;;) {
		unsigned char *in;
		ssize_t k;
		size_t used, pl, have;
		if (c->sending) {
			k = send(c->fd, c->held + c->held_pos, c->held_len - c->held_pos, MSG_NOSIGNAL);
			if (k < 0 && (errno == EAGAIN || errno == ENOTCONN))
				return; /* the edge of EPOLLOUT brings us back */
			if (k <= 0)
				break;
			c->held_pos += (size_t)k;
			if (c->held_pos == c->held_len) {
				c->sending = 0;
				free(c->held);
				c->held = NULL;
			}
			continue;
		}
		in = c->in_len ? c->in : r->in;
		k = read(c->fd, in + c->in_len, EV_IN_CAP - c->in_len);
		if (k < 0 && errno == EAGAIN)
			return;
		if (k <= 0)
			break;
		have = c->in_len + (size_t)k;
		if (!(used = msg_complete(in, have, &pl))) {
			/* the start of an answer: keep it until the rest arrives */
			if (in == r->in) {
				if (!c->in)
					c->in = malloc(EV_IN_CAP);
				memcpy(c->in, r->in, have);
			}
			c->in_len = have;
			continue;
		}
		c->in_len = 0;
		if (used != have)
			break;
		/* the echo must return the request: its first and last bytes are checked */
		if (r->echo ? used != c->req_len || memcmp(in, c->head, 14) != 0 || memcmp(in + used - 14, c->tail, 14) != 0
			    : in[4] != 1 || (c->phase == 1 ? pl != (size_t)r->size : pl != 1 || in[14] != 0))
			break;
		lat_add(&r->lat, now_s() - c->t0);
		r->ops++;
		if (++c->phase == 3) {
			c->phase = 0;
			c->k++;
		}
		ev_start(r, i, !r->persistent);
		return;
	}
	ev_failed(r, i);
}

/* echo: srv is echo_many_loop, which answers each request with itself */
static result_t run_evrow(const struct sockaddr *sa, socklen_t salen, int persistent, int n, int size, pid_t srv,
			  int echo)
{
	static int rows;
	evrow_t r = { 0 };
	struct epoll_event evs[256];
	result_t res = { 0 };
	double t0, t1, cpu0, gen0;
	int i, j, k, *again;
	r.ep = epoll_create1(0);
	r.row = rows++;
	r.tcp = sa->sa_family == AF_INET;
	r.persistent = persistent;
	r.size = size;
	r.echo = echo;
	r.sa = sa;
	r.salen = salen;
	r.c = calloc(n, sizeof(evconn_t));
	r.retry = calloc(n, sizeof(int));
	r.out = malloc(EV_OUT_CAP);
	r.in = malloc(EV_IN_CAP);
	again = calloc(n, sizeof(int));
	for (i = 0; i < n; i++)
		r.c[i].fd = -1;
	/* persistent connections are opened before the clock starts (as the
	 * DC_CTX rows do); a row of 1000 clients runs at least 1.5 s so that
	 * each client completes many operations */
	if (persistent)
		for (i = 0; i < n; i++)
			ev_open(&r, i);
	usleep(n > 100 ? 200000 : 20000);
	cpu0 = proc_cpu_s(srv);
	gen0 = thread_cpu_s();
	t0 = now_s();
	for (i = 0; i < n; i++)
		if (r.c[i].fd >= 0 || !persistent)
			ev_start(&r, i, 0);
	while (now_s() < t0 + (n > 100 && row_secs < 1.5 ? 1.5 : row_secs)) {
		int waiting;
		k = epoll_wait(r.ep, evs, 256, r.nretry ? 1 : 100);
		for (j = 0; j < k; j++)
			ev_progress(&r, (int)evs[j].data.u32);
		waiting = r.nretry;
		memcpy(again, r.retry, waiting * sizeof(int));
		r.nretry = 0;
		for (j = 0; j < waiting; j++)
			ev_start(&r, again[j], 0);
	}
	t1 = now_s();
	res.server_us = r.ops ? (proc_cpu_s(srv) - cpu0) / r.ops * 1e6 : 0;
	res.generator_us = r.ops ? (thread_cpu_s() - gen0) / r.ops * 1e6 : 0;
	for (i = 0; i < n; i++) {
		if (r.c[i].fd >= 0)
			close(r.c[i].fd);
		free(r.c[i].held);
		free(r.c[i].in);
	}
	close(r.ep);
	res.ops_s = r.ops / (t1 - t0);
	res.fails = r.fails;
	lat_pct(&r.lat, &res.p50, &res.p99);
	free(r.lat.v);
	free(r.c);
	free(r.retry);
	free(r.out);
	free(r.in);
	free(again);
	return res;
}

int main(int argc, char **argv)
{
	static const int clients[] = { 1, 4, 16, 64, 1000 };
	static const int sizes[] = { 100, 2048, 30720 };
	static const char *size_names[] = { "100 B", "2 KiB", "30 KiB" };
	char bin[512], unix_target[300], tcp_target[64], full_target[300], empty_target[300];
	static const struct {
		const char *name;
		int server, client;
	} places[] = { { "scheduler's placement", -1, -1 },
		       { "server and client pinned to one core", 0, 0 },
		       { "server and client pinned to two cores", 1, 0 } };
	pid_t unix_srv, tcp_srv;
	struct rlimit rl;
	struct sockaddr_un un_sa;
	struct sockaddr_in in_sa;
	double worst_1000[2] = { 1e18, 1e18 }, get_ratio[3][2][3], perop_ratio[3][2][3];
	double ratio_1000[2][2][3], echo_1000[2][2][3], cpu_1000[2][2][3][2], gen_1000[2][2][3][2];
	long total_fails = 0;
	int t, m, s, c, i, pl, nplaces, port, ok = 1;
	if (argc < 2) {
		fprintf(stderr, "usage: dc_bench PREFIX [seconds-per-row]\n");
		return 2;
	}
	if (argc > 2)
		row_secs = atof(argv[2]);
	snprintf(bin, sizeof(bin), "%s/bin/dc_server", argv[1]);
	server_bin = bin;
	signal(SIGPIPE, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	snprintf(dir, sizeof(dir), "/tmp/dcbench.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	for (i = 0; i < (int)sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 31 + 7);

	port = 10000 + getpid() % 20000;
	nplaces = sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 3 : 2;

	/* One client: raw baselines and GET round trips measured alternately,
	 * RUNS times each; the best p50s are compared. Servers and baselines
	 * are pinned alike. */
	for (pl = 0; pl < nplaces; pl++) {
		server_cpu = places[pl].server;
		pin_self(places[pl].client);
		snprintf(unix_target, sizeof(unix_target), "UNIX:%s/one%d.sock", dir, pl);
		unix_srv = start_dc_server(unix_target, "60000");
		port++;
		tcp_srv = start_tcp_server(&port, tcp_target, sizeof(tcp_target));
		printf("### One client, GET round trip: %s (p50; best of %d alternating runs)\n\n", places[pl].name, RUNS);
		steal_mark();
		printf("| transport | size | raw ping-pong | persistent GET | ratio | epoll echo | ratio to it | raw connect+pp+close | per-operation GET | ratio |\n");
		printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
		for (t = 0; t < 2; t++)
			for (s = 0; s < 3; s++) {
				const char *target = t ? tcp_target : unix_target;
				pid_t srv = t ? tcp_srv : unix_srv;
				double a[RUNS], b[RUNS], c3[RUNS], d[RUNS], e[RUNS];
				for (i = 0; i < RUNS; i++) {
					result_t p, q;
					a[i] = raw_rtt(t, sizes[s], 0, !t, 0);
					p = run_row(target, DC_CTX_FLAG_PERSISTENT, 1, sizes[s], 1, srv);
					e[i] = raw_rtt(t, sizes[s], 0, !t, 1);
					c3[i] = raw_rtt(t, sizes[s], 1, 0, 0);
					q = run_row(target, 0, 1, sizes[s], 1, srv);
					b[i] = p.p50;
					d[i] = q.p50;
					total_fails += p.fails + q.fails;
				}
				qsort(a, RUNS, sizeof(double), cmp_d);
				qsort(b, RUNS, sizeof(double), cmp_d);
				qsort(c3, RUNS, sizeof(double), cmp_d);
				qsort(d, RUNS, sizeof(double), cmp_d);
				qsort(e, RUNS, sizeof(double), cmp_d);
				get_ratio[pl][t][s] = b[0] / a[0];
				perop_ratio[pl][t][s] = d[0] / c3[0];
				printf("| %s | %s | %.1f µs | %.1f µs | %.2f | %.1f µs | %.2f | %.1f µs | %.1f µs | %.2f |\n",
				       t ? "TCP" : "unix", size_names[s], a[0] * 1e6, b[0] * 1e6,
				       get_ratio[pl][t][s], e[0] * 1e6, b[0] / e[0], c3[0] * 1e6,
				       d[0] * 1e6, perop_ratio[pl][t][s]);
				fflush(stdout);
			}
		printf("\n");
		steal_report();
		printf("\n");
		stop(unix_srv);
		stop(tcp_srv);
	}
	server_cpu = -1;
	pin_self(-1);
	printf("(raw ping-pong: a socketpair for unix, a 127.0.0.1 connection for TCP; each moves the bytes of one GET exchange.\n"
	       " epoll echo: the same echo served the way any single-threaded server of many clients must, waiting in epoll_wait\n"
	       " before each read: the floor for dc_server's design.)\n");

	snprintf(unix_target, sizeof(unix_target), "UNIX:%s/dc.sock", dir);
	unix_srv = start_dc_server(unix_target, "60000");
	port++;
	tcp_srv = start_tcp_server(&port, tcp_target, sizeof(tcp_target));
	memset(&un_sa, 0, sizeof(un_sa));
	un_sa.sun_family = AF_UNIX;
	snprintf(un_sa.sun_path, sizeof(un_sa.sun_path), "%s/dc.sock", dir);
	memset(&in_sa, 0, sizeof(in_sa));
	in_sa.sin_family = AF_INET;
	in_sa.sin_port = htons((unsigned short)port);
	in_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	printf("\n### ADD/GET/REMOVE mix, one thread per DC_CTX client\n\n");
	steal_mark();
	printf("| transport | connections | size | clients | ops/s | p50 | p99 | server CPU/op | failed ops |\n");
	printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
	for (t = 0; t < 2; t++)
		for (m = 0; m < 2; m++)
			for (s = 0; s < 3; s++) {
				double best = 0;
				for (c = 0; c < 5; c++) {
					result_t r = run_row(t ? tcp_target : unix_target, m ? 0 : DC_CTX_FLAG_PERSISTENT,
							     clients[c], sizes[s], 0, t ? tcp_srv : unix_srv);
					total_fails += r.fails;
					printf("| %s | %s | %s | %d | %.0f | %.1f µs | %.1f µs | %.1f µs | %ld |\n",
					       t ? "TCP" : "unix", m ? "per-operation" : "persistent", size_names[s],
					       clients[c], r.ops_s, r.p50 * 1e6, r.p99 * 1e6, r.server_us, r.fails);
					fflush(stdout);
					/* the throughput target compares like with like:
					 * 1000 clients against the best row of the same
					 * transport, mode and size */
					if (c < 4 && r.ops_s > best)
						best = r.ops_s;
					if (c == 4 && r.ops_s / best < worst_1000[0])
						worst_1000[0] = r.ops_s / best;
				}
			}

	/* The event-driven generator drives dc_server and, alternately, the
	 * echo floor: an echo server built like dc_server that keeps no
	 * sessions, so the same bytes travel each way. How much throughput it
	 * keeps with 1000 clients is what any single-threaded server of this
	 * design can keep on this host. Each cell is the best of EV_RUNS. */
	printf("\n");
	steal_report();
	printf("\n### ADD/GET/REMOVE mix, event-driven load generator (one thread; every connection has one request in flight),\n"
	       "### dc_server and the echo floor measured alternately (best of %d runs each)\n\n", EV_RUNS);
	printf("| transport | connections | size | clients | ops/s | p50 | p99 | server CPU/op | generator CPU/op | failed ops | echo floor ops/s | echo CPU/op |\n");
	printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (t = 0; t < 2; t++) {
		struct sockaddr_storage echo_sa;
		socklen_t echo_len;
		pid_t echo = start_echo_many(t, &echo_sa, &echo_len);
		const struct sockaddr *dc_sa = t ? (struct sockaddr *)&in_sa : (struct sockaddr *)&un_sa;
		socklen_t dc_len = t ? sizeof(in_sa) : sizeof(un_sa);
		for (m = 0; m < 2; m++)
			for (s = 0; s < 3; s++) {
				double best = 0, best_echo = 0;
				result_t dc_best[5] = { { 0 } }, echo_best[5] = { { 0 } };
				long fails[5] = { 0 };
				/* round robin over the client counts, so that a noisy
				 * stretch of this shared host hits every row alike */
				for (i = 0; i < EV_RUNS; i++)
					for (c = 0; c < 5; c++) {
						result_t a = run_evrow(dc_sa, dc_len, !m, clients[c], sizes[s],
								       t ? tcp_srv : unix_srv, 0);
						result_t b = run_evrow((struct sockaddr *)&echo_sa, echo_len, !m, clients[c],
								       sizes[s], echo, 1);
						fails[c] += a.fails + b.fails;
						if (a.ops_s > dc_best[c].ops_s)
							dc_best[c] = a;
						if (b.ops_s > echo_best[c].ops_s)
							echo_best[c] = b;
					}
				for (c = 0; c < 5; c++) {
					result_t d = dc_best[c], e = echo_best[c];
					total_fails += fails[c];
					printf("| %s | %s | %s | %d | %.0f | %.1f µs | %.1f µs | %.1f µs | %.1f µs | %ld | %.0f | %.1f µs |\n",
					       t ? "TCP" : "unix", m ? "per-operation" : "persistent", size_names[s],
					       clients[c], d.ops_s, d.p50 * 1e6, d.p99 * 1e6, d.server_us, d.generator_us, fails[c],
					       e.ops_s, e.server_us);
					fflush(stdout);
					if (c < 4) {
						if (d.ops_s > best) {
							best = d.ops_s;
							cpu_1000[t][m][s][0] = d.server_us;
							gen_1000[t][m][s][0] = d.generator_us;
						}
						if (e.ops_s > best_echo)
							best_echo = e.ops_s;
						continue;
					}
					ratio_1000[t][m][s] = d.ops_s / best;
					echo_1000[t][m][s] = e.ops_s / best_echo;
					cpu_1000[t][m][s][1] = d.server_us;
					gen_1000[t][m][s][1] = d.generator_us;
					if (d.ops_s / best < worst_1000[1])
						worst_1000[1] = d.ops_s / best;
				}
			}
		stop(echo);
	}
	stop(unix_srv);
	stop(tcp_srv);
	printf("\n");
	steal_report();
	printf("\n### 1000 clients / best row (event-driven generator)\n\n");
	printf("| transport | connections | size | dc_server | echo floor | dc_server CPU/op, best row -> 1000 | generator CPU/op |\n");
	printf("|---|---|---|---:|---:|---:|---:|\n");
	for (t = 0; t < 2; t++)
		for (m = 0; m < 2; m++)
			for (s = 0; s < 3; s++)
				printf("| %s | %s | %s | %.2f | %.2f | %.1f -> %.1f µs | %.1f -> %.1f µs |\n",
				       t ? "TCP" : "unix", m ? "per-operation" : "persistent", size_names[s],
				       ratio_1000[t][m][s], echo_1000[t][m][s], cpu_1000[t][m][s][0], cpu_1000[t][m][s][1],
				       gen_1000[t][m][s][0], gen_1000[t][m][s][1]);

	/* full against nearly empty server */
	{
		pid_t full, empty;
		result_t rf = { 0 }, re = { 0 };
		DC_CTX *fill;
		unsigned char id[32];
		snprintf(full_target, sizeof(full_target), "UNIX:%s/full.sock", dir);
		snprintf(empty_target, sizeof(empty_target), "UNIX:%s/empty.sock", dir);
		full = start_dc_server(full_target, "60000");
		empty = start_dc_server(empty_target, "60000");
		fill = DC_CTX_new(full_target, DC_CTX_FLAG_PERSISTENT);
		for (i = 0; fill && i < 61000; i++) {
			int n = snprintf((char *)id, sizeof(id), "fill-%d", i);
			if (!DC_CTX_add_session(fill, id, n, payload, 100, 600000))
				total_fails++;
		}
		DC_CTX_free(fill);
		/* alternating runs, the best of each: one stall on this shared
		 * host must not decide the comparison */
		steal_mark();
		for (i = 0; i < RUNS; i++) {
			result_t f = run_row(full_target, DC_CTX_FLAG_PERSISTENT, 1, 100, 0, full);
			result_t e = run_row(empty_target, DC_CTX_FLAG_PERSISTENT, 1, 100, 0, empty);
			total_fails += f.fails + e.fails;
			if (i == 0 || f.ops_s > rf.ops_s)
				rf = f;
			if (i == 0 || e.ops_s > re.ops_s)
				re = e;
		}
		printf("\n### Server cache full (60000 sessions) against nearly empty, 1 persistent client, 100 B (best of %d alternating runs)\n\n",
		       RUNS);
		printf("| cache | ops/s | p50 | p99 |\n|---|---:|---:|---:|\n");
		printf("| full | %.0f | %.1f µs | %.1f µs |\n", rf.ops_s, rf.p50 * 1e6, rf.p99 * 1e6);
		printf("| nearly empty | %.0f | %.1f µs | %.1f µs |\n", re.ops_s, re.p50 * 1e6, re.p99 * 1e6);
		printf("\nfull/empty per-op time ratio: %.2f (target <= 1.20) %s\n", re.ops_s / rf.ops_s,
		       re.ops_s / rf.ops_s <= 1.2 ? "OK" : "MISSED");
		ok &= re.ops_s / rf.ops_s <= 1.2;
		steal_report();
		stop(full);
		stop(empty);
	}

	printf("\n### Targets\n\n");
	for (pl = 0; pl < nplaces; pl++)
		for (t = 0; t < 2; t++)
			for (s = 0; s < 3; s++) {
				double a = get_ratio[pl][t][s], b = perop_ratio[pl][t][s];
				printf("- %s, %s %s: persistent GET / raw ping-pong = %.2f (<= 1.15 %s); per-operation / raw connect = %.2f (<= 2 %s)\n",
				       places[pl].name, t ? "TCP" : "unix", size_names[s], a, a <= 1.15 ? "OK" : "MISSED", b,
				       b <= 2 ? "OK" : "MISSED");
				ok &= a <= 1.15 && b <= 2;
			}
	printf("- 1000 clients / best row of the same kind, event-driven generator: worst %.2f (>= 0.80 %s)\n",
	       worst_1000[1], worst_1000[1] >= 0.8 ? "OK" : "MISSED");
	printf("- 1000 clients / best row of the same kind, one thread per DC_CTX client: worst %.2f (>= 0.80 %s)\n",
	       worst_1000[0], worst_1000[0] >= 0.8 ? "OK" : "MISSED");
	{
		double closest = 1e18;
		for (t = 0; t < 2; t++)
			for (m = 0; m < 2; m++)
				for (s = 0; s < 3; s++)
					if (ratio_1000[t][m][s] / echo_1000[t][m][s] < closest)
						closest = ratio_1000[t][m][s] / echo_1000[t][m][s];
		printf("- (not a target) 1000 clients / best row, dc_server against the echo floor's own ratio: worst %.2f\n",
		       closest);
	}
	printf("- failed operations: %ld (%s)\n", total_fails, total_fails ? "MISSED" : "OK");
	ok &= worst_1000[0] >= 0.8 && worst_1000[1] >= 0.8 && !total_fails;
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return ok ? 0 : 1;
}
