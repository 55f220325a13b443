/* dc_snap: fills and checks sessions through the installed client library
 * (DC_CTX, one persistent connection), for scenario_snapshot.sh and the
 * demo.
 *
 *   dc_snap fill  TARGET TAG FIRST COUNT TIMEOUT_MS SIZE
 *       adds sessions "TAG-i" (i = FIRST .. FIRST+COUNT-1) of SIZE bytes
 *       whose content follows from TAG and i; prints "added N failed N",
 *       exit 0 when every add was stored.
 *   dc_snap check TARGET TAG FIRST COUNT SIZE
 *       gets them back; prints "identical N missing N different N".
 *   dc_snap has   TARGET TAG FIRST COUNT
 *       prints "present N absent N failed N".
 */
#include <distcache/dc_client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZE 32000

static unsigned int seed_of(const char *tag, unsigned long i)
{
	unsigned int h = 2166136261u;
	while (*tag)
		h = (h ^ (unsigned char)*tag++) * 16777619u;
	return h ^ (unsigned int)(i * 2654435761u);
}

static void content(unsigned char *buf, unsigned int len, unsigned int seed)
{
	unsigned int i;
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

int main(int argc, char **argv)
{
	static unsigned char data[MAX_SIZE], got[MAX_SIZE + 16];
	unsigned char id[96];
	unsigned long first, count, i, a = 0, b = 0, c = 0;
	unsigned int id_len, size = 0, used;
	unsigned long timeout = 0;
	DC_CTX *ctx;
	const char *mode, *tag;
	if (argc < 6) {
		fprintf(stderr, "usage: dc_snap fill|check|has TARGET TAG FIRST COUNT ... (see the source)\n");
		return 2;
	}
	mode = argv[1];
	tag = argv[3];
	first = strtoul(argv[4], NULL, 10);
	count = strtoul(argv[5], NULL, 10);
	if (!strcmp(mode, "fill") && argc == 8) {
		timeout = strtoul(argv[6], NULL, 10);
		size = (unsigned int)strtoul(argv[7], NULL, 10);
	} else if (!strcmp(mode, "check") && argc == 7) {
		size = (unsigned int)strtoul(argv[6], NULL, 10);
	} else if (strcmp(mode, "has") || argc != 6) {
		fprintf(stderr, "dc_snap: bad arguments\n");
		return 2;
	}
	if (size > MAX_SIZE) {
		fprintf(stderr, "dc_snap: SIZE at most %d\n", MAX_SIZE);
		return 2;
	}
	ctx = DC_CTX_new(argv[2], DC_CTX_FLAG_PERSISTENT | DC_CTX_FLAG_PERSISTENT_RETRY);
	if (!ctx) {
		fprintf(stderr, "dc_snap: cannot connect to %s\n", argv[2]);
		return 2;
	}
	for (i = first; i < first + count; i++) {
		id_len = (unsigned int)snprintf((char *)id, sizeof(id), "%s-%lu", tag, i);
		if (mode[0] == 'f') {
			content(data, size, seed_of(tag, i));
			if (DC_CTX_add_session(ctx, id, id_len, data, size, timeout) == 1)
				a++;
			else
				b++;
		} else if (mode[0] == 'c') {
			used = 0;
			content(data, size, seed_of(tag, i));
			if (DC_CTX_get_session(ctx, id, id_len, got, sizeof(got), &used) != 1)
				b++;
			else if (used == size && memcmp(got, data, size) == 0)
				a++;
			else
				c++;
		} else {
			switch (DC_CTX_has_session(ctx, id, id_len)) {
			case 1: a++; break;
			case 0: b++; break;
			default: c++; break;
			}
		}
	}
	DC_CTX_free(ctx);
	if (mode[0] == 'f') {
		printf("added %lu failed %lu\n", a, b);
		return b == 0 ? 0 : 1;
	}
	if (mode[0] == 'c')
		printf("identical %lu missing %lu different %lu\n", a, b, c);
	else
		printf("present %lu absent %lu failed %lu\n", a, b, c);
	return 0;
}
