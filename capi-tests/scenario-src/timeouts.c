/* Helper of scenario_timeouts.sh and scenario_descriptors.sh, written
 * against the installed libraries.
 *
 *   timeouts ops TARGET FLAGS THREADS DURATION_MS LOGFILE
 *       One DC_CTX (FLAGS as a number) shared by THREADS threads; each
 *       asks DC_CTX_has_session for a session stored at start, every 10 ms,
 *       for DURATION_MS. Every operation is logged as "<start ms since the
 *       epoch> <thread> <1 found, 0 not> <duration us>". Prints
 *       "threads_done N" once every thread has returned.
 *   timeouts once TARGET
 *       One has_session on a fresh per-operation context; prints
 *       "rc <rc> us <duration>".
 *   timeouts escrow PATH
 *       escrow_init + escrow_tag against the escrowd at PATH; prints
 *       "rc <rc> us <duration>".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <distcache/dc_client.h>
#include <escrow.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_RECORDS 4096

static const unsigned char ID[] = "timeouts-session";
static DC_CTX *ctx;
static long duration_ms;

struct record {
	long long start_ms;
	int ok;
	long us;
};

struct worker {
	pthread_t t;
	int n;
	struct record rec[MAX_RECORDS];
};

static long long wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	long long end = mono_us() + duration_ms * 1000;
	while (mono_us() < end && w->n < MAX_RECORDS) {
		struct record *r = &w->rec[w->n++];
		long long t0 = mono_us();
		r->start_ms = wall_ms();
		r->ok = DC_CTX_has_session(ctx, ID, sizeof ID - 1) == 1;
		r->us = (long)(mono_us() - t0);
		usleep(10000);
	}
	return NULL;
}

static int ops(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	static const unsigned char data[] = "some session data";
	int i, j, threads;
	FILE *log;
	if (argc < 7)
		return 2;
	threads = atoi(argv[4]);
	duration_ms = atol(argv[5]);
	if (threads < 1 || threads > MAX_THREADS)
		return 2;
	ctx = DC_CTX_new(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
	if (!ctx) {
		printf("no context\n");
		return 1;
	}
	if (DC_CTX_add_session(ctx, ID, sizeof ID - 1, data, sizeof data, 600000) != 1 &&
	    DC_CTX_has_session(ctx, ID, sizeof ID - 1) != 1) {
		printf("cannot store the session\n");
		DC_CTX_free(ctx);
		return 1;
	}
	for (i = 0; i < threads; i++)
		pthread_create(&w[i].t, NULL, run, &w[i]);
	for (i = 0; i < threads; i++)
		pthread_join(w[i].t, NULL);
	printf("threads_done %d\n", threads);
	DC_CTX_free(ctx);
	log = fopen(argv[6], "w");
	if (!log)
		return 1;
	for (i = 0; i < threads; i++)
		for (j = 0; j < w[i].n; j++)
			fprintf(log, "%lld %d %d %ld\n", w[i].rec[j].start_ms, i, w[i].rec[j].ok, w[i].rec[j].us);
	fclose(log);
	return 0;
}

int main(int argc, char **argv)
{
	long long t0;
	int rc;
	if (argc >= 7 && strcmp(argv[1], "ops") == 0)
		return ops(argc, argv);
	if (argc >= 3 && strcmp(argv[1], "once") == 0) {
		DC_CTX *c = DC_CTX_new(argv[2], 0);
		if (!c)
			return 1;
		t0 = mono_us();
		rc = DC_CTX_has_session(c, ID, sizeof ID - 1);
		printf("rc %d us %lld\n", rc, mono_us() - t0);
		DC_CTX_free(c);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "escrow") == 0) {
		struct escrow *e = NULL;
		int32_t nr = 0, nob = 0;
		t0 = mono_us();
		rc = escrow_init(argv[2], 0, 4, &e);
		if (rc == 0)
			rc = escrow_tag(e, 0, &nr, &nob);
		printf("rc %d us %lld\n", rc, mono_us() - t0);
		if (e)
			escrow_fini(e);
		return rc != 0;
	}
	fprintf(stderr, "usage: timeouts ops TARGET FLAGS THREADS DURATION_MS LOGFILE | once TARGET | escrow PATH\n");
	return 2;
}
