/* libFuzzer target: a fresh server ho_tls per input, fed the input as
 * ClientHello bytes at the initial epoch (in two pieces, see
 * fuzz_server_run), with deterministic randomness and a fixed ticket key.
 * Seeds: fuzz/corpus/fuzz_tls_server/. */
#include "fuzz_common.h"

static ho_tls_config *server_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_rng_init();
    server_cfg = fuzz_server_config();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t produced;
    fuzz_server_run(server_cfg, data, size, &produced);
    return 0;
}
