/* TLS link benchmark: persistent GETs through dc_client -> dc_server over
 * TLS 1.3 against the same over plain TCP, measured in the same run; then
 * the TLS handshakes dc_server sustains.
 *
 *   dc_tls_bench PREFIX [seconds-per-row]
 *
 * Certificates are made for the run by capi-tests/lib/tls_certs.sh (run
 * from the repository root, as tools/bench.sh does; TLS_CERTS_SCRIPT
 * overrides the path). Two dc_servers on 127.0.0.1 (one plain, one with
 * -tls-*), each with its own dc_client in front (applications on unix
 * sockets). Each client is a thread with one persistent DC_CTX looping GET
 * of its own session. Rows: 100 B, 2 KiB and 30 KiB sessions, 1 and 64
 * clients; every row is measured seven times, alternating plain and TLS.
 * Per-operation cost is the CPU time dc_server and dc_client used per GET
 * (from /proc, to the nanosecond), which the other programs on a shared
 * machine disturb far less than throughput; each plain/TLS pair gives a
 * ratio and the row reports their median and range, and the same with the
 * application's own CPU time added (the whole GET). Two tables: first with
 * every process pinned to one core (no cross-core wake-ups, the steady
 * figures the target is checked on: TLS/plain at most 1.3, the program
 * exits 1 when a row misses it), then unpinned, for information.
 *
 * Handshakes: `openssl s_time -new -tls1_3` (with a client certificate)
 * against the TLS dc_server, one and two at a time; dc_server's own CPU
 * time per handshake (from /proc) gives the rate one core sustains.
 * Prints markdown.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <distcache/dc_client.h>
#include "bench_util.h"

#define RUNS 7
#define TARGET 1.3

static double row_secs = 0.5;

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* CPU seconds the calling thread has used. */
static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct worker {
	const char *target;
	int id;
	size_t len;
	double deadline;
	lat_t lat;
	long ops, fails;
	double cpu; /* the thread's own CPU time over the timed loop */
	pthread_barrier_t *start;
	volatile double *shared_deadline;
};

static unsigned char session[32768];

static void *work(void *arg)
{
	struct worker *w = arg;
	DC_CTX *ctx = DC_CTX_new(w->target, DC_CTX_FLAG_PERSISTENT);
	unsigned char id[48];
	unsigned char *out = malloc(w->len + 16);
	unsigned int used;
	int n = snprintf((char *)id, sizeof(id), "tlsbench-%d-%d-%zu", (int)getpid(), w->id, w->len);
	if (!ctx || DC_CTX_add_session(ctx, id, (unsigned int)n, session, (unsigned int)w->len, 600000) != 1)
		w->fails++;
	pthread_barrier_wait(w->start); /* every session stored */
	pthread_barrier_wait(w->start); /* deadline published */
	w->deadline = *w->shared_deadline;
	w->cpu = thread_cpu_s();
	while (ctx && now_s() < w->deadline) {
		double t0 = now_s();
		if (DC_CTX_get_session(ctx, id, (unsigned int)n, out, (unsigned int)w->len + 16, &used) != 1 ||
		    used != w->len)
			w->fails++;
		lat_add(&w->lat, now_s() - t0);
		w->ops++;
	}
	w->cpu = thread_cpu_s() - w->cpu;
	if (ctx) {
		DC_CTX_remove_session(ctx, id, (unsigned int)n);
		DC_CTX_free(ctx);
	}
	free(out);
	return NULL;
}

struct result {
	double ops_s, p50, p99, app_cpu;
	long ops, fails;
};

