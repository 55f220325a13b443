/* Looks one TLS session up in a distcache server through DC_CTX.
 *
 *   dc_session ADDRESS HEX-SESSION-ID [OUT-FILE]
 *   dc_session -add MSECS ADDRESS HEX-SESSION-ID
 *
 * ADDRESS is a libnal address (e.g. UNIX:/path/to/socket), the session id
 * is given in hex (as `openssl sess_id -text` prints it). Prints
 * "has=<DC_CTX_has_session result>" and, when the server has the session,
 * "get=<bytes>" after fetching it with DC_CTX_get_session; OUT-FILE then
 * receives the stored bytes (the DER-encoded session).
 * With -add it first stores a 16-byte session under that id with
 * DC_CTX_add_session(..., MSECS) and prints "add=<result>".
 * Exit status: 0 present and fetched, 1 absent, 2 usage or exchange error.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <distcache/dc_client.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	unsigned char id[64], *data;
	unsigned int id_len = 0, used = 0;
	const char *p;
	DC_CTX *ctx;
	int has;
	long add_msecs = -1;

	if (argc == 5 && strcmp(argv[1], "-add") == 0) {
		add_msecs = strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc < 3 || argc > 4 || add_msecs < -1) {
		fprintf(stderr, "usage: %s [-add MSECS] ADDRESS HEX-SESSION-ID [OUT-FILE]\n", argv[0]);
		return 2;
	}
	for (p = argv[2]; *p; p += 2) {
		int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
		if (hi < 0 || lo < 0 || id_len == sizeof(id)) {
			fprintf(stderr, "bad session id '%s'\n", argv[2]);
			return 2;
		}
		id[id_len++] = (unsigned char)(hi << 4 | lo);
	}
	if (id_len == 0) {
		fprintf(stderr, "empty session id\n");
		return 2;
	}
	ctx = DC_CTX_new(argv[1], 0);
	if (!ctx) {
		fprintf(stderr, "DC_CTX_new(%s) failed\n", argv[1]);
		return 2;
	}
	if (add_msecs >= 0) {
		static const unsigned char sess[16] = "distcache-test!";
		printf("add=%d\n", DC_CTX_add_session(ctx, id, id_len, sess, sizeof(sess), (unsigned long)add_msecs));
	}
	has = DC_CTX_has_session(ctx, id, id_len);
	printf("has=%d\n", has);
	if (has != 1) {
		DC_CTX_free(ctx);
		return has == 0 ? 1 : 2;
	}
	data = malloc(32768);
	if (!data || !DC_CTX_get_session(ctx, id, id_len, data, 32768, &used) || used > 32768) {
		printf("get=failed\n");
		free(data);
		DC_CTX_free(ctx);
		return 2;
	}
	printf("get=%u\n", used);
	if (argc == 4) {
		FILE *f = fopen(argv[3], "wb");
		if (!f || fwrite(data, 1, used, f) != used || fclose(f) != 0) {
			fprintf(stderr, "cannot write %s\n", argv[3]);
			free(data);
			DC_CTX_free(ctx);
			return 2;
		}
	}
	free(data);
	DC_CTX_free(ctx);
	return 0;
}
