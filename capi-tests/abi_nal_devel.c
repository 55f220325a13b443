/* Signature and constant check for <libnal/nal_devel.h> (ABI.md 2.2, 8):
 * enum values, the selector token, vtable layouts and member types, and
 * the helper prototypes of 8.7. Included in the original's order
 * (<stddef.h> and <libnal/nal.h> first), which every header must accept. */
#include <stddef.h>
#include <libnal/nal.h>
#ifdef __cplusplus
/* The binding typedef `struct { int foo; } *NAL_SELECTOR_TOKEN` (2.2) names
 * no struct, so g++ warns about every vtable member that uses the token
 * when the header is not a system header; the warning is about that
 * spelling, not about a signature, so it is not treated as an error here. */
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif
#include <libnal/nal_devel.h>

#define ABI_CAT2(a, b) a##b
#define ABI_CAT(a, b) ABI_CAT2(a, b)
#define ABI_ASSERT(cond) typedef char ABI_CAT(abi_assert_line_, __LINE__)[(cond) ? 1 : -1]

/* 2.2 enums: values and int size */
ABI_ASSERT(NAL_SELECTOR_TYPE_ERROR == 0);
ABI_ASSERT(NAL_SELECTOR_TYPE_DYNAMIC == 1);
ABI_ASSERT(NAL_SELECTOR_TYPE_FDSELECT == 2);
ABI_ASSERT(NAL_SELECTOR_TYPE_FDPOLL == 3);
ABI_ASSERT(NAL_SELECTOR_TYPE_CUSTOM == 100);
ABI_ASSERT(NAL_SELECTOR_CTRL_FD == 0x0100);
ABI_ASSERT(NAL_SELECTOR_CTRL_CUSTOM == 0x0800);
ABI_ASSERT(sizeof(NAL_SELECTOR_TYPE) == sizeof(int));
ABI_ASSERT(sizeof(NAL_SELECTOR_CTRL_TYPE) == sizeof(int));

/* 2.2 / 8.6 token: a pointer-sized handle, NULL constant of the same type */
ABI_ASSERT(sizeof(NAL_SELECTOR_TOKEN) == sizeof(void *));
ABI_ASSERT(sizeof(NAL_SELECTOR_TOKEN_NULL) == sizeof(NAL_SELECTOR_TOKEN));
ABI_ASSERT(sizeof(*(NAL_SELECTOR_TOKEN)0) == sizeof(int)); /* struct { int foo; } */

/* 8.2-8.5 layouts: field order binding, every field pointer-sized on LP64 */
#define SLOT(n) ((n) * sizeof(void *))
ABI_ASSERT(sizeof(size_t) == sizeof(void *));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, unique_name) == SLOT(0));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, vtdata_size) == SLOT(1));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, prefixes) == SLOT(2));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, on_create) == SLOT(3));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, on_destroy) == SLOT(4));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, on_reset) == SLOT(5));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, pre_close) == SLOT(6));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, parse) == SLOT(7));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, can_connect) == SLOT(8));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, can_listen) == SLOT(9));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, create_listener) == SLOT(10));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, create_connection) == SLOT(11));
ABI_ASSERT(offsetof(NAL_ADDRESS_vtable, next) == SLOT(12));
ABI_ASSERT(sizeof(NAL_ADDRESS_vtable) == SLOT(13));

