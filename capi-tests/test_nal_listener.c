/* NAL_LISTENER (ABI.md 3.5): creation on unix, IPv4, IPv6 and FD addresses,
 * failure paths, selector attachment, finished, file owner and mode. */
#include <grp.h>
#include <pwd.h>
#include <sys/un.h>
#include "nal_testutil.h"

static int new_listener_is_unused(void)
{
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK(l != NULL);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, NULL), 0);
	NAL_LISTENER_del_from_selector(l); /* not attached: no-op */
	NAL_LISTENER_reset(l);             /* unused: no-op */
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	return 1;
}

static int malloc_alias_gives_unused_listener(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_malloc();
	CHECK(l != NULL);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "malloc"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int null_listener_is_failure(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:9001", 0), 1);
	NAL_LISTENER_free(NULL);
	NAL_LISTENER_reset(NULL);
	NAL_LISTENER_del_from_selector(NULL);
	CHECK_EQ(NAL_LISTENER_create(NULL, a), 0);
	CHECK_EQ(NAL_LISTENER_create(l, NULL), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(NULL, s), 0);
	CHECK_EQ(NAL_LISTENER_finished(NULL), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(NULL, NULL, NULL), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(NULL, "600"), 0);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int create_from_unused_address_fails(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK_EQ(NAL_LISTENER_create(l, a), 0); /* original crashes here */
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:x", 0), 0);
	CHECK_EQ(NAL_LISTENER_create(l, a), 0); /* failed create = unused */
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int create_on_active_listener_fails(void)
{
	char b1[200], b2[200];
	struct stat st;
	NAL_ADDRESS *a1 = NAL_ADDRESS_new(), *a2 = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK_EQ(NAL_ADDRESS_create(a1, tu_unix_addr(b1, sizeof(b1), "active1"), 0), 1);
	CHECK_EQ(NAL_ADDRESS_create(a2, tu_unix_addr(b2, sizeof(b2), "active2"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a1), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a2), 0);
	CHECK(stat(b2 + 5, &st) != 0); /* nothing was bound there */
	NAL_LISTENER_reset(l);
	CHECK_EQ(NAL_LISTENER_create(l, a2), 1);
	CHECK_EQ(stat(b2 + 5, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a1);
	NAL_ADDRESS_free(a2);
	return 1;
}

/* connects a plain socket to a unix path; returns the descriptor or -1 */
static int raw_unix_connect(const char *path)
{
	struct sockaddr_un su;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	strncpy(su.sun_path, path, sizeof(su.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&su, sizeof(su)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int unix_listener_accepts_raw_client(void)
{
	char buf[200], path[200];
	int fd, i, ok = 0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "raw"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_finished(l), 0); /* socket listeners never finish */
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	fd = raw_unix_connect(tu_path(path, sizeof(path), "raw"));
	CHECK(fd >= 0);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		ok = NAL_CONNECTION_accept(c, l);
	}
	CHECK_EQ(ok, 1);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	close(fd);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unix_listener_removes_stale_file(void)
{
	char buf[200], path[200];
	struct stat st;
	int fd;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	tu_path(path, sizeof(path), "stale");
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "junk", 4), 4);
	close(fd);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "stale"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	fd = raw_unix_connect(path);
	CHECK(fd >= 0);
	close(fd);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unix_socket_file_survives_close(void)
{
	/* the file is not removed on reset/free, only before the next bind */
	char buf[200], path[200];
	struct stat st;
	int fd;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	tu_path(path, sizeof(path), "survive");
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "survive"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	NAL_LISTENER_reset(l);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(raw_unix_connect(path), -1); /* nobody listens any more */
	/* a new listener on the same (stale) path works */
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	fd = raw_unix_connect(path);
	CHECK(fd >= 0);
	close(fd);
	NAL_LISTENER_free(l);
	CHECK_EQ(stat(path, &st), 0);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unix_listener_bad_directory_fails(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "no/such/dir/sock"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 0);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	NAL_ADDRESS_reset(a);
	/* the failed listener is unused again */
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "after_fail"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int ipv4_listener_port_in_use_fails(void)
{
	char buf[64];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l1 = NAL_LISTENER_new(), *l2 = NAL_LISTENER_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l1, a), 1);
	CHECK_EQ(NAL_LISTENER_create(l2, a), 0);
	NAL_LISTENER_free(l1);
	/* SO_REUSEADDR: the port can be bound again at once */
	CHECK_EQ(NAL_LISTENER_create(l2, a), 1);
	NAL_LISTENER_free(l2);
	NAL_ADDRESS_free(a);
	return 1;
}

static int ipv4_listener_foreign_host_fails(void)
{
	char buf[64];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	/* TEST-NET-3: never a local interface */
	snprintf(buf, sizeof(buf), "IP:203.0.113.7:%d", tu_free_port(AF_INET));
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 0);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

/* listener on listen_str, client on connect_str: the accept must succeed */
static int accept_one(const char *listen_str, const char *connect_str)
{
	int i, ok = 0;
	NAL_ADDRESS *la = NAL_ADDRESS_new(), *ca = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(la, listen_str, 0), 1);
	CHECK_EQ(NAL_ADDRESS_create(ca, connect_str, 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, la), 1);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, ca), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(client, s), 1);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(client), 1);
		ok = NAL_CONNECTION_accept(server, l);
	}
	CHECK_EQ(ok, 1);
	CHECK_EQ(NAL_CONNECTION_is_established(server), 1);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(la);
	NAL_ADDRESS_free(ca);
	return 1;
}

