/* Helper of scenario_escrow_faults.sh: fills an escrowd (started with a low
 * descriptor limit) with entries that each hold a distinct file and a
 * payload of its own, until the daemon answers -EMFILE; then hits it with
 * garbage, truncated messages, descriptors on requests that take none,
 * clients that disconnect mid-message (some with a descriptor in flight)
 * and a client that never reads its replies; then checks that every entry
 * accepted before is still retrievable with the same file and the same
 * payload. Prints PASS/FAIL lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <escrow.h>

#define MAX_ENTRIES 400
#define MAX_PAYLOAD 32768

static int failures;
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static void result(int ok, const char *name)
{
	printf("%s escrow_faults/%s\n", ok ? "PASS" : "FAIL", name);
	failures += !ok;
}

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	size_t i;
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131 + seed * 17 + 5);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval tv = { 2, 0 };
	if (s < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(s);
		return -1;
	}
	return s;
}

/* One sendmsg, optionally with a descriptor attached. */
static void send_with_fd(int s, const void *buf, size_t len, int fd)
{
	struct msghdr msg;
	struct iovec iov;
	char ctl[CMSG_SPACE(sizeof(int))];
	memset(&msg, 0, sizeof msg);
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;
		memset(ctl, 0, sizeof ctl);
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof ctl;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	(void)sendmsg(s, &msg, MSG_NOSIGNAL);
}

/* Host-order message builders (the escrow wire format). */
static size_t msg_add(unsigned char *b, int16_t op, int16_t tag, int32_t idx, int32_t ufd, int32_t nob)
{
	memcpy(b, &op, 2);
	memcpy(b + 2, &tag, 2);
	memcpy(b + 4, &idx, 4);
	memcpy(b + 8, &ufd, 4);
	memcpy(b + 12, &nob, 4);
	return 16;
}

static size_t msg_short(unsigned char *b, int16_t op, int16_t tag, int32_t idx)
{
	memcpy(b, &op, 2);
	memcpy(b + 2, &tag, 2);
	memcpy(b + 4, &idx, 4);
	return op == 4 ? 4 : 8;
}

static void drain_and_close(int s, int read_replies)
{
	char sink[4096];
	shutdown(s, SHUT_WR);
	if (read_replies)
		while (read(s, sink, sizeof sink) > 0) {
		}
	close(s);
}

