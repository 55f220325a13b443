/* DC_CTX against a real dc_server: every function, every flag, failure
 * paths and the server's one-byte replies as the client reports them. */
#include <distcache/dc_client.h>
#include "harness.h"
#include "dc_helper.h"
#include <time.h>

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static char target[300];
static pid_t server;

static void fill(unsigned char *p, unsigned int n, unsigned int seed)
{
	unsigned int i;
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed * 7 + 3);
}

static int new_rejects_bad_targets(void)
{
	char missing[300];
	CHECK(DC_CTX_new(NULL, 0) == NULL);
	CHECK(DC_CTX_new("", 0) == NULL);
	CHECK(DC_CTX_new("nonsense", 0) == NULL);
	CHECK(DC_CTX_new("IP:9001", 0) == NULL); /* listen-only address */
	/* An empty unix path parses in libnal, but no server can be there. */
	CHECK(DC_CTX_new("UNIX:", 0) == NULL);
	CHECK(DC_CTX_new("UNIX:", DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_LATE) == NULL);
	/* nothing listening: temporary and LATE contexts still succeed,
	 * a plain persistent one fails */
	dc_target(missing, sizeof(missing), "nobody-home");
	CHECK(DC_CTX_new(missing, DC_CTX_FLAG_PERSISTENT) == NULL);
	{
		DC_CTX *a = DC_CTX_new(missing, 0);
		DC_CTX *b = DC_CTX_new(missing, DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_LATE);
		CHECK(a != NULL && b != NULL);
		CHECK_EQ(DC_CTX_has_session(a, (const unsigned char *)"x", 1), -1);
		CHECK_EQ(DC_CTX_has_session(b, (const unsigned char *)"x", 1), -1);
		CHECK_EQ(DC_CTX_add_session(a, (const unsigned char *)"x", 1, (const unsigned char *)"y", 1, 1000), 0);
		DC_CTX_free(a);
		DC_CTX_free(b);
	}
	DC_CTX_free(NULL);
	return 1;
}

static int null_and_bad_arguments(void)
{
	unsigned char buf[16];
	unsigned int used = 7;
	const unsigned char *id = (const unsigned char *)"abcde";
	DC_CTX *c = DC_CTX_new(target, 0);
	CHECK(c != NULL);
	CHECK_EQ(DC_CTX_add_session(NULL, id, 5, id, 5, 1000), 0);
	CHECK_EQ(DC_CTX_add_session(c, NULL, 5, id, 5, 1000), 0);
	CHECK_EQ(DC_CTX_add_session(c, id, 0, id, 5, 1000), 0);
	CHECK_EQ(DC_CTX_add_session(c, id, 5, NULL, 5, 1000), 0);
	CHECK_EQ(DC_CTX_add_session(c, id, 5, id, 0, 1000), 0);
	/* 0 ms is sent like any timeout; the server accepts it */
	CHECK_EQ(DC_CTX_add_session(c, id, 5, id, 5, 0), 1);
	if (sizeof(unsigned long) > 4)
		CHECK_EQ(DC_CTX_add_session(c, id, 5, id, 5, (unsigned long)-1), 0);
	CHECK_EQ(DC_CTX_remove_session(NULL, id, 5), 0);
	CHECK_EQ(DC_CTX_remove_session(c, NULL, 5), 0);
	CHECK_EQ(DC_CTX_remove_session(c, id, 0), 0);
	CHECK_EQ(DC_CTX_has_session(NULL, id, 5), -1);
	CHECK_EQ(DC_CTX_has_session(c, NULL, 5), -1);
	CHECK_EQ(DC_CTX_has_session(c, id, 0), -1);
	CHECK_EQ(DC_CTX_get_session(NULL, id, 5, buf, sizeof(buf), &used), 0);
	CHECK_EQ(DC_CTX_get_session(c, NULL, 5, buf, sizeof(buf), &used), 0);
	CHECK_EQ(DC_CTX_get_session(c, id, 0, buf, sizeof(buf), &used), 0);
	CHECK_EQ(DC_CTX_get_session(c, id, 5, buf, sizeof(buf), NULL), 0);
	CHECK_EQ(DC_CTX_reget_session(NULL, id, 5, buf, sizeof(buf), &used), 0);
	CHECK_EQ(DC_CTX_reget_session(c, NULL, 5, buf, sizeof(buf), &used), 0);
	CHECK_EQ(DC_CTX_reget_session(c, id, 5, buf, sizeof(buf), NULL), 0);
	CHECK_EQ(used, 7);
	DC_CTX_free(c);
	return 1;
}

