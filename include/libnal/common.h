/* libnal/common.h - kept for programs written to the older distcache API
 * document, which mentions this header. It only pulls in the usual system
 * headers; nothing in it is needed to use the libraries.
 */
#ifndef HEADER_LIBNAL_COMMON_H
#define HEADER_LIBNAL_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/time.h>
#include <unistd.h>

#endif /* !defined(HEADER_LIBNAL_COMMON_H) */