static int ipv4_listener_on_loopback_accepts(void)
{
	char buf[64];
	tu_ip4_addr(buf, sizeof(buf));
	return accept_one(buf, buf);
}

static int ipv4_any_host_listener_accepts(void)
{
	char lbuf[64], cbuf[64];
	int port = tu_free_port(AF_INET);
	snprintf(lbuf, sizeof(lbuf), "IP:%d", port);
	snprintf(cbuf, sizeof(cbuf), "IPv4:127.0.0.1:%d", port);
	return accept_one(lbuf, cbuf);
}

static int ipv6_listener_on_loopback_accepts(void)
{
	char buf[64];
	if (!tu_have_ipv6()) {
		fprintf(stderr, "  note: no IPv6 loopback, IPv6 listener not tested\n");
		return 1;
	}
	tu_ip6_addr(buf, sizeof(buf));
	return accept_one(buf, buf);
}

static int ipv6_any_host_listener_accepts(void)
{
	char lbuf[64], cbuf[64];
	int port;
	if (!tu_have_ipv6()) {
		fprintf(stderr, "  note: no IPv6 loopback, IPv6 listener not tested\n");
		return 1;
	}
	port = tu_free_port(AF_INET6);
	snprintf(lbuf, sizeof(lbuf), "IPv6:%d", port);
	snprintf(cbuf, sizeof(cbuf), "IPv6:[::1]:%d", port);
	return accept_one(lbuf, cbuf);
}

static int listener_keeps_size_from_create_time(void)
{
	/* buffers of accepted connections come from the address's default size
	 * at listener creation; later changes and freeing the address don't matter */
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *client = NAL_CONNECTION_new(), *server = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	int i, ok = 0;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "size"), 1500), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(a, 3000), 1);
	CHECK_EQ(NAL_CONNECTION_create(client, a), 1);
	NAL_ADDRESS_free(a);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(client)), 3000);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	for (i = 0; i < 20 && !ok; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		ok = NAL_CONNECTION_accept(server, l);
	}
	CHECK_EQ(ok, 1);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(server)), 1500);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(server)), 1500);
	NAL_CONNECTION_free(client);
	NAL_CONNECTION_free(server);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	return 1;
}

static int reset_closes_listening_socket(void)
{
	char buf[64];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	int i, r = 1;
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	NAL_LISTENER_reset(l);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0); /* reset detaches */
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	/* connecting now is refused: at once, or through io */
	if (NAL_CONNECTION_create(c, a)) {
		CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
		for (i = 0; i < 20 && r; i++) {
			CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
			r = NAL_CONNECTION_io(c);
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(NAL_CONNECTION_is_established(c), 0);
	}
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int add_to_selector_rules(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_SELECTOR *s1 = NAL_SELECTOR_new(), *s2 = NAL_SELECTOR_new_fdselect();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "attach"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, NULL), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s1), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s1), 0); /* already attached */
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s2), 0); /* one selector at a time */
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 0);
	NAL_LISTENER_del_from_selector(l);
	CHECK_EQ(NAL_SELECTOR_num_objects(s1), 0);
	NAL_LISTENER_del_from_selector(l); /* twice: no-op */
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s2), 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 1);
	NAL_LISTENER_free(l); /* free detaches */
	CHECK_EQ(NAL_SELECTOR_num_objects(s2), 0);
	NAL_SELECTOR_free(s1);
	NAL_SELECTOR_free(s2);
	NAL_ADDRESS_free(a);
	return 1;
}

