/*
 * Fuzz target: the request parser (any NATS client can publish anything).
 * Property: a request that parses re-encodes to JSON that parses again to
 * the same prompt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mq/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_request req;
    struct meme_err err = {0};
    if (proto_request_parse((const char *)data, size, &req, &err) == 0) {
        char *json = proto_request_json(&req);
        struct proto_request again;
        if (proto_request_parse(json, strlen(json), &again, &err) != 0)
            abort();
        if (strcmp(again.prompt, req.prompt) != 0 || again.size != req.size)
            abort();
        proto_request_release(&again);
        free(json);
    }
    proto_request_release(&req);
    return 0;
}