ABI_ASSERT(offsetof(NAL_LISTENER_vtable, vtdata_size) == SLOT(0));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, on_create) == SLOT(1));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, on_destroy) == SLOT(2));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, on_reset) == SLOT(3));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, pre_close) == SLOT(4));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, listen) == SLOT(5));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, pre_accept) == SLOT(6));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, finished) == SLOT(7));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, pre_selector_add) == SLOT(8));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, post_selector_add) == SLOT(9));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, pre_selector_del) == SLOT(10));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, post_selector_del) == SLOT(11));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, pre_select) == SLOT(12));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, post_select) == SLOT(13));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, set_fs_owner) == SLOT(14));
ABI_ASSERT(offsetof(NAL_LISTENER_vtable, set_fs_perms) == SLOT(15));
ABI_ASSERT(sizeof(NAL_LISTENER_vtable) == SLOT(16));

ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, vtdata_size) == SLOT(0));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, on_create) == SLOT(1));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, on_destroy) == SLOT(2));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, on_reset) == SLOT(3));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, pre_close) == SLOT(4));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, connect) == SLOT(5));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, accept) == SLOT(6));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, set_size) == SLOT(7));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, get_read) == SLOT(8));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, get_send) == SLOT(9));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, is_established) == SLOT(10));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, pre_selector_add) == SLOT(11));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, post_selector_add) == SLOT(12));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, pre_selector_del) == SLOT(13));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, post_selector_del) == SLOT(14));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, pre_select) == SLOT(15));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, post_select) == SLOT(16));
ABI_ASSERT(offsetof(NAL_CONNECTION_vtable, do_io) == SLOT(17));
ABI_ASSERT(sizeof(NAL_CONNECTION_vtable) == SLOT(18));

ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, vtdata_size) == SLOT(0));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, on_create) == SLOT(1));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, on_destroy) == SLOT(2));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, on_reset) == SLOT(3));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, pre_close) == SLOT(4));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, get_type) == SLOT(5));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, select) == SLOT(6));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, num_objects) == SLOT(7));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, add_listener) == SLOT(8));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, add_connection) == SLOT(9));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, del_listener) == SLOT(10));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, del_connection) == SLOT(11));
ABI_ASSERT(offsetof(NAL_SELECTOR_vtable, ctrl) == SLOT(12));
ABI_ASSERT(sizeof(NAL_SELECTOR_vtable) == SLOT(13));

/* a local of the written-out type, initialised from the expression */
#define HAS(type_and_name, expr) { type_and_name = expr; (void)p_; }

/* member types of the four vtables (8.2-8.5) */
void abi_nal_devel_members(const NAL_ADDRESS_vtable *a, const NAL_LISTENER_vtable *l,
			   const NAL_CONNECTION_vtable *c, const NAL_SELECTOR_vtable *s);