static int add_get_reget_has_remove(void)
{
	unsigned char data[5000], out[6000], small[10];
	unsigned int used = 0;
	const unsigned char *id = (const unsigned char *)"session-one";
	DC_CTX *c = DC_CTX_new(target, 0);
	CHECK(c != NULL);
	fill(data, sizeof(data), 3);
	CHECK_EQ(DC_CTX_add_session(c, id, 11, data, sizeof(data), 60000), 1);
	CHECK_EQ(DC_CTX_has_session(c, id, 11), 1);
	/* too-small buffer: full length reported, prefix copied */
	memset(small, 0, sizeof(small));
	CHECK_EQ(DC_CTX_get_session(c, id, 11, small, sizeof(small), &used), 1);
	CHECK_EQ(used, sizeof(data));
	CHECK(memcmp(small, data, sizeof(small)) == 0);
	/* reget serves the kept copy, repeatedly */
	used = 0;
	CHECK_EQ(DC_CTX_reget_session(c, id, 11, out, sizeof(out), &used), 1);
	CHECK_EQ(used, sizeof(data));
	CHECK(memcmp(out, data, sizeof(data)) == 0);
	CHECK_EQ(DC_CTX_reget_session(c, id, 11, NULL, 0, &used), 1);
	CHECK_EQ(DC_CTX_reget_session(c, id, 10, out, sizeof(out), &used), 0);
	CHECK_EQ(DC_CTX_reget_session(c, (const unsigned char *)"session-onf", 11, out, sizeof(out), &used), 0);
	/* NULL storage: only the length */
	used = 0;
	CHECK_EQ(DC_CTX_get_session(c, id, 11, NULL, 0, &used), 1);
	CHECK_EQ(used, sizeof(data));
	/* another operation clears the reget state */
	CHECK_EQ(DC_CTX_has_session(c, id, 11), 1);
	CHECK_EQ(DC_CTX_reget_session(c, id, 11, out, sizeof(out), &used), 0);
	/* a failed get clears it too */
	CHECK_EQ(DC_CTX_get_session(c, id, 11, out, sizeof(out), &used), 1);
	CHECK_EQ(DC_CTX_get_session(c, (const unsigned char *)"absent", 6, out, sizeof(out), &used), 0);
	CHECK_EQ(DC_CTX_reget_session(c, id, 11, out, sizeof(out), &used), 0);
	CHECK_EQ(DC_CTX_remove_session(c, id, 11), 1);
	CHECK_EQ(DC_CTX_remove_session(c, id, 11), 0);
	CHECK_EQ(DC_CTX_has_session(c, id, 11), 0);
	used = 99;
	CHECK_EQ(DC_CTX_get_session(c, id, 11, out, sizeof(out), &used), 0);
	CHECK_EQ(used, 99);
	DC_CTX_free(c);
	return 1;
}

