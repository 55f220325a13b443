/* nal_devel.h (ABI.md 8): the extension API as a C developer uses it.
 *
 *   builtin_vtables          the builtin list (proto_std -> proto_fd), the
 *                            builtin listener/connection/selector vtables,
 *                            and builtin objects reporting them
 *   wrapped_ip_transport     (a) a C address type "WRAPIP:" wrapping the
 *                            builtin IP transport, data both ways through
 *                            NAL_SELECTOR + NAL_CONNECTION_io, its hooks
 *                            counted and ordered
 *   c_socketpair_transport   (b) a wholly C transport over socketpair(2)
 *                            speaking the fd control protocol (8.8)
 *   c_selector_wraps_poll    (c) a C selector forwarding to sel_fdpoll()
 *                            driving a builtin unix echo
 *   c_selector_carries_...   a wholly C poll(2) selector implementing the
 *                            control protocol itself, carrying builtin
 *                            unix listener and connections
 *   lifecycle_order          (d) the order of 8.1 through counting hooks
 *   refusals_*               (e) where the original aborted or crashed,
 *                            the failure value, and the program goes on
 */
#include <signal.h>
#include <stdarg.h>
#include "nal_testutil.h"
#include <libnal/nal_devel.h>

/* ---- an ordered log of hook calls ------------------------------------ */
static char hook_log[8192];
static int hook_calls;
static void LOG(const char *ev)
{
	hook_calls++;
	if (strlen(hook_log) + strlen(ev) + 2 < sizeof(hook_log)) {
		if (hook_log[0]) strcat(hook_log, " ");
		strcat(hook_log, ev);
	}
}
static void log_clear(void) { hook_log[0] = '\0'; hook_calls = 0; }
#define CHECK_LOG(want) do { \
	if (strcmp(hook_log, (want)) != 0) { \
		fprintf(stderr, "  %s:%d: hook order \"%s\", want \"%s\"\n", __FILE__, __LINE__, hook_log, (want)); \
		return 0; \
	} log_clear(); } while (0)

/* ---- NULL arguments --------------------------------------------------- */
static int any_create(NAL_ADDRESS *a) { (void)a; LOG("x"); return 1; }
static void any_void(NAL_ADDRESS *a) { (void)a; LOG("x"); }
static const char *devtest_prefixes[] = { "DEVTEST:", NULL };
static NAL_ADDRESS_vtable devtest_address = {
	"devtest", 16, devtest_prefixes, any_create, any_void, any_void, any_void,
	NULL, NULL, NULL, NULL, NULL, NULL
};

static int null_arguments_are_safe(void)
{
	NAL_SELECTOR_TOKEN tok = (NAL_SELECTOR_TOKEN)&hook_calls;
	log_clear();
	CHECK_EQ(nal_address_set_vtable(NULL, &devtest_address), 0);
	CHECK(nal_address_get_vtable(NULL) == NULL);
	CHECK(nal_address_get_vtdata(NULL) == NULL);
	CHECK(nal_address_get_listener(NULL) == NULL);
	CHECK(nal_address_get_connection(NULL) == NULL);
	CHECK_EQ(nal_listener_set_vtable(NULL, NULL), 0);
	CHECK(nal_listener_get_vtable(NULL) == NULL);
	CHECK(nal_listener_get_vtdata(NULL) == NULL);
	CHECK(nal_listener_pre_accept(NULL) == NULL);
	nal_listener_pre_select(NULL);
	nal_listener_post_select(NULL);
	CHECK(nal_listener_get_selector(NULL, &tok) == NULL);
	CHECK(nal_listener_get_selector(NULL, NULL) == NULL);
	nal_listener_set_selector_raw(NULL, NULL, NAL_SELECTOR_TOKEN_NULL);
	CHECK_EQ(nal_connection_set_vtable(NULL, NULL), 0);
	CHECK(nal_connection_get_vtable(NULL) == NULL);
	CHECK(nal_connection_get_vtdata(NULL) == NULL);
	nal_connection_pre_select(NULL);
	nal_connection_post_select(NULL);
	CHECK(nal_connection_get_selector(NULL, &tok) == NULL);
	CHECK(nal_connection_get_selector(NULL, NULL) == NULL);
	nal_connection_set_selector_raw(NULL, NULL, NAL_SELECTOR_TOKEN_NULL);
	NAL_ADDRESS_vtable_link(NULL);
	CHECK(nal_selector_new(NULL) == NULL);
	CHECK(nal_selector_get_vtable(NULL) == NULL);
	CHECK(nal_selector_get_vtdata(NULL) == NULL);
	CHECK_EQ(nal_selector_get_type(NULL), NAL_SELECTOR_TYPE_ERROR);
	CHECK_EQ(nal_selector_ctrl(NULL, NAL_SELECTOR_CTRL_FD, NULL), 0);
	CHECK_EQ(nal_selector_dynamic_set(NULL, sel_fdpoll()), 0);
	CHECK(tok == (NAL_SELECTOR_TOKEN)&hook_calls); /* never written */
	CHECK_EQ(hook_calls, 0);
	return 1;
}

/* ---- builtin vtables --------------------------------------------------- */
static int has_prefix(const NAL_ADDRESS_vtable *vt, const char *p)
{
	const char **q;
	for (q = vt->prefixes; *q; q++)
		if (!strcmp(*q, p)) return 1;
	return 0;
}

static int builtin_vtables(void)
{
	char buf[200];
	const NAL_ADDRESS_vtable *std = NAL_ADDRESS_vtable_builtins(), *fd;
	NAL_ADDRESS *a = NAL_ADDRESS_new(), *f = NAL_ADDRESS_new(), *b = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_SELECTOR *sp, *ss, *dyn = NAL_SELECTOR_new();
	CHECK(std != NULL);
	CHECK(!strcmp(std->unique_name, "proto_std"));
	CHECK(has_prefix(std, "IP:") && has_prefix(std, "IPv4:") && has_prefix(std, "UNIX:"));
	fd = std->next;
	CHECK(fd != NULL && !strcmp(fd->unique_name, "proto_fd") && has_prefix(fd, "FD:"));
	CHECK(fd->next == NULL); /* nothing linked yet: this test runs first */
	/* the builtins keep their state in the object: no vtdata */
	CHECK_EQ(std->vtdata_size, 0);
	CHECK(std->on_create && std->on_destroy && std->on_reset && std->parse);
	CHECK(std->create_listener && std->create_connection);

	/* objects made by the API report the builtin vtables */
	CHECK(nal_address_get_vtable(a) == NULL);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "builtin"), 2048), 1);
	CHECK(nal_address_get_vtable(a) == std);
	CHECK(nal_address_get_vtdata(a) == NULL);
	CHECK_EQ(NAL_ADDRESS_create(f, "FD:0", 0), 1);
	CHECK(nal_address_get_vtable(f) == fd);
	CHECK(nal_address_get_listener(a) == std->create_listener(a));
	CHECK(nal_address_get_connection(a) == std->create_connection(a));
	CHECK_EQ(nal_address_get_listener(a)->vtdata_size, 0);
	CHECK_EQ(nal_address_get_connection(a)->vtdata_size, 0);
	CHECK(nal_listener_get_vtable(l) == NULL);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK(nal_listener_get_vtable(l) == nal_address_get_listener(a));
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK(nal_connection_get_vtable(c) == nal_address_get_connection(a));

	/* a C program can bind and drive the builtins itself */
	CHECK_EQ(NAL_ADDRESS_set_def_buffer_size(b, 1024), 1);
	CHECK_EQ(nal_address_set_vtable(b, std), 1);
	CHECK(nal_address_get_vtable(b) == std);
	CHECK_EQ(std->parse(b, "IP:127.0.0.1:9"), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(b), 1);
	CHECK_EQ(std->can_connect(b), 1);
	CHECK_EQ(nal_listener_get_vtable(l)->finished(l), 0);
	CHECK(nal_listener_pre_accept(l) == NULL); /* nothing selected yet */

	/* the builtin selector vtables */
	CHECK(sel_fdpoll() != NULL && sel_fdselect() != NULL && sel_fdpoll() != sel_fdselect());
	sp = nal_selector_new(sel_fdpoll());
	ss = nal_selector_new(sel_fdselect());
	CHECK(sp != NULL && ss != NULL);
	CHECK_EQ(nal_selector_get_type(sp), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK_EQ(nal_selector_get_type(ss), NAL_SELECTOR_TYPE_FDSELECT);
	CHECK(nal_selector_get_vtable(sp) == sel_fdpoll());
	CHECK(nal_selector_get_vtable(ss) == sel_fdselect());
	CHECK_EQ(sel_fdpoll()->get_type(sp), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK_EQ(NAL_SELECTOR_num_objects(sp), 0);
	/* the dynamic selector: its own vtable until something converts it */
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK(nal_selector_get_vtable(dyn) != NULL);
	CHECK_EQ(nal_selector_get_vtable(dyn)->select(dyn, 0, 1), -1);
	CHECK(nal_selector_get_vtable(dyn)->add_connection == NULL);
	CHECK_EQ(nal_selector_dynamic_set(dyn, sel_fdselect()), 1);
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_FDSELECT);
	CHECK(nal_selector_get_vtable(dyn) == sel_fdselect());

	/* builtin objects on a builtin selector made through nal_selector_new */
	{
		NAL_SELECTOR_TOKEN tok = NAL_SELECTOR_TOKEN_NULL;
		CHECK_EQ(NAL_LISTENER_add_to_selector(l, sp), 1);
		CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sp), 1);
		CHECK(nal_connection_get_selector(c, &tok) == sp);
		CHECK(tok != NAL_SELECTOR_TOKEN_NULL);
		CHECK(nal_listener_get_selector(l, NULL) == sp);
		CHECK_EQ(NAL_SELECTOR_num_objects(sp), 2);
		NAL_CONNECTION_del_from_selector(c);
		CHECK(nal_connection_get_selector(c, NULL) == NULL);
	}
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	NAL_ADDRESS_free(b);
	NAL_ADDRESS_free(f);
	NAL_SELECTOR_free(sp);
	NAL_SELECTOR_free(ss);
	NAL_SELECTOR_free(dyn);
	return 1;
}

