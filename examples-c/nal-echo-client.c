/* nal-echo-client: sends a message to an echo server and checks the reply.
 *
 *   nal-echo-client [ADDRESS] [MESSAGE] [REPEAT]
 *
 * Sends MESSAGE (default "hello, distcache") REPEAT times (default 1) over one
 * connection, waiting for each echo, and prints what came back. Exits 0 only
 * if every echo matched.
 */
#include <libnal/nal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *where = argc > 1 ? argv[1] : "UNIX:/tmp/nal-echo";
	const char *msg = argc > 2 ? argv[2] : "hello, distcache";
	int repeat = argc > 3 ? atoi(argv[3]) : 1, n, rounds, ok = 1;
	unsigned int len = (unsigned int)strlen(msg);
	unsigned char reply[4096];
	NAL_ADDRESS *addr = NAL_ADDRESS_new();
	NAL_CONNECTION *conn = NAL_CONNECTION_new();
	NAL_SELECTOR *sel = NAL_SELECTOR_new();

	if (len == 0 || len > sizeof(reply) || !NAL_ADDRESS_create(addr, where, 4096) ||
	    !NAL_CONNECTION_create(conn, addr) || !NAL_CONNECTION_add_to_selector(conn, sel)) {
		fprintf(stderr, "cannot connect to %s\n", where);
		return 1;
	}
	for (n = 0; n < repeat && ok; n++) {
		NAL_BUFFER *in = NAL_CONNECTION_get_read(conn);
		NAL_BUFFER_write(NAL_CONNECTION_get_send(conn), (const unsigned char *)msg, len);
		/* select and move bytes until the whole echo is in; give up after
		 * 50 rounds of 100 ms without completing */
		for (rounds = 0; NAL_BUFFER_used(in) < len && rounds < 50; rounds++) {
			if (NAL_SELECTOR_select(sel, 100000, 1) < 0 || !NAL_CONNECTION_io(conn))
				break;
		}
		ok = NAL_BUFFER_used(in) == len;
		NAL_BUFFER_read(in, reply, len);
		ok = ok && memcmp(reply, msg, len) == 0;
		printf("echo %d: %s \"%.*s\"\n", n + 1, ok ? "ok" : "MISMATCH", (int)len, (const char *)reply);
	}
	NAL_CONNECTION_free(conn);
	NAL_SELECTOR_free(sel);
	NAL_ADDRESS_free(addr);
	return ok ? 0 : 1;
}