static struct result run(const char *target, size_t len, int clients)
{
	static int next_id;
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	pthread_barrier_t start;
	pthread_attr_t attr;
	lat_t all = { 0 };
	struct result r = { 0 };
	volatile double deadline = 0;
	double t0, t1;
	long ops = 0;
	size_t k;
	int i;
	pthread_barrier_init(&start, NULL, (unsigned int)clients + 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < clients; i++) {
		w[i].target = target;
		w[i].id = next_id++;
		w[i].len = len;
		w[i].start = &start;
		w[i].shared_deadline = &deadline;
		pthread_create(&th[i], &attr, work, &w[i]);
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	deadline = t0 + row_secs;
	pthread_barrier_wait(&start);
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	for (i = 0; i < clients; i++) {
		ops += w[i].ops;
		r.fails += w[i].fails;
		r.app_cpu += w[i].cpu;
		for (k = 0; k < w[i].lat.n; k++)
			lat_add(&all, w[i].lat.v[k]);
		free(w[i].lat.v);
	}
	r.ops = ops;
	r.ops_s = ops / (t1 - t0);
	lat_pct(&all, &r.p50, &r.p99);
	free(all.v);
	free(th);
	free(w);
	pthread_attr_destroy(&attr);
	pthread_barrier_destroy(&start);
	return r;
}

static struct result median(struct result *r)
{
	double t[RUNS], p50[RUNS], p99[RUNS];
	struct result m = { 0 };
	int i;
	for (i = 0; i < RUNS; i++) {
		t[i] = r[i].ops_s;
		p50[i] = r[i].p50;
		p99[i] = r[i].p99;
		m.fails += r[i].fails;
	}
	qsort(t, RUNS, sizeof(double), cmp_d);
	qsort(p50, RUNS, sizeof(double), cmp_d);
	qsort(p99, RUNS, sizeof(double), cmp_d);
	m.ops_s = t[RUNS / 2];
	m.p50 = p50[RUNS / 2];
	m.p99 = p99[RUNS / 2];
	return m;
}

/* CPU seconds a process's threads have run so far, to the nanosecond
 * (/proc/PID/task/TID/schedstat; /proc/PID/stat counts in 10 ms ticks,
 * too coarse for half-second runs). The tools keep their threads for
 * their whole life, so no CPU time leaves with an exited thread. */
static double cpu_s(pid_t pid)
{
	char path[96];
	unsigned long long ns, total = 0;
	struct dirent *e;
	DIR *d;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		FILE *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%llu", &ns) == 1)
				total += ns;
			fclose(f);
		}
	}
	closedir(d);
	return (double)total / 1e9;
}

/* Pins every thread of a process (cpu >= 0) or lets them run anywhere
 * (cpu < 0); threads it starts later inherit the setting. */
static void pin_pid(pid_t pid, int cpu)
{
	char path[64];
	cpu_set_t set;
	struct dirent *e;
	DIR *d;
	int i;
	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		if (cpu < 0 || i == cpu)
			CPU_SET(i, &set);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set);
	closedir(d);
}

/* `parallel` openssl s_time runs of `secs` seconds against the TLS server;
 * returns the handshakes they completed. */
static long handshakes(int port, const char *certs, int parallel, int secs)
{
	char cmd[1024];
	long total = 0;
	FILE *p[4];
	int i;
	for (i = 0; i < parallel; i++) {
		snprintf(cmd, sizeof(cmd),
			 "openssl s_time -connect 127.0.0.1:%d -new -tls1_3 -time %d -cert %s/client.pem -key "
			 "%s/client.key -CAfile %s/ca.pem 2>/dev/null",
			 port, secs, certs, certs, certs);
		p[i] = popen(cmd, "r");
	}
	for (i = 0; i < parallel; i++) {
		char line[512];
		long n;
		while (p[i] && fgets(line, sizeof(line), p[i]))
			if (sscanf(line, "%ld connections in %*f", &n) == 1 && strstr(line, "user sec"))
				total += n;
		if (p[i])
			pclose(p[i]);
	}
	return total;
}

static pid_t srv_plain, srv_tls, cli_plain, cli_tls;

/* One table: every row measured RUNS times, alternating plain and TLS.
 * Each plain/TLS pair gives a ratio of CPU per GET; the row reports the
 * median pair and the spread. Returns 1 when `checked` and a row's median
 * ratio misses the target. */
