/* dc_server with its sessions in Valkey/Redis (-cache redis://...),
 * against redis-benchmark on the same redis-server in the same run.
 *
 *   redis_bench PREFIX [seconds-per-row]
 *
 * Starts a redis-server on a free 127.0.0.1 port (files in a temporary
 * directory), a dc_server on it (unix socket) and a dc_server with the
 * builtin cache. An event-driven load generator (one thread, each client
 * connection with one request in flight, as redis-benchmark's clients
 * without pipelining) drives GET, ADD and 90/10 GET/ADD mixes with 1, 16
 * and 64 clients and sessions of 100 B and 2 KiB; beside each row,
 * `redis-benchmark -t get,set -c N -d SIZE` against the same redis-server.
 * The target: at 64 clients dc_server+Redis reaches at least 60% of
 * redis-benchmark's GET (for GET) and SET (for ADD) rate. Also one
 * client's GET latency through dc_server+Redis against the builtin
 * cache's GET plus one Redis round trip (redis-benchmark, 1 client), and
 * dc_server's resident memory before and after all rows. Prints markdown;
 * exits 1 when the target is missed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_util.h"

#define HDR 14
#define FRAME 2048
#define MAXC 64

static char dir[256];
static pid_t redis_pid, dc_pid, builtin_pid;

static void cleanup(void)
{
	char cmd[300];
	stop(dc_pid);
	stop(builtin_pid);
	stop(redis_pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0])
		(void)!system(cmd);
}

static void die(const char *msg)
{
	fprintf(stderr, "redis_bench: %s\n", msg);
	cleanup();
	exit(1);
}

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &l))
		die("cannot find a free port");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t spawn(char *const argv[])
{
	pid_t p = fork();
	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	return p;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void wait_unix(const char *path)
{
	int i, fd;
	for (i = 0; i < 500; i++) {
		if ((fd = connect_unix(path)) >= 0) {
			close(fd);
			return;
		}
		usleep(20000);
	}
	die("dc_server did not start");
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* One request message (split into 2048-byte frames) into out. */
static size_t encode(unsigned char *out, uint32_t uid, int op, const unsigned char *payload, size_t n)
{
	size_t pos = 0, done = 0;
	do {
		size_t chunk = n - done > FRAME ? FRAME : n - done;
		put32(out + pos, 0x00110000);
		out[pos + 4] = 0;
		put32(out + pos + 5, uid);
		out[pos + 9] = 0;
		out[pos + 10] = op;
		out[pos + 11] = done + chunk == n;
		out[pos + 12] = chunk >> 8;
		out[pos + 13] = chunk & 0xff;
		memcpy(out + pos + HDR, payload + done, chunk);
		pos += HDR + chunk;
		done += chunk;
	} while (done < n);
	return pos;
}

static unsigned char data_buf[4096];

static size_t add_payload(unsigned char *p, const char *id, size_t size, uint32_t timeout)
{
	size_t idl = strlen(id);
	put32(p, timeout);
	put32(p + 4, idl);
	memcpy(p + 8, id, idl);
	memcpy(p + 8 + idl, data_buf, size);
	return 8 + idl + size;
}

typedef struct {
	int fd;
	unsigned char in[8192];
	size_t ilen;
	unsigned seq;
	double sent;
} conn_t;

static unsigned rng = 12345;
static unsigned next_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

#define GET_KEYS 1000

/* Sends one request of the mix on c. */
static void send_one(conn_t *c, int idx, int get_pct, size_t size)
{
	unsigned char payload[4200], msg[4400];
	char id[64];
	size_t n, m;
	int op;
	if ((int)(next_rand() % 100) < get_pct) {
		snprintf(id, sizeof(id), "g%zu-%u", size, next_rand() % GET_KEYS);
		n = strlen(id);
		memcpy(payload, id, n);
		op = 1;
	} else {
		snprintf(id, sizeof(id), "a%zu-%d-%u-%u", size, idx, c->seq, rng);
		/* short-lived: the store does not fill up during the run */
		n = add_payload(payload, id, size, 1000);
		op = 0;
	}
	c->seq++;
	m = encode(msg, c->seq, op, payload, n);
	if (write(c->fd, msg, m) != (ssize_t)m)
		die("short write to dc_server");
	c->sent = now_s();
}