int main(int argc, char **argv)
{
	static unsigned char payload[MAX_PAYLOAD], got_payload[MAX_PAYLOAD], buf[MAX_PAYLOAD + 64];
	static ino_t inode[MAX_ENTRIES];
	static int32_t length[MAX_ENTRIES];
	struct escrow *e = NULL;
	const char *sock, *dir;
	int32_t i, stored, nr, total;
	int rc = 0, ok, round, devnull;
	char name[4096];

	if (argc < 3) {
		fprintf(stderr, "usage: escrow_faults SOCKET DIR\n");
		return 2;
	}
	sock = argv[1];
	dir = argv[2];
	devnull = open("/dev/null", O_RDONLY);
	if (escrow_init(sock, 0, 4, &e) != 0) {
		result(0, "connect");
		return 1;
	}
	/* 1. Fill: one distinct file per entry, payloads of 0..32768 bytes. */
	for (i = 0; i < MAX_ENTRIES; i++) {
		struct stat st;
		int fd;
		snprintf(name, sizeof name, "%s/entry.%d", dir, (int)i);
		fd = open(name, O_CREAT | O_RDWR | O_TRUNC, 0600);
		if (fd < 0 || fstat(fd, &st) != 0) {
			rc = -errno;
			break;
		}
		length[i] = (int32_t)(i == 1 ? MAX_PAYLOAD : rnd() % 2000);
		fill(payload, (size_t)length[i], (uint32_t)i);
		rc = escrow_add(e, 0, i, fd, length[i], payload);
		close(fd);
		if (rc != 0)
			break;
		inode[i] = st.st_ino;
	}
	stored = i;
	printf("# %d entries stored, then %d\n", (int)stored, rc);
	result(rc == -EMFILE && stored >= 5, "filled_to_descriptor_limit");
	escrow_fini(e);

	/* 2. Faults, each on a fresh connection. */
	for (round = 0; round < 300; round++) {
		int s = raw_connect(sock), kind = round % 8;
		size_t n;
		if (s < 0) {
			result(0, "fault_connect");
			break;
		}
		switch (kind) {
		case 0: /* random bytes behind an unknown opcode */
			n = 2 + rnd() % 3000;
			for (i = 0; i < (int32_t)n; i++)
				buf[i] = (unsigned char)rnd();
			buf[0] = 0xff;
			buf[1] = 0x7f;
			send_with_fd(s, buf, n, rnd() % 2 ? devnull : -1);
			drain_and_close(s, 1);
			break;
		case 1: /* ADD header with an impossible length */
			msg_add(buf, 1, 0, 3, -1, (int32_t)(MAX_PAYLOAD + 1 + rnd() % 1000));
			send_with_fd(s, buf, 16, -1);
			drain_and_close(s, 1);
			break;
		case 2: /* disconnect mid-header */
			msg_add(buf, 1, 0, (int32_t)(rnd() % (uint32_t)stored), 3, 100);
			send_with_fd(s, buf, 1 + rnd() % 15, rnd() % 2 ? devnull : -1);
			drain_and_close(s, rnd() % 2);
			break;
		case 3: /* ADD over an existing entry, cut mid-payload, descriptor in flight */
			n = msg_add(buf, 1, 0, (int32_t)(rnd() % (uint32_t)stored), devnull, 5000);
			memset(buf + n, 0x5a, 5000);
			send_with_fd(s, buf, n + rnd() % 4999, devnull);
			drain_and_close(s, rnd() % 2);
			break;
		case 4: /* GET, DEL and TAG carrying a descriptor: rejected, nothing
			 * changes. (A full daemon cannot receive the descriptor
			 * and, as the protocol requires, handles the request as
			 * if none had been sent: so the DEL names a free index.) */
			if (rnd() % 2)
				n = msg_short(buf, 6, 0, (int32_t)(rnd() % (uint32_t)stored));
			else
				n = msg_short(buf, 2, 0, stored + 100 + (int32_t)(rnd() % 100));
			send_with_fd(s, buf, n, devnull);
			n = msg_short(buf, 4, 0, 0);
			send_with_fd(s, buf, n, devnull);
			drain_and_close(s, 1);
			break;
		case 5: /* many requests, replies never read */
			for (i = 0; i < 200; i++) {
				n = msg_short(buf, 4, 0, 0);
				send_with_fd(s, buf, n, -1);
			}
			close(s);
			break;
		case 6: /* requests for tags and indices out of range */
			n = msg_short(buf, 6, (int16_t)(4 + rnd() % 100), -1);
			send_with_fd(s, buf, n, -1);
			n = msg_short(buf, 2, -1, (int32_t)(1 << 20));
			send_with_fd(s, buf, n, -1);
			n = msg_add(buf, 1, 99, 0, -1, 0);
			send_with_fd(s, buf, n, -1);
			drain_and_close(s, 1);
			break;
		default: /* a valid GET split over several sends, then gone */
			n = msg_short(buf, 6, 0, (int32_t)(rnd() % (uint32_t)stored));
			send_with_fd(s, buf, 3, -1);
			send_with_fd(s, buf + 3, n - 3, -1);
			drain_and_close(s, 0);
			break;
		}
	}
	printf("# %d fault connections\n", round);
	result(round == 300, "faults_delivered");

	/* 3. Everything accepted in step 1 is still there, unchanged. */
	if (escrow_init(sock, 0, 4, &e) != 0) {
		result(0, "reconnect");
		return 1;
	}
	ok = 1;
	for (i = 0; i < stored; i++) {
		struct stat st;
		int fd = -1;
		int32_t nob = MAX_PAYLOAD;
		rc = escrow_get(e, 0, i, &fd, &nob, got_payload);
		fill(payload, (size_t)length[i], (uint32_t)i);
		if (rc != 0 || fd < 0 || nob != length[i] || memcmp(payload, got_payload, (size_t)nob) != 0 ||
		    fstat(fd, &st) != 0 || st.st_ino != inode[i]) {
			if (ok)
				printf("# entry %d: rc %d fd %d nob %d\n", (int)i, rc, fd, (int)nob);
			ok = 0;
		}
		if (fd >= 0)
			close(fd);
	}
	result(ok, "every_entry_retrievable_unchanged");
	result(escrow_tag(e, 0, &nr, &total) == 0 && nr == stored, "tag_count_unchanged");
	escrow_fini(e);
	close(devnull);
	return failures != 0;
}
