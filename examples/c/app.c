/*
 * app.c: a C program recording one request with Osprey.
 *
 * It handles "GET /c/orders" as a SERVER transaction continuing an inbound
 * W3C trace, with a method step containing an SQL step (which fails) and
 * an outgoing HTTP call whose traceparent header it prints, then an
 * asynchronous call whose end (20 ms later, HTTP 503) another thread
 * reports. Any unexpected result code ends the program with exit status 1.
 *
 * Usage: ./app ["key=value;key=value"]   (default: $OSPREY_CONFIG, then
 * Osprey's defaults: the local store under ./osprey-data)
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osprey.h"

/* Runs an Osprey call; on anything but OSPREY_OK prints why and exits 1. */
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

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The caller's trace, as an inbound request header would carry it. */
static const char *const INBOUND_TRACEPARENT =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static const char *const SQL_TEXT =
    "SELECT id, total FROM orders WHERE customer_id = ? ORDER BY id";

/* The thread that sees the asynchronous call finish: 20 ms, then a 503. */
static void *finish_async_call(void *cell) {
    sleep_ms(20);
    CHECK(osprey_deferred_complete(cell, 503, "HttpTimeoutException",
                                   "pricing answered 503 after 20 ms"));
    return NULL;
}

int main(int argc, char **argv) {
    const char *config = argc > 1 ? argv[1] : getenv("OSPREY_CONFIG");
    CHECK(osprey_init(config));
    printf("osprey %s started\n", osprey_version());

    /* Intern step names once, at start-up; steps then take ids. */
    uint32_t load_orders, select_orders, call_inventory, call_pricing;
    CHECK(osprey_intern("OrderService.loadOrders", &load_orders));
    CHECK(osprey_intern("SELECT orders", &select_orders));
    CHECK(osprey_intern("GET inventory", &call_inventory));
    CHECK(osprey_intern("GET pricing", &call_pricing));

    CHECK(osprey_txn_begin("GET /c/orders", OSPREY_TXN_SERVER, INBOUND_TRACEPARENT));
    CHECK(osprey_txn_attr_str("http.request.method", "GET"));
    CHECK(osprey_txn_attr_str("url.path", "/c/orders"));

    uint64_t method = 0;
    CHECK(osprey_step_enter(load_orders, OSPREY_STEP_METHOD, &method));
    CHECK(osprey_attr_str(method, "code.function", "loadOrders"));
    sleep_ms(2);

    uint64_t sql = 0;
    CHECK(osprey_step_enter(select_orders, OSPREY_STEP_SQL, &sql));
    CHECK(osprey_attr_str(sql, "db.statement", SQL_TEXT));
    CHECK(osprey_attr_str(sql, "db.system", "postgresql"));
    sleep_ms(3);
    /* The innermost open step (the SQL one) records the error. */
    CHECK(osprey_error("SQLTimeoutException", "statement timed out after 3 ms", NULL));
    CHECK(osprey_step_exit_handle(sql));

    uint64_t http = 0;
    CHECK(osprey_step_enter(call_inventory, OSPREY_STEP_HTTP_CALL, &http));
    CHECK(osprey_attr_str(0, "url.full", "http://inventory.local/stock?sku=42"));
    char traceparent[OSPREY_TRACEPARENT_LEN];
    CHECK(osprey_traceparent(traceparent, sizeof traceparent));
    printf("traceparent: %s\n", traceparent);
    sleep_ms(1);
    CHECK(osprey_attr_int(http, "http.response.status_code", 200));
    CHECK(osprey_step_exit());

    CHECK(osprey_step_exit_handle(method));

    /* An asynchronous call: the step is exited at once, and ends when the
     * other thread completes its cell. */
    uint64_t async_call = 0;
    osprey_deferred *cell = NULL;
    CHECK(osprey_step_enter(call_pricing, OSPREY_STEP_HTTP_CALL, &async_call));
    CHECK(osprey_step_defer_end(async_call, &cell));
    CHECK(osprey_step_exit_handle(async_call));
    pthread_t finisher;
    if (pthread_create(&finisher, NULL, finish_async_call, cell) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    pthread_join(finisher, NULL);

    CHECK(osprey_txn_attr_int("http.response.status_code", 200));
    CHECK(osprey_txn_end());

    CHECK(osprey_flush(5000));
    osprey_statistics stats;
    memset(&stats, 0, sizeof stats);
    CHECK(osprey_stats_sized(&stats, sizeof stats));
    printf("produced %llu, dropped %llu, delivered %llu\n",
           (unsigned long long)stats.produced, (unsigned long long)stats.dropped,
           (unsigned long long)stats.delivered);
    CHECK(osprey_shutdown(5000));
    printf("done\n");
    return 0;
}
