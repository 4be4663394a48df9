/*
 * Fuzz target: error replies as clients read them (a hostile worker or any
 * publisher on the reply subject).
 */
#include <stdint.h>
#include <stdlib.h>

#include "mq/proto.h"
#include "term/term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int code = 0;
    char *message = NULL;
    if (proto_error_parse((const char *)data, size, &code, &message) == 0) {
        (void)meme_code_name(code);
        char *safe = term_sanitize_dup(message ? message : "");
        free(safe);
    }
    free(message);
    return 0;
}
