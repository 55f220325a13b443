/* DC_PLUG over connected NAL_CONNECTION pairs: both state machines,
 * framing on the wire, corruption handling and every failure path. */
#include <distcache/dc_plug.h>
#include "harness.h"

static NAL_SELECTOR *sel;
static NAL_CONNECTION *ca, *cb;
static DC_PLUG *client, *server;

static int setup(void)
{
	sel = NAL_SELECTOR_new();
	ca = NAL_CONNECTION_new();
	cb = NAL_CONNECTION_new();
	if (!sel || !ca || !cb || !NAL_CONNECTION_create_pair(ca, cb, 4096))
		return 0;
	client = DC_PLUG_new(ca, DC_PLUG_FLAG_TO_SERVER);
	server = DC_PLUG_new(cb, 0);
	if (!client || !server)
		return 0;
	return DC_PLUG_to_select(client, sel) && DC_PLUG_to_select(server, sel);
}

static void teardown(void)
{
	DC_PLUG_free(client); /* frees ca, detaching it */
	DC_PLUG_free(server);
	NAL_SELECTOR_free(sel);
}

/* A few rounds of select + plug I/O on both ends. */
static int pump(int rounds)
{
	while (rounds-- > 0) {
		if (NAL_SELECTOR_select(sel, 20000, 1) < 0)
			return 0;
		if (!DC_PLUG_io(client) || !DC_PLUG_io(server))
			return 0;
	}
	return 1;
}

static int lifecycle_and_nulls(void)
{
	unsigned long uid;
	DC_CMD cmd;
	const unsigned char *data;
	unsigned int len;
	NAL_CONNECTION *c = NAL_CONNECTION_new();
	DC_PLUG *p;
	CHECK(DC_PLUG_new(NULL, 0) == NULL);
	CHECK_EQ(DC_PLUG_free(NULL), 0);
	CHECK_EQ(DC_PLUG_to_select(NULL, sel), 0);
	DC_PLUG_from_select(NULL);
	CHECK_EQ(DC_PLUG_io(NULL), 0);
	CHECK_EQ(DC_PLUG_read(NULL, 0, &uid, &cmd, &data, &len), 0);
	CHECK_EQ(DC_PLUG_consume(NULL), 0);
	CHECK_EQ(DC_PLUG_write(NULL, 0, 1, DC_CMD_GET, (const unsigned char *)"x", 1), 0);
	CHECK_EQ(DC_PLUG_write_more(NULL, (const unsigned char *)"x", 1), 0);
	CHECK_EQ(DC_PLUG_commit(NULL), 0);
	CHECK_EQ(DC_PLUG_rollback(NULL), 0);
	/* NOFREE_CONN: the connection survives the plug */
	p = DC_PLUG_new(c, DC_PLUG_FLAG_NOFREE_CONN);
	CHECK(p != NULL);
	CHECK_EQ(DC_PLUG_io(p), 0); /* unused connection */
	CHECK_EQ(DC_PLUG_free(p), 1);
	NAL_CONNECTION_free(c);
	return 1;
}

static int write_side(void)
{
	static unsigned char big[32769];
	CHECK_EQ(DC_PLUG_commit(client), 0);
	CHECK_EQ(DC_PLUG_rollback(client), 0);
	CHECK_EQ(DC_PLUG_write_more(client, (const unsigned char *)"x", 1), 0);
	CHECK_EQ(DC_PLUG_write(client, 0, 1, DC_CMD_ERROR, NULL, 0), 0);
	CHECK_EQ(DC_PLUG_write(client, 0, 1, (DC_CMD)5, NULL, 0), 0);
	CHECK_EQ(DC_PLUG_write(client, 0, 1, DC_CMD_ADD, NULL, 3), 0);
	CHECK_EQ(DC_PLUG_write(client, 0, 1, DC_CMD_ADD, big, 32769), 0);
	CHECK_EQ(DC_PLUG_write(client, 0, 1, DC_CMD_ADD, big, 32768), 1);
	CHECK_EQ(DC_PLUG_write_more(client, big, 1), 0); /* beyond 32768 */
	CHECK_EQ(DC_PLUG_write(client, 0, 2, DC_CMD_GET, NULL, 0), 0); /* open, no resume */
	CHECK_EQ(DC_PLUG_write(client, 1, 2, DC_CMD_GET, NULL, 0), 1); /* replaced */
	CHECK_EQ(DC_PLUG_write_more(client, NULL, 1), 0);
	CHECK_EQ(DC_PLUG_write_more(client, big, 0), 0);
	CHECK_EQ(DC_PLUG_rollback(client), 1);
	CHECK_EQ(DC_PLUG_rollback(client), 0);
	return 1;
}

