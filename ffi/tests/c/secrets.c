/*
 * secrets.c: a C program recording transactions that carry the secrets an
 * application holds (the values come from the command line, planted by
 * ffi/tests/secrets_scan.rs from osprey_testkit::secrets): a query token in
 * the transaction name, Authorization and Cookie headers, a JDBC URL with
 * its password, a SQL literal in a statement name and its error, a bind
 * value, an outgoing URL with a token and one with a password.
 *
 * Usage: ./secrets CONFIG QUERY AUTHORIZATION COOKIE JDBC_URL SQL BIND URL_TOKEN URL_USERINFO
 */
#include <stdio.h>
#include <stdlib.h>

#include "osprey.h"
#include "check.h"

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s CONFIG QUERY AUTHORIZATION COOKIE JDBC_URL SQL BIND URL_TOKEN URL_USERINFO\n", argv[0]);
        return 2;
    }
    const char *query = argv[2], *authorization = argv[3], *cookie = argv[4];
    const char *jdbc = argv[5], *sql = argv[6], *bind = argv[7];
    const char *url_token = argv[8], *url_userinfo = argv[9];
    CHECK(osprey_init(argv[1]));
    char name[512];
    snprintf(name, sizeof name, "GET /c/login?%s", query);
    uint32_t select_id;
    CHECK(osprey_intern_step(sql, OSPREY_STEP_SQL, &select_id));
    for (int i = 0; i < 3; i++) {
        CHECK(osprey_txn_begin(name, OSPREY_TXN_SERVER, NULL));
        CHECK(osprey_txn_attr_str("http.request.header.authorization", authorization));
        CHECK(osprey_txn_attr_str("http.request.header.cookie", cookie));
        CHECK(osprey_txn_attr_str("url.query", query));
        CHECK(osprey_txn_attr_str("db.connection_string", jdbc));
        uint64_t step = 0;
        CHECK(osprey_step_enter(select_id, OSPREY_STEP_SQL, &step));
        CHECK(osprey_attr_str(step, "db.statement", sql));
        CHECK(osprey_attr_str(step, "db.query.parameter.0", bind));
        CHECK(osprey_error("SQLException", sql, NULL));
        CHECK(osprey_step_exit());
        CHECK(osprey_step_enter_name(sql, OSPREY_STEP_SQL, &step));
        CHECK(osprey_step_exit());
        CHECK(osprey_step_enter_name(url_token, OSPREY_STEP_HTTP_CALL, &step));
        CHECK(osprey_attr_str(step, "url.full", url_userinfo));
        CHECK(osprey_step_exit());
        CHECK(osprey_step_enter_name(url_userinfo, OSPREY_STEP_HTTP_CALL, &step));
        CHECK(osprey_step_exit());
        CHECK(osprey_txn_attr_int("http.response.status_code", 200));
        CHECK(osprey_txn_end());
    }
    /* With the collector down these give up at their deadline. */
    int flushed = osprey_flush(10000);
    int shut = osprey_shutdown(5000);
    printf("recorded 3\nflush %d shutdown %d\n", flushed, shut);
    return 0;
}
