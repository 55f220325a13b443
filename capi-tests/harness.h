/* Minimal test harness for the C conformance suite.
 *
 * A test is `static int name(void)` returning 1 on success; CHECK() fails
 * it with the file, line and expression. RUN() prints "PASS <suite>/<name>"
 * or "FAIL <suite>/<name>", which capi-tests/run.sh counts.
 */
#ifndef CAPI_TESTS_HARNESS_H
#define CAPI_TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failures;
static const char *harness_suite = "suite";

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		return 0; \
	} } while (0)

#define CHECK_EQ(a, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	if (check_a_ != check_b_) { \
		fprintf(stderr, "  %s:%d: check failed: %s == %s (%lld != %lld)\n", \
			__FILE__, __LINE__, #a, #b, check_a_, check_b_); \
		return 0; \
	} } while (0)

#define RUN(fn) do { \
	int run_ok_ = fn(); \
	printf("%s %s/%s\n", run_ok_ ? "PASS" : "FAIL", harness_suite, #fn); \
	fflush(stdout); \
	if (!run_ok_) harness_failures++; \
	} while (0)

#define SUITE(name) (harness_suite = (name))
#define DONE() (harness_failures ? 1 : 0)

#endif
