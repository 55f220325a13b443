/* echo-server - an echo service whose client connection survives a
 * restart of the server, kept in the descriptor escrow meanwhile.
 *
 *   echo-server [ESCROW-SOCKET [ECHO-SOCKET]]
 *
 * ESCROW-SOCKET is the escrow daemon's unix socket (default: $ESCROW_PATH);
 * a daemon is started there if none listens. The service listens on TCP
 * port 8087 on all interfaces, or on the unix socket ECHO-SOCKET if given.
 *
 * First run: the escrow has no entry (0, 0), so the server listens,
 * accepts one client and escrows the connection. Kill the server (even
 * with SIGKILL) and start it again: it fetches the connection from the
 * escrow and goes on echoing; the client notices nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <escrow.h>

static int fail(const char *what)
{
	fprintf(stderr, "echo-server: %s(): %s\n", what, strerror(errno));
	return -1;
}

/* Listens, accepts one client, closes the listener. */
static int accept_one(const char *unix_path)
{
	int lsock, sock, one = 1;
	if (unix_path) {
		struct sockaddr_un a;
		memset(&a, 0, sizeof a);
		a.sun_family = AF_UNIX;
		if (strlen(unix_path) >= sizeof a.sun_path) {
			errno = ENAMETOOLONG;
			return fail("bind");
		}
		strcpy(a.sun_path, unix_path);
		unlink(unix_path);
		if ((lsock = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return fail("socket");
		if (bind(lsock, (struct sockaddr *)&a, sizeof a) < 0)
			return fail("bind");
	} else {
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons(8087);
		a.sin_addr.s_addr = htonl(INADDR_ANY);
		if ((lsock = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return fail("socket");
		if (setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
			return fail("setsockopt");
		if (bind(lsock, (struct sockaddr *)&a, sizeof a) < 0)
			return fail("bind");
	}
	if (listen(lsock, 3) < 0)
		return fail("listen");
	if ((sock = accept(lsock, NULL, NULL)) < 0)
		return fail("accept");
	close(lsock);
	return sock;
}

int main(int argc, char **argv)
{
	struct escrow *escrow;
	int sock = -1, rc;
	int32_t nob = 0;
	char ch;
	ssize_t n;

	/* A client that leaves while its echo is written ends the loop below
	 * (EPIPE) instead of killing the server. */
	signal(SIGPIPE, SIG_IGN);
	rc = escrow_init(argc > 1 ? argv[1] : NULL, ESCROW_VERBOSE | ESCROW_FORCE, 1, &escrow);
	if (rc != 0) {
		fprintf(stderr, "echo-server: escrow_init(): %d\n", rc);
		return 1;
	}
	/* The connection of a previous instance, if there was one. */
	rc = escrow_get(escrow, 0, 0, &sock, &nob, &ch);
	if (rc != 0 && rc != -ENOENT) {
		fprintf(stderr, "echo-server: escrow_get(): %d\n", rc);
		return 1;
	}
	if (rc == -ENOENT) {
		if ((sock = accept_one(argc > 2 ? argv[2] : NULL)) < 0)
			return 1;
		/* From now on a restarted server can take over the connection. */
		rc = escrow_add(escrow, 0, 0, sock, 0, &ch);
		if (rc != 0)
			fprintf(stderr, "echo-server: escrow_add(): %d\n", rc);
	}
	while ((n = read(sock, &ch, 1)) > 0) {
		if (write(sock, &ch, n) != n)
			break;
	}
	/* The client has gone: nothing to keep any more. */
	rc = escrow_del(escrow, 0, 0);
	if (rc != 0) {
		fprintf(stderr, "echo-server: escrow_del(): %d\n", rc);
		return 1;
	}
	close(sock);
	escrow_fini(escrow);
	return 0;
}
