/*
 * tests/cache/fuzz_tier.c - libFuzzer target for the tier's record decoding
 * (tier_record_check): the bytes of a shared segment are whatever another
 * process left there, torn or overwritten, so the check must never read
 * outside the log and must accept only a whole record of the asked key. The
 * input is [offset byte][key length byte][key][log bytes]; the log is a heap
 * copy of its own, so ASan sees any read past it. Asserted besides: an
 * accepted value lies inside the log, right after the key (a 40-byte header).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/tier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t off = (size_t)data[0] * 8, klen = data[1];
    if (size - 2 < klen)
        return 0;
    struct str key = { (const char *)data + 2, klen };
    size_t log_size = size - 2 - klen;
    unsigned char *log = malloc(log_size ? log_size : 1);
    if (!log)
        abort();
    memcpy(log, data + 2 + klen, log_size);
    /* the hash the record claims, so the check goes past its first test */
    uint64_t hash = 0;
    if (off + 24 <= log_size)
        memcpy(&hash, log + off + 16, sizeof hash);
    struct tier_record_view rv;
    if (tier_record_check(log, log_size, off, key, hash, 1 << 20, &rv)) {
        if (rv.value_off > log_size || log_size - rv.value_off < rv.value_len || rv.value_off != off + 40 + klen)
            abort();
        /* what a lookup does next: checksum its copy of the value */
        (void)tier_checksum(key, (struct str){ (const char *)log + rv.value_off, rv.value_len });
    }
    free(log);
    return 0;
}