static int table(const char *placement, const char *plain_target, const char *tls_target, int checked,
		 long *fails)
{
	static const size_t sizes[] = { 100, 2048, 30720 };
	static const int clients[] = { 1, 64 };
	int s, c, i, missed = 0;
	printf("### TLS link: persistent GET through dc_client -> dc_server, TLS 1.3 vs plain TCP; %s\n\n",
	       placement);
	printf("127.0.0.1; each client a thread with one persistent connection to its dc_client; %.1f s per run, "
	       "%d runs alternating plain and TLS; ops/s and latency per GET are medians over the runs. CPU/op = "
	       "CPU time of dc_server + dc_client per GET (median over the runs); TLS/plain is the median of the "
	       "%d pairs' ratios, with their range%s. Whole GET: the same ratio with the application's CPU "
	       "time added (its threads' own clocks), what one GET costs the machine.\n\n",
	       row_secs, RUNS, RUNS, checked ? "; target: median <= 1.3" : "; for information");
	printf("| session | clients | plain ops/s | plain p50 | plain p99 | TLS ops/s | TLS p50 | TLS p99 | "
	       "plain CPU/op | TLS CPU/op | CPU cost TLS/plain | range over the pairs | whole GET TLS/plain |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (s = 0; s < (int)(sizeof(sizes) / sizeof(sizes[0])); s++) {
		for (c = 0; c < (int)(sizeof(clients) / sizeof(clients[0])); c++) {
			struct result d[RUNS], t[RUNS], dm, tm;
			double cost_d[RUNS], cost_t[RUNS], ratio[RUNS], whole[RUNS], c0, cost;
			for (i = 0; i < RUNS; i++) {
				c0 = cpu_s(srv_plain) + cpu_s(cli_plain);
				d[i] = run(plain_target, sizes[s], clients[c]);
				cost_d[i] = d[i].ops ? (cpu_s(srv_plain) + cpu_s(cli_plain) - c0) / d[i].ops : 0;
				c0 = cpu_s(srv_tls) + cpu_s(cli_tls);
				t[i] = run(tls_target, sizes[s], clients[c]);
				cost_t[i] = t[i].ops ? (cpu_s(srv_tls) + cpu_s(cli_tls) - c0) / t[i].ops : 0;
				ratio[i] = cost_d[i] > 0 ? cost_t[i] / cost_d[i] : 99;
				whole[i] = d[i].ops && t[i].ops
						   ? (cost_t[i] + t[i].app_cpu / t[i].ops) / (cost_d[i] + d[i].app_cpu / d[i].ops)
						   : 99;
			}
			dm = median(d);
			tm = median(t);
			*fails += dm.fails + tm.fails;
			qsort(cost_d, RUNS, sizeof(double), cmp_d);
			qsort(cost_t, RUNS, sizeof(double), cmp_d);
			qsort(ratio, RUNS, sizeof(double), cmp_d);
			qsort(whole, RUNS, sizeof(double), cmp_d);
			cost = ratio[RUNS / 2];
			if (checked && cost > TARGET)
				missed = 1;
			printf("| %zu B | %d | %.0f | %.1f us | %.1f us | %.0f | %.1f us | %.1f us | %.1f us | %.1f us | "
			       "%.2f%s | %.2f-%.2f | %.2f |\n",
			       sizes[s], clients[c], dm.ops_s, dm.p50 * 1e6, dm.p99 * 1e6, tm.ops_s, tm.p50 * 1e6,
			       tm.p99 * 1e6, cost_d[RUNS / 2] * 1e6, cost_t[RUNS / 2] * 1e6, cost,
			       checked && cost > TARGET ? " (missed)" : "", ratio[0], ratio[RUNS - 1], whole[RUNS / 2]);
			fflush(stdout);
		}
	}
	printf("\n");
	return missed;
}

