/* escrow_bench - per-operation cost of escrow_add/get/del (256-byte payload
 * and a descriptor, 20,000 entries) beside a raw sendmsg+recvmsg round trip
 * with SCM_RIGHTS measured in the same run, plus the auto-start time of
 * escrow_init. Prints a markdown table.
 *
 *   escrow_bench PREFIX      (PREFIX is the install prefix; informational)
 *
 * Baseline: the same process sends 272 bytes (an ADD header's worth plus
 * 256 payload bytes) with one descriptor over a socketpair to an echo peer
 * in a child process, which receives it, sends the bytes and the
 * descriptor back, and closes its copy; the caller receives and closes.
 * That is the work of one request/reply exchange carrying a descriptor.
 * The operations are timed in short rounds, each between two baseline
 * runs of the same length, and the medians are printed, so that load from
 * other processes affects both sides alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <escrow.h>

#define ENTRIES 20000
#define PAYLOAD 256
#define MSG (16 + PAYLOAD)
#define STARTS 10
#define ROUNDS 10

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int send_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.space;
		m.msg_controllen = sizeof ctl.space;
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Receives one message; returns its length and the descriptor (or -1). */
static ssize_t recv_fd(int sock, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.space;
	m.msg_controllen = sizeof ctl.space;
	n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	*fd = -1;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return n;
}

static int peer_sock = -1;
static pid_t peer_pid = -1;

/* Starts the echo peer: it sends every message back with the descriptor
 * that came with it, then closes its copy. */
static int start_peer(void)
{
	int sv[2], got;
	char buf[MSG];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	peer_pid = fork();
	if (peer_pid < 0)
		return -1;
	if (peer_pid == 0) {
		close(sv[0]);
		for (;;) {
			ssize_t n = recv_fd(sv[1], buf, sizeof buf, &got);
			if (n <= 0)
				_exit(0);
			send_fd(sv[1], buf, n, got);
			if (got >= 0)
				close(got);
		}
	}
	close(sv[1]);
	peer_sock = sv[0];
	return 0;
}

