/* DC_SERVER with the builtin cache and with a cache written in C, driven
 * through connection pairs: in-server and caller-driven clients, the
 * NOFREE flag, operation counters, replies and failure paths. */
#include <distcache/dc_plug.h>
#include <distcache/dc_server.h>
#include "harness.h"

/* ---- a tiny cache in C that counts every call ---- */
struct st_DC_CACHE {
	unsigned int max;
	unsigned int n;
	unsigned char ids[8][64];
	unsigned int id_lens[8];
	unsigned char data[8][256];
	unsigned int data_lens[8];
};
static int calls_new, calls_free, calls_add, calls_get, calls_remove, calls_have, calls_num;
static unsigned long last_timeout;

static DC_CACHE *my_new(unsigned int max)
{
	DC_CACHE *c;
	calls_new++;
	if (max == 13)
		return NULL; /* lets a test see DC_SERVER_new fail */
	c = calloc(1, sizeof(*c));
	c->max = max;
	return c;
}
static void my_free(DC_CACHE *c)
{
	calls_free++;
	free(c);
}
static int my_find(DC_CACHE *c, const unsigned char *id, unsigned int len)
{
	unsigned int i;
	for (i = 0; i < c->n; i++)
		if (c->id_lens[i] == len && memcmp(c->ids[i], id, len) == 0)
			return (int)i;
	return -1;
}
static int my_add(DC_CACHE *c, const struct timeval *now, unsigned long timeout, const unsigned char *id,
		  unsigned int id_len, const unsigned char *data, unsigned int data_len)
{
	calls_add++;
	last_timeout = timeout;
	if (!now || c->n == 8 || data_len > 256 || my_find(c, id, id_len) >= 0)
		return 0;
	memcpy(c->ids[c->n], id, id_len);
	c->id_lens[c->n] = id_len;
	memcpy(c->data[c->n], data, data_len);
	c->data_lens[c->n] = data_len;
	c->n++;
	return 1;
}
static unsigned int my_get(DC_CACHE *c, const struct timeval *now, const unsigned char *id, unsigned int id_len,
			   unsigned char *store, unsigned int size)
{
	int i = my_find(c, id, id_len);
	calls_get++;
	(void)now;
	if (i < 0)
		return 0;
	if (store)
		memcpy(store, c->data[i], c->data_lens[i] < size ? c->data_lens[i] : size);
	return c->data_lens[i];
}
static int my_remove(DC_CACHE *c, const struct timeval *now, const unsigned char *id, unsigned int id_len)
{
	int i = my_find(c, id, id_len);
	calls_remove++;
	(void)now;
	if (i < 0)
		return 0;
	c->n--;
	memmove(c->ids[i], c->ids[c->n], sizeof(c->ids[0]));
	c->id_lens[i] = c->id_lens[c->n];
	memmove(c->data[i], c->data[c->n], sizeof(c->data[0]));
	c->data_lens[i] = c->data_lens[c->n];
	return 1;
}
static int my_have(DC_CACHE *c, const struct timeval *now, const unsigned char *id, unsigned int id_len)
{
	calls_have++;
	(void)now;
	return my_find(c, id, id_len) >= 0;
}
static unsigned int my_num(DC_CACHE *c, const struct timeval *now)
{
	calls_num++;
	(void)now;
	return c->n;
}
static const DC_CACHE_cb my_cache = { my_new, my_free, my_add, my_get, my_remove, my_have, my_num };

/* ---- plumbing: a client plug talking to a server client over a pair ---- */
static NAL_SELECTOR *sel;
static DC_SERVER *srv;
static NAL_CONNECTION *ca, *cb;
static DC_PLUG *cp;
static DC_CLIENT *sc;
static struct timeval now = { 1000, 0 };

static int connect_client(unsigned int flags)
{
	ca = NAL_CONNECTION_new();
	cb = NAL_CONNECTION_new();
	if (!NAL_CONNECTION_create_pair(ca, cb, 4096))
		return 0;
	cp = DC_PLUG_new(ca, DC_PLUG_FLAG_TO_SERVER);
	if (!cp || !DC_PLUG_to_select(cp, sel) || !NAL_CONNECTION_add_to_selector(cb, sel))
		return 0;
	sc = DC_SERVER_new_client(srv, cb, flags);
	return sc != NULL;
}

/* Drives one round; caller-driven clients get connection I/O and
 * DC_SERVER_process_client here. Returns 0 when the server side failed. */
