/* Signature check for <libnal/nal.h>: every libnal function of ABI.md 3
 * (1.5 API) and 7.3 / 9.5 (older names) is assigned to a pointer whose type
 * is the prototype written out from the specification. Any drift in the
 * header is a compile error in C++ and an incompatible-pointer error in C
 * (-Werror). NAL_CONNECTION_io is left out: its two forms are exercised by
 * test_nal_connection.c and test_nal_seed.c. Also checks the 2.1 macros. */
#include <libnal/nal.h>

/* compile-time assertion usable in C99 and C++ */
#define ABI_CAT2(a, b) a##b
#define ABI_CAT(a, b) ABI_CAT2(a, b)
#define ABI_ASSERT(cond) typedef char ABI_CAT(abi_assert_line_, __LINE__)[(cond) ? 1 : -1]

/* ABI.md 2.1 */
ABI_ASSERT(NAL_SELECT_FLAG_READ == 0x0001);
ABI_ASSERT(NAL_SELECT_FLAG_SEND == 0x0002);
ABI_ASSERT(NAL_SELECT_FLAG_RW == 0x0003);
ABI_ASSERT(sizeof(NAL_SELECT_FLAG_READ) == sizeof(unsigned int));
ABI_ASSERT(sizeof(NAL_SELECT_FLAG_RW) == sizeof(unsigned int));
ABI_ASSERT(NAL_SELECT_FLAG_READ - 2 > 0); /* unsigned: wraps instead of -1 */
ABI_ASSERT(NAL_SELECT_FLAG_RW - 4 > 0);
ABI_ASSERT(NAL_SELECTOR_FLAG_SEND == NAL_SELECT_FLAG_SEND); /* seed spelling */

/* a pointer of the written-out type, initialised with the function */
#define SIG(ret, name, params) { ret (*p_) params = name; (void)p_; }