/* ---- (a) a C address type wrapping the builtin IP transport ------------ */
static const NAL_ADDRESS_vtable *std_vt;
static const NAL_LISTENER_vtable *std_list;
static const NAL_CONNECTION_vtable *std_conn;
static NAL_LISTENER_vtable wrap_list;
static NAL_CONNECTION_vtable wrap_conn;
static int w_pre_select, w_post_select, w_do_io;

struct wrap_extra { int magic; };

static int wa_on_create(NAL_ADDRESS *a) { LOG("A+"); return std_vt->on_create(a); }
static void wa_on_destroy(NAL_ADDRESS *a) { LOG("A-"); std_vt->on_destroy(a); }
static void wa_on_reset(NAL_ADDRESS *a) { LOG("Ar"); std_vt->on_reset(a); }
static int wa_parse(NAL_ADDRESS *a, const char *s)
{
	char ip[300];
	LOG("Ap");
	if (strncmp(s, "WRAPIP:", 7) != 0) return 0;
	snprintf(ip, sizeof(ip), "IP:%s", s + 7);
	((struct wrap_extra *)nal_address_get_vtdata(a))->magic = 42;
	return std_vt->parse(a, ip);
}
static int wa_can_connect(const NAL_ADDRESS *a) { return std_vt->can_connect(a); }
static int wa_can_listen(const NAL_ADDRESS *a) { return std_vt->can_listen(a); }
static const NAL_LISTENER_vtable *wa_create_listener(const NAL_ADDRESS *a)
{
	LOG("Al");
	return std_vt->create_listener(a) ? &wrap_list : NULL;
}
static const NAL_CONNECTION_vtable *wa_create_connection(const NAL_ADDRESS *a)
{
	LOG("Ac");
	return std_vt->create_connection(a) ? &wrap_conn : NULL;
}
static const char *wrap_prefixes[] = { "WRAPIP:", NULL };
static NAL_ADDRESS_vtable wrap_address = {
	"wrapip", sizeof(struct wrap_extra), wrap_prefixes, wa_on_create, wa_on_destroy, wa_on_reset, NULL,
	wa_parse, wa_can_connect, wa_can_listen, wa_create_listener, wa_create_connection, NULL
};

static int wl_on_create(NAL_LISTENER *l) { LOG("L+"); return std_list->on_create(l); }
static void wl_on_destroy(NAL_LISTENER *l) { LOG("L-"); std_list->on_destroy(l); }
static void wl_on_reset(NAL_LISTENER *l) { LOG("Lr"); std_list->on_reset(l); }
static int wl_listen(NAL_LISTENER *l, const NAL_ADDRESS *a) { LOG("Ll"); return std_list->listen(l, a); }
static const NAL_CONNECTION_vtable *wl_pre_accept(NAL_LISTENER *l)
{
	/* the builtin says whether a connection waits; ours wraps it */
	if (!std_list->pre_accept(l)) return NULL;
	LOG("La");
	return &wrap_conn;
}
static int wl_pre_selector_add(NAL_LISTENER *l, NAL_SELECTOR *s) { LOG("Ls"); return std_list->pre_selector_add(l, s); }
static int wl_post_selector_add(NAL_LISTENER *l, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t)
{
	(void)l; (void)s;
	LOG("LS");
	return t != NAL_SELECTOR_TOKEN_NULL;
}
static void wl_pre_select(NAL_LISTENER *l, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) { w_pre_select++; std_list->pre_select(l, s, t); }
static void wl_post_select(NAL_LISTENER *l, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) { w_post_select++; std_list->post_select(l, s, t); }

static int wc_on_create(NAL_CONNECTION *c) { LOG("C+"); return std_conn->on_create(c); }
static void wc_on_destroy(NAL_CONNECTION *c) { LOG("C-"); std_conn->on_destroy(c); }
static void wc_on_reset(NAL_CONNECTION *c) { LOG("Cr"); std_conn->on_reset(c); }
static int wc_connect(NAL_CONNECTION *c, const NAL_ADDRESS *a) { LOG("Cc"); return std_conn->connect(c, a); }
static int wc_accept(NAL_CONNECTION *c, const NAL_LISTENER *l) { LOG("Ca"); return std_conn->accept(c, l); }
static void wc_pre_select(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) { w_pre_select++; std_conn->pre_select(c, s, t); }
static void wc_post_select(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) { w_post_select++; std_conn->post_select(c, s, t); }
static int wc_do_io(NAL_CONNECTION *c) { w_do_io++; return std_conn->do_io(c); }

static int wrap_setup(void)
{
	NAL_ADDRESS *probe = NAL_ADDRESS_new();
	std_vt = NAL_ADDRESS_vtable_builtins();
	CHECK(probe != NULL && std_vt != NULL);
	CHECK_EQ(NAL_ADDRESS_create(probe, "IP:127.0.0.1:1", 0), 1);
	std_list = std_vt->create_listener(probe);
	std_conn = std_vt->create_connection(probe);
	NAL_ADDRESS_free(probe);
	CHECK(std_list != NULL && std_conn != NULL);
	/* start from the builtins, replace what we watch */
	wrap_list = *std_list;
	wrap_list.on_create = wl_on_create;
	wrap_list.on_destroy = wl_on_destroy;
	wrap_list.on_reset = wl_on_reset;
	wrap_list.listen = wl_listen;
	wrap_list.pre_accept = wl_pre_accept;
	wrap_list.pre_selector_add = wl_pre_selector_add;
	wrap_list.post_selector_add = wl_post_selector_add;
	wrap_list.pre_select = wl_pre_select;
	wrap_list.post_select = wl_post_select;
	wrap_conn = *std_conn;
	wrap_conn.on_create = wc_on_create;
	wrap_conn.on_destroy = wc_on_destroy;
	wrap_conn.on_reset = wc_on_reset;
	wrap_conn.connect = wc_connect;
	wrap_conn.accept = wc_accept;
	wrap_conn.pre_select = wc_pre_select;
	wrap_conn.post_select = wc_post_select;
	wrap_conn.do_io = wc_do_io;
	NAL_ADDRESS_vtable_link(&wrap_address);
	return 1;
}

