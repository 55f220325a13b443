/* echo-client - talks to echo-server for ever, checking every echo.
 *
 *   echo-client [ECHO-SOCKET [REPORT-EVERY]]
 *
 * Connects once to TCP 127.0.0.1:8087, or to the unix socket ECHO-SOCKET,
 * then sends one byte at a time and expects it back. The bytes cycle
 * through '0'..'9', 'a'..'z' and NUL. Prints "connected" once and, with
 * REPORT-EVERY > 0, "echoed N" after every REPORT-EVERY round trips. It
 * never reconnects: if the server restarts with the connection fetched
 * from the escrow, the echoes simply resume.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char cycle[] = "0123456789abcdefghijklmnopqrstuvwxyz"; /* + NUL */

int main(int argc, char **argv)
{
	long every = argc > 2 ? atol(argv[2]) : 0;
	unsigned long long count = 0;
	int sock;
	size_t i = 0;

	if (argc > 1) {
		struct sockaddr_un a;
		memset(&a, 0, sizeof a);
		a.sun_family = AF_UNIX;
		strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
		sock = socket(AF_UNIX, SOCK_STREAM, 0);
		if (sock < 0 || connect(sock, (struct sockaddr *)&a, sizeof a) < 0) {
			fprintf(stderr, "echo-client: connect(): %s\n", strerror(errno));
			return 1;
		}
	} else {
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons(8087);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sock = socket(AF_INET, SOCK_STREAM, 0);
		if (sock < 0 || connect(sock, (struct sockaddr *)&a, sizeof a) < 0) {
			fprintf(stderr, "echo-client: connect(): %s\n", strerror(errno));
			return 1;
		}
	}
	printf("connected\n");
	fflush(stdout);
	for (;;) {
		char out = cycle[i], in;
		ssize_t n;
		i = (i + 1) % sizeof cycle; /* sizeof includes the NUL */
		if (write(sock, &out, 1) != 1) {
			fprintf(stderr, "echo-client: write: %s\n", strerror(errno));
			return 1;
		}
		n = read(sock, &in, 1);
		if (n != 1) {
			fprintf(stderr, "echo-client: read: %s\n", n == 0 ? "end of stream" : strerror(errno));
			return 1;
		}
		if (in != out) {
			fprintf(stderr, "echo-client: mismatch: %c != %c\n", in, out);
			return 1;
		}
		if (every > 0 && ++count % every == 0) {
			printf("echoed %llu\n", count);
			fflush(stdout);
		}
	}
}
