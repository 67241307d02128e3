/*
 * shikaku_plugin.h — the C ABI between shikakud and its plugins (ABI 1.1).
 *
 * A plugin is a shared library exporting one function per ABI major version:
 *
 *     const ShikakuPluginDescriptor *shikaku_plugin_entry_v1(void);
 *
 * returning a pointer to a static descriptor. Rules:
 *   - Structs are append-only within a major version and start with their own size; the host
 *     reads a field only when struct_size covers it. A new major means a new entry symbol.
 *   - Rich values cross as protobuf bytes (proto/shikaku/plugin/v1/plugin.proto).
 *   - Memory the host passes in (ShikakuBytes) is valid only during the call. Buffers the plugin
 *     returns (ShikakuOwnedBuf, including CallStatus.error) are given back to free_buf.
 *   - Status codes are gRPC code numbers; on failure, error holds an encoded
 *     shikaku.plugin.v1.Error (or is empty).
 *   - Every call carries timeout_ms and must return by then.
 *   - Without SHIKAKU_FLAG_THREAD_SAFE the host never calls the plugin from two threads at once.
 *   - A NULL vtable method means "not supported" (the host answers UNIMPLEMENTED).
 *   - The host never unloads a plugin.
 *
 * Kept in step with sdk/abi/src/lib.rs by sdk/rust/tests/c_header.rs.
 */
#ifndef SHIKAKU_PLUGIN_H
#define SHIKAKU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHIKAKU_ABI_MAJOR 1
#define SHIKAKU_ABI_MINOR 2
#define SHIKAKU_ENTRY_SYMBOL_V1 "shikaku_plugin_entry_v1"

#define SHIKAKU_KIND_CARD_READER 1
#define SHIKAKU_KIND_SMARTPHONE_READER 2
#define SHIKAKU_KIND_UPSTREAM 3

#define SHIKAKU_FLAG_THREAD_SAFE ((uint64_t)1 << 0)
#define SHIKAKU_FLAG_BULK_CHECK ((uint64_t)1 << 1)

#define SHIKAKU_STATUS_OK 0
#define SHIKAKU_STATUS_CANCELLED 1
#define SHIKAKU_STATUS_UNKNOWN 2
#define SHIKAKU_STATUS_INVALID_ARGUMENT 3
#define SHIKAKU_STATUS_DEADLINE_EXCEEDED 4
#define SHIKAKU_STATUS_NOT_FOUND 5
#define SHIKAKU_STATUS_ALREADY_EXISTS 6
#define SHIKAKU_STATUS_PERMISSION_DENIED 7
#define SHIKAKU_STATUS_RESOURCE_EXHAUSTED 8
#define SHIKAKU_STATUS_FAILED_PRECONDITION 9
#define SHIKAKU_STATUS_ABORTED 10
#define SHIKAKU_STATUS_OUT_OF_RANGE 11
#define SHIKAKU_STATUS_UNIMPLEMENTED 12
#define SHIKAKU_STATUS_INTERNAL 13
#define SHIKAKU_STATUS_UNAVAILABLE 14
#define SHIKAKU_STATUS_UNAUTHENTICATED 16

#define SHIKAKU_LOG_ERROR 1
#define SHIKAKU_LOG_WARN 2
#define SHIKAKU_LOG_INFO 3
#define SHIKAKU_LOG_DEBUG 4
#define SHIKAKU_LOG_TRACE 5

typedef struct ShikakuAbiVersion {
    uint16_t major;
    uint16_t minor;
} ShikakuAbiVersion;

/* Borrowed bytes, valid only during the call. */
typedef struct ShikakuBytes {
    const uint8_t *ptr;
    size_t len;
} ShikakuBytes;

/* Plugin-allocated bytes, returned to the plugin's free_buf. */
typedef struct ShikakuOwnedBuf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} ShikakuOwnedBuf;

typedef struct ShikakuCallStatus {
    int32_t code;
    ShikakuOwnedBuf error;
} ShikakuCallStatus;

