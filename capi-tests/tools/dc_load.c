/* dc_load: application-side driver for the tool scenarios, written
 * against the installed client library (DC_CTX).
 *
 *   dc_load run TARGET THREADS DURATION_MS PACE_MS LOGFILE
 *       THREADS clients (even ones one connection per operation, odd ones
 *       PERSISTENT|RETRY) repeat add/get/has/remove on sessions of their
 *       own for DURATION_MS, pausing PACE_MS between operations. Every
 *       operation is logged as "<start ms since the epoch> <thread> <op>
 *       <1 as expected, 0 not> <duration us>". Prints a summary line,
 *       including the longest time the machine kept a process of the test
 *       waiting: the worst oversleep of an idle thread here that wakes up
 *       every millisecond, or the longest single wait on the run queue of a
 *       process whose pid is listed in the file $DC_LOAD_WATCH (re-read
 *       while running; /proc/PID/schedstat).
 *   dc_load probe TARGET TIMEOUT_MS
 *       Exit 0 once a HAVE through TARGET gets a real answer (0 or 1),
 *       1 if none did within TIMEOUT_MS.
 *   dc_load hold TARGET N
 *       N PERSISTENT|RETRY contexts each store and read back a session,
 *       print "READY", wait for a line on stdin, then read their sessions
 *       again over the same contexts: "ok" lines, exit 0 when all did.
 */
#define _GNU_SOURCE
#include <distcache/dc_client.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DATA_LEN 200
#define MAX_THREADS 64

static const char *target;
static long duration_ms, pace_ms;
static FILE *logf;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void fill(unsigned char *buf, unsigned int len, unsigned int seed)
{
	unsigned int i;
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 31 + seed * 7 + 3);
}

struct worker {
	int index;
	unsigned long ops, bad;
	long long max_us;
};

static void note(struct worker *w, long long start_ms, long long t0, const char *op, int ok)
{
	long long us = mono_us() - t0;
	w->ops++;
	if (!ok)
		w->bad++;
	if (us > w->max_us)
		w->max_us = us;
	pthread_mutex_lock(&log_lock);
	fprintf(logf, "%lld %d %s %d %lld\n", start_ms, w->index, op, ok, us);
	pthread_mutex_unlock(&log_lock);
	sleep_ms(pace_ms);
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	unsigned int flags = (w->index & 1) ? (DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_RETRY |
	                                       DC_CTX_FLAG_PERSISTENT_LATE) : 0;
	DC_CTX *ctx = DC_CTX_new(target, flags);
	unsigned char id[32], data[DATA_LEN], got[DATA_LEN + 16];
	unsigned int id_len, used, iter = 0;
	long long end = mono_us() + duration_ms * 1000LL, t0, s;
	if (!ctx) {
		fprintf(stderr, "thread %d: DC_CTX_new failed\n", w->index);
		w->bad++;
		return NULL;
	}
	while (mono_us() < end) {
		id_len = (unsigned int)snprintf((char *)id, sizeof(id), "load-%d-%u-%d", w->index, iter, (int)getpid());
		fill(data, DATA_LEN, iter + (unsigned int)w->index);
		iter++;
		s = now_ms(); t0 = mono_us();
		note(w, s, t0, "add", DC_CTX_add_session(ctx, id, id_len, data, DATA_LEN, 60000) == 1);
		s = now_ms(); t0 = mono_us();
		used = 0;
		note(w, s, t0, "get", DC_CTX_get_session(ctx, id, id_len, got, sizeof(got), &used) == 1 &&
		                          used == DATA_LEN && memcmp(got, data, DATA_LEN) == 0);
		s = now_ms(); t0 = mono_us();
		note(w, s, t0, "has", DC_CTX_has_session(ctx, id, id_len) == 1);
		s = now_ms(); t0 = mono_us();
		note(w, s, t0, "remove", DC_CTX_remove_session(ctx, id, id_len) == 1);
	}
	DC_CTX_free(ctx);
	return NULL;
}

static volatile int running;
static long long stall_us, stall_at_ms;

#define MAX_WATCH 4
static int watch_pid[MAX_WATCH];
static long long watch_wait_ns[MAX_WATCH];

static void note_stall(long long us)
{
	if (us > stall_us) {
		stall_us = us;
		stall_at_ms = now_ms();
	}
}

/* Re-reads the pids to watch; a new pid starts from its current total. */
static void read_watch_list(const char *file)
{
	FILE *f = fopen(file, "r");
	int pid, i = 0;
	if (!f)
		return;
	while (i < MAX_WATCH && fscanf(f, "%d", &pid) == 1) {
		if (watch_pid[i] != pid) {
			watch_pid[i] = pid;
			watch_wait_ns[i] = -1;
		}
		i++;
	}
	for (; i < MAX_WATCH; i++)
		watch_pid[i] = 0;
	fclose(f);
}