static int request_and_response_on_the_wire(void)
{
	unsigned long uid = 0;
	DC_CMD cmd = DC_CMD_ERROR;
	const unsigned char *data = NULL;
	unsigned int len = 0;
	NAL_BUFFER *rb = NAL_CONNECTION_get_read(cb);
	unsigned char wire[64];
	int i;
	static const unsigned char expect[] = {
		0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x03, 0x01, 0x00, 0x05,
		'h', 'e', 'l', 'l', 'o'
	};
	/* built from two pieces */
	CHECK_EQ(DC_PLUG_write(client, 0, 42, DC_CMD_HAVE, (const unsigned char *)"he", 2), 1);
	CHECK_EQ(DC_PLUG_write_more(client, (const unsigned char *)"llo", 3), 1);
	CHECK_EQ(DC_PLUG_commit(client), 1);
	/* look at the raw bytes: take them from the server's read buffer
	 * before its plug assembles them, then put them back */
	for (i = 0; i < 10 && NAL_BUFFER_used(rb) < sizeof(expect); i++) {
		CHECK(NAL_SELECTOR_select(sel, 20000, 1) >= 0);
		CHECK(NAL_CONNECTION_io(ca));
		CHECK(NAL_CONNECTION_io(cb));
	}
	CHECK_EQ(NAL_BUFFER_used(rb), sizeof(expect));
	CHECK_EQ(NAL_BUFFER_read(rb, wire, sizeof(wire)), sizeof(expect));
	CHECK(memcmp(wire, expect, sizeof(expect)) == 0);
	CHECK_EQ(NAL_BUFFER_write(rb, wire, sizeof(expect)), sizeof(expect));
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 0); /* idle */
	CHECK(pump(1));
	CHECK_EQ(DC_PLUG_read(server, 0, NULL, &cmd, &data, &len), 0);
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 1);
	CHECK_EQ(uid, 42);
	CHECK_EQ(cmd, DC_CMD_HAVE);
	CHECK_EQ(len, 5);
	CHECK(memcmp(data, "hello", 5) == 0);
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 0); /* open */
	CHECK_EQ(DC_PLUG_read(server, 1, &uid, &cmd, &data, &len), 1); /* resume */
	CHECK_EQ(DC_PLUG_consume(server), 1);
	CHECK_EQ(DC_PLUG_consume(server), 0);
	/* empty response payload: one empty complete frame */
	CHECK_EQ(DC_PLUG_write(server, 0, 42, DC_CMD_HAVE, NULL, 0), 1);
	CHECK_EQ(DC_PLUG_commit(server), 1);
	CHECK(pump(2));
	data = NULL;
	CHECK_EQ(DC_PLUG_read(client, 0, &uid, &cmd, &data, &len), 1);
	CHECK_EQ(len, 0);
	CHECK(data != NULL);
	CHECK_EQ(DC_PLUG_consume(client), 1);
	return 1;
}

static int large_messages_fragment(void)
{
	static unsigned char big[32768];
	unsigned long uid;
	DC_CMD cmd;
	const unsigned char *data;
	unsigned int len, i;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	CHECK_EQ(DC_PLUG_write(client, 0, 7, DC_CMD_ADD, big, sizeof(big)), 1);
	CHECK_EQ(DC_PLUG_commit(client), 1);
	/* 16 frames (32992 bytes) through 4 KiB buffers */
	for (i = 0; i < 200; i++) {
		CHECK(pump(1));
		if (DC_PLUG_read(server, 0, &uid, &cmd, &data, &len))
			break;
	}
	CHECK_EQ(uid, 7);
	CHECK_EQ(cmd, DC_CMD_ADD);
	CHECK_EQ(len, sizeof(big));
	CHECK(memcmp(data, big, sizeof(big)) == 0);
	CHECK_EQ(DC_PLUG_consume(server), 1);
	return 1;
}