static int server_replies(void)
{
	static unsigned char big[32768];
	unsigned char id65[65], out[8];
	unsigned int used;
	DC_CTX *c = DC_CTX_new(target, 0);
	CHECK(c != NULL);
	memset(id65, 'i', sizeof(id65));
	fill(big, sizeof(big), 5);
	/* 101: duplicate */
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"dup", 3, big, 100, 60000), 1);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"dup", 3, big, 100, 60000), 0);
	/* 102: beyond 7 days */
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"t", 1, big, 100, 604800001UL), 0);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"t", 1, big, 100, 604800000UL), 1);
	/* 103: id longer than 64 */
	CHECK_EQ(DC_CTX_add_session(c, id65, 65, big, 100, 60000), 0);
	CHECK_EQ(DC_CTX_add_session(c, id65, 64, big, 100, 60000), 1);
	/* size limit: 32768 - 8 - id_len */
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"B", 1, big, 32760, 60000), 0);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"B", 1, big, 32759, 60000), 1);
	CHECK_EQ(DC_CTX_get_session(c, (const unsigned char *)"B", 1, NULL, 0, &used), 1);
	CHECK_EQ(used, 32759);
	/* sessions of 1..4 bytes can be stored but read as missing */
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"s4", 2, big, 4, 60000), 1);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"s4", 2), 1);
	CHECK_EQ(DC_CTX_get_session(c, (const unsigned char *)"s4", 2, out, sizeof(out), &used), 0);
	/* short timeouts are forwarded: 1 ms, and the 0..999 ms values that
	 * web servers pass */
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"ms1", 3, big, 10, 1), 1);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"ms500", 5, big, 10, 500), 1);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"ms500", 5), 1);
	dc_sleep_ms(20);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"ms1", 3), 0);
	/* get of an id longer than 64: a miss, no overflow */
	CHECK_EQ(DC_CTX_get_session(c, id65, 65, out, sizeof(out), &used), 0);
	DC_CTX_free(c);
	return 1;
}

static int persistent_mode(void)
{
	unsigned char data[300], out[400];
	unsigned int used;
	DC_CTX *c = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT);
	CHECK(c != NULL);
	fill(data, sizeof(data), 10);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"p-id", 4, data, sizeof(data), 60000), 1);
	CHECK_EQ(DC_CTX_get_session(c, (const unsigned char *)"p-id", 4, NULL, 0, &used), 1);
	CHECK_EQ(used, 300);
	CHECK_EQ(DC_CTX_reget_session(c, (const unsigned char *)"p-id", 4, out, sizeof(out), &used), 1);
	CHECK(memcmp(out, data, 300) == 0);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"p-id", 4), 1);
	CHECK_EQ(DC_CTX_remove_session(c, (const unsigned char *)"p-id", 4), 1);
	DC_CTX_free(c);
	return 1;
}

/* Restarts the server: every open connection to it dies. */
static int restart_server(void)
{
	dc_stop_server(server);
	server = dc_start_server("ctx.sock", NULL);
	return server > 0;
}

static int retry_flag(void)
{
	const unsigned char *id = (const unsigned char *)"retry-id";
	DC_CTX *r = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_RETRY);
	DC_CTX *n = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT);
	CHECK(r != NULL && n != NULL);
	CHECK_EQ(DC_CTX_has_session(r, id, 8), 0);
	CHECK_EQ(DC_CTX_has_session(n, id, 8), 0);
	CHECK(restart_server());
	/* RETRY: the idle connection is dead, the operation reconnects once */
	CHECK_EQ(DC_CTX_add_session(r, id, 8, (const unsigned char *)"retried!", 8, 60000), 1);
	/* without RETRY: this operation fails, the next one reconnects */
	CHECK_EQ(DC_CTX_has_session(n, id, 8), -1);
	CHECK_EQ(DC_CTX_has_session(n, id, 8), 1);
	/* server gone: RETRY fails cleanly; the context backs off (fails at
	 * once, DC_CTX_BACKOFF_MS = 200 here, see main) even once the server
	 * is back, and works again after the back-off */
	dc_stop_server(server);
	long failed_at = now_ms();
	CHECK_EQ(DC_CTX_has_session(r, id, 8), -1);
	CHECK_EQ(DC_CTX_has_session(r, id, 8), -1);
	server = dc_start_server("ctx.sock", NULL);
	CHECK(server > 0);
	/* still backing off, unless starting the server took most of the
	 * 200 ms (a loaded machine, valgrind) */
	int during = DC_CTX_has_session(r, id, 8);
	if (now_ms() - failed_at < 150)
		CHECK_EQ(during, -1);
	else
		CHECK(during == -1 || during == 0);
	usleep(250000);
	CHECK_EQ(DC_CTX_has_session(r, id, 8), 0);
	DC_CTX_free(r);
	DC_CTX_free(n);
	return 1;
}

