/* dc-demo-client: a small distcache application.
 *
 *   dc-demo-client ADDRESS [persistent]
 *
 * Stores three sessions through ADDRESS (a dc_client or dc_server, e.g.
 * UNIX:/tmp/scache), reads them back, checks they exist, removes them and
 * checks they are gone, printing every call and its result. Exit status 0
 * when every answer was the expected one.
 */
#include <stdio.h>
#include <string.h>
#include <distcache/dc_client.h>

static int failures;

static void expect(const char *what, int got, int want)
{
	printf("  %-44s -> %2d%s\n", what, got, got == want ? "" : "   (unexpected)");
	if (got != want)
		failures++;
}

int main(int argc, char **argv)
{
	static const char *ids[] = { "session-alpha", "session-beta", "session-gamma" };
	char what[96], data[128];
	unsigned char buf[256];
	unsigned int used, i;
	unsigned int flags = 0;
	DC_CTX *ctx;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s ADDRESS [persistent]\n", argv[0]);
		return 2;
	}
	if (argc == 3 && strcmp(argv[2], "persistent") == 0)
		flags = DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_RETRY | DC_CTX_FLAG_PERSISTENT_LATE;
	ctx = DC_CTX_new(argv[1], flags);
	if (!ctx) {
		fprintf(stderr, "cannot use '%s' as a distcache address\n", argv[1]);
		return 1;
	}
	printf("application using %s (%s connections)\n", argv[1], flags ? "one persistent" : "per-operation");
	for (i = 0; i < 3; i++) {
		snprintf(data, sizeof(data), "state of %s: master secret, cipher, timestamps", ids[i]);
		snprintf(what, sizeof(what), "add    %s (%u bytes, 60 s)", ids[i], (unsigned int)strlen(data));
		expect(what, DC_CTX_add_session(ctx, (const unsigned char *)ids[i], (unsigned int)strlen(ids[i]),
		                                (const unsigned char *)data, (unsigned int)strlen(data), 60000), 1);
	}
	for (i = 0; i < 3; i++) {
		int r;
		used = 0;
		r = DC_CTX_get_session(ctx, (const unsigned char *)ids[i], (unsigned int)strlen(ids[i]), buf,
		                       sizeof(buf) - 1, &used);
		snprintf(what, sizeof(what), "get    %s", ids[i]);
		expect(what, r, 1);
		if (r == 1) {
			buf[used < sizeof(buf) - 1 ? used : sizeof(buf) - 1] = 0;
			printf("         \"%s\"\n", (const char *)buf);
		}
		snprintf(what, sizeof(what), "has    %s", ids[i]);
		expect(what, DC_CTX_has_session(ctx, (const unsigned char *)ids[i], (unsigned int)strlen(ids[i])), 1);
	}
	for (i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "remove %s", ids[i]);
		expect(what, DC_CTX_remove_session(ctx, (const unsigned char *)ids[i], (unsigned int)strlen(ids[i])), 1);
	}
	snprintf(what, sizeof(what), "has    %s (after remove)", ids[0]);
	expect(what, DC_CTX_has_session(ctx, (const unsigned char *)ids[0], (unsigned int)strlen(ids[0])), 0);
	snprintf(what, sizeof(what), "get    %s (after remove)", ids[1]);
	expect(what, DC_CTX_get_session(ctx, (const unsigned char *)ids[1], (unsigned int)strlen(ids[1]), buf,
	                                sizeof(buf), &used), 0);
	DC_CTX_free(ctx);
	printf("%s\n", failures ? "some answers were not the expected ones" : "all answers as expected");
	return failures ? 1 : 0;
}
