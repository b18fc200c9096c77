/*
 * expect.h: counted checks for the C test programs that report every failure
 * and go on (ffi/tests/c/bad_input.c, abi_stats.c). ASSERT(cond) counts a
 * check in `checks` and, when `cond` is false, a failure in `failures` with
 * its line on stderr. Each program includes it once (the counters are its own).
 */
#ifndef OSPREY_TESTS_EXPECT_H
#define OSPREY_TESTS_EXPECT_H

#include <stdio.h>

static int checks = 0;
static int failures = 0;

#define ASSERT(cond)                                                             \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "line %d: assertion failed: %s\n", __LINE__, #cond); \
        }                                                                        \
    } while (0)

#endif