/* ns per raw round trip over n exchanges; fd < 0: no descriptor. */
static double raw_round_trips(int n, int fd)
{
	char buf[MSG];
	int i, got;
	double t0 = now_ns();
	memset(buf, 'r', sizeof buf);
	for (i = 0; i < n; i++) {
		if (send_fd(peer_sock, buf, sizeof buf, fd) != 0 ||
		    recv_fd(peer_sock, buf, sizeof buf, &got) != (ssize_t)sizeof buf) {
			fprintf(stderr, "raw round trip failed\n");
			exit(1);
		}
		if (got >= 0)
			close(got);
	}
	return (now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static pid_t daemon_pid(const char *path)
{
	struct sockaddr_un a;
	struct ucred cred;
	socklen_t len = sizeof cred;
	pid_t pid = -1;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(s);
	return pid;
}

static void stop_daemon(const char *path)
{
	pid_t pid = daemon_pid(path);
	if (pid > 0)
		kill(pid, SIGKILL);
	unlink(path);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/escrow-bench-XXXXXX", path[128];
	char payload[PAYLOAD], buf[PAYLOAD];
	struct escrow *e;
	struct rlimit rl;
	double t0, raw, raw_nd, start_sum = 0, start_max = 0;
	double times[3][ROUNDS], ratios[3][ROUNDS], raws[3 * ROUNDS], raw_nofd[3 * ROUNDS];
	int i, fd, got, rc, op, round, chunk, entries = ENTRIES;
	int32_t nob, nr, total;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	/* The auto-started daemon inherits this limit; it holds every entry's
	 * descriptor. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < ENTRIES + 64)
			entries = (int)rl.rlim_cur - 64;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	fd = open("/dev/null", O_RDONLY);
	memset(payload, 'p', sizeof payload);

	/* Auto-start: escrow_init with nothing listening, on fresh paths. */
	for (i = 0; i < STARTS; i++) {
		double dt;
		snprintf(path, sizeof path, "%s/start%d", dir, i);
		t0 = now_ns();
		rc = escrow_init(path, 0, 1, &e);
		dt = (now_ns() - t0) / 1e6;
		if (rc != 0) {
			fprintf(stderr, "escrow_init: %d\n", rc);
			return 1;
		}
		escrow_fini(e);
		stop_daemon(path);
		start_sum += dt;
		if (dt > start_max)
			start_max = dt;
	}

	if (start_peer() != 0) {
		perror("peer");
		return 1;
	}
	snprintf(path, sizeof path, "%s/escrow", dir);
	if ((rc = escrow_init(path, 0, 1, &e)) != 0) {
		fprintf(stderr, "escrow_init: %d\n", rc);
		return 1;
	}
	/* ROUNDS short rounds; each times a slice of the entries with one
	 * operation between two raw baseline runs of the same length, so that
	 * load from other processes hits both sides alike. Reported: medians
	 * of the per-round times and of the per-round ratios. */
	chunk = entries / ROUNDS;
	for (op = 0; op < 3; op++) {
		for (round = 0; round < ROUNDS; round++) {
			int lo = round * chunk, hi = lo + chunk;
			double before = raw_round_trips(chunk, fd), t, after;
			t0 = now_ns();
			for (i = lo; i < hi; i++) {
				if (op == 0)
					rc = escrow_add(e, 0, i, fd, PAYLOAD, payload);
				else if (op == 1) {
					nob = sizeof buf;
					rc = escrow_get(e, 0, i, &got, &nob, buf);
					if (rc == 0 && (got < 0 || nob != PAYLOAD))
						rc = -EPROTO;
					if (got >= 0)
						close(got);
				} else
					rc = escrow_del(e, 0, i);
				if (rc != 0) {
					fprintf(stderr, "operation %d on entry %d: %d\n", op, i, rc);
					return 1;
				}
			}
			t = (now_ns() - t0) / chunk;
			after = raw_round_trips(chunk, fd);
			times[op][round] = t;
			ratios[op][round] = t / ((before + after) / 2);
			raws[op * ROUNDS + round] = (before + after) / 2;
			raw_nofd[op * ROUNDS + round] = raw_round_trips(chunk / 4, -1);
		}
		if (op == 0 && (escrow_tag(e, 0, &nr, &total) != 0 || nr != ROUNDS * chunk ||
				total != ROUNDS * chunk * PAYLOAD)) {
			fprintf(stderr, "escrow_tag: unexpected count %d\n", nr);
			return 1;
		}
	}
	escrow_fini(e);
	stop_daemon(path);
	rmdir(dir);

	raw = median(raws, 3 * ROUNDS);
	raw_nd = median(raw_nofd, 3 * ROUNDS);
	printf("%d entries, %d-byte payload, one descriptor per entry; %d rounds per operation, "
	       "each between two baseline runs; medians.\n\n",
	       ROUNDS * chunk, PAYLOAD, ROUNDS);
	printf("| operation | time per op | ratio to raw SCM_RIGHTS round trip |\n");
	printf("|---|---:|---:|\n");
	printf("| raw sendmsg+recvmsg round trip, %d B + descriptor both ways (baseline) | %.2f us | 1.00 |\n",
	       MSG, raw / 1e3);
	printf("| raw round trip, %d B, no descriptor | %.2f us | %.2f |\n", MSG, raw_nd / 1e3, raw_nd / raw);
	for (op = 0; op < 3; op++) {
		static const char *names[] = { "escrow_add (256 B + descriptor)",
					       "escrow_get (256 B + descriptor, closed after)", "escrow_del" };
		double t = median(times[op], ROUNDS), r = median(ratios[op], ROUNDS);
		printf("| %s | %.2f us | %.2f |\n", names[op], t / 1e3, r);
	}
	printf("| escrow_init with auto-start (mean of %d; max %.2f ms) | %.2f ms | |\n", STARTS, start_max,
	       start_sum / STARTS);
	close(peer_sock);
	waitpid(peer_pid, NULL, 0);
	close(fd);
	return 0;
}
