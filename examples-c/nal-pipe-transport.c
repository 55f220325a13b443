/* A minimal libnal transport written in C (see docs/nal_devel.md).
 *
 * "PIPE:<name>" addresses connect to themselves through a pipe(2): what a
 * connection sends comes back into its own read buffer. The transport keeps
 * its state in the vtdata libnal allocates for it, registers its two
 * descriptors with whatever fd selector it is attached to (the fd control
 * protocol, NAL_FD_CTRL_FDSET / NAL_FD_CTRL_FDTEST), and is driven by the
 * ordinary API: NAL_ADDRESS_create, NAL_CONNECTION_create,
 * NAL_CONNECTION_add_to_selector, NAL_SELECTOR_select, NAL_CONNECTION_io.
 *
 *   nal-pipe-transport            prints what came back, exits 0 on success
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libnal/nal.h>
#include <libnal/nal_devel.h>

/* ---- the connection: two descriptors and two buffers ---- */
struct pipe_conn {
	int rfd, wfd;           /* stored +1, so the zeroed vtdata means "none" */
	NAL_BUFFER *rd, *wr;
	unsigned char results;  /* what the last select said, per FDTEST */
};
#define PC(c) ((struct pipe_conn *)nal_connection_get_vtdata(c))

static int pc_on_create(NAL_CONNECTION *c)
{
	struct pipe_conn *p = PC(c);
	if (!p->rd) { /* vtdata survives a reset + re-bind: keep the buffers */
		p->rd = NAL_BUFFER_new();
		p->wr = NAL_BUFFER_new();
	}
	return p->rd && p->wr;
}
static void pc_close(NAL_CONNECTION *c)
{
	struct pipe_conn *p = PC(c);
	if (p->rfd) close(p->rfd - 1);
	if (p->wfd) close(p->wfd - 1);
	p->rfd = p->wfd = 0;
}
static void pc_on_reset(NAL_CONNECTION *c)
{
	pc_close(c);
	NAL_BUFFER_reset(PC(c)->rd);
	NAL_BUFFER_reset(PC(c)->wr);
}
static void pc_on_destroy(NAL_CONNECTION *c)
{
	pc_close(c);
	NAL_BUFFER_free(PC(c)->rd);
	NAL_BUFFER_free(PC(c)->wr);
}
static int pc_connect(NAL_CONNECTION *c, const NAL_ADDRESS *a)
{
	struct pipe_conn *p = PC(c);
	unsigned int size = NAL_ADDRESS_get_def_buffer_size(a);
	int fds[2];
	if (pipe(fds) != 0) return 0;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	p->rfd = fds[0] + 1;
	p->wfd = fds[1] + 1;
	if (!size) size = 4096;
	return NAL_BUFFER_set_size(p->rd, size) && NAL_BUFFER_set_size(p->wr, size);
}
static NAL_BUFFER *pc_get_read(const NAL_CONNECTION *c) { return PC(c)->rd; }
static NAL_BUFFER *pc_get_send(const NAL_CONNECTION *c) { return PC(c)->wr; }
static int pc_established(const NAL_CONNECTION *c) { return PC(c)->rfd != 0; }

/* Any fd selector will do; a fresh NAL_SELECTOR_new() one becomes poll. */
static int pc_pre_selector_add(NAL_CONNECTION *c, NAL_SELECTOR *sel)
{
	(void)c;
	switch (nal_selector_get_type(sel)) {
	case NAL_SELECTOR_TYPE_FDSELECT:
	case NAL_SELECTOR_TYPE_FDPOLL: return 1;
	case NAL_SELECTOR_TYPE_DYNAMIC: return nal_selector_dynamic_set(sel, sel_fdpoll());
	default: return 0;
	}
}
static void pc_post_selector_del(NAL_CONNECTION *c, NAL_SELECTOR *sel) { (void)c; (void)sel; }

