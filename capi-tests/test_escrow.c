/* libescrow through its C interface: every function's success and failure
 * paths, automatic daemon start (speed, no stray or zombie processes, no
 * inherited descriptors, one daemon when several processes race), the
 * truncation rule of escrow_get and descriptor round trips.
 *
 * The test makes itself a child subreaper, so every daemon it starts
 * becomes its child: daemons are found by PID (SO_PEERCRED on their
 * socket), killed with SIGKILL and reaped, and "no stray daemon" means
 * "no living descendant". All sockets live in a private directory.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <escrow.h>

static char dir[64];
static int seq;

static const char *fresh_path(void)
{
	static char p[128];
	snprintf(p, sizeof p, "%s/s%d", dir, ++seq);
	return p;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_raw(const char *path)
{
	struct sockaddr_un a;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		close(s);
		return -1;
	}
	return s;
}

/* PID of the process listening on path, or -1. */
static pid_t daemon_pid(const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int s = connect_raw(path);
	pid_t pid = -1;
	if (s < 0)
		return -1;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
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

/* Living child processes (daemons are re-parented to us). Reaps zombies. */
static int living_children(void)
{
	int n = 0;
	DIR *d;
	struct dirent *e;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	d = opendir("/proc");
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char p[300], buf[512], *rp, state;
		int ppid;
		FILE *f;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		buf[0] = 0;
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
		rp = strrchr(buf, ')');
		if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() && state != 'Z')
			n++;
	}
	closedir(d);
	return n;
}

/* Waits up to 3 s until exactly n children live (exiting ones vanish). */
static int children_settle_at(int n)
{
	int i;
	for (i = 0; i < 300; i++) {
		if (living_children() == n)
			return 1;
		usleep(10000);
	}
	fprintf(stderr, "  %d living children, expected %d\n", living_children(), n);
	return 0;
}

static int no_descendants(void)
{
	return children_settle_at(0);
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int stale_socket(const char *path)
{
	struct sockaddr_un a;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof a.sun_path - 1);
	if (bind(s, (struct sockaddr *)&a, sizeof a) != 0)
		return 0;
	close(s);
	return 1;
}

static int autostart_without_creat(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	struct stat st;
	double t0 = now_ms(), dt;
	int32_t nr = -1, nob = -1;
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	dt = now_ms() - t0;
	fprintf(stderr, "  auto-start took %.1f ms\n", dt);
	CHECK(e != NULL);
	CHECK(dt < 5000);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(escrow_tag(e, 3, &nr, &nob), 0);
	CHECK_EQ(nr, 0);
	CHECK_EQ(nob, 0);
	CHECK_EQ(escrow_tag(e, 4, &nr, &nob), -EINVAL);
	escrow_fini(e);
	CHECK(children_settle_at(1));
	kill_daemon(path);
	CHECK(no_descendants());
	return 1;
}

static int autostart_is_fast(void)
{
	/* Natively this takes a few milliseconds and must stay well under the
	 * traditional library's fixed one-second sleep; under valgrind (which
	 * translates the daemon's code afresh) only a loose bound applies. */
	const char *path = fresh_path();
	const char *preload = getenv("LD_PRELOAD");
	int valgrind = preload && strstr(preload, "vgpreload");
	struct escrow *e = NULL;
	double t0 = now_ms();
	CHECK_EQ(escrow_init(path, ESCROW_CREAT, 1, &e), 0);
	CHECK(now_ms() - t0 < (valgrind ? 10000 : 500));
	escrow_fini(e);
	kill_daemon(path);
	return 1;
}

static int init_argument_errors(void)
{
	struct escrow *e = (struct escrow *)&e;
	char longpath[200];
	CHECK_EQ(escrow_init(fresh_path(), 0, 4, NULL), -EINVAL);
	unsetenv("ESCROW_PATH");
	CHECK_EQ(escrow_init(NULL, 0, 4, &e), -EINVAL);
	memset(longpath, 'x', sizeof longpath);
	memcpy(longpath, dir, strlen(dir));
	longpath[strlen(dir)] = '/';
	longpath[107] = 0;
	CHECK_EQ(escrow_init(longpath, 0, 4, &e), -EINVAL);
	CHECK_EQ(escrow_init("", 0, 4, &e), -EINVAL);
	/* nr_tags matters only when a daemon must be started. */
	CHECK_EQ(escrow_init(fresh_path(), 0, 0, &e), -EINVAL);
	CHECK_EQ(escrow_init(fresh_path(), 0, -5, &e), -EINVAL);
	CHECK_EQ(escrow_init(fresh_path(), 0, 32769, &e), -EINVAL);
	CHECK(e == (struct escrow *)&e); /* untouched on failure */
	CHECK(no_descendants());
	return 1;
}

