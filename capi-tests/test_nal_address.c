/* NAL_ADDRESS: grammar (ABI.md 3.3.1), capabilities (3.3.2), default buffer
 * size rules, object states and NULL handling. */
#include "nal_testutil.h"

struct grammar_case {
	const char *str;
	int ok;          /* expected NAL_ADDRESS_create result */
	int can_connect; /* only checked when ok */
	int can_listen;
};

static const struct grammar_case grammar[] = {
	/* IPv4: port only -> listen on any host, cannot connect */
	{ "IP:9001", 1, 0, 1 },
	{ "IPv4:9001", 1, 0, 1 },
	{ "IP::9001", 1, 0, 1 },
	{ "IP: 9001", 1, 0, 1 },
	{ "IP:+9001", 1, 0, 1 },
	{ "IP:65535", 1, 0, 1 },
	{ "IP:0", 1, 0, 1 },
	/* host part -> can connect and listen (seed table's third row is wrong) */
	{ "IP:1.2.3.4:-0", 1, 1, 1 },
	{ "IPv4:192.168.0.1:80", 1, 1, 1 },
	{ "IPv4:127.0.0.1:9001", 1, 1, 1 },
	{ "IP:127.0.0.1:9001", 1, 1, 1 },
	{ "IP:localhost:9001", 1, 1, 1 },
	{ "IPv4:0.0.0.0:9001", 1, 1, 1 },
	/* port errors */
	{ "IP:127.0.0.1:65536", 0, 0, 0 },
	{ "IP:65536", 0, 0, 0 },
	{ "IP:127.0.0.1:", 0, 0, 0 },
	{ "IP:", 0, 0, 0 },
	{ "IPv4:", 0, 0, 0 },
	{ "IP:x", 0, 0, 0 },
	{ "IP:9001x", 0, 0, 0 },
	{ "IP:-1", 0, 0, 0 },
	{ "IP:a:b:9001", 0, 0, 0 },
	{ "IP:1.2.3.4:0x10", 0, 0, 0 },
	{ "IP:127.0.0.1:9001 ", 0, 0, 0 },
	/* unix: everything after the prefix is the path, may be empty */
	{ "UNIX:/path", 1, 1, 1 },
	{ "UNIX:relative/sock", 1, 1, 1 },
	{ "UNIX:", 1, 1, 1 },
	/* file descriptors */
	{ "FD:3", 1, 1, 1 },
	{ "FD:0", 1, 1, 1 },
	{ "FD:65535", 1, 1, 1 },
	{ "FD:3:4", 1, 1, 1 },
	{ "FD:-1:4", 1, 1, 1 },
	{ "FD:4:-1", 1, 1, 1 },
	{ "FD: 3", 1, 1, 1 },
	{ "FD:+3", 1, 1, 1 },
	{ "FD:-1", 0, 0, 0 },
	{ "FD:-1:-1", 0, 0, 0 },
	{ "FD:-5:3", 0, 0, 0 },
	{ "FD:3:-2", 0, 0, 0 },
	{ "FD:3:4:5", 0, 0, 0 },
	{ "FD:3:", 0, 0, 0 },
	{ "FD::3", 0, 0, 0 },
	{ "FD:", 0, 0, 0 },
	{ "FD:x", 0, 0, 0 },
	{ "FD:3x", 0, 0, 0 },
	{ "FD:65536", 0, 0, 0 },
	{ "FD:3:65536", 0, 0, 0 },
	/* prefixes are case-sensitive; unknown transports fail */
	{ "ip:9001", 0, 0, 0 },
	{ "Ip:9001", 0, 0, 0 },
	{ "ipv4:127.0.0.1:9001", 0, 0, 0 },
	{ "unix:/path", 0, 0, 0 },
	{ "fd:3", 0, 0, 0 },
	{ "TCP:9001", 0, 0, 0 },
	{ "9001", 0, 0, 0 },
	{ "/tmp/sock", 0, 0, 0 },
	/* IPv6 (project extension): bracketed host can connect; port only listens */
	{ "IPv6:[::1]:9001", 1, 1, 1 },
	{ "IPv6:9001", 1, 0, 1 },
};

static int grammar_table(void)
{
	size_t i;
	int bad = 0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK(a != NULL);
	for (i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
		const struct grammar_case *g = &grammar[i];
		int r = NAL_ADDRESS_create(a, g->str, 0);
		int cc = NAL_ADDRESS_can_connect(a), cl = NAL_ADDRESS_can_listen(a);
		int want_cc = g->ok ? g->can_connect : 0, want_cl = g->ok ? g->can_listen : 0;
		if (r != g->ok || cc != want_cc || cl != want_cl) {
			fprintf(stderr, "  \"%s\": create %d can_connect %d can_listen %d, "
				"expected %d %d %d\n", g->str, r, cc, cl, g->ok, want_cc, want_cl);
			bad++;
		}
		NAL_ADDRESS_reset(a);
	}
	NAL_ADDRESS_free(a);
	CHECK_EQ(bad, 0);
	return 1;
}

static int new_address_is_unused(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK(a != NULL);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	NAL_ADDRESS_free(a);
	return 1;
}