/* Complete responses at the front of c->in: removes them, returns how many. */
static int take_responses(conn_t *c)
{
	int done = 0;
	size_t pos = 0;
	for (;;) {
		size_t len;
		if (c->ilen - pos < HDR)
			break;
		len = ((size_t)c->in[pos + 12] << 8) | c->in[pos + 13];
		if (c->ilen - pos < HDR + len)
			break;
		if (c->in[pos + 11])
			done++;
		pos += HDR + len;
	}
	memmove(c->in, c->in + pos, c->ilen - pos);
	c->ilen -= pos;
	return done;
}

/* ops/s of the mix with n clients for secs seconds; *lat = mean latency. */
static double load(const char *sock, int n, int get_pct, size_t size, double secs, double *lat)
{
	conn_t c[MAXC];
	struct epoll_event ev, evs[MAXC];
	int ep = epoll_create1(0), i;
	long ops = 0;
	double t0, t, lat_sum = 0;
	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		if ((c[i].fd = connect_unix(sock)) < 0)
			die("cannot connect to dc_server");
		ev.events = EPOLLIN;
		ev.data.u32 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
	}
	t0 = now_s();
	for (i = 0; i < n; i++)
		send_one(&c[i], i, get_pct, size);
	for (t = t0; t - t0 < secs;) {
		int k, ne = epoll_wait(ep, evs, MAXC, 1000);
		t = now_s();
		for (k = 0; k < ne; k++) {
			conn_t *cc = &c[evs[k].data.u32];
			ssize_t r = read(cc->fd, cc->in + cc->ilen, sizeof(cc->in) - cc->ilen);
			if (r <= 0)
				die("dc_server closed a connection");
			cc->ilen += r;
			if (take_responses(cc)) {
				ops++;
				lat_sum += t - cc->sent;
				send_one(cc, evs[k].data.u32, get_pct, size);
			}
		}
	}
	t = now_s();
	for (i = 0; i < n; i++)
		close(c[i].fd);
	close(ep);
	*lat = ops ? lat_sum / ops : 0;
	return ops / (t - t0);
}

/* The GET keys every row reads. */
static void preload(const char *sock, size_t size)
{
	unsigned char payload[4200], msg[4400], in[256];
	char id[64];
	int fd = connect_unix(sock), i;
	if (fd < 0)
		die("cannot connect to dc_server");
	for (i = 0; i < GET_KEYS; i++) {
		size_t n, m, got = 0;
		snprintf(id, sizeof(id), "g%zu-%d", size, i);
		n = add_payload(payload, id, size, 3600000);
		m = encode(msg, i, 0, payload, n);
		if (write(fd, msg, m) != (ssize_t)m)
			die("preload write");
		while (got < HDR + 1) {
			ssize_t r = read(fd, in + got, sizeof(in) - got);
			if (r <= 0)
				die("preload read");
			got += r;
		}
		if (in[HDR] != 0 && in[HDR] != 101)
			die("preload: ADD failed (is the store up?)");
	}
	close(fd);
}