static int round_trip(int in_server)
{
	NAL_SELECTOR_select(sel, 20000, 1);
	if (!DC_PLUG_io(cp))
		return 0;
	if (in_server)
		return DC_SERVER_clients_io(srv, &now);
	return NAL_CONNECTION_io(cb) && DC_SERVER_process_client(sc, &now);
}

/* Sends one request and returns the reply payload length (-1 on failure),
 * copying up to `cap` payload bytes. */
static int ask(int in_server, DC_CMD cmd, const void *payload, unsigned int len, unsigned char *reply, unsigned int cap)
{
	static unsigned long uid = 1;
	unsigned long ruid;
	DC_CMD rcmd;
	const unsigned char *data;
	unsigned int rlen;
	int i;
	uid++;
	if (!DC_PLUG_write(cp, 0, uid, cmd, (const unsigned char *)payload, len) || !DC_PLUG_commit(cp))
		return -1;
	for (i = 0; i < 100; i++) {
		if (!round_trip(in_server))
			return -1;
		if (DC_PLUG_read(cp, 0, &ruid, &rcmd, &data, &rlen)) {
			if (ruid != uid || rcmd != cmd)
				return -1;
			memcpy(reply, data, rlen < cap ? rlen : cap);
			DC_PLUG_consume(cp);
			return (int)rlen;
		}
	}
	return -1;
}

static unsigned int add_payload(unsigned char *p, unsigned long timeout, const char *id, unsigned int id_len,
				const char *data, unsigned int data_len)
{
	p[0] = (unsigned char)(timeout >> 24);
	p[1] = (unsigned char)(timeout >> 16);
	p[2] = (unsigned char)(timeout >> 8);
	p[3] = (unsigned char)timeout;
	p[4] = (unsigned char)(id_len >> 24);
	p[5] = (unsigned char)(id_len >> 16);
	p[6] = (unsigned char)(id_len >> 8);
	p[7] = (unsigned char)id_len;
	memcpy(p + 8, id, id_len);
	memcpy(p + 8 + id_len, data, data_len);
	return 8 + id_len + data_len;
}

static int no_cache_selected_and_nulls(void)
{
	/* nothing selected yet in this process */
	CHECK(DC_SERVER_new(512) == NULL);
	CHECK_EQ(DC_SERVER_set_cache(NULL), 0);
	{
		DC_CACHE_cb partial = my_cache;
		partial.cache_have = NULL;
		CHECK_EQ(DC_SERVER_set_cache(&partial), 0);
	}
	CHECK(DC_SERVER_new(512) == NULL);
	DC_SERVER_free(NULL);
	CHECK_EQ(DC_SERVER_items_stored(NULL, &now), 0);
	DC_SERVER_reset_operations(NULL);
	CHECK_EQ(DC_SERVER_num_operations(NULL), 0);
	CHECK(DC_SERVER_new_client(NULL, NULL, 0) == NULL);
	CHECK_EQ(DC_SERVER_del_client(NULL), 0);
	CHECK_EQ(DC_SERVER_process_client(NULL, &now), 0);
	CHECK_EQ(DC_SERVER_clients_io(NULL, &now), 0);
	CHECK_EQ(DC_SERVER_clients_empty(NULL), 1);
	return 1;
}

