/* libFuzzer target: the TLS-over-TCP record layer. A fresh server
 * ho_tls_conn per input receives the input as socket bytes (in two pieces,
 * see fuzz_record_run). With deterministic randomness the server's keys are
 * the same in every run, so the seeds' encrypted records (the client's
 * Finished, application data, KeyUpdate, close_notify) decrypt and the
 * fuzzer reaches the protected record paths. Seeds: fuzz/corpus/fuzz_tls_record/. */
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
    bool done;
    size_t app;
    fuzz_record_run(server_cfg, data, size, &done, &app);
    return 0;
}
