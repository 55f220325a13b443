/* nal_devel.h (ABI.md 8): the extension API's first phase. Every function
 * exists and is safe to call with NULL, with live builtin objects and with
 * C-defined vtables; this release binds no C-defined vtable, so binding
 * calls refuse them without calling any of their hooks, the accessors
 * report "nothing bound", and the builtin objects they were called on keep
 * working. nal_selector_get_type reports the builtin selectors' real types. */
#include <signal.h>
#include "nal_testutil.h"
#include <libnal/nal_devel.h>

/* Counts every hook the library calls on the C-defined vtables below. */
static int hook_calls;

static int addr_on_create(NAL_ADDRESS *a) { (void)a; hook_calls++; return 1; }
static void addr_on_void(NAL_ADDRESS *a) { (void)a; hook_calls++; }
static int addr_parse(NAL_ADDRESS *a, const char *s) { (void)a; (void)s; hook_calls++; return 1; }
static int addr_can(const NAL_ADDRESS *a) { (void)a; hook_calls++; return 1; }
static const char *test_prefixes[] = { "DEVTEST:", NULL };
static NAL_ADDRESS_vtable test_address_vtable = {
	"devtest", 16, test_prefixes, addr_on_create, addr_on_void, addr_on_void, addr_on_void,
	addr_parse, addr_can, addr_can, NULL, NULL, NULL
};

