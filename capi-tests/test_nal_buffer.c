/* NAL_BUFFER: every function, success and failure paths. */
#include <libnal/nal.h>
#include "harness.h"

static int new_is_empty_and_full(void)
{
	NAL_BUFFER *b = NAL_BUFFER_new();
	CHECK(b != NULL);
	CHECK_EQ(NAL_BUFFER_size(b), 0);
	CHECK_EQ(NAL_BUFFER_empty(b), 1);
	CHECK_EQ(NAL_BUFFER_full(b), 1);
	CHECK_EQ(NAL_BUFFER_notempty(b), 0);
	CHECK_EQ(NAL_BUFFER_notfull(b), 0);
	CHECK(NAL_BUFFER_data(b) == NULL);
	CHECK(NAL_BUFFER_write_ptr(b) == NULL);
	NAL_BUFFER_free(b);
	return 1;
}

static int malloc_alias_works(void)
{
	NAL_BUFFER *b = NAL_BUFFER_malloc();
	CHECK(b != NULL);
	CHECK_EQ(NAL_BUFFER_set_size(b, 10), 1);
	CHECK_EQ(NAL_BUFFER_size(b), 10);
	NAL_BUFFER_free(b);
	return 1;
}

static int write_read_fifo(void)
{
	unsigned char out[16];
	NAL_BUFFER *b = NAL_BUFFER_new();
	CHECK_EQ(NAL_BUFFER_set_size(b, 8), 1);
	CHECK_EQ(NAL_BUFFER_write(b, (const unsigned char *)"hello world", 11), 8);
	CHECK_EQ(NAL_BUFFER_full(b), 1);
	CHECK_EQ(NAL_BUFFER_used(b), 8);
	CHECK_EQ(NAL_BUFFER_unused(b), 0);
	CHECK_EQ(NAL_BUFFER_write(b, (const unsigned char *)"x", 1), 0);
	CHECK_EQ(NAL_BUFFER_read(b, out, 3), 3);
	CHECK(memcmp(out, "hel", 3) == 0);
	/* remainder shifted to the front */
	CHECK(memcmp(NAL_BUFFER_data(b), "lo w", 4) == 0);
	CHECK_EQ(NAL_BUFFER_read(b, NULL, 2), 2);
	CHECK(memcmp(NAL_BUFFER_data(b), " wo", 3) == 0);
	CHECK_EQ(NAL_BUFFER_read(b, out, 100), 3);
	CHECK(memcmp(out, " wo", 3) == 0);
	CHECK_EQ(NAL_BUFFER_empty(b), 1);
	CHECK_EQ(NAL_BUFFER_read(b, out, 5), 0);
	NAL_BUFFER_free(b);
	return 1;
}

static int write_failure_paths(void)
{
	NAL_BUFFER *b = NAL_BUFFER_new();
	NAL_BUFFER_set_size(b, 4);
	CHECK_EQ(NAL_BUFFER_write(b, NULL, 3), 0);
	CHECK_EQ(NAL_BUFFER_write(b, (const unsigned char *)"a", 0), 0);
	CHECK_EQ(NAL_BUFFER_write(NULL, (const unsigned char *)"a", 1), 0);
	CHECK_EQ(NAL_BUFFER_read(NULL, NULL, 1), 0);
	CHECK_EQ(NAL_BUFFER_used(b), 0);
	NAL_BUFFER_free(b);
	return 1;
}

static int set_size_keeps_and_crops(void)
{
	NAL_BUFFER *b = NAL_BUFFER_new();
	CHECK_EQ(NAL_BUFFER_set_size(b, 10), 1);
	NAL_BUFFER_write(b, (const unsigned char *)"abcdef", 6);
	CHECK_EQ(NAL_BUFFER_set_size(b, 10), 1); /* same size: unchanged */
	CHECK_EQ(NAL_BUFFER_used(b), 6);
	CHECK_EQ(NAL_BUFFER_set_size(b, 20), 1); /* grow keeps data */
	CHECK_EQ(NAL_BUFFER_used(b), 6);
	CHECK(memcmp(NAL_BUFFER_data(b), "abcdef", 6) == 0);
	CHECK_EQ(NAL_BUFFER_set_size(b, 4), 1); /* shrink crops, full */
	CHECK_EQ(NAL_BUFFER_used(b), 4);
	CHECK_EQ(NAL_BUFFER_full(b), 1);
	CHECK(memcmp(NAL_BUFFER_data(b), "abcd", 4) == 0);
	CHECK_EQ(NAL_BUFFER_set_size(b, 32768), 1);
	CHECK_EQ(NAL_BUFFER_set_size(b, 32769), 0);
	CHECK_EQ(NAL_BUFFER_size(b), 32768);
	CHECK_EQ(NAL_BUFFER_set_size(b, 0xFFFFFFFFu), 0);
	CHECK_EQ(NAL_BUFFER_set_size(b, 0), 1);
	CHECK(NAL_BUFFER_data(b) == NULL);
	CHECK_EQ(NAL_BUFFER_set_size(NULL, 5), 0);
	NAL_BUFFER_free(b);
	return 1;
}