/* redis-benchmark's rate for GET and SET (ops/s). */
static void redis_benchmark(int port, int clients, size_t size, double *get, double *set)
{
	char cmd[256], line[512];
	FILE *f;
	int n = clients == 1 ? 20000 : 100000;
	*get = *set = 0;
	snprintf(cmd, sizeof(cmd), "redis-benchmark -h 127.0.0.1 -p %d -t get,set -c %d -d %zu -n %d -q 2>/dev/null",
		 port, clients, size, n);
	if (!(f = popen(cmd, "r")))
		die("cannot run redis-benchmark");
	while (fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, '\r');
		p = p ? p + 1 : line;
		if (!strncmp(p, "SET: ", 5))
			*set = atof(p + 5);
		else if (!strncmp(p, "GET: ", 5))
			*get = atof(p + 5);
	}
	pclose(f);
	if (*get <= 0 || *set <= 0)
		die("no rate from redis-benchmark");
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	char dc_bin[512], dc_sock[300], builtin_sock[300], listen1[320], listen2[320], url[64], portstr[16];
	static const int clients[] = { 1, 16, 64 };
	static const size_t sizes[] = { 100, 2048 };
	double secs = argc > 2 ? atof(argv[2]) : 1.5, lat, rb_get1 = 0, base_lat = 0, dc_lat = 0;
	long rss0, rss1;
	int port, i, ci, si, fd, missed = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: redis_bench PREFIX [seconds-per-row]\n");
		return 2;
	}
	if (system("command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null"))
		die("redis-server or redis-benchmark is missing: run tools/deps.sh");
	snprintf(dir, sizeof(dir), "/tmp/dc-redis-bench-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	for (i = 0; i < (int)sizeof(data_buf); i++)
		data_buf[i] = (unsigned char)(i * 7 + 3);
	port = free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	{
		char *av[] = { "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			       "--dir", dir, NULL };
		redis_pid = spawn(av);
	}
	for (i = 0; i < 500 && (fd = connect_tcp(port)) < 0; i++)
		usleep(20000);
	if (fd < 0)
		die("redis-server did not start");
	close(fd);
	usleep(100000);
	snprintf(dc_bin, sizeof(dc_bin), "%s/bin/dc_server", argv[1]);
	snprintf(dc_sock, sizeof(dc_sock), "%s/dc.sock", dir);
	snprintf(builtin_sock, sizeof(builtin_sock), "%s/builtin.sock", dir);
	snprintf(listen1, sizeof(listen1), "UNIX:%s", dc_sock);
	snprintf(listen2, sizeof(listen2), "UNIX:%s", builtin_sock);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	{
		char *av[] = { dc_bin, "-listen", listen1, "-cache", url, NULL };
		char *bv[] = { dc_bin, "-listen", listen2, "-sessions", "60000", NULL };
		dc_pid = spawn(av);
		builtin_pid = spawn(bv);
	}
	wait_unix(dc_sock);
	wait_unix(builtin_sock);
	for (si = 0; si < 2; si++) {
		preload(dc_sock, sizes[si]);
		preload(builtin_sock, sizes[si]);
	}
	rss0 = rss_kib(dc_pid);

	printf("dc_server -cache redis:// (unix socket) against redis-benchmark on the same redis-server, "
	       "%.1f s per row; ops/s\n\n",
	       secs);
	printf("| clients | size | dc GET | dc ADD | dc 90/10 | redis-benchmark GET | redis-benchmark SET "
	       "| GET ratio | ADD/SET ratio |\n");
	printf("|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (si = 0; si < 2; si++)
		for (ci = 0; ci < 3; ci++) {
			int n = clients[ci];
			double g, a, m, rg, rs;
			g = load(dc_sock, n, 100, sizes[si], secs, &lat);
			if (n == 1 && si == 0)
				dc_lat = lat;
			a = load(dc_sock, n, 0, sizes[si], secs, &lat);
			m = load(dc_sock, n, 90, sizes[si], secs, &lat);
			redis_benchmark(port, n, sizes[si], &rg, &rs);
			if (n == 1 && si == 0)
				rb_get1 = rg;
			printf("| %d | %zu B | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f%% | %.0f%% |\n", n, sizes[si], g, a, m,
			       rg, rs, 100 * g / rg, 100 * a / rs);
			if (n == 64 && (g < 0.6 * rg || a < 0.6 * rs)) {
				printf("\n(target missed: at 64 clients below 60%% of redis-benchmark)\n\n");
				missed = 1;
			}
			fflush(stdout);
		}
	load(builtin_sock, 1, 100, 100, secs, &base_lat);
	rss1 = rss_kib(dc_pid);
	printf("\nOne client, 100 B GET, mean latency:\n\n");
	printf("| dc_server+Redis | builtin dc_server | Redis round trip (redis-benchmark -c 1) | builtin + round trip |\n");
	printf("|--:|--:|--:|--:|\n");
	printf("| %.1f us | %.1f us | %.1f us | %.1f us |\n", dc_lat * 1e6, base_lat * 1e6, 1e6 / rb_get1,
	       base_lat * 1e6 + 1e6 / rb_get1);
	printf("\ndc_server (Redis store) resident memory: %ld KiB after preloading, %ld KiB after every row\n", rss0,
	       rss1);
	printf("%s\n", missed ? "target missed" : "target met (>= 60% of redis-benchmark at 64 clients)");
	cleanup();
	return missed;
}
