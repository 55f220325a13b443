/* Helper of scenario_escrow_limit.sh: against an escrowd whose descriptor
 * limit is low, escrow_add fails with -EMFILE once the daemon is full, and
 * every earlier entry stays retrievable; a caller without a free
 * descriptor gets -EMFILE from escrow_get. Prints PASS/FAIL lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <escrow.h>

static int failures;

static void result(int ok, const char *name)
{
	printf("%s escrow_limit/%s\n", ok ? "PASS" : "FAIL", name);
	failures += !ok;
}

int main(int argc, char **argv)
{
	struct escrow *e = NULL;
	struct stat want, st;
	int fd = open("/dev/null", O_RDONLY), rc = 0, ok, got;
	int32_t i, stored, nob, nr, total, value;

	if (argc < 2 || escrow_init(argv[1], 0, 4, &e) != 0) {
		result(0, "connect");
		return 1;
	}
	fstat(fd, &want);
	for (i = 0; i < 500; i++)
		if ((rc = escrow_add(e, 0, i, fd, sizeof i, &i)) != 0)
			break;
	stored = i;
	printf("# %d entries stored, then %d\n", stored, rc);
	result(rc == -EMFILE && stored >= 5, "add_fails_with_emfile");
	result(escrow_add(e, 1, 0, -1, 3, "abc") == 0, "payload_only_still_works");
	ok = 1;
	for (i = 0; i < stored; i++) {
		nob = sizeof value;
		value = -1;
		got = -1;
		rc = escrow_get(e, 0, i, &got, &nob, &value);
		ok = ok && rc == 0 && got >= 0 && nob == 4 && value == i && fstat(got, &st) == 0 &&
		     st.st_ino == want.st_ino && st.st_dev == want.st_dev;
		if (got >= 0)
			close(got);
	}
	result(ok, "earlier_entries_retrievable");
	result(escrow_tag(e, 0, &nr, &total) == 0 && nr == stored && total == 4 * stored, "tag_counts");
	result(escrow_del(e, 0, 0) == 0 && escrow_add(e, 0, 0, fd, 0, NULL) == 0, "room_after_delete");
	/* Now this process has no descriptor left: escrow_get cannot receive
	 * one, fails with -EMFILE and leaves the entry in the escrow. */
	{
		struct rlimit old, low;
		int lowest = dup(fd);
		close(lowest);
		getrlimit(RLIMIT_NOFILE, &old);
		low = old;
		low.rlim_cur = lowest;
		setrlimit(RLIMIT_NOFILE, &low);
		nob = sizeof value;
		got = 7;
		rc = escrow_get(e, 0, 1, &got, &nob, &value);
		setrlimit(RLIMIT_NOFILE, &old);
		result(rc == -EMFILE && got == -1 && nob == sizeof value, "get_without_room_is_emfile");
		got = -1;
		rc = escrow_get(e, 0, 1, &got, &nob, &value);
		result(rc == 0 && got >= 0 && value == 1, "entry_kept_after_emfile");
		if (got >= 0)
			close(got);
	}
	escrow_fini(e);
	/* A new session is still accepted. */
	ok = escrow_init(argv[1], 0, 4, &e) == 0 && escrow_tag(e, 1, &nr, &total) == 0 && nr == 1 && total == 3;
	result(ok, "next_session");
	escrow_fini(e);
	close(fd);
	return failures != 0;
}
