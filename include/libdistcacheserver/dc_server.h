/* libdistcacheserver/dc_server.h - older location of <distcache/dc_server.h>. */
#include <distcache/dc_server.h>
