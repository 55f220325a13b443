/* nal-echo-server: echoes back whatever its clients send, using libnal.
 *
 *   nal-echo-server [ADDRESS] [MAX_CLIENTS]
 *
 * ADDRESS is any libnal address that can listen (default UNIX:/tmp/nal-echo);
 * with MAX_CLIENTS the server exits after that many clients have come and
 * gone. One selector drives everything: the listener and every client stay
 * attached to it, and each round moves bytes with NAL_CONNECTION_io.
 */
#include <libnal/nal.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_CONNS 64

int main(int argc, char **argv)
{
	const char *where = argc > 1 ? argv[1] : "UNIX:/tmp/nal-echo";
	int max_clients = argc > 2 ? atoi(argv[2]) : 0, served = 0, i;
	NAL_ADDRESS *addr = NAL_ADDRESS_new();
	NAL_LISTENER *listener = NAL_LISTENER_new();
	NAL_SELECTOR *sel = NAL_SELECTOR_new();
	NAL_CONNECTION *conns[MAX_CONNS] = { NULL };

	/* 4 KiB buffers for every connection accepted from this address */
	if (!NAL_ADDRESS_create(addr, where, 4096) || !NAL_LISTENER_create(listener, addr) ||
	    !NAL_LISTENER_add_to_selector(listener, sel)) {
		fprintf(stderr, "cannot listen on %s\n", where);
		return 1;
	}
	printf("listening on %s\n", where);
	fflush(stdout);
	while (!max_clients || served < max_clients) {
		if (NAL_SELECTOR_select(sel, 0, 0) < 0)
			break; /* interrupted by a signal */
		/* a new client? (at most one accept per select round) */
		for (i = 0; i < MAX_CONNS && conns[i]; i++)
			;
		if (i < MAX_CONNS) {
			conns[i] = NAL_CONNECTION_new();
			if (NAL_CONNECTION_accept(conns[i], listener))
				NAL_CONNECTION_add_to_selector(conns[i], sel);
			else {
				NAL_CONNECTION_free(conns[i]);
				conns[i] = NULL;
			}
		}
		for (i = 0; i < MAX_CONNS; i++) {
			if (!conns[i])
				continue;
			/* read what arrived, send what is queued; 0 = gone */
			if (!NAL_CONNECTION_io(conns[i])) {
				NAL_CONNECTION_free(conns[i]); /* also detaches it */
				conns[i] = NULL;
				served++;
				continue;
			}
			/* echo: move the read buffer into the send buffer */
			NAL_BUFFER_transfer(NAL_CONNECTION_get_send(conns[i]),
					NAL_CONNECTION_get_read(conns[i]), 0);
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		NAL_CONNECTION_free(conns[i]);
	NAL_LISTENER_free(listener);
	NAL_SELECTOR_free(sel);
	NAL_ADDRESS_free(addr);
	printf("served %d client(s)\n", served);
	return 0;
}