static int reset_keeps_capacity(void)
{
	NAL_BUFFER *b = NAL_BUFFER_new();
	NAL_BUFFER_set_size(b, 16);
	NAL_BUFFER_write(b, (const unsigned char *)"data", 4);
	NAL_BUFFER_reset(b);
	CHECK_EQ(NAL_BUFFER_used(b), 0);
	CHECK_EQ(NAL_BUFFER_size(b), 16);
	NAL_BUFFER_reset(NULL);
	NAL_BUFFER_free(b);
	return 1;
}

static int null_queries_fail(void)
{
	NAL_BUFFER_free(NULL);
	CHECK_EQ(NAL_BUFFER_empty(NULL), 0);
	CHECK_EQ(NAL_BUFFER_full(NULL), 0);
	CHECK_EQ(NAL_BUFFER_notempty(NULL), 0);
	CHECK_EQ(NAL_BUFFER_notfull(NULL), 0);
	CHECK_EQ(NAL_BUFFER_used(NULL), 0);
	CHECK_EQ(NAL_BUFFER_unused(NULL), 0);
	CHECK_EQ(NAL_BUFFER_size(NULL), 0);
	CHECK(NAL_BUFFER_data(NULL) == NULL);
	CHECK(NAL_BUFFER_read_ptr(NULL) == NULL);
	CHECK(NAL_BUFFER_write_ptr(NULL) == NULL);
	CHECK_EQ(NAL_BUFFER_wrote(NULL, 3), 0);
	CHECK_EQ(NAL_BUFFER_transfer(NULL, NULL, 0), 0);
	CHECK_EQ(NAL_BUFFER_takedata(NULL, NULL, 1), 0);
	return 1;
}

static int write_ptr_and_wrote_clamp(void)
{
	NAL_BUFFER *b = NAL_BUFFER_new();
	unsigned char *p;
	NAL_BUFFER_set_size(b, 8);
	NAL_BUFFER_write(b, (const unsigned char *)"ab", 2);
	p = NAL_BUFFER_write_ptr(b);
	CHECK(p == NAL_BUFFER_data(b) + 2);
	memcpy(p, "cdef", 4);
	CHECK_EQ(NAL_BUFFER_wrote(b, 4), 4);
	CHECK(memcmp(NAL_BUFFER_data(b), "abcdef", 6) == 0);
	/* beyond the free space: clamped to the 2 free bytes */
	CHECK_EQ(NAL_BUFFER_wrote(b, 100), 2);
	CHECK_EQ(NAL_BUFFER_used(b), 8);
	CHECK_EQ(NAL_BUFFER_wrote(b, 1), 0);
	NAL_BUFFER_free(b);
	return 1;
}

static int seed_read_ptr_and_takedata(void)
{
	unsigned char out[4];
	NAL_BUFFER *b = NAL_BUFFER_new();
	NAL_BUFFER_set_size(b, 8);
	NAL_BUFFER_write(b, (const unsigned char *)"123456", 6);
	CHECK(NAL_BUFFER_read_ptr(b) == NAL_BUFFER_data(b));
	CHECK_EQ(NAL_BUFFER_read_ptr(b)[0], '1');
	CHECK_EQ(NAL_BUFFER_takedata(b, NULL, 2), 2);
	CHECK_EQ(NAL_BUFFER_read_ptr(b)[0], '3');
	CHECK_EQ(NAL_BUFFER_takedata(b, out, 3), 3);
	CHECK(memcmp(out, "345", 3) == 0);
	CHECK_EQ(NAL_BUFFER_used(b), 1);
	NAL_BUFFER_free(b);
	return 1;
}

static int transfer_limits(void)
{
	NAL_BUFFER *a = NAL_BUFFER_new(), *b = NAL_BUFFER_new();
	NAL_BUFFER_set_size(a, 4);
	NAL_BUFFER_set_size(b, 10);
	NAL_BUFFER_write(b, (const unsigned char *)"0123456789", 10);
	CHECK_EQ(NAL_BUFFER_transfer(a, b, 0), 4); /* limited by dest room */
	CHECK(memcmp(NAL_BUFFER_data(a), "0123", 4) == 0);
	CHECK(memcmp(NAL_BUFFER_data(b), "456789", 6) == 0);
	NAL_BUFFER_reset(a);
	CHECK_EQ(NAL_BUFFER_transfer(a, b, 3), 3); /* limited by max */
	CHECK(memcmp(NAL_BUFFER_data(b), "789", 3) == 0);
	CHECK_EQ(NAL_BUFFER_transfer(a, a, 0), 0); /* same buffer */
	CHECK_EQ(NAL_BUFFER_transfer(a, b, 0), 1); /* one byte of room left */
	CHECK_EQ(NAL_BUFFER_transfer(b, NULL, 0), 0);
	NAL_BUFFER_free(a);
	NAL_BUFFER_free(b);
	return 1;
}

int main(void)
{
	SUITE("nal_buffer");
	RUN(new_is_empty_and_full);
	RUN(malloc_alias_works);
	RUN(write_read_fifo);
	RUN(write_failure_paths);
	RUN(set_size_keeps_and_crops);
	RUN(reset_keeps_capacity);
	RUN(null_queries_fail);
	RUN(write_ptr_and_wrote_clamp);
	RUN(seed_read_ptr_and_takedata);
	RUN(transfer_limits);
	return DONE();
}