static int list_on_create(NAL_LISTENER *l) { (void)l; hook_calls++; return 1; }
static void list_on_void(NAL_LISTENER *l) { (void)l; hook_calls++; }
static const NAL_LISTENER_vtable test_listener_vtable = {
	16, list_on_create, list_on_void, list_on_void, list_on_void,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

static int conn_on_create(NAL_CONNECTION *c) { (void)c; hook_calls++; return 1; }
static void conn_on_void(NAL_CONNECTION *c) { (void)c; hook_calls++; }
static const NAL_CONNECTION_vtable test_connection_vtable = {
	16, conn_on_create, conn_on_void, conn_on_void, conn_on_void,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

static int sel_on_create(NAL_SELECTOR *s) { (void)s; hook_calls++; return 1; }
static void sel_on_void(NAL_SELECTOR *s) { (void)s; hook_calls++; }
static NAL_SELECTOR_TYPE sel_type(const NAL_SELECTOR *s) { (void)s; hook_calls++; return NAL_SELECTOR_TYPE_CUSTOM; }
static int sel_ctrl(NAL_SELECTOR *s, int cmd, void *arg) { (void)s; (void)cmd; (void)arg; hook_calls++; return 1; }
static const NAL_SELECTOR_vtable test_selector_vtable = {
	16, sel_on_create, sel_on_void, sel_on_void, sel_on_void, sel_type,
	NULL, NULL, NULL, NULL, NULL, NULL, sel_ctrl
};

static int null_arguments_are_safe(void)
{
	NAL_SELECTOR_TOKEN tok = (NAL_SELECTOR_TOKEN)&hook_calls;
	hook_calls = 0;
	CHECK_EQ(nal_address_set_vtable(NULL, &test_address_vtable), 0);
	CHECK(nal_address_get_vtable(NULL) == NULL);
	CHECK(nal_address_get_vtdata(NULL) == NULL);
	CHECK(nal_address_get_listener(NULL) == NULL);
	CHECK(nal_address_get_connection(NULL) == NULL);
	CHECK_EQ(nal_listener_set_vtable(NULL, &test_listener_vtable), 0);
	CHECK(nal_listener_get_vtable(NULL) == NULL);
	CHECK(nal_listener_get_vtdata(NULL) == NULL);
	CHECK(nal_listener_pre_accept(NULL) == NULL);
	nal_listener_pre_select(NULL);
	nal_listener_post_select(NULL);
	CHECK(nal_listener_get_selector(NULL, &tok) == NULL);
	CHECK(nal_listener_get_selector(NULL, NULL) == NULL);
	nal_listener_set_selector_raw(NULL, NULL, NAL_SELECTOR_TOKEN_NULL);
	CHECK_EQ(nal_connection_set_vtable(NULL, &test_connection_vtable), 0);
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
	CHECK_EQ(nal_selector_dynamic_set(NULL, &test_selector_vtable), 0);
	CHECK(tok == (NAL_SELECTOR_TOKEN)&hook_calls); /* never written */
	CHECK_EQ(hook_calls, 0);
	return 1;
}

/* Phase one exposes no builtin vtable: the list of address types is empty
 * and the select/poll selector vtables are unavailable (ABI.md 8.7 allows
 * NULL), so nal_selector_new has nothing to build from. */
static int builtin_vtables_are_not_exposed(void)
{
	CHECK(NAL_ADDRESS_vtable_builtins() == NULL);
	CHECK(sel_fdselect() == NULL);
	CHECK(sel_fdpoll() == NULL);
	CHECK(nal_selector_new(sel_fdpoll()) == NULL);
	return 1;
}

/* A linked C address type is not consulted: its prefix does not parse, no
 * hook runs, and the builtin prefixes still do. */
static int linked_address_type_is_not_used(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	hook_calls = 0;
	CHECK(a != NULL);
	NAL_ADDRESS_vtable_link(&test_address_vtable);
	CHECK(test_address_vtable.next == NULL); /* the caller's table is left as it was */
	CHECK(NAL_ADDRESS_vtable_builtins() == NULL);
	CHECK_EQ(NAL_ADDRESS_create(a, "DEVTEST:anything", 0), 0);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 0);
	CHECK_EQ(NAL_ADDRESS_create(a, "IP:127.0.0.1:9001", 0), 1);
	CHECK_EQ(NAL_ADDRESS_can_connect(a), 1);
	CHECK_EQ(hook_calls, 0);
	NAL_ADDRESS_free(a);
	return 1;
}

/* Binding a created address to a C vtable is refused and leaves it as it
 * was; the accessors report nothing bound. */
static int address_refuses_c_vtable(void)
{
	NAL_ADDRESS *a = NAL_ADDRESS_new(), *u = NAL_ADDRESS_new();
	hook_calls = 0;
	CHECK_EQ(NAL_ADDRESS_create(a, "UNIX:/tmp/devtest.sock", 0), 1);
	CHECK_EQ(nal_address_set_vtable(a, &test_address_vtable), 0);
	CHECK_EQ(nal_address_set_vtable(u, &test_address_vtable), 0);
	CHECK_EQ(nal_address_set_vtable(a, NULL), 0);
	CHECK(nal_address_get_vtable(a) == NULL);
	CHECK(nal_address_get_vtdata(a) == NULL);
	CHECK(nal_address_get_listener(a) == NULL);
	CHECK(nal_address_get_connection(a) == NULL);
	CHECK(nal_address_get_vtable(u) == NULL);
	CHECK_EQ(NAL_ADDRESS_can_listen(a), 1); /* still the unix address */
	CHECK_EQ(NAL_ADDRESS_can_listen(u), 0);
	CHECK_EQ(hook_calls, 0);
	NAL_ADDRESS_free(a);
	NAL_ADDRESS_free(u);
	return 1;
}

/* On a live, attached listener and connections every listener and
 * connection helper is safe, refuses or reports nothing, and the objects
 * still accept and carry data afterwards. */
static int live_objects_survive_every_helper(void)
{
	char buf[200];
	NAL_SELECTOR *sel = NAL_SELECTOR_new(), *other = NAL_SELECTOR_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
	NAL_CONNECTION *c2 = NAL_CONNECTION_new(), *s2 = NAL_CONNECTION_new();
	NAL_ADDRESS *addr = NAL_ADDRESS_new();
	NAL_SELECTOR_TOKEN tok = (NAL_SELECTOR_TOKEN)&hook_calls;
	int i;
	hook_calls = 0;
	CHECK(tu_link(sel, tu_unix_addr(buf, sizeof(buf), "devel"), 4096, l, c, s));

	CHECK_EQ(nal_listener_set_vtable(l, &test_listener_vtable), 0);
	CHECK_EQ(nal_listener_set_vtable(l, NULL), 0);
	CHECK(nal_listener_get_vtable(l) == NULL);
	CHECK(nal_listener_get_vtdata(l) == NULL);
	CHECK(nal_listener_pre_accept(l) == NULL);
	nal_listener_pre_select(l);
	nal_listener_post_select(l);
	CHECK(nal_listener_get_selector(l, &tok) == NULL);
	nal_listener_set_selector_raw(l, other, tok);

	for (i = 0; i < 2; i++) {
		NAL_CONNECTION *x = i ? s : c;
		CHECK_EQ(nal_connection_set_vtable(x, &test_connection_vtable), 0);
		CHECK_EQ(nal_connection_set_vtable(x, NULL), 0);
		CHECK(nal_connection_get_vtable(x) == NULL);
		CHECK(nal_connection_get_vtdata(x) == NULL);
		nal_connection_pre_select(x);
		nal_connection_post_select(x);
		CHECK(nal_connection_get_selector(x, &tok) == NULL);
		nal_connection_set_selector_raw(x, other, tok);
	}
	CHECK(tok == (NAL_SELECTOR_TOKEN)&hook_calls);
	CHECK_EQ(hook_calls, 0);
	CHECK_EQ(NAL_SELECTOR_num_objects(other), 0);

	/* data both ways on the first pair, and a second connection accepted */
	CHECK(tu_send_str(sel, c, s, "after the extension calls"));
	CHECK(tu_send_str(sel, s, c, "and back"));
	CHECK_EQ(NAL_ADDRESS_create(addr, buf, 4096), 1);
	CHECK_EQ(NAL_CONNECTION_create(c2, addr), 1);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(c2, sel), 1);
	for (i = 0; i < TU_MAX_ROUNDS && !NAL_CONNECTION_accept(s2, l); i++) {
		CHECK(NAL_SELECTOR_select(sel, TU_ROUND_USEC, 1) >= 0);
		CHECK_EQ(NAL_CONNECTION_io(c2), 1);
	}
	CHECK(i < TU_MAX_ROUNDS);
	CHECK_EQ(NAL_CONNECTION_add_to_selector(s2, sel), 1);
	CHECK(tu_send_str(sel, c2, s2, "second"));

	NAL_ADDRESS_free(addr);
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(s);
	NAL_CONNECTION_free(c2);
	NAL_CONNECTION_free(s2);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(sel);
	NAL_SELECTOR_free(other);
	return 1;
}

