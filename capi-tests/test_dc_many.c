/* 2,000 persistent clients held open at once against one dc_server on a
 * unix socket, all served correctly. */
#include <sys/resource.h>
#include <distcache/dc_client.h>
#include "harness.h"
#include "dc_helper.h"

#define CLIENTS 2000

static DC_CTX *ctx[CLIENTS];
static char target[300];

static int raise_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_max < CLIENTS + 200) {
		rl.rlim_max = CLIENTS + 200; /* needs privileges; checked below */
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur >= CLIENTS + 100;
}

static int two_thousand_persistent_clients(void)
{
	int i;
	char id[32];
	unsigned char out[64];
	unsigned int used;
	for (i = 0; i < CLIENTS; i++) {
		ctx[i] = DC_CTX_new(target, DC_CTX_FLAG_PERSISTENT);
		CHECK(ctx[i] != NULL);
	}
	/* every connection is open now; use them all, twice round */
	for (i = 0; i < CLIENTS; i++) {
		int n = snprintf(id, sizeof(id), "client-%d", i);
		CHECK_EQ(DC_CTX_add_session(ctx[i], (unsigned char *)id, n, (unsigned char *)id, n, 60000), 1);
	}
	for (i = CLIENTS - 1; i >= 0; i--) {
		int n = snprintf(id, sizeof(id), "client-%d", (i + 1) % CLIENTS);
		CHECK_EQ(DC_CTX_get_session(ctx[i], (unsigned char *)id, n, out, sizeof(out), &used), 1);
		CHECK_EQ(used, n);
		CHECK(memcmp(out, id, n) == 0);
		CHECK_EQ(DC_CTX_remove_session(ctx[i], (unsigned char *)id, n), 1);
	}
	for (i = 0; i < CLIENTS; i++)
		DC_CTX_free(ctx[i]);
	return 1;
}

int main(void)
{
	SUITE("dc_many");
	if (!raise_limit()) {
		printf("FAIL dc_many/raise_descriptor_limit\n");
		return 1;
	}
	dc_target(target, sizeof(target), "many.sock");
	if (dc_start_server("many.sock", "-sessions", "5000", NULL) <= 0) {
		printf("FAIL dc_many/start_server\n");
		return 1;
	}
	RUN(two_thousand_persistent_clients);
	return DONE();
}
