/*
 * abi_stats.c: a program as it was written against an older osprey.h,
 * compiled by ffi/tests/abi.rs against each header the library has shipped
 * (ffi/tests/abi/v1: before osprey_statistics gained counted_only;
 * ffi/tests/abi/v2: with it; ffi/include: today's) and run against today's
 * library. The statistics struct sits between guard bytes: a library that
 * writes more than the program's struct has room for is caught. Exits 0
 * when every check passed; prints each failure on stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include "osprey.h"
#include "expect.h"

#define GUARD 0xA5

/* The statistics struct with guard bytes before and after it. */
struct guarded {
    unsigned char before[32];
    osprey_statistics stats;
    unsigned char after[64];
};

static int untouched(const unsigned char *bytes, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] != GUARD) {
            return 0;
        }
    }
    return 1;
}

int main(void) {
    ASSERT(osprey_init("exporter=console") == OSPREY_OK);
    for (int i = 0; i < 5; i++) {
        ASSERT(osprey_txn_begin("GET /abi", OSPREY_TXN_SERVER, NULL) == OSPREY_OK);
        uint64_t h = 0;
        ASSERT(osprey_step_enter_name("SELECT 1", OSPREY_STEP_SQL, &h) == OSPREY_OK);
        ASSERT(osprey_step_exit_handle(h) == OSPREY_OK);
        ASSERT(osprey_txn_end() == OSPREY_OK);
    }
    ASSERT(osprey_shutdown(5000) == OSPREY_OK);

    struct guarded g;
    memset(&g, GUARD, sizeof g);
    ASSERT(osprey_stats(&g.stats) == OSPREY_OK);
    ASSERT(untouched(g.before, sizeof g.before));
    ASSERT(untouched(g.after, sizeof g.after));
    ASSERT(g.stats.produced == 5);
    ASSERT(g.stats.exporters == 1);
    ASSERT(g.stats.produced == g.stats.dropped + g.stats.delivered + g.stats.export_dropped);

#ifdef OSPREY_STATS_V1_SIZE
    /* Today's header: the sized call fills the whole struct and no more. */
    memset(&g, GUARD, sizeof g);
    ASSERT(osprey_stats_sized(&g.stats, sizeof g.stats) == OSPREY_OK);
    ASSERT(untouched(g.before, sizeof g.before));
    ASSERT(untouched(g.after, sizeof g.after));
    ASSERT(g.stats.produced == 5 && g.stats.counted_only == 0 && g.stats.names_refused == 0);
    /* A program built when the struct ended at `exporters` passes its size. */
    memset(&g, GUARD, sizeof g);
    ASSERT(osprey_stats_sized(&g.stats, OSPREY_STATS_V1_SIZE) == OSPREY_OK);
    ASSERT(g.stats.produced == 5);
    ASSERT(untouched((const unsigned char *)&g.stats + OSPREY_STATS_V1_SIZE,
                     sizeof g.stats - OSPREY_STATS_V1_SIZE));
    ASSERT(osprey_stats_sized(NULL, sizeof g.stats) == OSPREY_ERR_NULL);
    /* Statements differing in their literals share one name. */
    uint32_t a = 0, b = 1, c = 2;
    ASSERT(osprey_intern_step("SELECT * FROM t WHERE id = 1", OSPREY_STEP_SQL, &a) == OSPREY_OK);
    ASSERT(osprey_intern_step("SELECT * FROM t WHERE id = 2", OSPREY_STEP_SQL, &b) == OSPREY_OK);
    ASSERT(osprey_intern("select * from t where id = 3", &c) == OSPREY_OK);
    ASSERT(a == b);
    ASSERT(c != a); /* another text (lower case), also sanitised */
    uint32_t d = 0;
    ASSERT(osprey_intern("select * from t where id = 4", &d) == OSPREY_OK);
    ASSERT(c == d);
    ASSERT(osprey_intern_step("x", 9, &d) == OSPREY_ERR_INVALID);
#endif

    printf("abi_stats: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