static int unattached_listener_never_accepts(void)
{
	char buf[200], path[200];
	int fd, i;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new_fdpoll();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "unatt"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	fd = raw_unix_connect(tu_path(path, sizeof(path), "unatt"));
	CHECK(fd >= 0);
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL); /* untouched */
	/* caught pending, then detached: the pending state is dropped */
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	NAL_LISTENER_del_from_selector(l);
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 0);
	/* attached again, the waiting client is found on the next select */
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	for (i = 0; i < 20; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		if (NAL_CONNECTION_accept(c, l)) break;
	}
	CHECK(i < 20);
	close(fd);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int one_accept_per_select_round(void)
{
	char buf[200], path[200];
	int fd1, fd2, i, got = 0;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c1 = NAL_CONNECTION_new(), *c2 = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "twice"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	tu_path(path, sizeof(path), "twice");
	fd1 = raw_unix_connect(path);
	fd2 = raw_unix_connect(path);
	CHECK(fd1 >= 0 && fd2 >= 0);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_accept(c1, l), 1);
	CHECK_EQ(NAL_CONNECTION_accept(c2, l), 0); /* pending state consumed */
	CHECK(NAL_CONNECTION_get_read(c2) == NULL);
	for (i = 0; i < 20 && !got; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		got = NAL_CONNECTION_accept(c2, l);
	}
	CHECK_EQ(got, 1);
	close(fd1);
	close(fd2);
	NAL_CONNECTION_free(c1);
	NAL_CONNECTION_free(c2);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_into_active_connection_fails(void)
{
	char buf[200], path[200];
	int fd;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *d = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(NAL_CONNECTION_create_pair(c, d, 100), 1);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "busy"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	fd = raw_unix_connect(tu_path(path, sizeof(path), "busy"));
	CHECK(fd >= 0);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 100); /* untouched */
	CHECK_EQ(NAL_CONNECTION_accept(NULL, l), 0);
	CHECK_EQ(NAL_CONNECTION_accept(c, NULL), 0);
	close(fd);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(d);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

static int accept_from_unused_listener_fails(void)
{
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	return 1;
}

