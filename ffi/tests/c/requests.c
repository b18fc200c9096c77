/*
 * requests.c: a C program recording N requests, each a SERVER transaction
 * with one SQL step, as a C server under load would; every tenth fails
 * (HTTP 500, marked failed). Used by ffi/tests/c_to_server.rs with a call-tree budget, so
 * most transactions leave without their tree.
 *
 * Usage: ./requests CONFIG N
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "osprey.h"
#include "check.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG N\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]);
    CHECK(osprey_init(argv[1]));
    uint32_t select_item;
    CHECK(osprey_intern("SELECT item", &select_item));
    for (int i = 0; i < n; i++) {
        CHECK(osprey_txn_begin("GET /c/items", OSPREY_TXN_SERVER, NULL));
        char user[32];
        snprintf(user, sizeof user, "c-user-%d", i);
        CHECK(osprey_txn_attr_str("enduser.id", user));
        uint64_t sql = 0;
        CHECK(osprey_step_enter(select_item, OSPREY_STEP_SQL, &sql));
        CHECK(osprey_attr_str(sql, "db.statement", "SELECT name FROM item WHERE id = ?"));
        CHECK(osprey_attr_str(sql, "db.system", "sqlite"));
        CHECK(osprey_step_exit());
        if (i % 10 == 9) {
            /* A server marks what it answers with a 5xx as failed. */
            CHECK(osprey_txn_attr_int("http.response.status_code", 500));
            CHECK(osprey_txn_error("ItemUnavailable", "item store unavailable", NULL));
        } else {
            CHECK(osprey_txn_attr_int("http.response.status_code", 200));
        }
        CHECK(osprey_txn_end());
    }
    CHECK(osprey_flush(10000));
    CHECK(osprey_shutdown(5000));
    printf("recorded %d\npid %ld\n", n, (long)getpid());
    return 0;
}
