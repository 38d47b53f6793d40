/*
 * aead_calls: what sealing one QUIC packet costs, by OpenSSL 3 call
 * sequence (issue 16 item 1). Each variant seals N packets of LEN bytes
 * (default 1350, the payload of a 1400-byte datagram) with a 20-byte
 * header as AAD under AES-128-GCM, a new nonce per packet, and prints ns
 * per packet and its ratio to the floor:
 *
 *   floor      EVP_EncryptUpdate over the payload on a running GCM context,
 *              no nonce, no AAD, no tag: what `openssl speed -evp
 *              aes-128-gcm` measures (the record layer's lower bound);
 *   ours       crypto_aead_seal (src/crypto/aead.c), what packets use (the
 *              "params" sequence since issue 16; "ctrl" before);
 *   ctrl       the textbook sequence: EVP_CipherInit_ex(nonce), Update(AAD),
 *              Update(payload), Final, EVP_CIPHER_CTX_ctrl(GET_TAG);
 *   params     the same with EVP_EncryptInit_ex2 and the tag read by
 *              EVP_CIPHER_CTX_get_params over a one-entry OSSL_PARAM array;
 *   open       crypto_aead_open of what `ours` sealed.
 *
 *   aead_calls [-n PACKETS] [-l LEN] [-r ROUNDS]
 *
 * Rounds alternate the variants; the minimum and the median of each are
 * printed (on a shared machine the minimum is the steadier figure). CPU
 * time of this process (CLOCK_PROCESS_CPUTIME_ID); compare the ratios.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto_internal.h"

#define MAX_LEN 16384
#define MAX_ROUNDS 21

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t iv[12] = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2, 3, 4, 5, 6};
static uint8_t aad[20], in[MAX_LEN], out[MAX_LEN + 16];
static volatile uint8_t sink;

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void nonce_of(uint64_t pn, uint8_t n[12])
{
    memcpy(n, iv, 12);
    for (int i = 0; i < 8; i++)
        n[11 - i] ^= (uint8_t)(pn >> (8 * i));
}

static double run_floor(int npkt, size_t len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, iv);
    int n;
    double t0 = cpu_ns();
    for (int i = 0; i < npkt; i++)
        EVP_EncryptUpdate(c, out, &n, in, (int)len);
    double t = cpu_ns() - t0;
    sink ^= out[0];
    EVP_CIPHER_CTX_free(c);
    return t / npkt;
}

static double run_ours(int npkt, size_t len)
{
    crypto_aead *a = crypto_aead_new(HO_AEAD_AES_128_GCM, true, key, iv);
    double t0 = cpu_ns();
    for (int i = 0; i < npkt; i++)
        crypto_aead_seal(a, (uint64_t)i, aad, sizeof(aad), in, len, out);
    double t = cpu_ns() - t0;
    sink ^= out[len];
    crypto_aead_free(a);
    return t / npkt;
}

static double run_open(int npkt, size_t len)
{
    crypto_aead *s = crypto_aead_new(HO_AEAD_AES_128_GCM, true, key, iv);
    crypto_aead *o = crypto_aead_new(HO_AEAD_AES_128_GCM, false, key, iv);
    static uint8_t sealed[MAX_LEN + 16], plain[MAX_LEN + 16];
    crypto_aead_seal(s, 7, aad, sizeof(aad), in, len, sealed);
    double t0 = cpu_ns();
    int bad = 0;
    for (int i = 0; i < npkt; i++)
        bad += crypto_aead_open(o, 7, aad, sizeof(aad), sealed, len + 16, plain) != HO_OK;
    double t = cpu_ns() - t0;
    if (bad != 0 || memcmp(plain, in, len) != 0) {
        fprintf(stderr, "aead_calls: open failed\n");
        exit(1);
    }
    crypto_aead_free(s);
    crypto_aead_free(o);
    return t / npkt;
}

static double run_ctrl(int npkt, size_t len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, NULL);
    uint8_t n[12];
    int l, f;
    double t0 = cpu_ns();
    for (int i = 0; i < npkt; i++) {
        nonce_of((uint64_t)i, n);
        EVP_CipherInit_ex(c, NULL, NULL, NULL, n, -1);
        EVP_EncryptUpdate(c, NULL, &l, aad, sizeof(aad));
        EVP_EncryptUpdate(c, out, &l, in, (int)len);
        EVP_EncryptFinal_ex(c, out + l, &f);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len);
    }
    double t = cpu_ns() - t0;
    sink ^= out[len];
    EVP_CIPHER_CTX_free(c);
    return t / npkt;
}

static double run_params(int npkt, size_t len)
{
    EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex2(c, gcm, key, NULL, NULL);
    uint8_t n[12];
    int l, f;
    OSSL_PARAM tag[2] = {OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 16), OSSL_PARAM_END};
    double t0 = cpu_ns();
    for (int i = 0; i < npkt; i++) {
        nonce_of((uint64_t)i, n);
        EVP_EncryptInit_ex2(c, NULL, NULL, n, NULL);
        EVP_EncryptUpdate(c, NULL, &l, aad, sizeof(aad));
        EVP_EncryptUpdate(c, out, &l, in, (int)len);
        EVP_EncryptFinal_ex(c, out + l, &f);
        tag[0].data = out + len;
        EVP_CIPHER_CTX_get_params(c, tag);
    }
    double t = cpu_ns() - t0;
    sink ^= out[len];
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(gcm);
    return t / npkt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int npkt = 200000, rounds = 7;
    size_t len = 1350;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0)
            npkt = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-l") == 0)
            len = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "-r") == 0)
            rounds = atoi(argv[i + 1]);
    }
    if (npkt <= 0 || len == 0 || len > MAX_LEN || rounds <= 0 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: aead_calls [-n PACKETS] [-l LEN (1..%d)] [-r ROUNDS (1..%d)]\n", MAX_LEN, MAX_ROUNDS);
        return 2;
    }
    for (size_t i = 0; i < len; i++)
        in[i] = (uint8_t)i;
    static const char *const names[] = {"floor", "ours", "ctrl", "params", "open"};
    double (*const fns[])(int, size_t) = {run_floor, run_ours, run_ctrl, run_params, run_open};
    enum { NV = 5 };
    double res[NV][MAX_ROUNDS];
    for (int v = 0; v < NV; v++)
        fns[v](npkt / 10 + 1, len); /* warm-up */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < NV; k++) {
            int v = r % 2 ? NV - 1 - k : k; /* alternate the order */
            res[v][r] = fns[v](npkt, len);
        }
    double med[NV], min[NV];
    for (int v = 0; v < NV; v++) {
        qsort(res[v], (size_t)rounds, sizeof(double), cmp_double);
        med[v] = res[v][rounds / 2];
        min[v] = res[v][0];
    }
    printf("aead_calls: AES-128-GCM, %zu-byte payload, 20-byte AAD, %d packets x %d rounds (CPU ns per packet)\n",
           len, npkt, rounds);
    printf("%-7s %9s %7s %9s %8s %9s\n", "variant", "min", "GB/s", "x floor", "+ns", "median");
    for (int v = 0; v < NV; v++)
        printf("%-7s %9.1f %7.2f %9.2f %8.1f %9.1f\n", names[v], min[v], (double)len / min[v], min[v] / min[0],
               min[v] - min[0], med[v]);
    return 0;
}
