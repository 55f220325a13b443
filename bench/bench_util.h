/* Helpers shared by the distcache benchmarks: clock, latency samples,
 * starting a tool and waiting for its socket, stopping a started server. Header-only; each program includes it once. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Starts a tool with stdout/stderr on the null device. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Waits up to 5 s for a unix socket file to appear. */
static int wait_for(const char *path)
{
	struct stat st;
	int i;
	for (i = 0; i < 500; i++) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 1;
		usleep(10000);
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* latency samples in seconds */
typedef struct {
	double *v;
	size_t n, cap;
} lat_t;

static void lat_add(lat_t *l, double x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(double));
	}
	l->v[l->n++] = x;
}

/* p50 and p99 (0 without samples); sorts the samples */
static void lat_pct(lat_t *l, double *p50, double *p99)
{
	if (!l->n) {
		*p50 = *p99 = 0;
		return;
	}
	qsort(l->v, l->n, sizeof(double), cmp_d);
	*p50 = l->v[l->n / 2];
	*p99 = l->v[(size_t)(l->n * 0.99)];
}

static void stop(pid_t pid)
{
	int st;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
}

#endif