static int wrapped_ip_transport(void)
{
	char text[64], plain[64];
	int port = tu_free_port(AF_INET), i;
	NAL_ADDRESS *addr = NAL_ADDRESS_new(), *paddr = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
	NAL_CONNECTION *pc = NAL_CONNECTION_new(), *ps = NAL_CONNECTION_new();
	NAL_SELECTOR *sel = NAL_SELECTOR_new();
	unsigned char big[20000];
	CHECK(port > 0);
	CHECK(wrap_setup());
	log_clear();
	snprintf(text, sizeof(text), "WRAPIP:127.0.0.1:%d", port);
	CHECK_EQ(NAL_ADDRESS_create(addr, text, 4096), 1);
	CHECK_LOG("A+ Ap");
	CHECK(nal_address_get_vtable(addr) == &wrap_address);
	CHECK_EQ(((struct wrap_extra *)nal_address_get_vtdata(addr))->magic, 42);
	CHECK_EQ(NAL_ADDRESS_can_connect(addr), 1);
	CHECK_EQ(NAL_ADDRESS_get_def_buffer_size(addr), 4096);

	CHECK_EQ(NAL_LISTENER_create(l, addr), 1);
	CHECK_LOG("Al L+ Ll");
	CHECK(nal_listener_get_vtable(l) == &wrap_list);
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, sel), 1);
	CHECK_LOG("Ls LS");
	/* the builtin pre_selector_add made the dynamic selector poll */
	CHECK_EQ(nal_selector_get_type(sel), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK(nal_listener_get_selector(l, NULL) == sel);

	/* tu_link: connect, attach, select/io until accepted and established */
	NAL_LISTENER_del_from_selector(l);
	CHECK_LOG(""); /* the builtin has no pre_selector_del; its post is silent */
	CHECK(nal_listener_get_selector(l, NULL) == NULL);
	CHECK_EQ(NAL_CONNECTION_create(c, addr), 1);
	CHECK_LOG("Ac C+ Cc");
	CHECK_EQ(NAL_LISTENER_add_to_selector(l, sel), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 1);
	log_clear();
	for (i = 0; i < TU_MAX_ROUNDS; i++) {
		CHECK(NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
		if (NAL_CONNECTION_accept(s, l)) break;
	}
	CHECK(i < TU_MAX_ROUNDS);
	CHECK(strstr(hook_log, "La C+ Ca") != NULL); /* pre_accept, bind, accept */
	CHECK(nal_connection_get_vtable(s) == &wrap_conn);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(s, sel), 1);
	CHECK(w_pre_select > 0 && w_post_select > 0 && w_do_io > 0);
	CHECK(tu_send_str(sel, c, s, "through the wrapped transport"));
	CHECK(tu_send_str(sel, s, c, "and back"));
	for (i = 0; i < (int)sizeof(big); i++) big[i] = (unsigned char)(i * 7);
	CHECK(tu_transfer(sel, c, s, big, sizeof(big)));

	/* a plain builtin client on the same selector reaches the wrapped
	 * listener: builtin (epoll) and wrapped (fd protocol) objects mix */
	snprintf(plain, sizeof(plain), "IP:127.0.0.1:%d", port);
	CHECK_EQ(NAL_ADDRESS_create(paddr, plain, 4096), 1);
	CHECK_EQ(NAL_CONNECTION_create(pc, paddr), 1);
	CHECK(nal_connection_get_vtable(pc) == std_conn);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(pc, sel), 1);
	for (i = 0; i < TU_MAX_ROUNDS; i++) {
		CHECK(NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(pc), 1);
		if (NAL_CONNECTION_accept(ps, l)) break;
	}
	CHECK(i < TU_MAX_ROUNDS);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(ps, sel), 1);
	CHECK(tu_send_str(sel, pc, ps, "plain to wrapped"));
	CHECK(tu_send_str(sel, ps, pc, "wrapped to plain"));
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 5);

	/* a closed peer is seen through the wrapped hooks */
	NAL_CONNECTION_free(pc);
	for (i = 0; i < TU_MAX_ROUNDS; i++) {
		CHECK(NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1) >= 0);
		if (!NAL_CONNECTION_io(ps)) break;
	}
	CHECK(i < TU_MAX_ROUNDS);

	log_clear();
	NAL_CONNECTION_free(s);
	CHECK_LOG("C-");
	NAL_CONNECTION_reset(c);
	CHECK_LOG("Cr");
	NAL_CONNECTION_free(c);
	CHECK_LOG("C-");
	NAL_LISTENER_free(l);
	CHECK_LOG("L-");
	NAL_ADDRESS_free(addr);
	CHECK_LOG("A-");
	NAL_CONNECTION_free(ps);
	NAL_ADDRESS_free(paddr);
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 0);
	NAL_SELECTOR_free(sel);
	return 1;
}

/* ---- (b) a wholly C transport over socketpair(2) ---------------------- */
/* "CPAIR:<anything>": NAL_LISTENER_create makes a socketpair, keeps one end
 * for the next accept and leaves the other for the next connect. */
static int cp_peer = -1;
static NAL_LISTENER_vtable cp_list;
static NAL_CONNECTION_vtable cp_conn;
struct cp_listener { int fd_plus1; };
struct cp_connection { int fd_plus1; NAL_BUFFER *rd, *wr; unsigned char res; };
static int cp_ctrl_calls;

static int cpa_on_create(NAL_ADDRESS *a) { (void)a; return 1; }
static void cpa_void(NAL_ADDRESS *a) { (void)a; }
static int cpa_parse(NAL_ADDRESS *a, const char *s) { (void)a; return !strncmp(s, "CPAIR:", 6); }
static int cpa_yes(const NAL_ADDRESS *a) { (void)a; return 1; }
static const NAL_LISTENER_vtable *cpa_listener(const NAL_ADDRESS *a) { (void)a; return &cp_list; }
static const NAL_CONNECTION_vtable *cpa_connection(const NAL_ADDRESS *a) { (void)a; return &cp_conn; }
static const char *cp_prefixes[] = { "CPAIR:", NULL };
static NAL_ADDRESS_vtable cp_address = {
	"cpair", 0, cp_prefixes, cpa_on_create, cpa_void, cpa_void, NULL,
	cpa_parse, cpa_yes, cpa_yes, cpa_listener, cpa_connection, NULL
};

static int fd_selector_ok(NAL_SELECTOR *s)
{
	switch (nal_selector_get_type(s)) {
	case NAL_SELECTOR_TYPE_FDSELECT: case NAL_SELECTOR_TYPE_FDPOLL: return 1;
	case NAL_SELECTOR_TYPE_DYNAMIC: return nal_selector_dynamic_set(s, sel_fdpoll());
	default: return 0;
	}
}

static int cpl_on_create(NAL_LISTENER *l) { (void)l; return 1; }
static void cpl_close(NAL_LISTENER *l)
{
	struct cp_listener *d = nal_listener_get_vtdata(l);
	if (d->fd_plus1) close(d->fd_plus1 - 1);
	d->fd_plus1 = 0;
}
static int cpl_listen(NAL_LISTENER *l, const NAL_ADDRESS *a)
{
	int sv[2];
	struct cp_listener *d = nal_listener_get_vtdata(l);
	(void)a;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	d->fd_plus1 = sv[0] + 1;
	if (cp_peer >= 0) close(cp_peer);
	cp_peer = sv[1];
	return 1;
}
static const NAL_CONNECTION_vtable *cpl_pre_accept(NAL_LISTENER *l)
{
	return ((struct cp_listener *)nal_listener_get_vtdata(l))->fd_plus1 ? &cp_conn : NULL;
}
static int cpl_finished(const NAL_LISTENER *l)
{
	return !((struct cp_listener *)nal_listener_get_vtdata(l))->fd_plus1;
}
static int cpl_pre_add(NAL_LISTENER *l, NAL_SELECTOR *s) { (void)l; return fd_selector_ok(s); }
static void cpl_post_del(NAL_LISTENER *l, NAL_SELECTOR *s) { (void)l; (void)s; }