int main(int argc, char **argv)
{
	const char *script = getenv("TLS_CERTS_SCRIPT") ? getenv("TLS_CERTS_SCRIPT") : "capi-tests/lib/tls_certs.sh";
	char dir[64], certs[128], cmd[512], server_bin[512], client_bin[512];
	char plain_listen[64], tls_listen[64], plain_sock[160], tls_sock[160], plain_target[200], tls_target[200];
	char cert[200], key[200], ca[200], ccert[200], ckey[200];
	int port_plain, port_tls, i, pass, missed = 0;
	struct rlimit rl;
	long fails = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: dc_tls_bench PREFIX [seconds-per-row]\n");
		return 2;
	}
	if (argc > 2)
		row_secs = atof(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < (int)sizeof(session); i++)
		session[i] = (unsigned char)(i * 31 + 7);
	snprintf(dir, sizeof(dir), "/tmp/dctlsbench.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(certs, sizeof(certs), "%s/certs", dir);
	snprintf(cmd, sizeof(cmd), "bash %s %s", script, certs);
	if (system(cmd) != 0) {
		fprintf(stderr, "making the certificates failed (%s; openssl installed?)\n", cmd);
		return 1;
	}
	snprintf(server_bin, sizeof(server_bin), "%s/bin/dc_server", argv[1]);
	snprintf(client_bin, sizeof(client_bin), "%s/bin/dc_client", argv[1]);
	port_plain = free_port();
	port_tls = free_port();
	snprintf(plain_listen, sizeof(plain_listen), "IP:127.0.0.1:%d", port_plain);
	snprintf(tls_listen, sizeof(tls_listen), "IP:127.0.0.1:%d", port_tls);
	snprintf(plain_sock, sizeof(plain_sock), "%s/plain.sock", dir);
	snprintf(tls_sock, sizeof(tls_sock), "%s/tls.sock", dir);
	snprintf(plain_target, sizeof(plain_target), "UNIX:%s", plain_sock);
	snprintf(tls_target, sizeof(tls_target), "UNIX:%s", tls_sock);
	snprintf(cert, sizeof(cert), "%s/server.pem", certs);
	snprintf(key, sizeof(key), "%s/server.key", certs);
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
	snprintf(ccert, sizeof(ccert), "%s/client.pem", certs);
	snprintf(ckey, sizeof(ckey), "%s/client.key", certs);
	{
		char *a[] = { server_bin, "-listen", plain_listen, "-sessions", "60000", NULL };
		char *b[] = { server_bin,  "-listen", tls_listen, "-sessions", "60000", "-tls-cert", cert,
			       "-tls-key", key, "-tls-ca", ca, NULL };
		srv_plain = spawn(a);
		srv_tls = spawn(b);
	}
	usleep(300000);
	{
		char *a[] = { client_bin, "-listen", plain_target, "-server", plain_listen, "-retry", "200", NULL };
		char *b[] = { client_bin, "-listen", tls_target, "-server", tls_listen, "-retry", "200",
			      "-tls-cert", ccert, "-tls-key", ckey, "-tls-ca", ca, NULL };
		cli_plain = spawn(a);
		cli_tls = spawn(b);
	}
	if (!wait_for(plain_sock) || !wait_for(tls_sock)) {
		fprintf(stderr, "dc_client did not start\n");
		missed = 1;
		goto out;
	}
	for (i = 0; i < 2; i++) {
		DC_CTX *probe = DC_CTX_new(i ? tls_target : plain_target, 0);
		int k;
		for (k = 0; probe && k < 300 && DC_CTX_has_session(probe, (const unsigned char *)"probe", 5) < 0; k++)
			usleep(10000);
		if (!probe || DC_CTX_has_session(probe, (const unsigned char *)"probe", 5) < 0) {
			fprintf(stderr, "dc_client did not reach dc_server (%s)\n", i ? "TLS" : "plain");
			if (probe)
				DC_CTX_free(probe);
			missed = 1;
			goto out;
		}
		DC_CTX_free(probe);
	}

	for (pass = 0; pass < 2; pass++) {
		int cpu = pass == 0 ? 0 : -1;
		pin_pid(getpid(), cpu);
		pin_pid(srv_plain, cpu);
		pin_pid(srv_tls, cpu);
		pin_pid(cli_plain, cpu);
		pin_pid(cli_tls, cpu);
		missed |= table(pass == 0 ? "every process (bench clients, dc_client, dc_server) pinned to one core"
					  : "not pinned (the scheduler spreads the processes over the cores)",
				plain_target, tls_target, pass == 0, &fails);
	}
	pin_pid(getpid(), -1);
	printf("Failed operations in all rows: %ld\n\n", fails);

	printf("### TLS handshakes dc_server sustains (openssl s_time -new -tls1_3, client certificate)\n\n");
	printf("| s_time clients | handshakes | seconds | handshakes/s | dc_server CPU per handshake | "
	       "handshakes/s per dc_server core |\n");
	printf("|---:|---:|---:|---:|---:|---:|\n");
	for (i = 1; i <= 2; i++) {
		int secs = 3;
		double c0 = cpu_s(srv_tls), t0 = now_s(), c1, t1;
		long n = handshakes(port_tls, certs, i, secs);
		c1 = cpu_s(srv_tls);
		t1 = now_s();
		printf("| %d | %ld | %.1f | %.0f | %.0f us | %.0f |\n", i, n, t1 - t0, n / (t1 - t0),
		       n ? (c1 - c0) / n * 1e6 : 0, c1 > c0 ? n / (c1 - c0) : 0);
		fflush(stdout);
	}
out:
	stop(cli_plain);
	stop(cli_tls);
	stop(srv_plain);
	stop(srv_tls);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (fails)
		missed = 1;
	return missed;
}
