/*
 * bad_input.c: drives libosprey with every kind of bad input a C caller
 * can produce and checks the exact result codes. Exits 0 when every check
 * passed; prints each failed check on stderr.
 *
 * Run by ffi/tests/bad_input.rs with the working directory set to a
 * scratch directory (the console exporter is used, nothing is written).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey.h"
#include "expect.h"

#define EXPECT(call, want)                                                              \
    do {                                                                                \
        osprey_result got_ = (call);                                                    \
        checks++;                                                                       \
        if (got_ != (want)) {                                                           \
            failures++;                                                                 \
            fprintf(stderr, "line %d: %s returned %d (%s), expected %s; last error: %s\n", \
                    __LINE__, #call, (int)got_, osprey_result_text((int)got_), #want,   \
                    osprey_last_error());                                               \
        }                                                                               \
    } while (0)

#define LAST_ERROR_HAS(text) ASSERT(strstr(osprey_last_error(), (text)) != NULL)

static const char *const INBOUND =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/* A NUL-terminated string of `len` copies of `c`. */
static char *repeat(char c, size_t len) {
    char *s = malloc(len + 1);
    if (s == NULL) {
        abort();
    }
    memset(s, c, len);
    s[len] = '\0';
    return s;
}

/* Before osprey_init: nothing records, nothing crashes. */
static void before_init(void) {
    EXPECT(osprey_txn_begin("early", OSPREY_TXN_SERVER, NULL), OSPREY_ERR_NOT_RUNNING);
    LAST_ERROR_HAS("not running");
    EXPECT(osprey_txn_end(), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_flush(100), OSPREY_ERR_NOT_RUNNING);
    EXPECT(osprey_shutdown(100), OSPREY_ERR_NOT_RUNNING);
    uint64_t h = 77;
    EXPECT(osprey_step_enter_name("early.step", OSPREY_STEP_METHOD, &h), OSPREY_OK);
    ASSERT(h == 0);
    EXPECT(osprey_step_exit(), OSPREY_OK);
    EXPECT(osprey_attr_str(0, "k", "v"), OSPREY_ERR_NO_TRANSACTION);
    osprey_statistics stats;
    memset(&stats, 0xff, sizeof stats);
    EXPECT(osprey_stats(&stats), OSPREY_OK);
    ASSERT(stats.produced == 0 && stats.exporters == 0);
    /* Interning does not need a running recorder. */
    uint32_t id = 0;
    EXPECT(osprey_intern("early.name", &id), OSPREY_OK);
}

static void config_errors(void) {
    EXPECT(osprey_init("exporter=console;sampel.ratio=1"), OSPREY_ERR_CONFIG);
    LAST_ERROR_HAS("sampel.ratio");
    EXPECT(osprey_init("otlp.endpoit=http://127.0.0.1:1"), OSPREY_ERR_CONFIG);
    LAST_ERROR_HAS("otlp.endpoit");
    EXPECT(osprey_init("sample.ratio=2"), OSPREY_ERR_CONFIG);
    LAST_ERROR_HAS("sample.ratio");
    EXPECT(osprey_init("service.name"), OSPREY_ERR_CONFIG);
    LAST_ERROR_HAS("malformed");
    EXPECT(osprey_init("exporter=carrier-pigeon"), OSPREY_ERR_CONFIG);
    EXPECT(osprey_init("service.name=\xff\xfe"), OSPREY_ERR_UTF8);
    LAST_ERROR_HAS("`config`");
    /* None of these started anything. */
    EXPECT(osprey_txn_begin("x", OSPREY_TXN_SERVER, NULL), OSPREY_ERR_NOT_RUNNING);

    EXPECT(osprey_init("exporter=console; service.name=bad-input;steps.max=4"), OSPREY_OK);
    EXPECT(osprey_init("exporter=console"), OSPREY_ERR_ALREADY_RUNNING);
    LAST_ERROR_HAS("already running");
    EXPECT(osprey_init(NULL), OSPREY_ERR_ALREADY_RUNNING);
    EXPECT(osprey_init(""), OSPREY_ERR_ALREADY_RUNNING);
}