static int cpc_on_create(NAL_CONNECTION *c)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	if (!d->rd) { /* kept across a reset and re-bind, like the builtin */
		d->rd = NAL_BUFFER_new();
		d->wr = NAL_BUFFER_new();
	}
	return d->rd && d->wr;
}
static void cpc_on_reset(NAL_CONNECTION *c)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	if (d->fd_plus1) close(d->fd_plus1 - 1);
	d->fd_plus1 = 0;
	NAL_BUFFER_reset(d->rd);
	NAL_BUFFER_reset(d->wr);
}
static void cpc_on_destroy(NAL_CONNECTION *c)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	if (d->fd_plus1) close(d->fd_plus1 - 1);
	NAL_BUFFER_free(d->rd);
	NAL_BUFFER_free(d->wr);
}
static int cpc_take(NAL_CONNECTION *c, int fd, unsigned int size)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	if (fd < 0) return 0;
	d->fd_plus1 = fd + 1;
	return NAL_BUFFER_set_size(d->rd, size ? size : 4096) && NAL_BUFFER_set_size(d->wr, size ? size : 4096);
}
static int cpc_connect(NAL_CONNECTION *c, const NAL_ADDRESS *a)
{
	int fd = cp_peer;
	cp_peer = -1;
	return cpc_take(c, fd, NAL_ADDRESS_get_def_buffer_size(a));
}
static int cpc_accept(NAL_CONNECTION *c, const NAL_LISTENER *l)
{
	struct cp_listener *ld = nal_listener_get_vtdata(l);
	int fd = ld->fd_plus1 - 1;
	ld->fd_plus1 = 0;
	return cpc_take(c, fd, 0);
}
static int cpc_set_size(NAL_CONNECTION *c, unsigned int size)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	return NAL_BUFFER_set_size(d->rd, size) && NAL_BUFFER_set_size(d->wr, size);
}
static NAL_BUFFER *cpc_read(const NAL_CONNECTION *c) { return ((struct cp_connection *)nal_connection_get_vtdata(c))->rd; }
static NAL_BUFFER *cpc_send(const NAL_CONNECTION *c) { return ((struct cp_connection *)nal_connection_get_vtdata(c))->wr; }
static int cpc_established(const NAL_CONNECTION *c) { return ((struct cp_connection *)nal_connection_get_vtdata(c))->fd_plus1 != 0; }
static int cpc_pre_add(NAL_CONNECTION *c, NAL_SELECTOR *s) { (void)c; return fd_selector_ok(s); }
static void cpc_post_del(NAL_CONNECTION *c, NAL_SELECTOR *s) { (void)c; (void)s; }
static void cpc_pre_select(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	NAL_FD_CTRL_FDSET_ARG arg;
	arg.token = t;
	arg.fd = d->fd_plus1 - 1;
	arg.flags = (NAL_BUFFER_notfull(d->rd) ? NAL_FD_FLAG_READ : 0) | (NAL_BUFFER_notempty(d->wr) ? NAL_FD_FLAG_SEND : 0);
	d->res = 0;
	if (nal_selector_ctrl(s, NAL_FD_CTRL_FDSET, &arg)) cp_ctrl_calls++;
}
static void cpc_post_select(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t)
{
	struct cp_connection *d = nal_connection_get_vtdata(c);
	NAL_FD_CTRL_FDTEST_ARG arg;
	arg.token = t;
	arg.fd = d->fd_plus1 - 1;
	arg.flags = 0;
	if (nal_selector_ctrl(s, NAL_FD_CTRL_FDTEST, &arg)) cp_ctrl_calls++;
	d->res = arg.flags;
}
static int cpc_do_io(NAL_CONNECTION *c)
{
	static unsigned char tmp[32768];
	struct cp_connection *d = nal_connection_get_vtdata(c);
	int fd = d->fd_plus1 - 1;
	ssize_t n;
	if (d->res & NAL_FD_FLAG_EXCEPT) return 0;
	if ((d->res & NAL_FD_FLAG_READ) && NAL_BUFFER_unused(d->rd)) {
		n = read(fd, tmp, NAL_BUFFER_unused(d->rd));
		if (n == 0) return 0;
		if (n > 0) NAL_BUFFER_write(d->rd, tmp, (unsigned int)n);
		else if (errno != EAGAIN) return 0;
	}
	if ((d->res & NAL_FD_FLAG_SEND) && NAL_BUFFER_used(d->wr)) {
		n = write(fd, NAL_BUFFER_data(d->wr), NAL_BUFFER_used(d->wr));
		if (n > 0) NAL_BUFFER_read(d->wr, tmp, (unsigned int)n);
		else if (n < 0 && errno != EAGAIN) return 0;
	}
	d->res = 0;
	return 1;
}

static void cp_setup(void)
{
	memset(&cp_list, 0, sizeof(cp_list));
	cp_list.vtdata_size = sizeof(struct cp_listener);
	cp_list.on_create = cpl_on_create;
	cp_list.on_destroy = cpl_close;
	cp_list.on_reset = cpl_close;
	cp_list.listen = cpl_listen;
	cp_list.pre_accept = cpl_pre_accept;
	cp_list.finished = cpl_finished;
	cp_list.pre_selector_add = cpl_pre_add;
	cp_list.post_selector_del = cpl_post_del;
	memset(&cp_conn, 0, sizeof(cp_conn));
	cp_conn.vtdata_size = sizeof(struct cp_connection);
	cp_conn.on_create = cpc_on_create;
	cp_conn.on_destroy = cpc_on_destroy;
	cp_conn.on_reset = cpc_on_reset;
	cp_conn.connect = cpc_connect;
	cp_conn.accept = cpc_accept;
	cp_conn.set_size = cpc_set_size;
	cp_conn.get_read = cpc_read;
	cp_conn.get_send = cpc_send;
	cp_conn.is_established = cpc_established;
	cp_conn.pre_selector_add = cpc_pre_add;
	cp_conn.post_selector_del = cpc_post_del;
	cp_conn.pre_select = cpc_pre_select;
	cp_conn.post_select = cpc_post_select;
	cp_conn.do_io = cpc_do_io;
	NAL_ADDRESS_vtable_link(&cp_address);
}

static int c_socketpair_transport(void)
{
	NAL_SELECTOR *sels[3];
	int k;
	cp_setup();
	sels[0] = NAL_SELECTOR_new();
	sels[1] = NAL_SELECTOR_new_fdselect();
	sels[2] = nal_selector_new(sel_fdpoll());
	for (k = 0; k < 3; k++) {
		NAL_LISTENER *l = NAL_LISTENER_new();
		NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
		CHECK(sels[k] != NULL);
		cp_ctrl_calls = 0;
		CHECK(tu_link(sels[k], "CPAIR:demo", 2048, l, c, s));
		CHECK(nal_connection_get_vtable(c) == &cp_conn && nal_connection_get_vtable(s) == &cp_conn);
		CHECK_EQ(NAL_LISTENER_finished(l), 1);
		CHECK(tu_send_str(sels[k], c, s, "over a socketpair"));
		CHECK(tu_send_str(sels[k], s, c, "and back again"));
		CHECK(cp_ctrl_calls > 0);
		CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_read(c)), 2048);
		CHECK_EQ(NAL_CONNECTION_set_size(c, 1000), 1);
		CHECK_EQ(NAL_BUFFER_size(NAL_CONNECTION_get_send(c)), 1000);
		CHECK_EQ(NAL_CONNECTION_set_size(c, 40000), 0); /* the API's limit */
		CHECK_EQ(NAL_SELECTOR_num_objects(sels[k]), 3);
		/* the peer closes: the survivor's io fails */
		NAL_CONNECTION_free(s);
		{
			int i;
			for (i = 0; i < TU_MAX_ROUNDS; i++) {
				CHECK(NAL_SELECTOR_select(sels[k], TU_ROUND_USEC, 1) >= 0);
				if (!NAL_CONNECTION_io(c)) break;
			}
			CHECK(i < TU_MAX_ROUNDS);
		}
		NAL_CONNECTION_free(c);
		NAL_LISTENER_free(l);
		CHECK_EQ(NAL_SELECTOR_num_objects(sels[k]), 0);
		NAL_SELECTOR_free(sels[k]);
	}
	if (cp_peer >= 0) close(cp_peer);
	cp_peer = -1;
	return 1;
}

