/* One DC_CTX shared by 16 threads, 2,000 mixed operations each, in
 * per-operation and in persistent mode; every answer is checked, and each
 * thread's reget serves its own last get. */
#include <pthread.h>
#include <distcache/dc_client.h>
#include "harness.h"
#include "dc_helper.h"

#define THREADS 16
#define OPS 2000

static DC_CTX *shared_ctx;
static int mode_tag;

static void *worker(void *arg)
{
	long t = (long)arg;
	unsigned char id[16], data[600], out[700];
	unsigned int used, len;
	int i, k;
	for (i = 0; i < OPS / 5; i++) {
		/* 5 operations per iteration: add, get, reget, has, remove-or-keep */
		int idlen = snprintf((char *)id, sizeof(id), "%d-%ld-%d", mode_tag, t, i);
		len = 5 + (unsigned int)((t * 131 + i * 17) % 590);
		for (k = 0; k < (int)len; k++)
			data[k] = (unsigned char)(t + i + k);
		if (DC_CTX_add_session(shared_ctx, id, idlen, data, len, 60000) != 1)
			return (void *)"add";
		if (DC_CTX_get_session(shared_ctx, id, idlen, out, 4, &used) != 1 || used != len ||
		    memcmp(out, data, 4) != 0)
			return (void *)"get";
		if (DC_CTX_reget_session(shared_ctx, id, idlen, out, sizeof(out), &used) != 1 || used != len ||
		    memcmp(out, data, len) != 0)
			return (void *)"reget";
		if (DC_CTX_has_session(shared_ctx, id, idlen) != 1)
			return (void *)"has";
		if (i % 2 == 0) {
			if (DC_CTX_remove_session(shared_ctx, id, idlen) != 1)
				return (void *)"remove";
		} else if (DC_CTX_add_session(shared_ctx, id, idlen, data, len, 60000) != 0) {
			return (void *)"duplicate add";
		}
	}
	return NULL;
}

static int run_threads(unsigned int flags, const char *target)
{
	pthread_t th[THREADS];
	void *res;
	long t;
	int ok = 1;
	shared_ctx = DC_CTX_new(target, flags);
	CHECK(shared_ctx != NULL);
	mode_tag = (int)flags;
	for (t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, worker, (void *)t) == 0);
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], &res);
		if (res) {
			fprintf(stderr, "  thread %ld failed at %s\n", t, (const char *)res);
			ok = 0;
		}
	}
	DC_CTX_free(shared_ctx);
	return ok;
}

static char target[300];

static int per_operation_threads(void)
{
	return run_threads(0, target);
}

static int persistent_threads(void)
{
	return run_threads(DC_CTX_FLAG_PERSISTENT, target);
}

int main(void)
{
	SUITE("dc_threads");
	dc_target(target, sizeof(target), "threads.sock");
	if (dc_start_server("threads.sock", "-sessions", "60000", NULL) <= 0) {
		printf("FAIL dc_threads/start_server\n");
		return 1;
	}
	RUN(per_operation_threads);
	RUN(persistent_threads);
	return DONE();
}
