/* libdistcache/dc_enc.h - older home of the protocol constants, DC_CMD and
 * DC_PLUG; now <distcache/dc_plug.h>. */
#include <libnal/nal.h>
#include <distcache/dc_plug.h>