/* ---- (c) a C selector wrapping the builtin poll selector --------------- */
static NAL_SELECTOR_vtable wsel;
static const NAL_SELECTOR_vtable *poll_vt;
static int ws_create, ws_destroy, ws_reset, ws_select, ws_add, ws_del, ws_fdset, ws_fdtest, ws_other;
struct ws_data { unsigned char builtin_part[64]; int rounds; };

static int ws_on_create(NAL_SELECTOR *s) { ws_create++; return poll_vt->on_create(s); }
static void ws_on_destroy(NAL_SELECTOR *s) { ws_destroy++; poll_vt->on_destroy(s); }
static void ws_on_reset(NAL_SELECTOR *s) { ws_reset++; poll_vt->on_reset(s); }
static int ws_do_select(NAL_SELECTOR *s, unsigned long usec, int use)
{
	ws_select++;
	((struct ws_data *)nal_selector_get_vtdata(s))->rounds++;
	return poll_vt->select(s, usec, use);
}
static NAL_SELECTOR_TOKEN ws_add_l(NAL_SELECTOR *s, NAL_LISTENER *l) { ws_add++; return poll_vt->add_listener(s, l); }
static NAL_SELECTOR_TOKEN ws_add_c(NAL_SELECTOR *s, NAL_CONNECTION *c) { ws_add++; return poll_vt->add_connection(s, c); }
static void ws_del_l(NAL_SELECTOR *s, NAL_LISTENER *l, NAL_SELECTOR_TOKEN t) { ws_del++; poll_vt->del_listener(s, l, t); }
static void ws_del_c(NAL_SELECTOR *s, NAL_CONNECTION *c, NAL_SELECTOR_TOKEN t) { ws_del++; poll_vt->del_connection(s, c, t); }
static int ws_ctrl(NAL_SELECTOR *s, int cmd, void *arg)
{
	if (cmd == NAL_FD_CTRL_FDSET) ws_fdset++;
	else if (cmd == NAL_FD_CTRL_FDTEST) ws_fdtest++;
	else ws_other++;
	return poll_vt->ctrl(s, cmd, arg);
}

static int c_selector_wraps_poll(void)
{
	char buf[200];
	NAL_SELECTOR *s;
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *e = NAL_CONNECTION_new();
	NAL_SELECTOR_TOKEN tok = NAL_SELECTOR_TOKEN_NULL;
	unsigned char in[64];
	unsigned int got = 0;
	int i;
	poll_vt = sel_fdpoll();
	wsel = *poll_vt;
	wsel.vtdata_size = sizeof(struct ws_data);
	wsel.on_create = ws_on_create;
	wsel.on_destroy = ws_on_destroy;
	wsel.on_reset = ws_on_reset;
	wsel.select = ws_do_select;
	wsel.add_listener = ws_add_l;
	wsel.add_connection = ws_add_c;
	wsel.del_listener = ws_del_l;
	wsel.del_connection = ws_del_c;
	wsel.ctrl = ws_ctrl;
	s = nal_selector_new(&wsel);
	CHECK(s != NULL);
	CHECK_EQ(ws_create, 1);
	CHECK(nal_selector_get_vtable(s) == &wsel);
	CHECK(nal_selector_get_vtdata(s) != NULL);
	CHECK_EQ(nal_selector_get_type(s), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK_EQ(nal_selector_dynamic_set(s, sel_fdpoll()), 0); /* not dynamic */

	/* a builtin unix echo: l listens, c is the client, e echoes */
	CHECK(tu_link(s, tu_unix_addr(buf, sizeof(buf), "wsel"), 4096, l, c, e));
	CHECK_EQ(ws_add, 3);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 3);
	CHECK(nal_connection_get_selector(c, &tok) == s && tok != NAL_SELECTOR_TOKEN_NULL);
	CHECK(nal_listener_get_selector(l, NULL) == s);
	CHECK_EQ(NAL_BUFFER_write(NAL_CONNECTION_get_send(c), (const unsigned char *)"echo me", 7), 7);
	for (i = 0; i < TU_MAX_ROUNDS && got < 7; i++) {
		CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c), 1);
		CHECK_EQ(NAL_CONNECTION_io(e), 1);
		NAL_BUFFER_transfer(NAL_CONNECTION_get_send(e), NAL_CONNECTION_get_read(e), 4096);
		got += NAL_BUFFER_read(NAL_CONNECTION_get_read(c), in + got, sizeof(in) - got);
	}
	CHECK_EQ(got, 7);
	CHECK(!memcmp(in, "echo me", 7));
	CHECK(ws_select > 0 && ws_fdset > 0 && ws_fdtest > 0);
	CHECK_EQ(((struct ws_data *)nal_selector_get_vtdata(s))->rounds, ws_select);
	/* unknown commands: the builtin says 0 (the original aborted) */
	CHECK_EQ(nal_selector_ctrl(s, 0x777, NULL), 0);
	CHECK_EQ(ws_other, 1);

	/* the helpers a selector implementation calls, by hand */
	{
		NAL_SELECTOR_TOKEN ltok = NAL_SELECTOR_TOKEN_NULL, t2 = NAL_SELECTOR_TOKEN_NULL;
		NAL_ADDRESS *addr = NAL_ADDRESS_new();
		NAL_CONNECTION *c2 = NAL_CONNECTION_new(), *e2 = NAL_CONNECTION_new();
		int before = ws_fdset, before_t = ws_fdtest;
		nal_connection_pre_select(c);   /* the builtin hook registers c's socket */
		CHECK_EQ(ws_fdset, before + 1);
		nal_connection_post_select(c);
		CHECK_EQ(ws_fdtest, before_t + 1);
		nal_listener_pre_select(l);
		nal_listener_post_select(l);
		CHECK_EQ(ws_fdset, before + 2);
		CHECK_EQ(ws_fdtest, before_t + 2);
		/* re-homing without notification */
		CHECK(nal_listener_get_selector(l, &ltok) == s);
		nal_connection_set_selector_raw(c, NULL, NAL_SELECTOR_TOKEN_NULL);
		nal_listener_set_selector_raw(l, NULL, NAL_SELECTOR_TOKEN_NULL);
		CHECK(nal_connection_get_selector(c, NULL) == NULL);
		CHECK(nal_listener_get_selector(l, NULL) == NULL);
		nal_connection_pre_select(c);   /* nothing recorded: nothing happens */
		nal_listener_pre_select(l);
		CHECK_EQ(ws_fdset, before + 2);
		nal_connection_set_selector_raw(c, s, tok);
		nal_listener_set_selector_raw(l, s, ltok);
		CHECK(nal_connection_get_selector(c, &t2) == s && t2 == tok);
		CHECK(nal_listener_get_selector(l, &t2) == s && t2 == ltok);
		/* pre_accept reports a waiting connection with the builtin vtable */
		CHECK(nal_listener_pre_accept(l) == NULL);
		CHECK_EQ(NAL_ADDRESS_create(addr, buf, 4096), 1);
		CHECK_EQ(NAL_CONNECTION_create(c2, addr), 1);
		for (i = 0; i < TU_MAX_ROUNDS && !nal_listener_pre_accept(l); i++)
			CHECK(NAL_SELECTOR_select(s, TU_ROUND_USEC, 1) >= 0);
		CHECK(nal_listener_pre_accept(l) == nal_address_get_connection(addr));
		CHECK_EQ(NAL_CONNECTION_accept(e2, l), 1);
		CHECK(nal_listener_pre_accept(l) == NULL);
		NAL_CONNECTION_free(c2);
		NAL_CONNECTION_free(e2);
		NAL_ADDRESS_free(addr);
	}

	NAL_CONNECTION_del_from_selector(c);
	CHECK_EQ(ws_del, 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 2);
	CHECK(nal_connection_get_selector(c, NULL) == NULL);
	CHECK_EQ(NAL_CONNECTION_io(c), 0); /* not attached */
	/* reset detaches everything through the builtin */
	NAL_SELECTOR_reset(s);
	CHECK_EQ(ws_reset, 1);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	CHECK(nal_listener_get_selector(l, NULL) == NULL);
	/* attach again, then free the selector with objects attached */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(e, s), 1);
	NAL_SELECTOR_free(s);
	CHECK_EQ(ws_destroy, 1);
	CHECK(nal_connection_get_selector(e, NULL) == NULL);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(e);
	NAL_LISTENER_free(l);
	return 1;
}