static void null_pointers(void) {
    uint32_t id = 0;
    uint64_t h = 5;
    EXPECT(osprey_intern(NULL, &id), OSPREY_ERR_NULL);
    LAST_ERROR_HAS("`name` is NULL");
    EXPECT(osprey_intern("n", NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_begin(NULL, OSPREY_TXN_SERVER, NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_rename(NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_stats(NULL), OSPREY_ERR_NULL);
    char buf[OSPREY_TRACEPARENT_LEN];
    EXPECT(osprey_traceparent(NULL, sizeof buf), OSPREY_ERR_NULL);

    /* Inside a transaction, so NULL is the only thing wrong. */
    EXPECT(osprey_txn_begin("nulls", OSPREY_TXN_INTERNAL, NULL), OSPREY_OK);
    EXPECT(osprey_step_enter_name(NULL, OSPREY_STEP_METHOD, &h), OSPREY_ERR_NULL);
    ASSERT(h == 0);
    /* out_handle is optional. */
    EXPECT(osprey_intern("nulls.step", &id), OSPREY_OK);
    EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, NULL), OSPREY_OK);
    EXPECT(osprey_step_enter_name("nulls.named", OSPREY_STEP_METHOD, NULL), OSPREY_OK);
    EXPECT(osprey_attr_str(0, NULL, "v"), OSPREY_ERR_NULL);
    EXPECT(osprey_attr_str(0, "k", NULL), OSPREY_ERR_NULL);
    LAST_ERROR_HAS("`value` is NULL");
    EXPECT(osprey_attr_int(0, NULL, 1), OSPREY_ERR_NULL);
    EXPECT(osprey_attr_double(0, NULL, 1.5), OSPREY_ERR_NULL);
    EXPECT(osprey_attr_bool(0, NULL, true), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_attr_str(NULL, "v"), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_attr_str("k", NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_attr_int(NULL, 1), OSPREY_ERR_NULL);
    EXPECT(osprey_error(NULL, NULL, NULL), OSPREY_ERR_NULL);
    LAST_ERROR_HAS("`message` is NULL");
    EXPECT(osprey_txn_error("T", NULL, "stack"), OSPREY_ERR_NULL);
    /* type and stack are optional. */
    EXPECT(osprey_error(NULL, "no type, no stack", NULL), OSPREY_OK);
    EXPECT(osprey_txn_error(NULL, "failed", NULL), OSPREY_OK);
    EXPECT(osprey_traceparent(NULL, 0), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_rename(NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_end(), OSPREY_OK);

    /* Texts are never NULL. */
    ASSERT(strcmp(osprey_result_text(OSPREY_OK), "ok") == 0);
    ASSERT(strcmp(osprey_result_text(999), "unknown result code") == 0);
    ASSERT(strcmp(osprey_result_text(-1), "unknown result code") == 0);
    ASSERT(strlen(osprey_result_text(OSPREY_ERR_PANIC)) > 0);
    ASSERT(osprey_last_error() != NULL);
    ASSERT(osprey_version() != NULL && strlen(osprey_version()) > 0);
}

static void invalid_utf8(void) {
    uint32_t id = 0;
    uint64_t h = 9;
    EXPECT(osprey_intern("caf\xc3\x28", &id), OSPREY_ERR_UTF8);
    LAST_ERROR_HAS("offset 3");
    EXPECT(osprey_txn_begin("\xff", OSPREY_TXN_SERVER, NULL), OSPREY_ERR_UTF8);
    EXPECT(osprey_txn_begin("ok", OSPREY_TXN_SERVER, "00-\xfe"), OSPREY_ERR_UTF8);
    LAST_ERROR_HAS("`traceparent`");
    ASSERT(!osprey_txn_active());

    EXPECT(osprey_txn_begin("utf8", OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    EXPECT(osprey_step_enter_name("\x80step", OSPREY_STEP_METHOD, &h), OSPREY_ERR_UTF8);
    ASSERT(h == 0);
    EXPECT(osprey_attr_str(0, "k\xc0", "v"), OSPREY_ERR_UTF8);
    EXPECT(osprey_attr_str(0, "k", "v\xed\xa0\x80"), OSPREY_ERR_UTF8); /* a surrogate */
    EXPECT(osprey_txn_attr_str("k", "\xf8\x88\x80\x80\x80"), OSPREY_ERR_UTF8);
    EXPECT(osprey_error("T\xff", "m", NULL), OSPREY_ERR_UTF8);
    EXPECT(osprey_txn_error(NULL, "m", "\xfe"), OSPREY_ERR_UTF8);
    EXPECT(osprey_txn_rename("\xff"), OSPREY_ERR_UTF8);
    /* Valid multi-byte text is fine. */
    EXPECT(osprey_attr_str(0, "note", "caf\xc3\xa9 \xe2\x9c\x93"), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
}

static void oversized_names(void) {
    const size_t big = 100 * 1024;
    char *a = repeat('a', big);
    char *b = repeat('a', big);
    b[big - 1] = 'b'; /* differs only past the 1024-byte cut */
    uint32_t ia = 0, ib = 1;
    EXPECT(osprey_intern(a, &ia), OSPREY_OK);
    EXPECT(osprey_intern(b, &ib), OSPREY_OK);
    ASSERT(ia == ib);

    EXPECT(osprey_txn_begin(a, OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    uint64_t h = 0;
    EXPECT(osprey_step_enter_name(b, OSPREY_STEP_SQL, &h), OSPREY_OK);
    ASSERT(h != 0);
    EXPECT(osprey_attr_str(h, "db.statement", a), OSPREY_OK);
    EXPECT(osprey_attr_str(h, b, "big key"), OSPREY_OK);
    EXPECT(osprey_error(a, b, a), OSPREY_OK);
    EXPECT(osprey_txn_rename(b), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
    free(a);
    free(b);
}

static void unbalanced_calls(void) {
    uint32_t id = 0;
    uint64_t h = 0, inner = 0;
    EXPECT(osprey_intern("unbalanced.step", &id), OSPREY_OK);

    EXPECT(osprey_txn_end(), OSPREY_ERR_NO_TRANSACTION);
    LAST_ERROR_HAS("no open transaction");
    EXPECT(osprey_txn_rename("nothing open"), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_error("T", "m", NULL), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_txn_attr_int("k", 1), OSPREY_ERR_NO_TRANSACTION);

    /* Detach and attach: nothing to detach, NULL outputs, unknown and
     * already-attached ids, and a round trip. */
    uint64_t parked = 0, previous = 7;
    EXPECT(osprey_txn_detach(&parked), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_txn_detach(NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_attach(0, &previous), OSPREY_ERR_INVALID);
    LAST_ERROR_HAS("no detached transaction");
    EXPECT(osprey_txn_begin("parked", OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    EXPECT(osprey_txn_detach(&parked), OSPREY_OK);
    ASSERT(parked != 0 && !osprey_txn_active());
    EXPECT(osprey_txn_attach(parked, NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_txn_attach(parked, &previous), OSPREY_OK);
    ASSERT(previous == 0 && osprey_txn_active());
    EXPECT(osprey_txn_attach(parked, &previous), OSPREY_ERR_INVALID);
    EXPECT(osprey_txn_end(), OSPREY_OK);

    EXPECT(osprey_txn_begin("unbalanced", OSPREY_TXN_SERVER, "not a traceparent"), OSPREY_OK);
    ASSERT(osprey_txn_active());
    EXPECT(osprey_txn_begin("again", OSPREY_TXN_SERVER, NULL), OSPREY_ERR_ALREADY_ACTIVE);
    LAST_ERROR_HAS("already has an open transaction");
    /* Exit without enter, repeatedly, and bogus handles. */
    EXPECT(osprey_step_exit(), OSPREY_OK);
    EXPECT(osprey_step_exit(), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(0), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(12345), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(UINT64_MAX), OSPREY_OK);
    /* An outer exit closes the inner step left open; exiting it later is ignored. */
    EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, &h), OSPREY_OK);
    EXPECT(osprey_step_enter(id, OSPREY_STEP_CUSTOM, &inner), OSPREY_OK);
    ASSERT(h != 0 && inner != 0 && h != inner);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(inner), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    /* Attributes on an exited or unknown handle fall back, never crash. */
    EXPECT(osprey_attr_int(h, "late", 1), OSPREY_OK);
    EXPECT(osprey_attr_int(UINT64_MAX, "bogus", 1), OSPREY_OK);
    /* Unknown kinds. */
    h = 3;
    EXPECT(osprey_step_enter(id, 4, &h), OSPREY_ERR_INVALID);
    ASSERT(h == 0);
    EXPECT(osprey_step_enter(id, -1, &h), OSPREY_ERR_INVALID);
    EXPECT(osprey_step_enter_name("k", 99, &h), OSPREY_ERR_INVALID);
    LAST_ERROR_HAS("step kind 99");
    /* An id never issued by osprey_intern records as "?". */
    EXPECT(osprey_step_enter(0xfffffff0u, OSPREY_STEP_METHOD, &h), OSPREY_OK);
    /* Past the step cap (steps.max=4) steps are counted, not kept; exits
     * by handle or innermost still balance. */
    uint64_t deep[8];
    for (int i = 0; i < 8; i++) {
        EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, &deep[i]), OSPREY_OK);
    }
    ASSERT(deep[7] != 0);
    for (int i = 7; i >= 4; i--) {
        EXPECT(osprey_step_exit_handle(deep[i]), OSPREY_OK);
    }
    for (int i = 3; i >= 0; i--) {
        EXPECT(osprey_step_exit(), OSPREY_OK);
    }
    /* Steps left open are closed by txn_end. */
    EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, NULL), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_txn_begin("bad kind", 2, NULL), OSPREY_ERR_INVALID);
    EXPECT(osprey_txn_begin("bad kind", -7, NULL), OSPREY_ERR_INVALID);
}

static void traceparent_buffers(void) {
    char buf[OSPREY_TRACEPARENT_LEN];
    memset(buf, 'x', sizeof buf);
    EXPECT(osprey_traceparent(buf, sizeof buf), OSPREY_ERR_NO_TRANSACTION);

    EXPECT(osprey_txn_begin("propagation", OSPREY_TXN_SERVER, INBOUND), OSPREY_OK);
    EXPECT(osprey_traceparent(buf, 0), OSPREY_ERR_BUFFER_TOO_SMALL);
    EXPECT(osprey_traceparent(buf, 10), OSPREY_ERR_BUFFER_TOO_SMALL);
    LAST_ERROR_HAS("needs 56 bytes");
    EXPECT(osprey_traceparent(buf, OSPREY_TRACEPARENT_LEN - 1), OSPREY_ERR_BUFFER_TOO_SMALL);
    ASSERT(buf[0] == 'x'); /* nothing written */
    EXPECT(osprey_traceparent(buf, sizeof buf), OSPREY_OK);
    ASSERT(strlen(buf) == 55);
    ASSERT(strncmp(buf, INBOUND, 36) == 0); /* same version and trace id */
    ASSERT(strncmp(buf + 36, INBOUND + 36, 16) != 0); /* our span, not the caller's */
    char inner[OSPREY_TRACEPARENT_LEN];
    EXPECT(osprey_step_enter_name("call", OSPREY_STEP_HTTP_CALL, NULL), OSPREY_OK);
    EXPECT(osprey_traceparent(inner, sizeof inner), OSPREY_OK);
    ASSERT(strncmp(inner, buf, 36) == 0 && strcmp(inner, buf) != 0);
    EXPECT(osprey_step_exit(), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
}

/* Asynchronous step ends: bad handles, NULLs, no transaction, bad UTF-8. */
static void deferred_ends(void) {
    osprey_deferred *cell = (osprey_deferred *)&cell;
    EXPECT(osprey_step_defer_end(1, &cell), OSPREY_ERR_NO_TRANSACTION);
    ASSERT(cell == NULL);
    EXPECT(osprey_step_defer_end(1, NULL), OSPREY_ERR_NULL);
    EXPECT(osprey_deferred_complete(NULL, 200, NULL, NULL), OSPREY_ERR_NULL);

    EXPECT(osprey_txn_begin("deferred", OSPREY_TXN_INTERNAL, NULL), OSPREY_OK);
    EXPECT(osprey_step_defer_end(0, &cell), OSPREY_ERR_INVALID);
    EXPECT(osprey_step_defer_end(0xdeadbeef, &cell), OSPREY_ERR_INVALID);
    LAST_ERROR_HAS("not a step of this thread's open transaction");
    ASSERT(cell == NULL);
    uint64_t h = 0;
    EXPECT(osprey_step_enter_name("deferred.call", OSPREY_STEP_HTTP_CALL, &h), OSPREY_OK);
    EXPECT(osprey_step_defer_end(h, &cell), OSPREY_OK);
    ASSERT(cell != NULL);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    /* Bad UTF-8 in the error is kept, repaired; the cell is consumed. */
    EXPECT(osprey_deferred_complete(cell, 502, "Bad\xff", "upstream \xfe failed"), OSPREY_OK);
    /* A second cell for the same step, completed without an error. */
    EXPECT(osprey_step_enter_name("deferred.ok", OSPREY_STEP_HTTP_CALL, &h), OSPREY_OK);
    EXPECT(osprey_step_defer_end(h, &cell), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    EXPECT(osprey_deferred_complete(cell, 200, NULL, NULL), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
}

static void *other_thread(void *arg) {
    (void)arg;
    uint32_t id;
    /* Its own transaction while the main thread has one open. */
    if (osprey_txn_begin("worker", OSPREY_TXN_INTERNAL, NULL) != OSPREY_OK) {
        return (void *)"txn_begin failed on the worker thread";
    }
    if (osprey_intern(NULL, &id) != OSPREY_ERR_NULL ||
        strstr(osprey_last_error(), "`name` is NULL") == NULL) {
        return (void *)"intern(NULL) on the worker thread";
    }
    if (osprey_txn_end() != OSPREY_OK) {
        return (void *)"txn_end failed on the worker thread";
    }
    return NULL;
}

static void threads(void) {
    EXPECT(osprey_txn_begin("main", OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    EXPECT(osprey_txn_rename("\xff"), OSPREY_ERR_UTF8);
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, other_thread, NULL) == 0);
    void *err = NULL;
    ASSERT(pthread_join(t, &err) == 0);
    if (err != NULL) {
        fprintf(stderr, "worker: %s\n", (const char *)err);
    }
    ASSERT(err == NULL);
    /* The worker's failure did not replace this thread's last error. */
    LAST_ERROR_HAS("`name` is not valid UTF-8");
    ASSERT(osprey_txn_active());
    EXPECT(osprey_txn_end(), OSPREY_OK);
}

static void after_shutdown(void) {
    uint32_t id = 0;
    uint64_t h = 0;
    EXPECT(osprey_intern("late.step", &id), OSPREY_OK);
    /* A transaction open across the shutdown can still be used and ended. */
    EXPECT(osprey_txn_begin("across shutdown", OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    EXPECT(osprey_flush(5000), OSPREY_OK);
    osprey_statistics before;
    EXPECT(osprey_stats(&before), OSPREY_OK);
    ASSERT(before.exporters == 1);
    ASSERT(before.produced >= 7);
    EXPECT(osprey_shutdown(5000), OSPREY_OK);
    EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, &h), OSPREY_OK);
    EXPECT(osprey_attr_str(h, "k", "v"), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK); /* dropped and counted */

    EXPECT(osprey_txn_begin("after", OSPREY_TXN_SERVER, NULL), OSPREY_ERR_NOT_RUNNING);
    EXPECT(osprey_txn_end(), OSPREY_ERR_NO_TRANSACTION);
    h = 42;
    EXPECT(osprey_step_enter(id, OSPREY_STEP_METHOD, &h), OSPREY_OK);
    ASSERT(h == 0);
    EXPECT(osprey_step_exit(), OSPREY_OK);
    EXPECT(osprey_step_exit_handle(h), OSPREY_OK);
    EXPECT(osprey_attr_str(0, "k", "v"), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_txn_attr_int("k", 1), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_error("T", "m", NULL), OSPREY_ERR_NO_TRANSACTION);
    char buf[OSPREY_TRACEPARENT_LEN];
    EXPECT(osprey_traceparent(buf, sizeof buf), OSPREY_ERR_NO_TRANSACTION);
    EXPECT(osprey_flush(100), OSPREY_ERR_NOT_RUNNING);
    EXPECT(osprey_shutdown(100), OSPREY_ERR_NOT_RUNNING);
    osprey_statistics after;
    EXPECT(osprey_stats(&after), OSPREY_OK);
    ASSERT(after.produced >= before.produced);

    /* Osprey can be started again. */
    EXPECT(osprey_init("exporter=console"), OSPREY_OK);
    EXPECT(osprey_txn_begin("restarted", OSPREY_TXN_SERVER, NULL), OSPREY_OK);
    EXPECT(osprey_txn_end(), OSPREY_OK);
    EXPECT(osprey_shutdown(5000), OSPREY_OK);
}

int main(void) {
    before_init();
    config_errors();
    null_pointers();
    invalid_utf8();
    oversized_names();
    unbalanced_calls();
    traceparent_buffers();
    deferred_ends();
    threads();
    after_shutdown();
    printf("bad_input: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