/* Before the wait: say which descriptors to watch for what. */
static void pc_pre_select(NAL_CONNECTION *c, NAL_SELECTOR *sel, NAL_SELECTOR_TOKEN tok)
{
	struct pipe_conn *p = PC(c);
	NAL_FD_CTRL_FDSET_ARG set;
	set.token = tok;
	set.fd = p->rfd - 1;
	set.flags = NAL_BUFFER_notfull(p->rd) ? NAL_FD_FLAG_READ : 0;
	nal_selector_ctrl(sel, NAL_FD_CTRL_FDSET, &set);
	set.fd = p->wfd - 1;
	set.flags = NAL_BUFFER_notempty(p->wr) ? NAL_FD_FLAG_SEND : 0;
	nal_selector_ctrl(sel, NAL_FD_CTRL_FDSET, &set);
}
/* After the wait: collect what happened. */
static void pc_post_select(NAL_CONNECTION *c, NAL_SELECTOR *sel, NAL_SELECTOR_TOKEN tok)
{
	struct pipe_conn *p = PC(c);
	NAL_FD_CTRL_FDTEST_ARG test;
	p->results = 0;
	test.token = tok;
	test.fd = p->rfd - 1;
	test.flags = 0;
	if (nal_selector_ctrl(sel, NAL_FD_CTRL_FDTEST, &test)) p->results |= test.flags & NAL_FD_FLAG_READ;
	test.fd = p->wfd - 1;
	test.flags = 0;
	if (nal_selector_ctrl(sel, NAL_FD_CTRL_FDTEST, &test)) p->results |= test.flags & NAL_FD_FLAG_SEND;
}
/* NAL_CONNECTION_io: move bytes the last select allows. */
static int pc_do_io(NAL_CONNECTION *c)
{
	struct pipe_conn *p = PC(c);
	ssize_t n;
	if ((p->results & NAL_FD_FLAG_READ) && NAL_BUFFER_notfull(p->rd)) {
		n = read(p->rfd - 1, NAL_BUFFER_write_ptr(p->rd), NAL_BUFFER_unused(p->rd));
		if (n > 0) NAL_BUFFER_wrote(p->rd, (unsigned int)n);
		else if (n == 0 || errno != EAGAIN) return 0;
	}
	if ((p->results & NAL_FD_FLAG_SEND) && NAL_BUFFER_notempty(p->wr)) {
		n = write(p->wfd - 1, NAL_BUFFER_data(p->wr), NAL_BUFFER_used(p->wr));
		if (n > 0) NAL_BUFFER_read(p->wr, NULL, (unsigned int)n);
		else if (n < 0 && errno != EAGAIN) return 0;
	}
	p->results = 0;
	return 1;
}

static const NAL_CONNECTION_vtable pipe_connection = {
	sizeof(struct pipe_conn),
	pc_on_create, pc_on_destroy, pc_on_reset, NULL /* pre_close */,
	pc_connect, NULL /* accept: nothing listens */, NULL /* set_size */,
	pc_get_read, pc_get_send, pc_established,
	pc_pre_selector_add, NULL, NULL, pc_post_selector_del,
	pc_pre_select, pc_post_select, pc_do_io
};

/* ---- the address type: "PIPE:<name>" connects, nothing listens ---- */
static int pa_on_create(NAL_ADDRESS *a) { (void)a; return 1; }
static void pa_nothing(NAL_ADDRESS *a) { (void)a; }
static int pa_parse(NAL_ADDRESS *a, const char *s) { (void)a; return strncmp(s, "PIPE:", 5) == 0; }
static int pa_yes(const NAL_ADDRESS *a) { (void)a; return 1; }
static int pa_no(const NAL_ADDRESS *a) { (void)a; return 0; }
static const NAL_CONNECTION_vtable *pa_connection(const NAL_ADDRESS *a) { (void)a; return &pipe_connection; }
static const char *pipe_prefixes[] = { "PIPE:", NULL };
static NAL_ADDRESS_vtable pipe_address = {
	"example_pipe", 0, pipe_prefixes,
	pa_on_create, pa_nothing, pa_nothing, NULL,
	pa_parse, pa_yes, pa_no, NULL /* create_listener */, pa_connection, NULL
};

int main(void)
{
	const char msg[] = "hello through a C transport";
	char got[64] = "";
	NAL_ADDRESS *addr;
	NAL_CONNECTION *conn;
	NAL_SELECTOR *sel;
	int i, ok = 0;

	NAL_ADDRESS_vtable_link(&pipe_address); /* "PIPE:" now parses */
	addr = NAL_ADDRESS_new();
	conn = NAL_CONNECTION_new();
	sel = NAL_SELECTOR_new();
	if (!NAL_ADDRESS_create(addr, "PIPE:loop", 1024) || !NAL_CONNECTION_create(conn, addr) ||
			!NAL_CONNECTION_add_to_selector(conn, sel)) {
		fprintf(stderr, "nal-pipe-transport: could not set up the PIPE: connection\n");
		return 1;
	}
	NAL_BUFFER_write(NAL_CONNECTION_get_send(conn), (const unsigned char *)msg, sizeof(msg) - 1);
	for (i = 0; i < 100 && NAL_BUFFER_used(NAL_CONNECTION_get_read(conn)) < sizeof(msg) - 1; i++) {
		if (NAL_SELECTOR_select(sel, 100000, 1) < 0 || !NAL_CONNECTION_io(conn)) break;
	}
	NAL_BUFFER_read(NAL_CONNECTION_get_read(conn), (unsigned char *)got, sizeof(got) - 1);
	ok = strcmp(got, msg) == 0;
	printf("%s: \"%s\"\n", ok ? "came back" : "FAILED, got", got);
	NAL_CONNECTION_free(conn);
	NAL_ADDRESS_free(addr);
	NAL_SELECTOR_free(sel);
	return ok ? 0 : 1;
}