static int init_missing_directory(void)
{
	char path[128];
	struct escrow *e = NULL;
	snprintf(path, sizeof path, "%s/no/such/dir/sock", dir);
	CHECK_EQ(escrow_init(path, ESCROW_CREAT, 4, &e), -ENOENT);
	CHECK(e == NULL);
	CHECK(no_descendants());
	return 1;
}

static int init_stale_socket(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	CHECK(stale_socket(path));
	CHECK_EQ(escrow_init(path, ESCROW_CREAT, 4, &e), -EADDRINUSE);
	CHECK(no_descendants());
	CHECK_EQ(escrow_init(path, ESCROW_FORCE, 4, &e), 0);
	escrow_fini(e);
	kill_daemon(path);
	CHECK(no_descendants());
	return 1;
}

static int init_from_environment(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	int32_t nr = -1, nob = -1;
	setenv("ESCROW_PATH", path, 1);
	CHECK_EQ(escrow_init(NULL, 0, 2, &e), 0);
	unsetenv("ESCROW_PATH");
	CHECK_EQ(escrow_tag(e, 1, &nr, &nob), 0);
	CHECK_EQ(escrow_tag(e, 2, &nr, &nob), -EINVAL);
	escrow_fini(e);
	CHECK(daemon_pid(path) > 0);
	kill_daemon(path);
	return 1;
}

static int no_inherited_descriptors_no_zombie(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	struct pollfd pfd;
	char c;
	int p[2];
	CHECK_EQ(pipe(p), 0); /* not close-on-exec, like any plain descriptor */
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	/* The intermediate child was reaped: only the daemon is left. */
	CHECK_EQ(waitpid(-1, NULL, WNOHANG), 0);
	CHECK_EQ(living_children(), 1);
	close(p[1]);
	/* If the daemon held the write end, this would time out. */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	CHECK_EQ(poll(&pfd, 1, 3000), 1);
	CHECK_EQ(read(p[0], &c, 1), 0);
	close(p[0]);
	escrow_fini(e);
	kill_daemon(path);
	return 1;
}

/* The auto-started daemon holds nothing of the caller's: whatever the
 * caller had open (a file, both ends of a pipe, a socket pair, a high
 * descriptor, with and without close-on-exec), the daemon's descriptor
 * table is the null device on 0..2 plus sockets only (its listener and the
 * caller's session), and none of them is one of the caller's objects. */
