/* The daemon entry points libescrow exports beside escrow.h: escrowd,
 * escrowd_fork, escrowd_init, escrowd_loop and escrowd_fini. They are not
 * declared in escrow.h; like the traditional escrowd program, callers
 * declare them themselves. Sockets live in a private directory; every
 * daemon started is killed by PID and reaped. */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <escrow.h>

struct escrowd;
int escrowd(const char *path, uint32_t flags, int32_t nr_tags);
int escrowd_fork(const char *path, uint32_t flags, int32_t nr_tags);
int escrowd_init(struct escrowd **out, const char *path, uint32_t flags, int32_t nr_tags);
void escrowd_fini(struct escrowd *d);
int escrowd_loop(struct escrowd *d);

static char dir[64];

static pid_t daemon_pid(const char *path)
{
	struct sockaddr_un a;
	struct ucred cred;
	socklen_t len = sizeof cred;
	pid_t pid = -1;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(s);
	return pid;
}

static void kill_daemon(const char *path)
{
	pid_t pid = daemon_pid(path);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* A client process: adds (tag 1, idx) and checks the count. */
static pid_t client(const char *path, int idx, int expect_nr)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct escrow *e = NULL;
		int32_t nr = -1, nob;
		int ok = escrow_init(path, 0, 4, &e) == 0 && escrow_add(e, 1, idx, -1, 2, "ab") == 0 &&
			 escrow_tag(e, 1, &nr, &nob) == 0 && nr == expect_nr;
		escrow_fini(e);
		_exit(ok ? 0 : 1);
	}
	return pid;
}

static int exited_ok(pid_t pid)
{
	int status, i;
	for (i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 0;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int fork_starts_a_daemon(void)
{
	char path[96];
	struct escrow *e = NULL;
	int32_t nr, nob;
	snprintf(path, sizeof path, "%s/fork", dir);
	CHECK_EQ(escrowd_fork(path, 0, 3), 0);
	CHECK(daemon_pid(path) > 0);
	/* Another start on the same path: the running daemon is kept. */
	CHECK_EQ(escrowd_fork(path, ESCROW_FORCE, 3), 0);
	CHECK_EQ(escrow_init(path, 0, 0, &e), 0);
	CHECK_EQ(escrow_tag(e, 2, &nr, &nob), 0);
	CHECK_EQ(escrow_tag(e, 3, &nr, &nob), -EINVAL); /* 3 tags */
	escrow_fini(e);
	kill_daemon(path);
	CHECK_EQ(escrowd_fork(NULL, 0, 3) == 0, getenv("ESCROW_PATH") != NULL);
	return 1;
}

static int init_loop_fini_in_process(void)
{
	char path[96];
	struct escrowd *d = NULL;
	struct stat st;
	pid_t c;
	snprintf(path, sizeof path, "%s/inproc", dir);
	CHECK_EQ(escrowd_init(&d, path, 0, 4), 0);
	CHECK(d != NULL);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	/* A live daemon's path is refused, by every entry point. */
	{
		struct escrowd *d2 = NULL;
		CHECK_EQ(escrowd_init(&d2, path, ESCROW_FORCE, 4), -EADDRINUSE);
		CHECK(d2 == NULL);
		CHECK_EQ(escrowd(path, ESCROW_FORCE, 4), -EADDRINUSE);
	}
	/* Those two liveness probes were connections: two empty sessions. */
	CHECK_EQ(escrowd_loop(d), -ESHUTDOWN);
	CHECK_EQ(escrowd_loop(d), -ESHUTDOWN);
	/* Each loop call serves one session; the state outlives it. */
	c = client(path, 5, 1);
	CHECK(c > 0);
	CHECK_EQ(escrowd_loop(d), -ESHUTDOWN);
	CHECK(exited_ok(c));
	c = client(path, 6, 2);
	CHECK(c > 0);
	CHECK_EQ(escrowd_loop(d), -ESHUTDOWN);
	CHECK(exited_ok(c));
	escrowd_fini(d);
	/* The socket file stays; nothing listens any more. */
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(daemon_pid(path), -1);
	unlink(path);
	return 1;
}

static int argument_errors(void)
{
	struct escrowd *d = NULL;
	char path[96], longpath[200];
	snprintf(path, sizeof path, "%s/args", dir);
	CHECK_EQ(escrowd_init(NULL, path, 0, 4), -EINVAL);
	CHECK_EQ(escrowd_init(&d, path, 0, 0), -EINVAL);
	CHECK_EQ(escrowd_init(&d, path, 0, 32769), -EINVAL);
	memset(longpath, 'y', sizeof longpath);
	longpath[120] = 0;
	CHECK_EQ(escrowd_init(&d, longpath, 0, 4), -EINVAL);
	CHECK_EQ(escrowd(path, 0, -1), -EINVAL);
	snprintf(path, sizeof path, "%s/missing/dir", dir);
	CHECK_EQ(escrowd(path, 0, 4), -ENOENT);
	CHECK_EQ(escrowd_fork(path, 0, 4), -ENOENT);
	CHECK(d == NULL);
	CHECK_EQ(escrowd_loop(NULL), -EINVAL);
	escrowd_fini(NULL);
	return 1;
}

int main(void)
{
	SUITE("escrowd");
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	snprintf(dir, sizeof dir, "/tmp/escrowd-c-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	unsetenv("ESCROW_PATH");
	RUN(fork_starts_a_daemon);
	RUN(init_loop_fini_in_process);
	RUN(argument_errors);
	{
		char p[96];
		snprintf(p, sizeof p, "%s/fork", dir);
		kill_daemon(p);
		unlink(p);
		snprintf(p, sizeof p, "%s/inproc", dir);
		unlink(p);
		rmdir(dir);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return DONE();
}