static int unix_socket_mode_follows_umask(void)
{
	char buf[200], path[200];
	struct stat st;
	mode_t old;
	int r;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	tu_path(path, sizeof(path), "umask");
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "umask"), 0), 1);
	old = umask(027);
	r = NAL_LISTENER_create(l, a);
	umask(old);
	CHECK_EQ(r, 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0750);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fs_perms_sets_mode(void)
{
	char buf[200], path[200];
	struct stat st;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	tu_path(path, sizeof(path), "perms");
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "perms"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600"), 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "0660"), 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0660);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "777"), 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0777);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fs_perms_rejects_bad_strings(void)
{
	char buf[200], path[200];
	struct stat st;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	tu_path(path, sizeof(path), "badperms");
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "badperms"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "640"), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, ""), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "9"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "68"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600x"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, NULL), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0640); /* unchanged by the failures */
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fs_calls_fail_on_non_unix_listeners(void)
{
	char buf[64];
	int fds[2];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK_EQ(NAL_ADDRESS_create(a, tu_ip4_addr(buf, sizeof(buf)), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, NULL), 0);
	NAL_LISTENER_reset(l);
	NAL_ADDRESS_reset(a);
	CHECK_EQ(pipe(fds), 0);
	snprintf(buf, sizeof(buf), "FD:%d", fds[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, NULL), 0);
	NAL_LISTENER_free(l); /* an FD listener does not own its descriptor */
	CHECK(fcntl(fds[0], F_GETFD) != -1);
	close(fds[0]);
	close(fds[1]);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fs_owner_rules(void)
{
	char buf[200], path[200], user[256], group[256];
	struct stat st;
	struct passwd *pw = getpwuid(getuid());
	struct group *gr;
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	CHECK(pw != NULL);
	snprintf(user, sizeof(user), "%s", pw->pw_name);
	gr = getgrgid(pw->pw_gid);
	CHECK(gr != NULL);
	snprintf(group, sizeof(group), "%s", gr->gr_name);
	tu_path(path, sizeof(path), "owner");
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "owner"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, NULL), 1); /* no change */
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, user, NULL), 1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_uid, getuid());
	CHECK_EQ(st.st_gid, pw->pw_gid); /* owner's primary group */
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, group), 1);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, user, group), 1);
	if (getuid() == 0) {
		/* root may give the file any group: check the group argument wins
		 * over the owner's primary group */
		struct group *other;
		char other_name[256];
		gid_t other_gid;
		setgrent();
		while ((other = getgrent()) != NULL && other->gr_gid == pw->pw_gid) ;
		endgrent();
		CHECK(other != NULL);
		snprintf(other_name, sizeof(other_name), "%s", other->gr_name);
		other_gid = other->gr_gid;
		CHECK_EQ(NAL_LISTENER_set_fs_owner(l, user, other_name), 1);
		CHECK_EQ(stat(path, &st), 0);
		CHECK_EQ(st.st_gid, other_gid);
		CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, group), 1);
		CHECK_EQ(stat(path, &st), 0);
		CHECK_EQ(st.st_gid, pw->pw_gid);
	} else {
		fprintf(stderr, "  note: not root, group change to a foreign group not tested\n");
	}
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, "no_such_user_nal_test", NULL), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, "no_such_group_nal_test"), 0);
	CHECK_EQ(NAL_LISTENER_set_fs_owner(l, user, "no_such_group_nal_test"), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_uid, getuid());
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int fd_listener_yields_one_connection(void)
{
	/* FD:n listener: waits for readability, then exactly one accept; it is
	 * "finished" only after that accept (ABI.md 3.5, defect N9) */
	char buf[64];
	int sv[2], i;
	long t0;
	unsigned char got[8];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *c2 = NAL_CONNECTION_new();
	NAL_SELECTOR *s = NAL_SELECTOR_new();
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(buf, sizeof(buf), "FD:%d", sv[0]);
	CHECK_EQ(NAL_ADDRESS_create(a, buf, 64), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, s), 1);
	/* nothing readable yet: times out, nothing to accept */
	CHECK_EQ(NAL_SELECTOR_select(s, 50000, 1), 0);
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 0);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	CHECK_EQ(write(sv[1], "hello", 5), 5);
	CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
	CHECK_EQ(NAL_LISTENER_finished(l), 0); /* not before the accept */
	CHECK_EQ(NAL_CONNECTION_accept(c, l), 1);
	CHECK(NAL_LISTENER_finished(l) != 0);
	CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 64);
	CHECK_EQ(NAL_CONNECTION_accept(c2, l), 0); /* only one connection */
	/* the accepted connection reads what was waiting */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, s), 1);
	for (i = 0; i < 20 && NAL_BUFFER_used(NAL_CONNECTION_get_read(c)) < 5; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(NAL_BUFFER_read(NAL_CONNECTION_get_read(c), got, sizeof(got)), 5);
	CHECK(memcmp(got, "hello", 5) == 0);
	CHECK(NAL_LISTENER_finished(l) != 0);
	/* both idle now (the finished listener waits for nothing): time out */
	t0 = tu_now_ms();
	CHECK_EQ(NAL_SELECTOR_select(s, 100000, 1), 0);
	CHECK(tu_now_ms() - t0 >= 90);
	/* and data still flows the other way */
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"back", 4), 4);
	for (i = 0; i < 20 && NAL_BUFFER_notempty(NAL_CONNECTION_get_send(c)); i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) > 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
	}
	CHECK_EQ(read(sv[1], got, sizeof(got)), 4);
	CHECK(memcmp(got, "back", 4) == 0);
	NAL_CONNECTION_free(c2);
	NAL_CONNECTION_free(c); /* owns sv[0] now and closes it */
	CHECK(fcntl(sv[0], F_GETFD) == -1);
	close(sv[1]);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(s);
	NAL_ADDRESS_free(a);
	return 1;
}

int main(void)
{
	SUITE("nal_listener");
	if (!tu_dir_make()) { printf("FAIL nal_listener/mkdtemp\n"); return 1; }
	RUN(new_listener_is_unused);
	RUN(malloc_alias_gives_unused_listener);
	RUN(null_listener_is_failure);
	RUN(create_from_unused_address_fails);
	RUN(create_on_active_listener_fails);
	RUN(unix_listener_accepts_raw_client);
	RUN(unix_listener_removes_stale_file);
	RUN(unix_socket_file_survives_close);
	RUN(unix_listener_bad_directory_fails);
	RUN(ipv4_listener_port_in_use_fails);
	RUN(ipv4_listener_foreign_host_fails);
	RUN(ipv4_listener_on_loopback_accepts);
	RUN(ipv4_any_host_listener_accepts);
	RUN(ipv6_listener_on_loopback_accepts);
	RUN(ipv6_any_host_listener_accepts);
	RUN(listener_keeps_size_from_create_time);
	RUN(reset_closes_listening_socket);
	RUN(add_to_selector_rules);
	RUN(unattached_listener_never_accepts);
	RUN(one_accept_per_select_round);
	RUN(accept_into_active_connection_fails);
	RUN(accept_from_unused_listener_fails);
	RUN(unix_socket_mode_follows_umask);
	RUN(fs_perms_sets_mode);
	RUN(fs_perms_rejects_bad_strings);
	RUN(fs_calls_fail_on_non_unix_listeners);
	RUN(fs_owner_rules);
	RUN(fd_listener_yields_one_connection);
	tu_dir_remove();
	return DONE();
}