void abi_nal_devel_members(const NAL_ADDRESS_vtable *a, const NAL_LISTENER_vtable *l,
			   const NAL_CONNECTION_vtable *c, const NAL_SELECTOR_vtable *s)
{
	HAS(const char *p_, a->unique_name)
	HAS(size_t p_, a->vtdata_size)
	HAS(const char **p_, a->prefixes)
	HAS(int (*p_)(NAL_ADDRESS *), a->on_create)
	HAS(void (*p_)(NAL_ADDRESS *), a->on_destroy)
	HAS(void (*p_)(NAL_ADDRESS *), a->on_reset)
	HAS(void (*p_)(NAL_ADDRESS *), a->pre_close)
	HAS(int (*p_)(NAL_ADDRESS *, const char *), a->parse)
	HAS(int (*p_)(const NAL_ADDRESS *), a->can_connect)
	HAS(int (*p_)(const NAL_ADDRESS *), a->can_listen)
	HAS(const NAL_LISTENER_vtable *(*p_)(const NAL_ADDRESS *), a->create_listener)
	HAS(const NAL_CONNECTION_vtable *(*p_)(const NAL_ADDRESS *), a->create_connection)
	HAS(struct st_NAL_ADDRESS_vtable *p_, a->next)

	HAS(size_t p_, l->vtdata_size)
	HAS(int (*p_)(NAL_LISTENER *), l->on_create)
	HAS(void (*p_)(NAL_LISTENER *), l->on_destroy)
	HAS(void (*p_)(NAL_LISTENER *), l->on_reset)
	HAS(void (*p_)(NAL_LISTENER *), l->pre_close)
	HAS(int (*p_)(NAL_LISTENER *, const NAL_ADDRESS *), l->listen)
	HAS(const NAL_CONNECTION_vtable *(*p_)(NAL_LISTENER *), l->pre_accept)
	HAS(int (*p_)(const NAL_LISTENER *), l->finished)
	HAS(int (*p_)(NAL_LISTENER *, NAL_SELECTOR *), l->pre_selector_add)
	HAS(int (*p_)(NAL_LISTENER *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), l->post_selector_add)
	HAS(void (*p_)(NAL_LISTENER *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), l->pre_selector_del)
	HAS(void (*p_)(NAL_LISTENER *, NAL_SELECTOR *), l->post_selector_del)
	HAS(void (*p_)(NAL_LISTENER *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), l->pre_select)
	HAS(void (*p_)(NAL_LISTENER *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), l->post_select)
	HAS(int (*p_)(NAL_LISTENER *, const char *, const char *), l->set_fs_owner)
	HAS(int (*p_)(NAL_LISTENER *, const char *), l->set_fs_perms)

	HAS(size_t p_, c->vtdata_size)
	HAS(int (*p_)(NAL_CONNECTION *), c->on_create)
	HAS(void (*p_)(NAL_CONNECTION *), c->on_destroy)
	HAS(void (*p_)(NAL_CONNECTION *), c->on_reset)
	HAS(void (*p_)(NAL_CONNECTION *), c->pre_close)
	HAS(int (*p_)(NAL_CONNECTION *, const NAL_ADDRESS *), c->connect)
	HAS(int (*p_)(NAL_CONNECTION *, const NAL_LISTENER *), c->accept)
	HAS(int (*p_)(NAL_CONNECTION *, unsigned int), c->set_size)
	HAS(NAL_BUFFER *(*p_)(const NAL_CONNECTION *), c->get_read)
	HAS(NAL_BUFFER *(*p_)(const NAL_CONNECTION *), c->get_send)
	HAS(int (*p_)(const NAL_CONNECTION *), c->is_established)
	HAS(int (*p_)(NAL_CONNECTION *, NAL_SELECTOR *), c->pre_selector_add)
	HAS(int (*p_)(NAL_CONNECTION *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), c->post_selector_add)
	HAS(void (*p_)(NAL_CONNECTION *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), c->pre_selector_del)
	HAS(void (*p_)(NAL_CONNECTION *, NAL_SELECTOR *), c->post_selector_del)
	HAS(void (*p_)(NAL_CONNECTION *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), c->pre_select)
	HAS(void (*p_)(NAL_CONNECTION *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), c->post_select)
	HAS(int (*p_)(NAL_CONNECTION *), c->do_io)

	HAS(size_t p_, s->vtdata_size)
	HAS(int (*p_)(NAL_SELECTOR *), s->on_create)
	HAS(void (*p_)(NAL_SELECTOR *), s->on_destroy)
	HAS(void (*p_)(NAL_SELECTOR *), s->on_reset)
	HAS(void (*p_)(NAL_SELECTOR *), s->pre_close)
	HAS(NAL_SELECTOR_TYPE (*p_)(const NAL_SELECTOR *), s->get_type)
	HAS(int (*p_)(NAL_SELECTOR *, unsigned long, int), s->select)
	HAS(unsigned int (*p_)(const NAL_SELECTOR *), s->num_objects)
	HAS(NAL_SELECTOR_TOKEN (*p_)(NAL_SELECTOR *, NAL_LISTENER *), s->add_listener)
	HAS(NAL_SELECTOR_TOKEN (*p_)(NAL_SELECTOR *, NAL_CONNECTION *), s->add_connection)
	HAS(void (*p_)(NAL_SELECTOR *, NAL_LISTENER *, NAL_SELECTOR_TOKEN), s->del_listener)
	HAS(void (*p_)(NAL_SELECTOR *, NAL_CONNECTION *, NAL_SELECTOR_TOKEN), s->del_connection)
	HAS(int (*p_)(NAL_SELECTOR *, int, void *), s->ctrl)

	HAS(NAL_SELECTOR_TOKEN p_, NAL_SELECTOR_TOKEN_NULL)
}