static int builtin_cache_replies(void)
{
	unsigned char p[40000], r[40000];
	unsigned int n, i;
	int mode;
	CHECK_EQ(DC_SERVER_set_default_cache(), 1);
	CHECK(DC_SERVER_new(63) == NULL);
	CHECK(DC_SERVER_new(60001) == NULL);
	srv = DC_SERVER_new(64);
	CHECK(srv != NULL);
	CHECK_EQ(DC_SERVER_clients_empty(srv), 1);
	for (mode = 0; mode < 2; mode++) {
		int in = mode == 0;
		CHECK(connect_client(in ? DC_CLIENT_FLAG_IN_SERVER : 0));
		CHECK_EQ(DC_SERVER_clients_empty(srv), 0);
		DC_SERVER_reset_operations(srv);
		n = add_payload(p, 60000, in ? "k1" : "k2", 2, "value", 5);
		CHECK_EQ(ask(in, DC_CMD_ADD, p, n, r, 1), 1);
		CHECK_EQ(r[0], 0);
		CHECK_EQ(ask(in, DC_CMD_ADD, p, n, r, 1), 1);
		CHECK_EQ(r[0], 101); /* duplicate */
		n = add_payload(p, 604800001UL, "t", 1, "v", 1);
		CHECK_EQ(ask(in, DC_CMD_ADD, p, n, r, 1), 1);
		CHECK_EQ(r[0], 102);
		n = add_payload(p, 1000, "abc", 3, "", 0); /* no data byte left */
		CHECK_EQ(ask(in, DC_CMD_ADD, p, n, r, 1), 1);
		CHECK_EQ(r[0], 100);
		memset(p + 200, 'x', 65);
		n = add_payload(p, 1000, (const char *)p + 200, 65, "v", 1);
		CHECK_EQ(ask(in, DC_CMD_ADD, p, n, r, 1), 1);
		CHECK_EQ(r[0], 103);
		CHECK_EQ(ask(in, DC_CMD_GET, in ? "k1" : "k2", 2, r, sizeof(r)), 5);
		CHECK(memcmp(r, "value", 5) == 0);
		CHECK_EQ(ask(in, DC_CMD_GET, "zz", 2, r, sizeof(r)), 1);
		CHECK_EQ(r[0], 1);
		CHECK_EQ(ask(in, DC_CMD_HAVE, in ? "k1" : "k2", 2, r, 1), 1);
		CHECK_EQ(r[0], 0);
		CHECK_EQ(ask(in, DC_CMD_REMOVE, in ? "k1" : "k2", 2, r, 1), 1);
		CHECK_EQ(r[0], 0);
		CHECK_EQ(ask(in, DC_CMD_REMOVE, in ? "k1" : "k2", 2, r, 1), 1);
		CHECK_EQ(r[0], 1);
		CHECK_EQ(ask(in, DC_CMD_HAVE, "", 0, r, 1), 1); /* empty id: a miss */
		CHECK_EQ(r[0], 1);
		CHECK_EQ(DC_SERVER_num_operations(srv), 11);
		/* a large session comes back in 16 frames */
		for (i = 0; i < 32759; i++)
			p[9 + i] = (unsigned char)i;
		p[0] = 0; p[1] = 0; p[2] = 0x03; p[3] = 0xe8;
		p[4] = 0; p[5] = 0; p[6] = 0; p[7] = 1; p[8] = 'B';
		CHECK_EQ(ask(in, DC_CMD_ADD, p, 32768, r, 1), 1);
		CHECK_EQ(r[0], 0);
		CHECK_EQ(ask(in, DC_CMD_GET, "B", 1, r, sizeof(r)), 32759);
		CHECK(memcmp(r, p + 9, 32759) == 0);
		CHECK_EQ(ask(in, DC_CMD_REMOVE, "B", 1, r, 1), 1);
		CHECK_EQ(DC_SERVER_del_client(sc), 1);
		CHECK_EQ(DC_PLUG_free(cp), 1);
	}
	CHECK_EQ(DC_SERVER_clients_empty(srv), 1);
	DC_SERVER_free(srv);
	return 1;
}

static int expiry_and_items_stored(void)
{
	unsigned char p[100], r[8];
	unsigned int n;
	struct timeval later;
	srv = DC_SERVER_new(64);
	CHECK(srv != NULL);
	CHECK(connect_client(DC_CLIENT_FLAG_IN_SERVER));
	n = add_payload(p, 100, "short", 5, "data", 4);
	CHECK_EQ(ask(1, DC_CMD_ADD, p, n, r, 1), 1);
	n = add_payload(p, 0, "zero", 4, "data", 4);
	CHECK_EQ(ask(1, DC_CMD_ADD, p, n, r, 1), 1);
	CHECK_EQ(r[0], 0);
	CHECK_EQ(DC_SERVER_items_stored(srv, &now), 2);
	later = now;
	later.tv_usec = 100000; /* exactly the expiry of "short": still live */
	CHECK_EQ(DC_SERVER_items_stored(srv, &later), 1);
	later.tv_usec = 100001;
	CHECK_EQ(DC_SERVER_items_stored(srv, &later), 0);
	CHECK_EQ(DC_SERVER_items_stored(srv, NULL), 0);
	/* DC_SERVER_free destroys the remaining client and its connection */
	DC_SERVER_free(srv);
	DC_PLUG_free(cp);
	return 1;
}