/* ---- a wholly C fd selector carrying builtin objects ------------------- */
/* It implements the control protocol itself with poll(2): builtin
 * listeners and connections join any selector of an fd type. */
#include <poll.h>
#define OWN_MAX 8
struct own_sel {
	int is_list[OWN_MAX];
	void *obj[OWN_MAX];
	struct pollfd pfd[OWN_MAX * 2];
	int owner[OWN_MAX * 2];
	int npfd;
};
#define OWN(s) ((struct own_sel *)nal_selector_get_vtdata(s))
static int own_create(NAL_SELECTOR *s) { (void)s; return 1; }
static void own_void(NAL_SELECTOR *s) { (void)s; }
static NAL_SELECTOR_TYPE own_type(const NAL_SELECTOR *s) { (void)s; return NAL_SELECTOR_TYPE_FDPOLL; }
static NAL_SELECTOR_TOKEN own_add(NAL_SELECTOR *s, void *o, int is_list)
{
	int i;
	for (i = 0; i < OWN_MAX; i++)
		if (!OWN(s)->obj[i]) {
			OWN(s)->obj[i] = o;
			OWN(s)->is_list[i] = is_list;
			return (NAL_SELECTOR_TOKEN)(size_t)(i + 1);
		}
	return NAL_SELECTOR_TOKEN_NULL;
}
static NAL_SELECTOR_TOKEN own_add_l(NAL_SELECTOR *s, NAL_LISTENER *l) { return own_add(s, l, 1); }
static NAL_SELECTOR_TOKEN own_add_c(NAL_SELECTOR *s, NAL_CONNECTION *c) { return own_add(s, c, 0); }
static void own_del_l(NAL_SELECTOR *s, NAL_LISTENER *l, NAL_SELECTOR_TOKEN t) { (void)l; OWN(s)->obj[(size_t)t - 1] = NULL; }
static void own_del_c(NAL_SELECTOR *s, NAL_CONNECTION *c, NAL_SELECTOR_TOKEN t) { (void)c; OWN(s)->obj[(size_t)t - 1] = NULL; }
static unsigned int own_num(const NAL_SELECTOR *s)
{
	unsigned int i, n = 0;
	for (i = 0; i < OWN_MAX; i++) n += OWN(s)->obj[i] != NULL;
	return n;
}
static int own_ctrl(NAL_SELECTOR *s, int cmd, void *arg)
{
	struct own_sel *d = OWN(s);
	int i;
	if (cmd == NAL_FD_CTRL_FDSET) {
		NAL_FD_CTRL_FDSET_ARG *a = arg;
		if (d->npfd == OWN_MAX * 2) return 0;
		d->pfd[d->npfd].fd = a->fd;
		d->pfd[d->npfd].events = (short)(((a->flags & NAL_FD_FLAG_READ) ? POLLIN : 0) | ((a->flags & NAL_FD_FLAG_SEND) ? POLLOUT : 0));
		d->pfd[d->npfd].revents = 0;
		d->owner[d->npfd++] = (int)(size_t)a->token;
		return 1;
	}
	if (cmd == NAL_FD_CTRL_FDTEST) {
		NAL_FD_CTRL_FDTEST_ARG *a = arg;
		a->flags = 0;
		for (i = 0; i < d->npfd; i++)
			if (d->owner[i] == (int)(size_t)a->token && d->pfd[i].fd == a->fd) {
				short r = d->pfd[i].revents;
				a->flags |= (unsigned char)(((r & (POLLIN | POLLHUP)) ? NAL_FD_FLAG_READ : 0) |
					((r & POLLOUT) ? NAL_FD_FLAG_SEND : 0) | ((r & (POLLERR | POLLNVAL)) ? NAL_FD_FLAG_EXCEPT : 0));
			}
		return 1;
	}
	return 0;
}
static int own_select(NAL_SELECTOR *s, unsigned long usec, int use_timeout)
{
	struct own_sel *d = OWN(s);
	int i, n;
	d->npfd = 0;
	for (i = 0; i < OWN_MAX; i++) {
		if (!d->obj[i]) continue;
		if (d->is_list[i]) nal_listener_pre_select(d->obj[i]);
		else nal_connection_pre_select(d->obj[i]);
	}
	n = poll(d->pfd, (nfds_t)d->npfd, use_timeout ? (int)(usec / 1000) : -1);
	if (n < 0) return -1;
	for (i = 0; i < OWN_MAX; i++) {
		if (!d->obj[i]) continue;
		if (d->is_list[i]) nal_listener_post_select(d->obj[i]);
		else nal_connection_post_select(d->obj[i]);
	}
	return n;
}
static const NAL_SELECTOR_vtable own_selector = {
	sizeof(struct own_sel), own_create, own_void, own_void, NULL, own_type, own_select, own_num,
	own_add_l, own_add_c, own_del_l, own_del_c, own_ctrl
};

static int c_selector_carries_builtins(void)
{
	char buf[200];
	NAL_SELECTOR *s = nal_selector_new(&own_selector);
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *e = NAL_CONNECTION_new();
	CHECK(s != NULL);
	CHECK(tu_link(s, tu_unix_addr(buf, sizeof(buf), "own"), 2048, l, c, e));
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 3);
	CHECK(tu_send_str(s, c, e, "builtin objects"));
	CHECK(tu_send_str(s, e, c, "on a selector written in C"));
	NAL_CONNECTION_free(e); /* detaches through own_del_c */
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 2);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	CHECK_EQ(NAL_SELECTOR_num_objects(s), 0);
	NAL_SELECTOR_free(s);
	return 1;
}