static int autostarted_daemon_holds_only_its_own_descriptors(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	struct stat mine[6], st;
	char link[PATH_MAX], name[160];
	int fds[6], p[2], sp[2], i, sockets = 0, foreign = 0, extra = 0;
	pid_t pid;
	DIR *d;
	struct dirent *ent;
	struct rlimit lim;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = sp[0];
	fds[3] = sp[1];
	snprintf(name, sizeof name, "%s/held-file", dir);
	fds[4] = open(name, O_CREAT | O_RDWR, 0600);
	fds[5] = fcntl(fds[4], F_DUPFD_CLOEXEC, 200);
	CHECK(fds[4] >= 0 && fds[5] >= 200);
	for (i = 0; i < 6; i++)
		CHECK_EQ(fstat(fds[i], &mine[i]), 0);
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	pid = daemon_pid(path);
	CHECK(pid > 0);
	snprintf(name, sizeof name, "/proc/%d/fd", (int)pid);
	d = opendir(name);
	CHECK(d != NULL);
	while ((ent = readdir(d)) != NULL) {
		int fd = atoi(ent->d_name);
		ssize_t n;
		/* Above the limit this process sees lie only descriptors of a
		 * tool running it (valgrind keeps its own there). */
		if (ent->d_name[0] == '.' || (rlim_t)fd >= lim.rlim_cur)
			continue;
		snprintf(name, sizeof name, "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(name, link, sizeof link - 1);
		if (n < 0 || stat(name, &st) != 0)
			continue;
		link[n] = 0;
		for (i = 0; i < 6; i++)
			if (st.st_dev == mine[i].st_dev && st.st_ino == mine[i].st_ino)
				foreign++;
		if (fd <= 2 ? strcmp(link, "/dev/null") == 0 : strncmp(link, "socket:", 7) == 0) {
			sockets += fd > 2;
		} else {
			printf("  daemon descriptor %d: %s\n", fd, link);
			extra++;
		}
	}
	closedir(d);
	CHECK_EQ(foreign, 0);
	CHECK_EQ(extra, 0);
	CHECK(sockets >= 1 && sockets <= 2);
	escrow_fini(e);
	kill_daemon(path);
	for (i = 0; i < 6; i++)
		close(fds[i]);
	snprintf(name, sizeof name, "%s/held-file", dir);
	unlink(name);
	return 1;
}

static int add_get_del_tag(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	char payload[] = "payload!!";
	char buf[64];
	int fd = -7, p[2];
	int32_t nob, nr;
	CHECK_EQ(escrow_init(path, 0, 32, &e), 0);
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(escrow_add(e, 2, 7, p[1], sizeof payload, payload), 0);
	close(p[1]); /* the escrow holds the only write end now */
	CHECK_EQ(escrow_tag(e, 2, &nr, &nob), 0);
	CHECK_EQ(nr, 1);
	CHECK_EQ(nob, (int32_t)sizeof payload);
	memset(buf, 0, sizeof buf);
	nob = sizeof buf;
	CHECK_EQ(escrow_get(e, 2, 7, &fd, &nob, buf), 0);
	CHECK(fd >= 0);
	CHECK_EQ(nob, (int32_t)sizeof payload);
	CHECK(memcmp(buf, payload, sizeof payload) == 0);
	/* It is the same pipe. */
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK_EQ(read(p[0], buf, 1), 1);
	CHECK_EQ(buf[0], 'x');
	close(fd);
	/* The entry stays until deleted; each get hands out a new duplicate. */
	nob = 0;
	CHECK_EQ(escrow_get(e, 2, 7, &fd, &nob, NULL), 0);
	CHECK(fd >= 0);
	CHECK(same_file(fd, p[0])); /* both ends of a pipe share one inode */
	CHECK_EQ(nob, (int32_t)sizeof payload);
	close(fd);
	/* Missing entries. */
	fd = 5;
	nob = 17;
	CHECK_EQ(escrow_get(e, 2, 8, &fd, &nob, buf), -ENOENT);
	CHECK_EQ(fd, -1);
	CHECK_EQ(nob, 17);
	CHECK_EQ(escrow_del(e, 2, 7), 0);
	CHECK_EQ(escrow_del(e, 2, 7), -EINVAL); /* the daemon's answer */
	nob = sizeof buf;
	CHECK_EQ(escrow_get(e, 2, 7, &fd, &nob, buf), -ENOENT);
	/* Now the escrow's write end is closed too. */
	CHECK_EQ(read(p[0], buf, 1), 0);
	close(p[0]);
	CHECK_EQ(escrow_tag(e, 2, &nr, &nob), 0);
	CHECK_EQ(nr, 0);
	CHECK_EQ(nob, 0);
	escrow_fini(e);
	kill_daemon(path);
	return 1;
}

static int payload_only_and_truncation(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	char data[] = "0123456789ab", small[4], big[40000];
	int fd = 9, i;
	int32_t nob, nr, total;
	CHECK_EQ(escrow_init(path, 0, 8, &e), 0);
	CHECK_EQ(escrow_add(e, 1, 2, -1, 12, data), 0);
	CHECK_EQ(escrow_add(e, 1, 7, -1, 0, NULL), 0);
	memset(small, '#', sizeof small);
	nob = sizeof small;
	CHECK_EQ(escrow_get(e, 1, 2, &fd, &nob, small), 0);
	CHECK_EQ(fd, -1);
	CHECK_EQ(nob, 12); /* stored length, more than the capacity */
	CHECK(memcmp(small, "0123", 4) == 0);
	nob = 2; /* a smaller capacity leaves the rest of the buffer alone */
	memset(small, '#', sizeof small);
	CHECK_EQ(escrow_get(e, 1, 2, &fd, &nob, small), 0);
	CHECK(memcmp(small, "01##", 4) == 0);
	CHECK_EQ(nob, 12);
	/* The entry count, not the largest index + 1. */
	CHECK_EQ(escrow_tag(e, 1, &nr, &total), 0);
	CHECK_EQ(nr, 2);
	CHECK_EQ(total, 12);
	/* A full 32 KiB payload round trip. */
	for (i = 0; i < 32768; i++)
		big[i] = (char)(i * 7);
	CHECK_EQ(escrow_add(e, 7, 1048575, -1, 32768, big), 0);
	memset(big, 0, sizeof big);
	nob = sizeof big;
	CHECK_EQ(escrow_get(e, 7, 1048575, &fd, &nob, big), 0);
	CHECK_EQ(nob, 32768);
	for (i = 0; i < 32768; i++)
		CHECK_EQ(big[i], (char)(i * 7));
	/* Replacing an entry. */
	CHECK_EQ(escrow_add(e, 1, 2, -1, 3, "xyz"), 0);
	nob = sizeof small;
	CHECK_EQ(escrow_get(e, 1, 2, &fd, &nob, small), 0);
	CHECK_EQ(nob, 3);
	CHECK(memcmp(small, "xyz", 3) == 0);
	escrow_fini(e);
	kill_daemon(path);
	return 1;
}

static int argument_and_range_errors(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	char buf[8] = "abcdefg";
	int fd = 3, p[2];
	int32_t nob = 4, nr = 11, total = 12;
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	/* NULL handle. */
	CHECK_EQ(escrow_add(NULL, 0, 0, -1, 0, NULL), -EINVAL);
	CHECK_EQ(escrow_del(NULL, 0, 0), -EINVAL);
	CHECK_EQ(escrow_tag(NULL, 0, &nr, &total), -EINVAL);
	CHECK_EQ(escrow_get(NULL, 0, 0, &fd, &nob, buf), -EINVAL);
	CHECK_EQ(fd, -1);
	escrow_fini(NULL);
	/* escrow_add arguments. */
	CHECK_EQ(escrow_add(e, 0, 0, -1, 32769, buf), -EINVAL);
	CHECK_EQ(escrow_add(e, 0, 0, -1, -1, buf), -EINVAL);
	CHECK_EQ(escrow_add(e, 0, 0, -1, 4, NULL), -EINVAL);
	CHECK_EQ(escrow_add(e, 0, 0, -2, 0, NULL), -EINVAL);
	CHECK_EQ(pipe(p), 0);
	close(p[1]);
	CHECK_EQ(escrow_add(e, 0, 0, p[1], 0, NULL), -EBADF); /* not open */
	close(p[0]);
	/* Daemon range checks. */
	CHECK_EQ(escrow_add(e, 4, 0, -1, 0, NULL), -EINVAL);
	CHECK_EQ(escrow_add(e, -1, 0, -1, 0, NULL), -EINVAL);
	CHECK_EQ(escrow_add(e, 0, 1048576, -1, 0, NULL), -EINVAL);
	CHECK_EQ(escrow_add(e, 0, -1, -1, 0, NULL), -EINVAL);
	CHECK_EQ(escrow_del(e, 4, 0), -EINVAL);
	fd = 3;
	nob = 4;
	CHECK_EQ(escrow_get(e, 0, 1048576, &fd, &nob, buf), -EINVAL);
	CHECK_EQ(fd, -1);
	CHECK_EQ(nob, 4);
	CHECK_EQ(escrow_tag(e, 4, &nr, &total), -EINVAL);
	CHECK_EQ(escrow_tag(e, -1, &nr, &total), -EINVAL);
	CHECK_EQ(nr, 11);
	CHECK_EQ(total, 12);
	/* escrow_get / escrow_tag pointers. */
	CHECK_EQ(escrow_get(e, 0, 0, NULL, &nob, buf), -EINVAL);
	CHECK_EQ(escrow_get(e, 0, 0, &fd, NULL, buf), -EINVAL);
	nob = -1;
	fd = 3;
	CHECK_EQ(escrow_get(e, 0, 0, &fd, &nob, buf), -EINVAL);
	CHECK_EQ(fd, -1);
	nob = 4;
	CHECK_EQ(escrow_get(e, 0, 0, &fd, &nob, NULL), -EINVAL);
	CHECK_EQ(escrow_tag(e, 0, NULL, &total), -EINVAL);
	CHECK_EQ(escrow_tag(e, 0, &nr, NULL), -EINVAL);
	/* The connection is still in step after all of that. */
	CHECK_EQ(escrow_add(e, 3, 5, -1, 2, buf), 0);
	CHECK_EQ(escrow_tag(e, 3, &nr, &total), 0);
	CHECK_EQ(nr, 1);
	CHECK_EQ(total, 2);
	escrow_fini(e);
	kill_daemon(path);
	return 1;
}

static int daemon_gone_is_an_error_not_a_signal(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	int32_t nr, nob;
	int rc, i;
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	kill_daemon(path);
	/* First call may see EOF, later ones a broken pipe; never SIGPIPE. */
	for (i = 0; i < 3; i++) {
		rc = escrow_tag(e, 0, &nr, &nob);
		CHECK(rc == -EPIPE || rc == -ESHUTDOWN || rc == -ECONNRESET);
	}
	escrow_fini(e);
	return 1;
}

static int one_session_at_a_time(void)
{
	const char *path = fresh_path();
	struct escrow *e = NULL;
	int status, i;
	pid_t child;
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	CHECK_EQ(escrow_add(e, 0, 1, -1, 1, "a"), 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct escrow *e2 = NULL;
		int32_t nr = 0, nob;
		int ok;
		escrow_fini(e); /* the parent's session must end when it closes it */
		ok = escrow_init(path, 0, 4, &e2) == 0 && escrow_tag(e2, 0, &nr, &nob) == 0 && nr == 1;
		_exit(ok ? 0 : 1);
	}
	usleep(300000);
	CHECK_EQ(waitpid(child, &status, WNOHANG), 0); /* still waiting */
	escrow_fini(e);
	for (i = 0; i < 500 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	CHECK(i < 500);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kill_daemon(path);
	return 1;
}

static int racing_starts_make_one_daemon(void)
{
	enum { RACERS = 4 };
	const char *path = fresh_path();
	struct escrow *e = NULL;
	pid_t kids[RACERS];
	int gate[2], i, status, ok = 1;
	int32_t nr = -1, nob;
	CHECK_EQ(pipe(gate), 0);
	for (i = 0; i < RACERS; i++) {
		kids[i] = fork();
		CHECK(kids[i] >= 0);
		if (kids[i] == 0) {
			struct escrow *mine = NULL;
			char c;
			int rc;
			close(gate[1]);
			if (read(gate[0], &c, 1) < 0)
				_exit(2);
			rc = escrow_init(path, ESCROW_FORCE, 4, &mine);
			if (rc == 0)
				rc = escrow_add(mine, 0, i, -1, 1, "r");
			escrow_fini(mine);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	close(gate[0]);
	close(gate[1]); /* opens the gate for all racers at once */
	for (i = 0; i < RACERS; i++) {
		int k;
		for (k = 0; k < 1000 && waitpid(kids[i], &status, WNOHANG) == 0; k++)
			usleep(10000);
		if (k == 1000) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &status, 0);
		}
		ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK(ok);
	CHECK(children_settle_at(1));
	CHECK_EQ(escrow_init(path, 0, 4, &e), 0);
	CHECK_EQ(escrow_tag(e, 0, &nr, &nob), 0);
	CHECK_EQ(nr, RACERS); /* every racer talked to the same daemon */
	escrow_fini(e);
	kill_daemon(path);
	CHECK(no_descendants());
	return 1;
}

int main(void)
{
	SUITE("escrow");
	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: it must not come */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	snprintf(dir, sizeof dir, "/tmp/escrow-c-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(autostart_without_creat);
	RUN(autostart_is_fast);
	RUN(init_argument_errors);
	RUN(init_missing_directory);
	RUN(init_stale_socket);
	RUN(init_from_environment);
	RUN(no_inherited_descriptors_no_zombie);
	RUN(autostarted_daemon_holds_only_its_own_descriptors);
	RUN(add_get_del_tag);
	RUN(payload_only_and_truncation);
	RUN(argument_and_range_errors);
	RUN(daemon_gone_is_an_error_not_a_signal);
	RUN(one_session_at_a_time);
	RUN(racing_starts_make_one_daemon);
	/* Whatever a failed check left behind. */
	{
		char cmd[128];
		int i;
		for (i = 1; i <= seq; i++) {
			snprintf(cmd, sizeof cmd, "%s/s%d", dir, i);
			kill_daemon(cmd);
			unlink(cmd);
		}
		rmdir(dir);
	}
	return DONE();
}
