/* Prints the size and field offsets of every ABI struct as the C compiler lays them out. */
#include <stdio.h>

#include "shikaku_plugin.h"

#define SIZE(t) printf("%s %zu\n", #t, sizeof(t))
#define FIELD(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
    SIZE(ShikakuAbiVersion);
    SIZE(ShikakuBytes);
    SIZE(ShikakuOwnedBuf);
    SIZE(ShikakuCallStatus);
    FIELD(ShikakuCallStatus, error);
    SIZE(ShikakuHostApi);
    FIELD(ShikakuHostApi, abi);
    FIELD(ShikakuHostApi, ctx);
    FIELD(ShikakuHostApi, max_log_level);
    FIELD(ShikakuHostApi, log);
    SIZE(ShikakuPluginDescriptor);
    FIELD(ShikakuPluginDescriptor, abi);
    FIELD(ShikakuPluginDescriptor, kind);
    FIELD(ShikakuPluginDescriptor, flags);
    FIELD(ShikakuPluginDescriptor, name);
    FIELD(ShikakuPluginDescriptor, plugin_version);
    FIELD(ShikakuPluginDescriptor, build_info);
    FIELD(ShikakuPluginDescriptor, free_buf);
    FIELD(ShikakuPluginDescriptor, create);
    FIELD(ShikakuPluginDescriptor, destroy);
    FIELD(ShikakuPluginDescriptor, vtable);
    SIZE(ShikakuReaderVTableV1);
    FIELD(ShikakuReaderVTableV1, list_readers);
    FIELD(ShikakuReaderVTableV1, next_event);
    FIELD(ShikakuReaderVTableV1, open);
    FIELD(ShikakuReaderVTableV1, close);
    FIELD(ShikakuReaderVTableV1, medium);
    FIELD(ShikakuReaderVTableV1, read_auth_certificate);
    FIELD(ShikakuReaderVTableV1, verify_pin);
    FIELD(ShikakuReaderVTableV1, sign);
    FIELD(ShikakuReaderVTableV1, authenticate_face);
    SIZE(ShikakuUpstreamVTableV1);
    FIELD(ShikakuUpstreamVTableV1, challenge);
    FIELD(ShikakuUpstreamVTableV1, check_by_card);
    FIELD(ShikakuUpstreamVTableV1, check_by_numbers);
    FIELD(ShikakuUpstreamVTableV1, issue_activation_code);
    FIELD(ShikakuUpstreamVTableV1, redeem_activation_code);
    FIELD(ShikakuUpstreamVTableV1, revoke_activation_code);
    FIELD(ShikakuUpstreamVTableV1, issue_visual_check_password);
    FIELD(ShikakuUpstreamVTableV1, verify_visual_check_password);
    FIELD(ShikakuUpstreamVTableV1, next_event);
    FIELD(ShikakuUpstreamVTableV1, bulk_check);
    FIELD(ShikakuUpstreamVTableV1, register_reference_number);
    FIELD(ShikakuUpstreamVTableV1, bulk_query);
    printf("SHIKAKU_UPSTREAM_VTABLE_V1_0_SIZE %zu\n", (size_t)SHIKAKU_UPSTREAM_VTABLE_V1_0_SIZE);
    printf("SHIKAKU_ABI_MAJOR %d\nSHIKAKU_ABI_MINOR %d\n", SHIKAKU_ABI_MAJOR, SHIKAKU_ABI_MINOR);
    printf("SHIKAKU_KIND_UPSTREAM %d\nSHIKAKU_FLAG_BULK_CHECK %llu\n", SHIKAKU_KIND_UPSTREAM,
           (unsigned long long)SHIKAKU_FLAG_BULK_CHECK);
    return 0;
}