static int pipelined_requests_wait_their_turn(void)
{
	unsigned long uid;
	DC_CMD cmd;
	const unsigned char *data;
	unsigned int len;
	CHECK_EQ(DC_PLUG_write(client, 0, 100, DC_CMD_GET, (const unsigned char *)"a", 1), 1);
	CHECK_EQ(DC_PLUG_commit(client), 1);
	CHECK_EQ(DC_PLUG_write(client, 0, 101, DC_CMD_REMOVE, (const unsigned char *)"b", 1), 1);
	CHECK_EQ(DC_PLUG_commit(client), 1);
	CHECK(pump(3));
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 1);
	CHECK_EQ(uid, 100);
	CHECK_EQ(DC_PLUG_consume(server), 1); /* assembles the next at once */
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 1);
	CHECK_EQ(uid, 101);
	CHECK_EQ(cmd, DC_CMD_REMOVE);
	CHECK_EQ(DC_PLUG_consume(server), 1);
	return 1;
}

/* Writes raw bytes into the peer of `plug_conn` and returns what
 * DC_PLUG_io on that plug says after they arrive. */
static int io_after_raw(DC_PLUG *p, NAL_CONNECTION *writer, const unsigned char *bytes, unsigned int n)
{
	int i, ok = 1;
	NAL_BUFFER_write(NAL_CONNECTION_get_send(writer), bytes, n);
	for (i = 0; i < 3 && ok; i++) {
		NAL_SELECTOR_select(sel, 20000, 1);
		NAL_CONNECTION_io(writer);
		ok = DC_PLUG_io(p);
	}
	return ok;
}

static int corruption_is_reported_not_fatal(void)
{
	/* a foreign protocol version: detected from the first 5 bytes */
	static const unsigned char version[] = { 0x00, 0x10, 0x00, 0x00, 0x00 };
	static const unsigned char response_to_server[] = { 0x00, 0x11, 0x00, 0x00, 0x01 };
	static const unsigned char short_fragment[] = {
		0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x05
	};
	static const unsigned char foreign_patch[] = {
		0x00, 0x11, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0x00, 0x01, 'z'
	};
	const unsigned char *tests[3] = { version, response_to_server, short_fragment };
	unsigned int lens[3] = { sizeof(version), sizeof(response_to_server), sizeof(short_fragment) };
	unsigned long uid;
	DC_CMD cmd;
	const unsigned char *data;
	unsigned int len;
	int i;
	for (i = 0; i < 3; i++) {
		teardown();
		CHECK(setup());
		CHECK_EQ(io_after_raw(server, ca, tests[i], lens[i]), 0);
	}
	/* a patch level other than ours is fine */
	teardown();
	CHECK(setup());
	CHECK_EQ(io_after_raw(server, ca, foreign_patch, sizeof(foreign_patch)), 1);
	CHECK_EQ(DC_PLUG_read(server, 0, &uid, &cmd, &data, &len), 1);
	CHECK_EQ(len, 1);
	CHECK_EQ(cmd, DC_CMD_GET);
	/* the client end refuses requests */
	CHECK_EQ(io_after_raw(client, cb, foreign_patch, sizeof(foreign_patch)), 0);
	return 1;
}

static int from_select_stops_io(void)
{
	DC_PLUG_from_select(server);
	CHECK_EQ(DC_PLUG_io(server), 0);
	CHECK_EQ(DC_PLUG_to_select(server, sel), 1);
	CHECK_EQ(DC_PLUG_to_select(server, sel), 0); /* already attached */
	return 1;
}

int main(void)
{
	SUITE("dc_plug");
	if (!setup()) {
		printf("FAIL dc_plug/setup\n");
		return 1;
	}
	RUN(lifecycle_and_nulls);
	RUN(write_side);
	RUN(request_and_response_on_the_wire);
	RUN(large_messages_fragment);
	RUN(pipelined_requests_wait_their_turn);
	RUN(from_select_stops_io);
	RUN(corruption_is_reported_not_fatal);
	teardown();
	return DONE();
}