/* 8.7 helper prototypes */
void abi_nal_devel_helpers(void);
void abi_nal_devel_helpers(void)
{
	HAS(int (*p_)(NAL_ADDRESS *, const NAL_ADDRESS_vtable *), nal_address_set_vtable)
	HAS(const NAL_ADDRESS_vtable *(*p_)(const NAL_ADDRESS *), nal_address_get_vtable)
	HAS(void *(*p_)(const NAL_ADDRESS *), nal_address_get_vtdata)
	HAS(const NAL_LISTENER_vtable *(*p_)(const NAL_ADDRESS *), nal_address_get_listener)
	HAS(const NAL_CONNECTION_vtable *(*p_)(const NAL_ADDRESS *), nal_address_get_connection)

	HAS(int (*p_)(NAL_LISTENER *, const NAL_LISTENER_vtable *), nal_listener_set_vtable)
	HAS(const NAL_LISTENER_vtable *(*p_)(const NAL_LISTENER *), nal_listener_get_vtable)
	HAS(void *(*p_)(const NAL_LISTENER *), nal_listener_get_vtdata)
	HAS(const NAL_CONNECTION_vtable *(*p_)(NAL_LISTENER *), nal_listener_pre_accept)
	HAS(void (*p_)(NAL_LISTENER *), nal_listener_pre_select)
	HAS(void (*p_)(NAL_LISTENER *), nal_listener_post_select)
	HAS(NAL_SELECTOR *(*p_)(const NAL_LISTENER *, NAL_SELECTOR_TOKEN *), nal_listener_get_selector)
	HAS(void (*p_)(NAL_LISTENER *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), nal_listener_set_selector_raw)

	HAS(int (*p_)(NAL_CONNECTION *, const NAL_CONNECTION_vtable *), nal_connection_set_vtable)
	HAS(const NAL_CONNECTION_vtable *(*p_)(const NAL_CONNECTION *), nal_connection_get_vtable)
	HAS(void *(*p_)(const NAL_CONNECTION *), nal_connection_get_vtdata)
	HAS(void (*p_)(NAL_CONNECTION *), nal_connection_pre_select)
	HAS(void (*p_)(NAL_CONNECTION *), nal_connection_post_select)
	HAS(NAL_SELECTOR *(*p_)(const NAL_CONNECTION *, NAL_SELECTOR_TOKEN *), nal_connection_get_selector)
	HAS(void (*p_)(NAL_CONNECTION *, NAL_SELECTOR *, NAL_SELECTOR_TOKEN), nal_connection_set_selector_raw)

	HAS(const NAL_ADDRESS_vtable *(*p_)(void), NAL_ADDRESS_vtable_builtins)
	HAS(void (*p_)(NAL_ADDRESS_vtable *), NAL_ADDRESS_vtable_link)

	HAS(const NAL_SELECTOR_vtable *(*p_)(void), sel_fdselect)
	HAS(const NAL_SELECTOR_vtable *(*p_)(void), sel_fdpoll)

	HAS(NAL_SELECTOR *(*p_)(const NAL_SELECTOR_vtable *), nal_selector_new)
	HAS(const NAL_SELECTOR_vtable *(*p_)(const NAL_SELECTOR *), nal_selector_get_vtable)
	HAS(void *(*p_)(const NAL_SELECTOR *), nal_selector_get_vtdata)
	HAS(NAL_SELECTOR_TYPE (*p_)(const NAL_SELECTOR *), nal_selector_get_type)
	HAS(int (*p_)(NAL_SELECTOR *, int, void *), nal_selector_ctrl)
	HAS(int (*p_)(NAL_SELECTOR *, const NAL_SELECTOR_vtable *), nal_selector_dynamic_set)
}
