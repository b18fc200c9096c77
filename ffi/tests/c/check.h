/*
 * check.h: what the C test programs share (ffi/tests/c). CHECK(call) runs a
 * libosprey call and exits the program with status 1, naming the call, its
 * result code and the library's last error, unless it returned OSPREY_OK.
 * Include after "osprey.h".
 */
#ifndef OSPREY_TESTS_CHECK_H
#define OSPREY_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                              \
    do {                                                                         \
        osprey_result check_result_ = (call);                                    \
        if (check_result_ != OSPREY_OK) {                                        \
            fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", __FILE__,         \
                    __LINE__, #call, (int)check_result_,                          \
                    osprey_result_text((int)check_result_), osprey_last_error()); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#endif
