/* Minimal unit test harness: CHECK records a failure and goes on; each test
 * program ends with TEST_DONE() which prints "N passed, N failed". */
#ifndef AUTOSHARD_TESTLIB_H
#define AUTOSHARD_TESTLIB_H
#include <stdio.h>

extern int test_passed, test_failed;
#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (cond) {                                                                      \
			test_passed++;                                                           \
		} else {                                                                         \
			test_failed++;                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)
#define CHECK_MSG(cond, ...)                                                                     \
	do {                                                                                     \
		if (cond) {                                                                      \
			test_passed++;                                                           \
		} else {                                                                         \
			test_failed++;                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
		}                                                                                \
	} while (0)
int test_done(const char *name);
/* Whole file into a NUL-terminated buffer (caller frees), NULL if unreadable. */
#include <stddef.h>
char *test_slurp(const char *path, size_t *len);
#define TEST_DONE() test_done(__FILE__)
#endif
