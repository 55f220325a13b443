/* NAL_encode_* / NAL_decode_*: byte order, truncation, cursor rules. */
#include <libnal/nal.h>
#include "harness.h"

static int worked_example(void)
{
	unsigned char buf[16], *p = buf;
	unsigned int left = sizeof(buf);
	const unsigned char expect[] = { 0x34, 0x56, 0x78, 0x90, 0xAB, 0xCD, 0x7F };
	CHECK_EQ(NAL_encode_uint32(&p, &left, (unsigned long)0x1234567890ULL), 1);
	CHECK_EQ(NAL_encode_uint16(&p, &left, 0x1ABCD), 1);
	CHECK_EQ(NAL_encode_char(&p, &left, 0x7F), 1);
	CHECK_EQ(left, 9);
	CHECK(p == buf + 7);
	CHECK(memcmp(buf, expect, 7) == 0);
	return 1;
}

static int decode_round_trip(void)
{
	const unsigned char in[] = { 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 'x', 'y', 'z' };
	const unsigned char *p = in;
	unsigned int left = sizeof(in), v16 = 0;
	unsigned long v32 = 0;
	unsigned char c = 0, bin[3];
	CHECK_EQ(NAL_decode_uint32(&p, &left, &v32), 1);
	CHECK_EQ(v32, 0xDEADBEEFUL);
	CHECK_EQ(NAL_decode_uint16(&p, &left, &v16), 1);
	CHECK_EQ(v16, 0x1234);
	CHECK_EQ(NAL_decode_char(&p, &left, &c), 1);
	CHECK_EQ(c, 0x56);
	CHECK_EQ(NAL_decode_bin(&p, &left, bin, 3), 1);
	CHECK(memcmp(bin, "xyz", 3) == 0);
	CHECK_EQ(left, 0);
	CHECK(p == in + sizeof(in));
	return 1;
}

static int short_input_leaves_everything(void)
{
	const unsigned char in[] = { 1, 2, 3 };
	const unsigned char *p = in;
	unsigned int left = 3, v16 = 77;
	unsigned long v32 = 99;
	unsigned char bin[4] = { 9, 9, 9, 9 };
	CHECK_EQ(NAL_decode_uint32(&p, &left, &v32), 0);
	CHECK_EQ(v32, 99);
	CHECK(p == in);
	CHECK_EQ(left, 3);
	CHECK_EQ(NAL_decode_bin(&p, &left, bin, 4), 0);
	CHECK_EQ(bin[0], 9);
	left = 1;
	CHECK_EQ(NAL_decode_uint16(&p, &left, &v16), 0);
	CHECK_EQ(v16, 77);
	left = 0;
	CHECK_EQ(NAL_decode_char(&p, &left, bin), 0);
	/* zero-length bin succeeds with nothing left */
	CHECK_EQ(NAL_decode_bin(&p, &left, bin, 0), 1);
	CHECK(p == in);
	return 1;
}

static int encode_out_of_room(void)
{
	unsigned char buf[3] = { 0, 0, 0 }, *p = buf;
	unsigned int left = 3;
	CHECK_EQ(NAL_encode_uint32(&p, &left, 1), 0);
	CHECK(p == buf);
	CHECK_EQ(left, 3);
	CHECK_EQ(NAL_encode_bin(&p, &left, (const unsigned char *)"abcd", 4), 0);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(NAL_encode_uint16(&p, &left, 0xFFFF), 1);
	CHECK_EQ(NAL_encode_uint16(&p, &left, 1), 0);
	CHECK_EQ(NAL_encode_char(&p, &left, 7), 1);
	CHECK_EQ(NAL_encode_char(&p, &left, 7), 0);
	CHECK_EQ(NAL_encode_bin(&p, &left, NULL, 0), 1);
	CHECK(memcmp(buf, "\xFF\xFF\x07", 3) == 0);
	return 1;
}

static int null_pointers_fail(void)
{
	unsigned char buf[8], *p = buf;
	const unsigned char *cp = buf;
	unsigned int left = 8;
	unsigned long v = 0;
	CHECK_EQ(NAL_encode_uint32(NULL, &left, 1), 0);
	CHECK_EQ(NAL_encode_uint32(&p, NULL, 1), 0);
	CHECK_EQ(NAL_encode_bin(&p, &left, NULL, 2), 0);
	CHECK_EQ(NAL_decode_uint32(&cp, &left, NULL), 0);
	CHECK_EQ(NAL_decode_uint32(NULL, &left, &v), 0);
	CHECK_EQ(NAL_decode_uint16(&cp, NULL, NULL), 0);
	CHECK_EQ(NAL_decode_char(&cp, &left, NULL), 0);
	CHECK_EQ(NAL_decode_bin(&cp, &left, NULL, 3), 0);
	CHECK_EQ(left, 8);
	return 1;
}

int main(void)
{
	SUITE("nal_codec");
	RUN(worked_example);
	RUN(decode_round_trip);
	RUN(short_input_leaves_everything);
	RUN(encode_out_of_room);
	RUN(null_pointers_fail);
	return DONE();
}