/* ---- (d) the lifecycle of 8.1 ----------------------------------------- */
#define LC_HOOKS(P, SIZE) \
	static int P##_create(NAL_CONNECTION *c) { (void)c; LOG(#P "+"); return 1; } \
	static void P##_destroy(NAL_CONNECTION *c) { (void)c; LOG(#P "d"); } \
	static void P##_reset(NAL_CONNECTION *c) { (void)c; LOG(#P "r"); } \
	static void P##_close(NAL_CONNECTION *c) { (void)c; LOG(#P "p"); } \
	static int P##_pre_add(NAL_CONNECTION *c, NAL_SELECTOR *s) { (void)c; (void)s; LOG(#P "sa"); return 1; } \
	static int P##_post_add(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) \
	{ (void)c; (void)s; LOG(#P "SA"); return t != NULL && !lc_refuse_post; } \
	static void P##_pre_del(NAL_CONNECTION *c, NAL_SELECTOR *s, NAL_SELECTOR_TOKEN t) { (void)c; (void)s; (void)t; LOG(#P "sd"); } \
	static void P##_post_del(NAL_CONNECTION *c, NAL_SELECTOR *s) { (void)c; (void)s; LOG(#P "SD"); } \
	static NAL_CONNECTION_vtable P##_vt = { SIZE, P##_create, P##_destroy, P##_reset, P##_close, \
		NULL, NULL, NULL, NULL, NULL, NULL, P##_pre_add, P##_post_add, P##_pre_del, P##_post_del, \
		NULL, NULL, NULL };
static int lc_refuse_post;
LC_HOOKS(A, 32)
LC_HOOKS(B, 16)
LC_HOOKS(G, 4096)

static int all_zero(const unsigned char *p, size_t n)
{
	while (n--) if (*p++) return 0;
	return 1;
}

static int lifecycle_order(void)
{
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *d = NAL_CONNECTION_new();
	NAL_SELECTOR *sel = nal_selector_new(sel_fdpoll());
	unsigned char *vd, *vd2;
	log_clear();
	CHECK(nal_connection_get_vtdata(c) == NULL);
	CHECK_EQ(nal_connection_set_vtable(c, &A_vt), 1);
	CHECK_LOG("A+");
	CHECK(nal_connection_get_vtable(c) == &A_vt);
	vd = nal_connection_get_vtdata(c);
	CHECK(vd != NULL && all_zero(vd, 32));
	strcpy((char *)vd, "kept");
	/* re-bind while bound: reset then create; vtdata kept */
	CHECK_EQ(nal_connection_set_vtable(c, &A_vt), 1);
	CHECK_LOG("Ap Ar A+");
	CHECK(nal_connection_get_vtdata(c) == vd && !strcmp((char *)vd, "kept"));
	/* reset: unbound, vtdata stays for a re-bind to the same vtable */
	NAL_CONNECTION_reset(c);
	CHECK_LOG("Ap Ar");
	CHECK(nal_connection_get_vtable(c) == NULL);
	CHECK(nal_connection_get_vtdata(c) == vd);
	CHECK_EQ(nal_connection_set_vtable(c, &A_vt), 1);
	CHECK_LOG("A+");
	CHECK(!strcmp((char *)vd, "kept"));
	/* another vtable: the old one is destroyed and vtdata zeroed */
	CHECK_EQ(nal_connection_set_vtable(c, &B_vt), 1);
	CHECK_LOG("Ap Ar Ad B+");
	CHECK(nal_connection_get_vtdata(c) == vd && all_zero(vd, 32));
	NAL_CONNECTION_reset(c);
	CHECK_LOG("Bp Br");
	CHECK_EQ(nal_connection_set_vtable(c, &G_vt), 1);
	CHECK_LOG("Bd G+");
	vd2 = nal_connection_get_vtdata(c);
	CHECK(vd2 != NULL && all_zero(vd2, 4096)); /* a larger block */

	/* selector hooks: add, del, and a reset while attached */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 1);
	CHECK_LOG("Gsa GSA");
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 0); /* already attached */
	CHECK_LOG("");
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 1);
	NAL_CONNECTION_del_from_selector(c);
	CHECK_LOG("Gsd GSD");
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 0);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 1);
	CHECK_LOG("Gsa GSA");
	NAL_CONNECTION_reset(c);
	CHECK_LOG("Gp Gsd GSD Gr");
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 0);
	/* post_selector_add refusing: detached again, the attach fails */
	CHECK_EQ(nal_connection_set_vtable(c, &G_vt), 1);
	CHECK_LOG("G+");
	lc_refuse_post = 1;
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 0);
	CHECK_LOG("Gsa GSA Gsd GSD");
	lc_refuse_post = 0;
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 0);
	/* free while bound and attached */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, sel), 1);
	CHECK_LOG("Gsa GSA");
	NAL_CONNECTION_free(c);
	CHECK_LOG("Gp Gsd GSD Gd");
	CHECK_EQ(NAL_SELECTOR_num_objects(sel), 0);
	/* free after a reset: only the pending vtable's on_destroy */
	CHECK_EQ(nal_connection_set_vtable(d, &B_vt), 1);
	NAL_CONNECTION_reset(d);
	log_clear();
	NAL_CONNECTION_free(d);
	CHECK_LOG("Bd");
	/* a reset C-bound connection can be created as a builtin one again */
	d = NAL_CONNECTION_new();
	CHECK_EQ(nal_connection_set_vtable(d, &A_vt), 1);
	NAL_CONNECTION_reset(d);
	log_clear();
	{
		NAL_CONNECTION *peer = NAL_CONNECTION_new();
		CHECK_EQ(NAL_CONNECTION_create_pair(d, peer, 512), 1);
		CHECK_LOG("Ad");
		CHECK(nal_connection_get_vtable(d) == NAL_ADDRESS_vtable_builtins()->create_connection(NULL));
		CHECK(nal_connection_get_vtdata(d) == NULL);
		NAL_CONNECTION_free(peer);
	}
	NAL_CONNECTION_free(d);
	NAL_SELECTOR_free(sel);
	return 1;
}

/* ---- (e) refusals ------------------------------------------------------ */
static int r_create_fails(NAL_CONNECTION *c) { (void)c; LOG("F+"); return 0; }
static void r_void(NAL_CONNECTION *c) { (void)c; LOG("Fv"); }
static NAL_CONNECTION_vtable no_create_vt = { 8, NULL, r_void, r_void, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
static NAL_CONNECTION_vtable create_fails_vt = { 8, r_create_fails, r_void, r_void, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
static int rl_create(NAL_LISTENER *l) { (void)l; return 1; }
static void rl_void(NAL_LISTENER *l) { (void)l; }
static NAL_LISTENER_vtable bare_list_vt = { 0, rl_create, rl_void, rl_void, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };

/* an address type whose create_listener / create_connection give NULL,
 * and whose parse refuses "NULLVT:bad" */
static int nv_parse(NAL_ADDRESS *a, const char *s) { (void)a; LOG("Np"); return strcmp(s, "NULLVT:bad") != 0; }
static void nv_reset(NAL_ADDRESS *a) { (void)a; LOG("Nr"); }
static const NAL_LISTENER_vtable *nv_list(const NAL_ADDRESS *a) { (void)a; return NULL; }
static const NAL_CONNECTION_vtable *nv_conn(const NAL_ADDRESS *a) { (void)a; return NULL; }
static const char *nv_prefixes[] = { "NULLVT:", NULL };
static const char *dup_prefixes[] = { "DUPNAME:", NULL };
static NAL_ADDRESS_vtable nullvt_address = {
	"nullvt", 0, nv_prefixes, any_create, any_void, nv_reset, NULL,
	nv_parse, NULL, NULL, nv_list, nv_conn, NULL
};
static NAL_ADDRESS_vtable dup_address = {
	"nullvt", 0, dup_prefixes, any_create, any_void, any_void, NULL,
	nv_parse, NULL, NULL, nv_list, nv_conn, NULL
};
static NAL_ADDRESS_vtable noname_address = {
	NULL, 0, dup_prefixes, any_create, any_void, any_void, NULL,
	nv_parse, NULL, NULL, nv_list, nv_conn, NULL
};

static int refusals_binding(void)
{
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	log_clear();
	CHECK_EQ(nal_connection_set_vtable(c, NULL), 0);
	CHECK_EQ(nal_connection_set_vtable(c, &no_create_vt), 0); /* on_create is compulsory */
	CHECK_LOG("");
	CHECK_EQ(nal_connection_set_vtable(c, &create_fails_vt), 0);
	CHECK_LOG("F+");
	CHECK(nal_connection_get_vtable(c) == NULL);
	CHECK_EQ(nal_listener_set_vtable(l, NULL), 0);
	CHECK_EQ(nal_address_set_vtable(a, NULL), 0);
	/* unbound objects: every dispatching call fails without a hook */
	CHECK_EQ(NAL_CONNECTION_io(c), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_CONNECTION_is_established(c), 0);
	CHECK_EQ(NAL_CONNECTION_set_size(c, 100), 0);
	nal_connection_pre_select(c);
	nal_connection_post_select(c);
	CHECK_LOG("");
	/* a listener vtable without selector hooks: attach refused */
	CHECK_EQ(nal_listener_set_vtable(l, &bare_list_vt), 1);
	{
		NAL_SELECTOR *sel = NAL_SELECTOR_new();
		CHECK_EQ(NAL_LISTENER_add_to_selector(l, sel), 0);
		CHECK(nal_listener_pre_accept(l) == NULL);
		CHECK_EQ(NAL_LISTENER_finished(l), 0);
		CHECK_EQ(NAL_LISTENER_set_fs_perms(l, "600"), 0);
		CHECK_EQ(NAL_LISTENER_set_fs_owner(l, NULL, NULL), 0);
		nal_listener_pre_select(l); /* not attached: nothing */
		NAL_SELECTOR_free(sel);
	}
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

static int refusals_address_types(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	const NAL_ADDRESS_vtable *v;
	int n = 0;
	NAL_ADDRESS_vtable_link(&nullvt_address);
	NAL_ADDRESS_vtable_link(&nullvt_address); /* twice: skipped */
	NAL_ADDRESS_vtable_link(&dup_address);    /* same unique_name: skipped */
	NAL_ADDRESS_vtable_link(&noname_address); /* no name: skipped */
	for (v = NAL_ADDRESS_vtable_builtins(); v; v = v->next)
		if (v->unique_name && !strcmp(v->unique_name, "nullvt")) n++;
	CHECK_EQ(n, 1);
	log_clear();
	CHECK_EQ(NAL_ADDRESS_create(a, "DUPNAME:x", 0), 0);
	CHECK_LOG("");
	/* parse refusing: the address is reset and stays unused */
	CHECK_EQ(NAL_ADDRESS_create(a, "NULLVT:bad", 0), 0);
	CHECK_LOG("x Np Nr");
	CHECK(nal_address_get_vtable(a) == NULL);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0); /* no hook */
	CHECK_EQ(NAL_ADDRESS_create(a, "NULLVT:good", 0), 1);
	CHECK_EQ(NAL_ADDRESS_create(a, "NULLVT:again", 0), 0); /* already bound */
	/* create_listener / create_connection giving NULL: refused (the
	 * original crashed) */
	log_clear();
	CHECK_EQ(NAL_LISTENER_create(l, a), 0);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 0);
	CHECK(nal_listener_get_vtable(l) == NULL && nal_connection_get_vtable(c) == NULL);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 0);
	/* the builtins still parse after a reset of the C-bound address */
	NAL_ADDRESS_reset(a);
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:127.0.0.1:7", 0), 1);
	CHECK(nal_address_get_vtable(a) == NAL_ADDRESS_vtable_builtins());
	NAL_ADDRESS_free(a);
	NAL_LISTENER_free(l);
	NAL_CONNECTION_free(c);
	return 1;
}