static int failing_clients_are_dropped(void)
{
	static const unsigned char short_add[] = { 1, 2, 3 };
	unsigned char r[8];
	srv = DC_SERVER_new(64);
	CHECK(srv != NULL);
	/* in-server: a truncated ADD destroys the client inside clients_io */
	CHECK(connect_client(DC_CLIENT_FLAG_IN_SERVER));
	CHECK_EQ(ask(1, DC_CMD_ADD, short_add, sizeof(short_add), r, 1), -1);
	CHECK_EQ(DC_SERVER_clients_empty(srv), 1);
	CHECK_EQ(DC_SERVER_num_operations(srv), 0);
	DC_PLUG_free(cp);
	/* caller-driven: process_client reports 0; the caller deletes it */
	CHECK(connect_client(DC_CLIENT_FLAG_NOFREE_CONN));
	CHECK_EQ(ask(0, DC_CMD_ADD, short_add, sizeof(short_add), r, 1), -1);
	CHECK_EQ(DC_SERVER_process_client(sc, &now), 0);
	CHECK_EQ(DC_SERVER_process_client(sc, NULL), 0);
	CHECK_EQ(DC_SERVER_del_client(sc), 1);
	/* NOFREE: the connection is still ours */
	CHECK(NAL_CONNECTION_get_read(cb) != NULL);
	NAL_CONNECTION_free(cb);
	DC_PLUG_free(cp);
	/* a caller-driven client with nothing to do: 1 */
	CHECK(connect_client(0));
	CHECK_EQ(DC_SERVER_process_client(sc, &now), 1);
	DC_SERVER_free(srv);
	DC_PLUG_free(cp);
	return 1;
}

static int custom_cache_in_c(void)
{
	unsigned char p[300], r[300];
	unsigned int n;
	CHECK_EQ(DC_SERVER_set_cache(&my_cache), 1);
	CHECK(DC_SERVER_new(13) == NULL); /* cache_new refused */
	CHECK_EQ(calls_new, 1);
	srv = DC_SERVER_new(100);
	CHECK(srv != NULL);
	CHECK_EQ(calls_new, 2);
	CHECK(connect_client(DC_CLIENT_FLAG_IN_SERVER));
	n = add_payload(p, 5000, "cid", 3, "custom-data", 11);
	CHECK_EQ(ask(1, DC_CMD_ADD, p, n, r, 1), 1);
	CHECK_EQ(r[0], 0);
	CHECK_EQ(last_timeout, 5000);
	CHECK_EQ(ask(1, DC_CMD_ADD, p, n, r, 1), 1);
	CHECK_EQ(r[0], 101); /* cache_add said 0 */
	CHECK_EQ(calls_add, 2);
	CHECK_EQ(ask(1, DC_CMD_GET, "cid", 3, r, sizeof(r)), 11);
	CHECK(memcmp(r, "custom-data", 11) == 0);
	CHECK_EQ(calls_get, 2); /* length first, then the data */
	CHECK_EQ(ask(1, DC_CMD_GET, "nope", 4, r, sizeof(r)), 1);
	CHECK_EQ(calls_get, 3);
	CHECK_EQ(ask(1, DC_CMD_HAVE, "cid", 3, r, 1), 1);
	CHECK_EQ(r[0], 0);
	CHECK_EQ(calls_have, 1);
	CHECK_EQ(ask(1, DC_CMD_REMOVE, "cid", 3, r, 1), 1);
	CHECK_EQ(r[0], 0);
	CHECK_EQ(calls_remove, 1);
	CHECK_EQ(DC_SERVER_items_stored(srv, &now), 0);
	CHECK_EQ(calls_num, 1);
	CHECK_EQ(DC_SERVER_num_operations(srv), 6);
	/* servers created before a new selection keep their cache */
	CHECK_EQ(DC_SERVER_set_default_cache(), 1);
	CHECK_EQ(ask(1, DC_CMD_HAVE, "cid", 3, r, 1), 1);
	CHECK_EQ(calls_have, 2);
	DC_SERVER_free(srv);
	CHECK_EQ(calls_free, 1);
	DC_PLUG_free(cp);
	return 1;
}

int main(void)
{
	SUITE("dc_server");
	sel = NAL_SELECTOR_new();
	RUN(no_cache_selected_and_nulls);
	RUN(builtin_cache_replies);
	RUN(expiry_and_items_stored);
	RUN(failing_clients_are_dropped);
	RUN(custom_cache_in_c);
	NAL_SELECTOR_free(sel);
	return DONE();
}