static int late_flag(void)
{
	char t[300];
	pid_t late;
	DC_CTX *c;
	dc_target(t, sizeof(t), "late.sock");
	c = DC_CTX_new(t, DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_LATE);
	CHECK(c != NULL);
	late = dc_start_server("late.sock", NULL);
	CHECK(late > 0);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"late", 4, (const unsigned char *)"value", 5, 60000), 1);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"late", 4), 1);
	DC_CTX_free(c);
	dc_stop_server(late);
	return 1;
}

static int pidcheck_flag(void)
{
	int i, status = -1;
	pid_t child;
	DC_CTX *c = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_PIDCHECK);
	CHECK(c != NULL);
	CHECK_EQ(DC_CTX_add_session(c, (const unsigned char *)"parent", 6, (const unsigned char *)"parent-data", 11, 60000), 1);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		/* The child's operations interleave with the parent's on what
		 * was one connection: each must get its own answers. */
		int ok = 1;
		unsigned char out[32];
		unsigned int used;
		for (i = 0; i < 200 && ok; i++) {
			ok &= DC_CTX_has_session(c, (const unsigned char *)"parent", 6) == 1;
			ok &= DC_CTX_get_session(c, (const unsigned char *)"parent", 6, out, sizeof(out), &used) == 1;
			ok &= used == 11 && memcmp(out, "parent-data", 11) == 0;
			ok &= DC_CTX_has_session(c, (const unsigned char *)"nothing", 7) == 0;
		}
		_exit(ok ? 0 : 3);
	}
	for (i = 0; i < 200; i++) {
		unsigned char out[32];
		unsigned int used;
		CHECK_EQ(DC_CTX_get_session(c, (const unsigned char *)"parent", 6, out, sizeof(out), &used), 1);
		CHECK_EQ(used, 11);
		CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"child", 5), 0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	DC_CTX_free(c);
	return 1;
}

static int flags_ignored_without_persistent(void)
{
	/* modifiers alone: temporary mode, so creation succeeds without a
	 * server and nothing is connected */
	char t[300];
	DC_CTX *c;
	dc_target(t, sizeof(t), "absent.sock");
	c = DC_CTX_new(t, DC_CTX_FLAG_PERSISTENT_PIDCHECK | DC_CTX_FLAG_PERSISTENT_RETRY | 0xf0);
	CHECK(c != NULL);
	CHECK_EQ(DC_CTX_has_session(c, (const unsigned char *)"x", 1), -1);
	DC_CTX_free(c);
	return 1;
}

int main(void)
{
	SUITE("dc_ctx");
	/* read by the library when the first context is created */
	setenv("DC_CTX_BACKOFF_MS", "200", 1);
	dc_target(target, sizeof(target), "ctx.sock");
	server = dc_start_server("ctx.sock", NULL);
	if (server <= 0) {
		printf("FAIL dc_ctx/start_server\n");
		return 1;
	}
	RUN(new_rejects_bad_targets);
	RUN(null_and_bad_arguments);
	RUN(add_get_reget_has_remove);
	RUN(server_replies);
	RUN(persistent_mode);
	RUN(pidcheck_flag);
	RUN(retry_flag);
	RUN(late_flag);
	RUN(flags_ignored_without_persistent);
	return DONE();
}
