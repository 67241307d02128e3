/*
 * A plugin written in C against shikaku_plugin.h, compiled by the tests with -D switches to
 * play every way a library can be wrong (or old):
 *
 *   ENTRY=name      the exported entry symbol (default shikaku_plugin_entry_v1)
 *   ABI_MAJOR=n     the ABI major in the descriptor (default SHIKAKU_ABI_MAJOR)
 *   KIND=n          the plugin kind (default SHIKAKU_KIND_UPSTREAM)
 *
 * It is an ABI 1.0 upstream: its vtable ends before next_event and bulk_check, which 1.1
 * appended, so it also proves that the current host loads an older minor.
 */
#include <stdlib.h>
#include <string.h>

#include "shikaku_plugin.h"

#ifndef ENTRY
#define ENTRY shikaku_plugin_entry_v1
#endif
#ifndef ABI_MAJOR
#define ABI_MAJOR SHIKAKU_ABI_MAJOR
#endif
#ifndef KIND
#define KIND SHIKAKU_KIND_UPSTREAM
#endif

static ShikakuOwnedBuf copy_out(const void *data, size_t len) {
    ShikakuOwnedBuf buf;
    buf.ptr = malloc(len ? len : 1);
    memcpy(buf.ptr, data, len);
    buf.len = len;
    buf.cap = len;
    return buf;
}

static void free_buf(ShikakuOwnedBuf buf) { free(buf.ptr); }

static ShikakuCallStatus ok(void) {
    ShikakuCallStatus status;
    memset(&status, 0, sizeof status);
    return status;
}

static int the_instance;

static ShikakuCallStatus create(const ShikakuHostApi *host, ShikakuBytes config,
                                void **out_instance) {
    (void)config;
    if (host && host->struct_size >= sizeof(ShikakuHostApi) &&
        host->max_log_level >= SHIKAKU_LOG_INFO) {
        static const char msg[] = "c test plugin created";
        ShikakuBytes line = {(const uint8_t *)msg, sizeof msg - 1};
        host->log(host->ctx, SHIKAKU_LOG_INFO, line);
    }
    *out_instance = &the_instance;
    return ok();
}

static void destroy(void *instance) { (void)instance; }

static ShikakuCallStatus challenge(void *target, ShikakuBytes request, uint32_t timeout_ms,
                                   ShikakuOwnedBuf *out) {
    static const uint8_t nonce[32] = {0x5a, 0x01, 0x02, 0x03};
    (void)target, (void)request, (void)timeout_ms;
    *out = copy_out(nonce, sizeof nonce);
    return ok();
}

/* An empty QualificationResult: zero bytes is a valid protobuf message. */
static ShikakuCallStatus empty_result(void *target, ShikakuBytes request, uint32_t timeout_ms,
                                      ShikakuOwnedBuf *out) {
    (void)target, (void)request, (void)timeout_ms;
    out->ptr = NULL;
    out->len = 0;
    out->cap = 0;
    return ok();
}

/* The upstream vtable as ABI 1.0 defined it. */
typedef struct UpstreamVTableV1_0 {
    size_t struct_size;
    ShikakuMethodFn challenge;
    ShikakuMethodFn check_by_card;
    ShikakuMethodFn check_by_numbers;
    ShikakuMethodFn issue_activation_code;
    ShikakuMethodFn redeem_activation_code;
    ShikakuMethodFn revoke_activation_code;
    ShikakuMethodFn issue_visual_check_password;
    ShikakuMethodFn verify_visual_check_password;
} UpstreamVTableV1_0;

static const UpstreamVTableV1_0 vtable = {
    sizeof(UpstreamVTableV1_0), challenge, empty_result, empty_result, NULL, NULL, NULL, NULL, NULL,
};

static const char name[] = "c-test-upstream";
static const char version[] = "1.0.0";
static const char build[] = "gcc";

static const ShikakuPluginDescriptor descriptor = {
    sizeof(ShikakuPluginDescriptor),
    {ABI_MAJOR, 0},
    KIND,
    0,
    {(const uint8_t *)name, sizeof name - 1},
    {(const uint8_t *)version, sizeof version - 1},
    {(const uint8_t *)build, sizeof build - 1},
    free_buf,
    create,
    destroy,
    &vtable,
};

const ShikakuPluginDescriptor *ENTRY(void) { return &descriptor; }