static int malloc_alias_gives_unused_address(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_malloc();
	CHECK(a != NULL);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 10), 1);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 1);
	NAL_ADDRESS_free(a);
	return 1;
}

static int null_address_is_failure(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_ADDRESS_free(NULL);
	NAL_ADDRESS_reset(NULL);
	CHECK_EQ(NAL_ADDRESS_create(NULL, "IP:9001", 0), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, NULL, 0), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(NULL), 0);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(NULL, 100), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(NULL), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(NULL), 0);
	NAL_ADDRESS_free(a);
	return 1;
}

static int create_on_active_address_fails(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 100), 1);
	/* nothing changes: still listen-only, size unchanged */
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:127.0.0.1:9001", 200), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 1);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 100);
	NAL_ADDRESS_free(a);
	return 1;
}

static int reset_allows_reuse(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 0), 1);
	NAL_ADDRESS_reset(a);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	NAL_ADDRESS_reset(a); /* no-op on unused */
	CHECK_EQ(NAL_ADDRESS_create(a, "UNIX:/tmp/x", 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 1);
	NAL_ADDRESS_free(a);
	return 1;
}

static int failed_create_leaves_address_unused(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:127.0.0.1:70000", 0), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	/* still unused, so a good string works afterwards */
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:127.0.0.1:7000", 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 1);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unresolvable_host_fails(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	/* resolution happens in create; the .invalid TLD never resolves */
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:no-such-host.invalid:9001", 0), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	NAL_ADDRESS_free(a);
	return 1;
}

static int string_length_limits(void)
{
	char s[300];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "", 0), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, "U", 0), 0);
	/* 255 characters: accepted (path silently truncated later) */
	memset(s, 0, sizeof(s));
	strcpy(s, "UNIX:/");
	memset(s + 6, 'p', 255 - 6);
	CHECK_EQ(strlen(s), 255);
	CHECK_EQ(NAL_ADDRESS_create(a, s, 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 1);
	NAL_ADDRESS_reset(a);
	/* 256 characters: rejected */
	s[255] = 'p';
	CHECK_EQ(strlen(s), 256);
	CHECK_EQ(NAL_ADDRESS_create(a, s, 0), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	/* a long IPv4 string with leading blanks in the port is still parsed */
	memset(s, 0, sizeof(s));
	strcpy(s, "IP:");
	memset(s + 3, ' ', 248);
	strcat(s, "9001");
	CHECK_EQ(strlen(s), 255);
	CHECK_EQ(NAL_ADDRESS_create(a, s, 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 1);
	NAL_ADDRESS_free(a);
	return 1;
}

static int def_buffer_size_stored_and_limited(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 32769), 0);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 0); /* rejected before storing */
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 32768), 1);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 32768);
	NAL_ADDRESS_free(a);
	return 1;
}

static int def_buffer_size_kept_when_parse_fails(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:x", 1234), 0);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 1234);
	CHECK_EQ(NAL_ADDRESS_create(a, "NOPE:1", 777), 0); /* no transport */
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 777);
	CHECK_EQ(NAL_ADDRESS_create(a, "X", 555), 0); /* too short */
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 555);
	NAL_ADDRESS_free(a);
	return 1;
}

static int def_buffer_size_kept_on_reset(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "UNIX:/tmp/s", 4096), 1);
	NAL_ADDRESS_reset(a);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 4096);
	NAL_ADDRESS_free(a);
	return 1;
}

static int set_def_buffer_size_both_states(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 100), 1); /* unused */
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 100);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 32769), 0);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 100);
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 200), 1);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 32768), 1); /* active */
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 32768);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 0), 1);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(a), 0);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 0xFFFFFFFFu), 0);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 1); /* still active */
	NAL_ADDRESS_free(a);
	return 1;
}

static int long_unix_path_is_truncated(void)
{
	/* paths beyond sun_path are cut to 107 characters: listener and
	 * connection from the same over-long string meet at the cut path */
	char name[160], full[300], cut[300];
	struct stat st;
	size_t dirlen = strlen(tu_dir) + 1;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	memset(name, 'q', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	tu_unix_addr(full, sizeof(full), name);
	CHECK(strlen(full) - 5 > 107);
	snprintf(cut, sizeof(cut), "%s/%s", tu_dir, name);
	cut[107] = '\0';
	CHECK(dirlen < 100);
	CHECK_EQ(NAL_ADDRESS_create(a, full, 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(stat(cut, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	unlink(cut);
	return 1;
}

int main(void)
{
	SUITE("nal_address");
	if (!tu_dir_make()) { printf("FAIL nal_address/mkdtemp\n"); return 1; }
	RUN(grammar_table);
	RUN(new_address_is_unused);
	RUN(malloc_alias_gives_unused_address);
	RUN(null_address_is_failure);
	RUN(create_on_active_address_fails);
	RUN(reset_allows_reuse);
	RUN(failed_create_leaves_address_unused);
	RUN(unresolvable_host_fails);
	RUN(string_length_limits);
	RUN(def_buffer_size_stored_and_limited);
	RUN(def_buffer_size_kept_when_parse_fails);
	RUN(def_buffer_size_kept_on_reset);
	RUN(set_def_buffer_size_both_states);
	RUN(long_unix_path_is_truncated);
	tu_dir_remove();
	return DONE();
}
