/* libFuzzer target: a fresh, started client ho_tls per input, fed the
 * input as [epoch][u16 length][bytes] chunks (see fuzz_client_run). The
 * client's randomness is deterministic, so recorded server flights in the
 * seeds carry it through CertificateVerify, Finished and NewSessionTicket.
 * Seeds: fuzz/corpus/fuzz_tls_client/. */
#include "fuzz_common.h"

static ho_tls_config *client_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_rng_init();
    client_cfg = fuzz_client_config();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool done;
    fuzz_client_run(client_cfg, data, size, &done);
    return 0;
}
