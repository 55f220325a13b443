/* libdistcache/dc_client.h - older location of <distcache/dc_client.h>. */
#include <distcache/dc_client.h>
