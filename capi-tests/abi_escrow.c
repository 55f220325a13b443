/* Signature check for escrow.h: every function is assigned to a pointer of
 * the exact prototype of the specification (ABI.md 6.2), so any drift in
 * types, const-ness or pointer levels breaks the build (C99 -Werror and
 * C++). Also checks the flag values and that struct escrow stays an
 * incomplete type without a typedef. */
#include <stdint.h>
#include <escrow.h>

struct escrow;

int (*p_escrow_init)(const char *path, uint32_t flags, int32_t nr_tags, struct escrow **escrow) = escrow_init;
void (*p_escrow_fini)(struct escrow *escrow) = escrow_fini;
int (*p_escrow_tag)(struct escrow *escrow, int16_t tag, int32_t *nr, int32_t *nob) = escrow_tag;
int (*p_escrow_get)(struct escrow *escrow, int16_t tag, int32_t idx, int *fd, int32_t *nob, void *data) = escrow_get;
int (*p_escrow_add)(struct escrow *escrow, int16_t tag, int32_t idx, int fd, int32_t nob, void *data) = escrow_add;
int (*p_escrow_del)(struct escrow *escrow, int16_t tag, int32_t idx) = escrow_del;

typedef char check_creat[ESCROW_CREAT == 1 ? 1 : -1];
typedef char check_verbose[ESCROW_VERBOSE == 2 ? 1 : -1];
typedef char check_force[ESCROW_FORCE == 4 ? 1 : -1];

/* The flags combine as the original's users pass them. */
uint32_t abi_escrow_flags = ESCROW_VERBOSE | ESCROW_FORCE | ESCROW_CREAT;