void abi_nal_signatures(void);
void abi_nal_signatures(void)
{
	/* 3.2 global */
	SIG(void, NAL_config_set_nagle, (int))

	/* 3.3 NAL_ADDRESS */
	SIG(NAL_ADDRESS *, NAL_ADDRESS_new, (void))
	SIG(void, NAL_ADDRESS_free, (NAL_ADDRESS *))
	SIG(void, NAL_ADDRESS_reset, (NAL_ADDRESS *))
	SIG(int, NAL_ADDRESS_create, (NAL_ADDRESS *, const char *, unsigned int))
	SIG(unsigned int, NAL_ADDRESS_get_def_buffer_size, (const NAL_ADDRESS *))
	SIG(int, NAL_ADDRESS_set_def_buffer_size, (NAL_ADDRESS *, unsigned int))
	SIG(int, NAL_ADDRESS_can_connect, (const NAL_ADDRESS *))
	SIG(int, NAL_ADDRESS_can_listen, (const NAL_ADDRESS *))

	/* 3.4 NAL_SELECTOR */
	SIG(NAL_SELECTOR *, NAL_SELECTOR_new, (void))
	SIG(void, NAL_SELECTOR_free, (NAL_SELECTOR *))
	SIG(void, NAL_SELECTOR_reset, (NAL_SELECTOR *))
	SIG(int, NAL_SELECTOR_select, (NAL_SELECTOR *, unsigned long, int))
	SIG(unsigned int, NAL_SELECTOR_num_objects, (const NAL_SELECTOR *))
	SIG(NAL_SELECTOR *, NAL_SELECTOR_new_fdselect, (void))
	SIG(NAL_SELECTOR *, NAL_SELECTOR_new_fdpoll, (void))

	/* 3.5 NAL_LISTENER */
	SIG(NAL_LISTENER *, NAL_LISTENER_new, (void))
	SIG(void, NAL_LISTENER_free, (NAL_LISTENER *))
	SIG(void, NAL_LISTENER_reset, (NAL_LISTENER *))
	SIG(int, NAL_LISTENER_create, (NAL_LISTENER *, const NAL_ADDRESS *))
	SIG(int, NAL_LISTENER_add_to_selector, (NAL_LISTENER *, NAL_SELECTOR *))
	SIG(void, NAL_LISTENER_del_from_selector, (NAL_LISTENER *))
	SIG(int, NAL_LISTENER_finished, (const NAL_LISTENER *))
	SIG(int, NAL_LISTENER_set_fs_owner, (NAL_LISTENER *, const char *, const char *))
	SIG(int, NAL_LISTENER_set_fs_perms, (NAL_LISTENER *, const char *))

	/* 3.6 NAL_CONNECTION (without NAL_CONNECTION_io) */
	SIG(NAL_CONNECTION *, NAL_CONNECTION_new, (void))
	SIG(void, NAL_CONNECTION_free, (NAL_CONNECTION *))
	SIG(void, NAL_CONNECTION_reset, (NAL_CONNECTION *))
	SIG(int, NAL_CONNECTION_create, (NAL_CONNECTION *, const NAL_ADDRESS *))
	SIG(int, NAL_CONNECTION_accept, (NAL_CONNECTION *, NAL_LISTENER *))
	SIG(int, NAL_CONNECTION_set_size, (NAL_CONNECTION *, unsigned int))
	SIG(NAL_BUFFER *, NAL_CONNECTION_get_read, (NAL_CONNECTION *))
	SIG(NAL_BUFFER *, NAL_CONNECTION_get_send, (NAL_CONNECTION *))
	SIG(const NAL_BUFFER *, NAL_CONNECTION_get_read_c, (const NAL_CONNECTION *))
	SIG(const NAL_BUFFER *, NAL_CONNECTION_get_send_c, (const NAL_CONNECTION *))
	SIG(int, NAL_CONNECTION_is_established, (const NAL_CONNECTION *))
	SIG(int, NAL_CONNECTION_add_to_selector, (NAL_CONNECTION *, NAL_SELECTOR *))
	SIG(void, NAL_CONNECTION_del_from_selector, (NAL_CONNECTION *))
	SIG(int, NAL_CONNECTION_create_pair, (NAL_CONNECTION *, NAL_CONNECTION *, unsigned int))

	/* 3.7 NAL_BUFFER (wrote: the project returns the amount added, 7.3) */
	SIG(NAL_BUFFER *, NAL_BUFFER_new, (void))
	SIG(void, NAL_BUFFER_free, (NAL_BUFFER *))
	SIG(void, NAL_BUFFER_reset, (NAL_BUFFER *))
	SIG(int, NAL_BUFFER_set_size, (NAL_BUFFER *, unsigned int))
	SIG(int, NAL_BUFFER_empty, (const NAL_BUFFER *))
	SIG(int, NAL_BUFFER_full, (const NAL_BUFFER *))
	SIG(int, NAL_BUFFER_notempty, (const NAL_BUFFER *))
	SIG(int, NAL_BUFFER_notfull, (const NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_used, (const NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_unused, (const NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_size, (const NAL_BUFFER *))
	SIG(const unsigned char *, NAL_BUFFER_data, (const NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_write, (NAL_BUFFER *, const unsigned char *, unsigned int))
	SIG(unsigned int, NAL_BUFFER_read, (NAL_BUFFER *, unsigned char *, unsigned int))
	SIG(unsigned int, NAL_BUFFER_transfer, (NAL_BUFFER *, NAL_BUFFER *, unsigned int))
	SIG(unsigned char *, NAL_BUFFER_write_ptr, (NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_wrote, (NAL_BUFFER *, unsigned int))

	/* 3.8 codec */
	SIG(int, NAL_decode_uint32, (const unsigned char **, unsigned int *, unsigned long *))
	SIG(int, NAL_decode_uint16, (const unsigned char **, unsigned int *, unsigned int *))
	SIG(int, NAL_decode_char, (const unsigned char **, unsigned int *, unsigned char *))
	SIG(int, NAL_decode_bin, (const unsigned char **, unsigned int *, unsigned char *, unsigned int))
	SIG(int, NAL_encode_uint32, (unsigned char **, unsigned int *, const unsigned long))
	SIG(int, NAL_encode_uint16, (unsigned char **, unsigned int *, const unsigned int))
	SIG(int, NAL_encode_char, (unsigned char **, unsigned int *, const unsigned char))
	SIG(int, NAL_encode_bin, (unsigned char **, unsigned int *, const unsigned char *, const unsigned int))

	/* 7.3 older names (required by 9.5, plus the recommended *_malloc pair) */
	SIG(NAL_ADDRESS *, NAL_ADDRESS_malloc, (void))
	SIG(NAL_LISTENER *, NAL_LISTENER_malloc, (void))
	SIG(NAL_CONNECTION *, NAL_CONNECTION_malloc, (void))
	SIG(NAL_SELECTOR *, NAL_SELECTOR_malloc, (void))
	SIG(NAL_BUFFER *, NAL_BUFFER_malloc, (void))
	SIG(int, NAL_SELECTOR_add_conn, (NAL_SELECTOR *, const NAL_CONNECTION *))
	SIG(int, NAL_SELECTOR_add_conn_ex, (NAL_SELECTOR *, const NAL_CONNECTION *, unsigned int))
	SIG(int, NAL_SELECTOR_del_conn, (NAL_SELECTOR *, const NAL_CONNECTION *))
	SIG(int, NAL_SELECTOR_add_listener, (NAL_SELECTOR *, const NAL_LISTENER *))
	SIG(int, NAL_SELECTOR_del_listener, (NAL_SELECTOR *, const NAL_LISTENER *))
	SIG(int, NAL_LISTENER_accept, (const NAL_LISTENER *, NAL_SELECTOR *, NAL_CONNECTION *))
	SIG(int, NAL_LISTENER_accept_block, (const NAL_LISTENER *, NAL_CONNECTION *))
	SIG(int, NAL_CONNECTION_io_cap, (NAL_CONNECTION *, NAL_SELECTOR *, unsigned int, unsigned int))
	SIG(int, NAL_CONNECTION_create_dummy, (NAL_CONNECTION *, unsigned int))
	SIG(unsigned char *, NAL_BUFFER_read_ptr, (NAL_BUFFER *))
	SIG(unsigned int, NAL_BUFFER_takedata, (NAL_BUFFER *, unsigned char *, unsigned int))
}
