/* Every DC_* function assigned to a pointer of its exact prototype as the
 * ABI specification writes it (compiled as C99 and as C++). */
#include <distcache/dc_client.h>
#include <distcache/dc_plug.h>
#include <distcache/dc_server.h>

DC_CTX *(*p_DC_CTX_new)(const char *target, unsigned int flags) = DC_CTX_new;
void (*p_DC_CTX_free)(DC_CTX *ctx) = DC_CTX_free;
int (*p_DC_CTX_add_session)(DC_CTX *ctx, const unsigned char *id_data, unsigned int id_len,
			    const unsigned char *sess_data, unsigned int sess_len,
			    unsigned long timeout_msecs) = DC_CTX_add_session;
int (*p_DC_CTX_remove_session)(DC_CTX *ctx, const unsigned char *id_data,
			       unsigned int id_len) = DC_CTX_remove_session;
int (*p_DC_CTX_get_session)(DC_CTX *ctx, const unsigned char *id_data, unsigned int id_len,
			    unsigned char *result_storage, unsigned int result_size,
			    unsigned int *result_used) = DC_CTX_get_session;
int (*p_DC_CTX_reget_session)(DC_CTX *ctx, const unsigned char *id_data, unsigned int id_len,
			      unsigned char *result_storage, unsigned int result_size,
			      unsigned int *result_used) = DC_CTX_reget_session;
int (*p_DC_CTX_has_session)(DC_CTX *ctx, const unsigned char *id_data,
			    unsigned int id_len) = DC_CTX_has_session;

DC_PLUG *(*p_DC_PLUG_new)(NAL_CONNECTION *conn, unsigned int flags) = DC_PLUG_new;
int (*p_DC_PLUG_free)(DC_PLUG *plug) = DC_PLUG_free;
int (*p_DC_PLUG_to_select)(DC_PLUG *plug, NAL_SELECTOR *sel) = DC_PLUG_to_select;
void (*p_DC_PLUG_from_select)(DC_PLUG *plug) = DC_PLUG_from_select;
int (*p_DC_PLUG_io)(DC_PLUG *plug) = DC_PLUG_io;
int (*p_DC_PLUG_read)(DC_PLUG *plug, int resume, unsigned long *request_uid, DC_CMD *cmd,
		      const unsigned char **payload_data, unsigned int *payload_len) = DC_PLUG_read;
int (*p_DC_PLUG_consume)(DC_PLUG *plug) = DC_PLUG_consume;
int (*p_DC_PLUG_write)(DC_PLUG *plug, int resume, unsigned long request_uid, DC_CMD cmd,
		       const unsigned char *payload_data, unsigned int payload_len) = DC_PLUG_write;
int (*p_DC_PLUG_write_more)(DC_PLUG *plug, const unsigned char *data,
			    unsigned int data_len) = DC_PLUG_write_more;
int (*p_DC_PLUG_commit)(DC_PLUG *plug) = DC_PLUG_commit;
int (*p_DC_PLUG_rollback)(DC_PLUG *plug) = DC_PLUG_rollback;

DC_SERVER *(*p_DC_SERVER_new)(unsigned int max_sessions) = DC_SERVER_new;
void (*p_DC_SERVER_free)(DC_SERVER *ctx) = DC_SERVER_free;
int (*p_DC_SERVER_set_default_cache)(void) = DC_SERVER_set_default_cache;
int (*p_DC_SERVER_set_cache)(const DC_CACHE_cb *impl) = DC_SERVER_set_cache;
unsigned int (*p_DC_SERVER_items_stored)(DC_SERVER *ctx, const struct timeval *now) = DC_SERVER_items_stored;
void (*p_DC_SERVER_reset_operations)(DC_SERVER *ctx) = DC_SERVER_reset_operations;
unsigned long (*p_DC_SERVER_num_operations)(DC_SERVER *ctx) = DC_SERVER_num_operations;
DC_CLIENT *(*p_DC_SERVER_new_client)(DC_SERVER *ctx, NAL_CONNECTION *conn,
				     unsigned int flags) = DC_SERVER_new_client;
int (*p_DC_SERVER_del_client)(DC_CLIENT *clnt) = DC_SERVER_del_client;
int (*p_DC_SERVER_process_client)(DC_CLIENT *clnt, const struct timeval *now) = DC_SERVER_process_client;
int (*p_DC_SERVER_clients_io)(DC_SERVER *ctx, const struct timeval *now) = DC_SERVER_clients_io;
int (*p_DC_SERVER_clients_empty)(const DC_SERVER *ctx) = DC_SERVER_clients_empty;

/* Constants and the callback table's layout. */
typedef char check_proto_level[DISTCACHE_PROTO_LEVEL == 0x00110000 ? 1 : -1];
typedef char check_max_total[DC_MAX_TOTAL_DATA == 32768 ? 1 : -1];
typedef char check_cmds[(DC_CMD_ERROR == 0 && DC_CMD_ADD == 1 && DC_CMD_HAVE == 4) ? 1 : -1];
typedef char check_cb_size[sizeof(DC_CACHE_cb) == 7 * sizeof(void (*)(void)) ? 1 : -1];
typedef char check_flags[(DC_CTX_FLAG_PERSISTENT_LATE == 8 && DC_CLIENT_FLAG_IN_SERVER == 2) ? 1 : -1];