typedef struct ShikakuHostApi {
    size_t struct_size;
    ShikakuAbiVersion abi;
    void *ctx;
    uint32_t max_log_level;
    void (*log)(void *ctx, uint32_t level, ShikakuBytes msg);
} ShikakuHostApi;

/* A call on an instance or a session: request bytes in, a buffer out. */
typedef ShikakuCallStatus (*ShikakuMethodFn)(void *target, ShikakuBytes request,
                                             uint32_t timeout_ms, ShikakuOwnedBuf *out);

typedef struct ShikakuPluginDescriptor {
    size_t struct_size;
    ShikakuAbiVersion abi;
    uint32_t kind;
    uint64_t flags;
    ShikakuBytes name;
    ShikakuBytes plugin_version;
    ShikakuBytes build_info;
    void (*free_buf)(ShikakuOwnedBuf buf); /* never NULL */
    ShikakuCallStatus (*create)(const ShikakuHostApi *host, ShikakuBytes config,
                                void **out_instance);
    void (*destroy)(void *instance);
    const void *vtable;
} ShikakuPluginDescriptor;

/* SHIKAKU_KIND_CARD_READER and SHIKAKU_KIND_SMARTPHONE_READER. */
typedef struct ShikakuReaderVTableV1 {
    size_t struct_size;
    ShikakuMethodFn list_readers;          /* instance -> ReaderList */
    ShikakuMethodFn next_event;            /* instance -> ReaderEventReply */
    ShikakuCallStatus (*open)(void *instance, ShikakuBytes reader, uint32_t timeout_ms,
                              void **out_session);
    void (*close)(void *session);
    ShikakuMethodFn medium;                /* session -> MediumReply */
    ShikakuMethodFn read_auth_certificate; /* session -> certificate DER */
    ShikakuMethodFn verify_pin;            /* session, PIN digits -> nothing */
    ShikakuMethodFn sign;                  /* session, DigestInfo -> signature */
    ShikakuMethodFn authenticate_face;     /* session -> nothing */
} ShikakuReaderVTableV1;

/* SHIKAKU_KIND_UPSTREAM. */
typedef struct ShikakuUpstreamVTableV1 {
    size_t struct_size;
    ShikakuMethodFn challenge;                    /* -> raw challenge */
    ShikakuMethodFn check_by_card;                /* CardCheckRequest -> QualificationResult */
    ShikakuMethodFn check_by_numbers;             /* NumbersCheckRequest -> QualificationResult */
    ShikakuMethodFn issue_activation_code;        /* IssueActivationCodeRequest -> IssuedActivationCode */
    ShikakuMethodFn redeem_activation_code;       /* RedeemActivationCodeRequest -> RedeemActivationCodeReply */
    ShikakuMethodFn revoke_activation_code;       /* RevokeActivationCodeRequest -> nothing */
    ShikakuMethodFn issue_visual_check_password;  /* VisualCheckPasswordRequest -> IssuedPassword */
    ShikakuMethodFn verify_visual_check_password; /* VisualCheckPasswordRequest -> nothing */
    /* ABI 1.1 */
    ShikakuMethodFn next_event;                   /* -> UpstreamEventReply */
    ShikakuMethodFn bulk_check;                   /* BulkCheckRequest -> BulkCheckReply */
    /* ABI 1.2 */
    ShikakuMethodFn register_reference_number;    /* ReferenceNumberRequest -> ReferenceNumberReply */
    ShikakuMethodFn bulk_query;                   /* BulkQueryRequest -> BulkCheckReply */
} ShikakuUpstreamVTableV1;

/* The size of the upstream vtable in ABI 1.0. */
#define SHIKAKU_UPSTREAM_VTABLE_V1_0_SIZE offsetof(ShikakuUpstreamVTableV1, next_event)

typedef const ShikakuPluginDescriptor *(*ShikakuEntryFn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SHIKAKU_PLUGIN_H */