static int cs_create(NAL_SELECTOR *s) { (void)s; LOG("S+"); return 1; }
static int cs_create_fails(NAL_SELECTOR *s) { (void)s; LOG("S+"); return 0; }
static void cs_void(NAL_SELECTOR *s) { (void)s; LOG("Sv"); }
static NAL_SELECTOR_TYPE cs_type(const NAL_SELECTOR *s) { (void)s; return NAL_SELECTOR_TYPE_CUSTOM; }
static NAL_SELECTOR_vtable custom_sel = { 16, cs_create, cs_void, cs_void, NULL, cs_type, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
static NAL_SELECTOR_vtable failing_sel = { 16, cs_create_fails, cs_void, cs_void, NULL, cs_type, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
static NAL_SELECTOR_vtable incomplete_sel = { 16, NULL, cs_void, cs_void, NULL, cs_type, NULL, NULL, NULL, NULL, NULL, NULL, NULL };

static int refusals_selectors(void)
{
	char buf[200];
	NAL_SELECTOR *dyn = NAL_SELECTOR_new(), *fp = NAL_SELECTOR_new_fdpoll(), *cs;
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
	NAL_FD_CTRL_FDSET_ARG set;
	NAL_FD_CTRL_FDTEST_ARG test;
	int arg = 7;
	log_clear();
	CHECK(nal_selector_new(&incomplete_sel) == NULL);
	CHECK(nal_selector_new(&failing_sel) == NULL);
	CHECK_LOG("S+"); /* on_create refused: no on_destroy */
	/* unknown ctrl commands and bad arguments: 0 (the original aborted) */
	CHECK_EQ(nal_selector_ctrl(fp, 0x999, &arg), 0);
	CHECK_EQ(nal_selector_ctrl(fp, NAL_SELECTOR_CTRL_CUSTOM, &arg), 0);
	CHECK_EQ(nal_selector_ctrl(fp, NAL_FD_CTRL_FDSET, NULL), 0);
	set.token = (NAL_SELECTOR_TOKEN)&arg; set.fd = 0; set.flags = NAL_FD_FLAG_READ;
	CHECK_EQ(nal_selector_ctrl(fp, NAL_FD_CTRL_FDSET, &set), 0); /* unknown token */
	test.token = (NAL_SELECTOR_TOKEN)&arg; test.fd = 0; test.flags = 0x55;
	CHECK_EQ(nal_selector_ctrl(fp, NAL_FD_CTRL_FDTEST, &test), 0);
	CHECK_EQ(test.flags, 0x55);
	CHECK_EQ(nal_selector_ctrl(dyn, NAL_FD_CTRL_FDSET, &set), 0); /* dynamic: no ctrl */
	CHECK_EQ(arg, 7);
	/* dynamic_set misuse: 0 (the original asserted) */
	CHECK_EQ(nal_selector_dynamic_set(fp, sel_fdselect()), 0);
	CHECK_EQ(nal_selector_dynamic_set(dyn, NULL), 0);
	CHECK_EQ(nal_selector_dynamic_set(dyn, nal_selector_get_vtable(dyn)), 0);
	CHECK_EQ(nal_selector_dynamic_set(dyn, &incomplete_sel), 0);
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(NAL_SELECTOR_select(dyn, 0, 1), -1); /* nothing attached */
	/* a dynamic selector becomes poll at its first attach, and is then no
	 * longer dynamic */
	CHECK(tu_link(dyn, tu_unix_addr(buf, sizeof(buf), "refuse"), 1024, l, c, s));
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK_EQ(nal_selector_dynamic_set(dyn, &custom_sel), 0);
	CHECK(tu_send_str(dyn, c, s, "still works"));
	/* a custom selector: builtin objects refuse it (not an fd type) */
	log_clear();
	cs = NAL_SELECTOR_new();
	CHECK_EQ(nal_selector_dynamic_set(cs, &custom_sel), 1);
	CHECK_LOG("S+");
	CHECK_EQ(nal_selector_dynamic_set(cs, &custom_sel), 0);
	CHECK_EQ(nal_selector_get_type(cs), NAL_SELECTOR_TYPE_CUSTOM);
	CHECK(nal_selector_get_vtable(cs) == &custom_sel);
	NAL_CONNECTION_del_from_selector(c);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, cs), 0);
	CHECK_EQ(NAL_SELECTOR_select(cs, 0, 1), -1); /* no select handler */
	CHECK_EQ(NAL_SELECTOR_num_objects(cs), 0);
	CHECK_EQ(nal_selector_ctrl(cs, NAL_FD_CTRL_FDSET, &set), 0); /* no ctrl handler */
	/* the older one-shot calls know only builtin objects and selectors */
	CHECK_EQ(NAL_SELECTOR_add_conn(cs, c), 0);
	NAL_SELECTOR_reset(cs);
	CHECK_LOG("Sv");
	NAL_SELECTOR_free(cs);
	CHECK_LOG("Sv");
	/* the connection still works on its own selector */
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c, dyn), 1);
	CHECK(tu_send_str(dyn, s, c, "after the refusals"));
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(s);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(dyn);
	NAL_SELECTOR_free(fp);
	return 1;
}

int main(void)
{
	SUITE("nal_devel");
	signal(SIGPIPE, SIG_IGN);
	if (!tu_dir_make()) { printf("FAIL nal_devel/mkdtemp\n"); return 1; }
	RUN(null_arguments_are_safe);
	RUN(builtin_vtables);
	RUN(wrapped_ip_transport);
	RUN(c_socketpair_transport);
	RUN(c_selector_wraps_poll);
	RUN(c_selector_carries_builtins);
	RUN(lifecycle_order);
	RUN(refusals_binding);
	RUN(refusals_address_types);
	RUN(refusals_selectors);
	tu_dir_remove();
	return DONE();
}