/* Unused listener and connection objects refuse a C vtable too and stay
 * usable for an ordinary create. */
static int unused_objects_refuse_c_vtables(void)
{
	char buf[200];
	NAL_ADDRESS *a = NAL_ADDRESS_new();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	hook_calls = 0;
	CHECK_EQ(nal_listener_set_vtable(l, &test_listener_vtable), 0);
	CHECK_EQ(nal_connection_set_vtable(c, &test_connection_vtable), 0);
	CHECK(nal_listener_get_vtable(l) == NULL);
	CHECK(nal_connection_get_vtable(c) == NULL);
	CHECK_EQ(NAL_LISTENER_finished(l), 0);
	CHECK(NAL_CONNECTION_get_read(c) == NULL);
	CHECK_EQ(NAL_ADDRESS_create(a, tu_unix_addr(buf, sizeof(buf), "devel-unused"), 0), 1);
	CHECK_EQ(NAL_LISTENER_create(l, a), 1);
	CHECK_EQ(NAL_CONNECTION_create(c, a), 1);
	CHECK(NAL_CONNECTION_get_read(c) != NULL);
	CHECK_EQ(hook_calls, 0);
	NAL_CONNECTION_free(c);
	NAL_LISTENER_free(l);
	NAL_ADDRESS_free(a);
	return 1;
}

/* Selectors: the real type of each builtin kind; no C vtable is taken,
 * no ctrl command is understood (the original aborted on unknown ones),
 * and a dynamic selector refused a vtable still works. */
static int selector_helpers(void)
{
	char buf[200];
	NAL_SELECTOR *dyn = NAL_SELECTOR_new(), *fs = NAL_SELECTOR_new_fdselect(), *fp = NAL_SELECTOR_new_fdpoll();
	NAL_LISTENER *l = NAL_LISTENER_new();
	NAL_CONNECTION *c = NAL_CONNECTION_new(), *s = NAL_CONNECTION_new();
	int arg = 7;
	hook_calls = 0;
	CHECK(dyn != NULL && fs != NULL && fp != NULL);
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(nal_selector_get_type(fs), NAL_SELECTOR_TYPE_FDSELECT);
	CHECK_EQ(nal_selector_get_type(fp), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK(nal_selector_new(&test_selector_vtable) == NULL);
	CHECK(nal_selector_get_vtable(dyn) == NULL);
	CHECK(nal_selector_get_vtdata(fp) == NULL);
	CHECK_EQ(nal_selector_ctrl(fs, NAL_SELECTOR_CTRL_FD, &arg), 0);
	CHECK_EQ(nal_selector_ctrl(fp, NAL_SELECTOR_CTRL_FD + 1, NULL), 0);
	CHECK_EQ(nal_selector_ctrl(dyn, NAL_SELECTOR_CTRL_CUSTOM, &arg), 0);
	CHECK_EQ(nal_selector_ctrl(dyn, -1, NULL), 0);
	CHECK_EQ(arg, 7);
	CHECK_EQ(nal_selector_dynamic_set(dyn, &test_selector_vtable), 0);
	CHECK_EQ(nal_selector_dynamic_set(dyn, NULL), 0);
	CHECK_EQ(nal_selector_dynamic_set(fp, &test_selector_vtable), 0);
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_DYNAMIC);
	CHECK_EQ(hook_calls, 0);
	/* the refused dynamic selector becomes poll on its first attach */
	CHECK(tu_link(dyn, tu_unix_addr(buf, sizeof(buf), "devel-sel"), 1024, l, c, s));
	CHECK_EQ(nal_selector_get_type(dyn), NAL_SELECTOR_TYPE_FDPOLL);
	CHECK(tu_send_str(dyn, c, s, "dynamic"));
	NAL_CONNECTION_free(c);
	NAL_CONNECTION_free(s);
	NAL_LISTENER_free(l);
	NAL_SELECTOR_free(dyn);
	NAL_SELECTOR_free(fs);
	NAL_SELECTOR_free(fp);
	return 1;
}

int main(void)
{
	SUITE("nal_devel");
	signal(SIGPIPE, SIG_IGN);
	if (!tu_dir_make()) { printf("FAIL nal_devel/mkdtemp\n"); return 1; }
	RUN(null_arguments_are_safe);
	RUN(builtin_vtables_are_not_exposed);
	RUN(linked_address_type_is_not_used);
	RUN(address_refuses_c_vtable);
	RUN(live_objects_survive_every_helper);
	RUN(unused_objects_refuse_c_vtables);
	RUN(selector_helpers);
	tu_dir_remove();
	return DONE();
}
