/*
 * tests/server/fuzz_config.c - libFuzzer target for cfg_load_ini and
 *   cfg_load_dotenv on arbitrary text (through a private temp file), then
 *   cfg_validate and cfg_print.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_config.%d.ini", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct cfg c;
    struct tl_diag d = { 0 };
    cfg_defaults(&c);
    if (cfg_load_ini(&c, path, &d) == TL_OK)
        cfg_validate(&c, &d);
    cfg_defaults(&c);
    cfg_load_dotenv(&c, path, &d);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        cfg_print(&c, null);
        fclose(null);
    }
    char buf[1024];
    tl_diag_format(&d, buf, sizeof buf);
    return 0;
}
