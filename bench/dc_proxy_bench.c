/* distcache proxy benchmark: DC_CTX through dc_client against DC_CTX
 * straight to dc_server, measured in the same run.
 *
 *   dc_proxy_bench PREFIX [seconds-per-row]
 *
 * One dc_server and one dc_client (forwarding to it) on unix sockets.
 * Each client is a thread looping add, get, remove of 100-byte sessions on
 * ids of its own. Rows: 1, 4, 16 and 64 clients with a new connection per
 * operation (the client library's default, what web server modules do),
 * then the same with one persistent connection per client. Every row is
 * measured three times, alternating direct and proxied runs; the medians
 * are printed. Prints markdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <distcache/dc_client.h>
#include "bench_util.h"

#define SESSION_LEN 100
#define RUNS 3

static double row_secs = 0.5;

struct worker {
	const char *target;
	unsigned int flags;
	int id;
	double deadline;
	lat_t lat;
	long ops, fails;
	pthread_barrier_t *start;
	volatile double *shared_deadline;
};

static unsigned char session[SESSION_LEN];

static void *work(void *arg)
{
	struct worker *w = arg;
	DC_CTX *ctx = DC_CTX_new(w->target, w->flags);
	unsigned char id[48], out[SESSION_LEN + 16];
	unsigned int used;
	long i = 0;
	pthread_barrier_wait(w->start); /* every context exists */
	pthread_barrier_wait(w->start); /* deadline published */
	w->deadline = *w->shared_deadline;
	if (!ctx) {
		w->fails++;
		return NULL;
	}
	while (now_s() < w->deadline) {
		int n = snprintf((char *)id, sizeof(id), "proxybench-%d-%d-%ld", (int)getpid(), w->id, i++);
		double t0 = now_s(), t1, t2, t3;
		if (DC_CTX_add_session(ctx, id, (unsigned int)n, session, SESSION_LEN, 600000) != 1)
			w->fails++;
		t1 = now_s();
		if (DC_CTX_get_session(ctx, id, (unsigned int)n, out, sizeof(out), &used) != 1 || used != SESSION_LEN)
			w->fails++;
		t2 = now_s();
		if (DC_CTX_remove_session(ctx, id, (unsigned int)n) != 1)
			w->fails++;
		t3 = now_s();
		lat_add(&w->lat, t1 - t0);
		lat_add(&w->lat, t2 - t1);
		lat_add(&w->lat, t3 - t2);
		w->ops += 3;
	}
	DC_CTX_free(ctx);
	return NULL;
}

struct result {
	double ops_s, p50, p99;
	long fails;
};

static struct result run(const char *target, unsigned int flags, int clients)
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
		w[i].flags = flags;
		w[i].id = next_id++;
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
		for (k = 0; k < w[i].lat.n; k++)
			lat_add(&all, w[i].lat.v[k]);
		free(w[i].lat.v);
	}
	r.ops_s = ops / (t1 - t0);
	lat_pct(&all, &r.p50, &r.p99);
	free(all.v);
	free(th);
	free(w);
	pthread_attr_destroy(&attr);
	pthread_barrier_destroy(&start);
	return r;
}

/* Median (by throughput) of RUNS results. */
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

int main(int argc, char **argv)
{
	static const int clients[] = { 1, 4, 16, 64 };
	char dir[64], server_bin[512], client_bin[512], srv_path[128], cli_path[128];
	char srv_target[160], cli_target[160];
	pid_t srv, cli;
	struct rlimit rl;
	long fails = 0;
	int mode, c, i;
	DC_CTX *probe;
	if (argc < 2) {
		fprintf(stderr, "usage: dc_proxy_bench PREFIX [seconds-per-row]\n");
		return 2;
	}
	if (argc > 2)
		row_secs = atof(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < SESSION_LEN; i++)
		session[i] = (unsigned char)(i * 31 + 7);
	snprintf(dir, sizeof(dir), "/tmp/dcproxybench.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(server_bin, sizeof(server_bin), "%s/bin/dc_server", argv[1]);
	snprintf(client_bin, sizeof(client_bin), "%s/bin/dc_client", argv[1]);
	snprintf(srv_path, sizeof(srv_path), "%s/server.sock", dir);
	snprintf(cli_path, sizeof(cli_path), "%s/proxy.sock", dir);
	snprintf(srv_target, sizeof(srv_target), "UNIX:%s", srv_path);
	snprintf(cli_target, sizeof(cli_target), "UNIX:%s", cli_path);
	{
		char *sargv[] = { server_bin, "-listen", srv_target, "-sessions", "60000", NULL };
		srv = spawn(sargv);
	}
	if (!wait_for(srv_path)) {
		fprintf(stderr, "dc_server did not start\n");
		stop(srv);
		return 1;
	}
	{
		char *cargv[] = { client_bin, "-listen", cli_target, "-server", srv_target, NULL };
		cli = spawn(cargv);
	}
	probe = wait_for(cli_path) ? DC_CTX_new(cli_target, 0) : NULL;
	for (i = 0; probe && i < 200 && DC_CTX_has_session(probe, (const unsigned char *)"probe", 5) < 0; i++)
		usleep(10000);
	if (!probe || DC_CTX_has_session(probe, (const unsigned char *)"probe", 5) < 0) {
		fprintf(stderr, "dc_client did not reach dc_server\n");
		stop(cli);
		stop(srv);
		return 1;
	}
	DC_CTX_free(probe);

	printf("### Proxy path: add/get/remove of %d-byte sessions, direct to dc_server vs. through dc_client\n\n",
	       SESSION_LEN);
	printf("Unix sockets; each client a thread; %.1f s per run, median of %d runs alternating direct and "
	       "proxied; latency per operation.\n\n", row_secs, RUNS);
	printf("| connections | clients | direct ops/s | direct p50 | direct p99 | via dc_client ops/s | "
	       "via p50 | via p99 | throughput via/direct |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (mode = 0; mode < 2; mode++) {
		unsigned int flags = mode ? DC_CTX_FLAG_PERSISTENT : 0;
		for (c = 0; c < (int)(sizeof(clients) / sizeof(clients[0])); c++) {
			struct result d[RUNS], p[RUNS], dm, pm;
			for (i = 0; i < RUNS; i++) {
				d[i] = run(srv_target, flags, clients[c]);
				p[i] = run(cli_target, flags, clients[c]);
			}
			dm = median(d);
			pm = median(p);
			fails += dm.fails + pm.fails;
			printf("| %s | %d | %.0f | %.1f us | %.1f us | %.0f | %.1f us | %.1f us | %.2f |\n",
			       mode ? "persistent" : "per operation", clients[c], dm.ops_s, dm.p50 * 1e6, dm.p99 * 1e6,
			       pm.ops_s, pm.p50 * 1e6, pm.p99 * 1e6, dm.ops_s > 0 ? pm.ops_s / dm.ops_s : 0);
			fflush(stdout);
		}
	}
	printf("\nFailed operations in all rows: %ld\n", fails);
	stop(cli);
	stop(srv);
	{
		char path[200];
		snprintf(path, sizeof(path), "%s/server.sock", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/proxy.sock", dir);
		unlink(path);
		rmdir(dir);
	}
	return fails ? 1 : 0;
}
