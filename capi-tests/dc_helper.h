/* Helpers for the distcache C tests: start and stop a real dc_server on a
 * unix socket in a private temporary directory.
 *
 * The server binary is taken from $DC_SERVER_BIN (capi-tests/run.sh sets
 * it to the installed PREFIX/bin/dc_server). Every server started here is
 * killed by PID at exit, even when a check fails.
 */
#ifndef CAPI_TESTS_DC_HELPER_H
#define CAPI_TESTS_DC_HELPER_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DC_MAX_SERVERS 8
static pid_t dc_servers[DC_MAX_SERVERS];
static char dc_tmpdir[256];

static void dc_sleep_ms(long ms)
{
	struct timespec ts;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void dc_stop_server(pid_t pid)
{
	int i, status;
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	for (i = 0; i < DC_MAX_SERVERS; i++)
		if (dc_servers[i] == pid)
			dc_servers[i] = 0;
}

static void dc_cleanup(void)
{
	int i;
	char cmd[300];
	for (i = 0; i < DC_MAX_SERVERS; i++)
		if (dc_servers[i] > 0)
			dc_stop_server(dc_servers[i]);
	if (dc_tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dc_tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dc_tmpdir);
		dc_tmpdir[0] = 0;
	}
}

/* A private directory for sockets; registers the cleanup handler. */
static const char *dc_dir(void)
{
	if (!dc_tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(dc_tmpdir, sizeof(dc_tmpdir), "%s/dctest.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(dc_tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(dc_cleanup);
	}
	return dc_tmpdir;
}

/* "UNIX:<dir>/<name>" in buf. */
static const char *dc_target(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "UNIX:%s/%s", dc_dir(), name);
	return buf;
}

static int dc_can_connect(const char *path)
{
	struct sockaddr_un sa;
	int ok, fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Starts dc_server listening on the unix socket <dir>/<name> with extra
 * arguments (NULL-terminated list); waits until it accepts connections.
 * Returns its pid, or -1. */
static pid_t dc_start_server(const char *name, ...)
{
	const char *bin = getenv("DC_SERVER_BIN");
	const char *argv[32];
	char target[300], path[300];
	int argc = 0, i;
	va_list ap;
	pid_t pid;
	if (!bin) {
		fprintf(stderr, "DC_SERVER_BIN is not set\n");
		return -1;
	}
	dc_target(target, sizeof(target), name);
	snprintf(path, sizeof(path), "%s/%s", dc_dir(), name);
	argv[argc++] = bin;
	argv[argc++] = "-listen";
	argv[argc++] = target;
	va_start(ap, name);
	while (argc < 30) {
		const char *a = va_arg(ap, const char *);
		if (!a)
			break;
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < DC_MAX_SERVERS; i++)
		if (!dc_servers[i]) {
			dc_servers[i] = pid;
			break;
		}
	for (i = 0; i < 500; i++) {
		if (dc_can_connect(path))
			return pid;
		dc_sleep_ms(10);
	}
	dc_stop_server(pid);
	return -1;
}

#endif