/* Run-queue waits of the watched processes since the last look. */
static void sample_watched(void)
{
	char path[64];
	unsigned long long run_ns, wait_ns;
	FILE *f;
	int i;
	for (i = 0; i < MAX_WATCH; i++) {
		if (watch_pid[i] <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/schedstat", watch_pid[i]);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%llu %llu", &run_ns, &wait_ns) == 2) {
			if (watch_wait_ns[i] >= 0)
				note_stall(((long long)wait_ns - watch_wait_ns[i]) / 1000);
			watch_wait_ns[i] = (long long)wait_ns;
		}
		fclose(f);
	}
}

/* Sleeps 1 ms at a time and notes the worst oversleep, and the watched
 * processes' waits. */
static void *canary(void *arg)
{
	const char *file = getenv("DC_LOAD_WATCH");
	long long before;
	unsigned long rounds = 0;
	(void)arg;
	while (running) {
		if (file && rounds++ % 50 == 0)
			read_watch_list(file);
		before = mono_us();
		sleep_ms(1);
		note_stall(mono_us() - before - 1000);
		sample_watched();
	}
	return NULL;
}

static int cmd_run(int argc, char **argv)
{
	pthread_t watch;
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int n, i;
	unsigned long ops = 0, bad = 0;
	long long max_us = 0;
	if (argc != 7)
		return 2;
	target = argv[2];
	n = atoi(argv[3]);
	duration_ms = atol(argv[4]);
	pace_ms = atol(argv[5]);
	if (n < 1 || n > MAX_THREADS || !(logf = fopen(argv[6], "w")))
		return 2;
	running = 1;
	if (pthread_create(&watch, NULL, canary, NULL) != 0)
		return 2;
	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].index = i;
		if (pthread_create(&th[i], NULL, run_worker, &w[i]) != 0)
			return 2;
	}
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		ops += w[i].ops;
		bad += w[i].bad;
		if (w[i].max_us > max_us)
			max_us = w[i].max_us;
	}
	running = 0;
	pthread_join(watch, NULL);
	fclose(logf);
	printf("operations %lu unexpected %lu slowest_us %lld stall_us %lld at %lld\n", ops, bad, max_us, stall_us,
	       stall_at_ms);
	return 0;
}

static int cmd_probe(int argc, char **argv)
{
	DC_CTX *ctx;
	long long end;
	int r;
	if (argc != 4)
		return 2;
	ctx = DC_CTX_new(argv[2], 0);
	if (!ctx)
		return 1;
	end = mono_us() + atol(argv[3]) * 1000LL;
	do {
		r = DC_CTX_has_session(ctx, (const unsigned char *)"probe", 5);
		if (r >= 0) {
			DC_CTX_free(ctx);
			return 0;
		}
		sleep_ms(20);
	} while (mono_us() < end);
	DC_CTX_free(ctx);
	return 1;
}

static int cmd_hold(int argc, char **argv)
{
	DC_CTX *ctx[MAX_THREADS];
	unsigned char id[32], data[DATA_LEN], got[DATA_LEN];
	unsigned int id_len, used;
	char line[64];
	int n, i, good = 0;
	long long t0, max_us = 0;
	if (argc != 4)
		return 2;
	n = atoi(argv[3]);
	if (n < 1 || n > MAX_THREADS)
		return 2;
	for (i = 0; i < n; i++) {
		ctx[i] = DC_CTX_new(argv[2], DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_RETRY);
		id_len = (unsigned int)snprintf((char *)id, sizeof(id), "hold-%d-%d", i, (int)getpid());
		fill(data, DATA_LEN, (unsigned int)i);
		if (!ctx[i] || DC_CTX_add_session(ctx[i], id, id_len, data, DATA_LEN, 60000) != 1 ||
		    DC_CTX_get_session(ctx[i], id, id_len, got, sizeof(got), &used) != 1) {
			printf("setup failed %d\n", i);
			return 1;
		}
	}
	printf("READY\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (i = 0; i < n; i++) {
		id_len = (unsigned int)snprintf((char *)id, sizeof(id), "hold-%d-%d", i, (int)getpid());
		fill(data, DATA_LEN, (unsigned int)i);
		used = 0;
		t0 = mono_us();
		if (DC_CTX_get_session(ctx[i], id, id_len, got, sizeof(got), &used) == 1 && used == DATA_LEN &&
		    memcmp(got, data, DATA_LEN) == 0 && DC_CTX_has_session(ctx[i], id, id_len) == 1) {
			printf("ok %d\n", i);
			good++;
		} else {
			printf("failed %d\n", i);
		}
		if (mono_us() - t0 > max_us)
			max_us = mono_us() - t0;
		DC_CTX_free(ctx[i]);
	}
	printf("held %d good %d slowest_us %lld\n", n, good, max_us);
	return good == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		rc = cmd_run(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "probe") == 0)
		rc = cmd_probe(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "hold") == 0)
		rc = cmd_hold(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: dc_load run|probe|hold ... (see the source)\n");
	return rc;
}
