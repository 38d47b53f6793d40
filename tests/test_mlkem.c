/* ML-KEM-768 (src/crypto/mlkem.c) against published known answers:
 * C2SP CCTV intermediate, strcmp and accumulated vectors, and the FIPS 203
 * accumulated digest of BoringSSL/LibreSSL (tests/data/mlkem/README.md names them and their
 * licence), plus implicit rejection and the input checks of FIPS 203 §7. */
#include "harness.h"
#include "crypto/mlkem.h"
#include "crypto/crypto_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the hex value of the line "name = hex" of a CCTV vector file. */
static uint8_t *vec_get(const char *file, const char *name, size_t *len)
{
    const char *src = getenv("HO_SRC");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/data/mlkem/%s", src ? src : ".", file);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    static char line[8192];
    uint8_t *out = NULL;
    size_t nl = strlen(name);
    while (out == NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, name, nl) == 0 && strncmp(line + nl, " = ", 3) == 0)
            out = ho_test_unhex(line + nl + 3, len);
    fclose(f);
    return out;
}

/* CCTV intermediate values: keys (draft KeyGen), then Encaps and Decaps,
 * which FIPS 203 left unchanged, byte for byte. */
static void test_intermediate(void)
{
    size_t dl, zl, ekl, dkl, ml, cl, kl;
    const char *f = "intermediate-768.txt";
    uint8_t *d = vec_get(f, "d", &dl), *z = vec_get(f, "z", &zl), *ek = vec_get(f, "ek", &ekl);
    uint8_t *dk = vec_get(f, "dk", &dkl), *m = vec_get(f, "m", &ml), *c = vec_get(f, "c", &cl);
    uint8_t *k = vec_get(f, "K", &kl);
    CHECK(d && z && ek && dk && m && c && k);
    if (!(d && z && ek && dk && m && c && k))
        goto out;
    CHECK_EQ(ekl, MLKEM768_EK_LEN);
    CHECK_EQ(dkl, MLKEM768_DK_LEN);
    CHECK_EQ(cl, MLKEM768_CT_LEN);
    static uint8_t gek[MLKEM768_EK_LEN], gdk[MLKEM768_DK_LEN], gc[MLKEM768_CT_LEN];
    uint8_t gk[MLKEM_SS_LEN], gk2[MLKEM_SS_LEN];
    CHECK_EQ(crypto_mlkem768_keygen_ipd(d, z, gek, gdk), HO_OK);
    CHECK_MEM(gek, ek, MLKEM768_EK_LEN);
    CHECK_MEM(gdk, dk, MLKEM768_DK_LEN);
    CHECK_EQ(crypto_mlkem768_encaps_internal(ek, ekl, m, gc, gk), HO_OK);
    CHECK_MEM(gc, c, MLKEM768_CT_LEN);
    CHECK_MEM(gk, k, MLKEM_SS_LEN);
    CHECK_EQ(crypto_mlkem768_decaps(dk, c, cl, gk2), HO_OK);
    CHECK_MEM(gk2, k, MLKEM_SS_LEN);
out:
    free(d), free(z), free(ek), free(dk), free(m), free(c), free(k);
}

/* CCTV strcmp vector: the re-encryption matches the ciphertext up to a
 * zero byte; a strcmp-style comparison would accept it. */
static void test_strcmp(void)
{
    size_t dkl, cl, kl;
    const char *f = "strcmp-768.txt";
    uint8_t *dk = vec_get(f, "dk", &dkl), *c = vec_get(f, "c", &cl), *k = vec_get(f, "K", &kl);
    CHECK(dk && c && k);
    if (dk && c && k) {
        uint8_t got[MLKEM_SS_LEN];
        CHECK_EQ(crypto_mlkem768_decaps(dk, c, cl, got), HO_OK);
        CHECK_MEM(got, k, MLKEM_SS_LEN);
    }
    free(dk), free(c), free(k);
}

/* CCTV accumulated vectors: 10 000 keygen/encaps/decaps runs with inputs
 * drawn from SHAKE128("") and every output absorbed into a second SHAKE128.
 * CCTV publishes the digest for the FIPS 203 ipd KeyGen (the pq-crystals
 * test_vectors.c cases); BoringSSL's and LibreSSL's iteration test of the
 * same construction (LibreSSL regress/lib/libcrypto/mlkem/
 * mlkem_iteration_tests.c, ISC licence) has the FIPS 203 one. */
static void accumulated(bool fips203, const char *want)
{
    enum { ITER = 10000, DRAW = 32 + 32 + 32 + MLKEM768_CT_LEN };
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    CHECK(algs != NULL);
    if (algs == NULL)
        return;
    size_t total = (size_t)ITER * DRAW;
    uint8_t *rng = malloc(total);
    EVP_MD_CTX *in = EVP_MD_CTX_new(), *out = EVP_MD_CTX_new();
    CHECK(rng && in && out);
    CHECK(EVP_DigestInit_ex(in, algs->shake128, NULL) == 1 && EVP_DigestFinalXOF(in, rng, total) == 1);
    CHECK_HEX(rng, 16, "7f9c2ba4e88f827d616045507605853e");
    CHECK(EVP_DigestInit_ex(out, algs->shake128, NULL) == 1);
    static uint8_t ek[MLKEM768_EK_LEN], dk[MLKEM768_DK_LEN], ct[MLKEM768_CT_LEN];
    uint8_t k[MLKEM_SS_LEN], k2[MLKEM_SS_LEN], kr[MLKEM_SS_LEN];
    int bad = 0;
    for (size_t i = 0; i < ITER && bad == 0; i++) {
        const uint8_t *p = rng + i * DRAW;
        bad |= (fips203 ? crypto_mlkem768_keygen_internal : crypto_mlkem768_keygen_ipd)(p, p + 32, ek, dk) != HO_OK;
        bad |= crypto_mlkem768_encaps_internal(ek, sizeof(ek), p + 64, ct, k) != HO_OK;
        bad |= crypto_mlkem768_decaps(dk, ct, sizeof(ct), k2) != HO_OK;
        bad |= memcmp(k, k2, sizeof(k)) != 0;
        bad |= crypto_mlkem768_decaps(dk, p + 96, MLKEM768_CT_LEN, kr) != HO_OK;
        EVP_DigestUpdate(out, ek, sizeof(ek));
        EVP_DigestUpdate(out, dk, sizeof(dk));
        EVP_DigestUpdate(out, ct, sizeof(ct));
        EVP_DigestUpdate(out, k, sizeof(k));
        EVP_DigestUpdate(out, kr, sizeof(kr));
    }
    CHECK_EQ(bad, 0);
    uint8_t digest[32];
    CHECK(EVP_DigestFinalXOF(out, digest, sizeof(digest)) == 1);
    CHECK_HEX(digest, 32, want);
    EVP_MD_CTX_free(in);
    EVP_MD_CTX_free(out);
    free(rng);
}

static void test_accumulated_fips203(void)
{
    accumulated(true, "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1");
}

static void test_accumulated_ipd(void)
{
    accumulated(false, "f7db260e1137a742e05fe0db9525012812b004d29040a5b606aad3d134b548d3");
}

/* Random keys round-trip; an altered ciphertext gives the implicit-rejection
 * key J(z || c), not an error and not the real key. */
static void test_implicit_rejection(void)
{
    static uint8_t ek[MLKEM768_EK_LEN], dk[MLKEM768_DK_LEN], ct[MLKEM768_CT_LEN];
    uint8_t k[MLKEM_SS_LEN], k2[MLKEM_SS_LEN], kbar[MLKEM_SS_LEN];
    CHECK_EQ(crypto_mlkem768_keygen(ek, dk), HO_OK);
    CHECK_EQ(crypto_mlkem768_encaps(ek, sizeof(ek), ct, k), HO_OK);
    CHECK_EQ(crypto_mlkem768_decaps(dk, ct, sizeof(ct), k2), HO_OK);
    CHECK_MEM(k, k2, sizeof(k));
    for (size_t pos = 0; pos < sizeof(ct); pos += 271) {
        ct[pos] ^= 0x01;
        CHECK_EQ(crypto_mlkem768_decaps(dk, ct, sizeof(ct), k2), HO_OK);
        CHECK(memcmp(k, k2, sizeof(k)) != 0);
        /* Kbar = SHAKE256(z || c, 32) (FIPS 203 Algorithm 18 step 7). */
        EVP_MD_CTX *x = EVP_MD_CTX_new();
        CHECK(EVP_DigestInit_ex(x, ho_crypto_algs_get()->shake256, NULL) == 1);
        EVP_DigestUpdate(x, dk + MLKEM768_DK_LEN - 32, 32);
        EVP_DigestUpdate(x, ct, sizeof(ct));
        CHECK(EVP_DigestFinalXOF(x, kbar, sizeof(kbar)) == 1);
        EVP_MD_CTX_free(x);
        CHECK_MEM(k2, kbar, sizeof(k2));
        ct[pos] ^= 0x01;
    }
}

/* FIPS 203 §7.2 and §7.3 input checks. */
static void test_input_checks(void)
{
    static uint8_t ek[MLKEM768_EK_LEN], dk[MLKEM768_DK_LEN], ct[MLKEM768_CT_LEN];
    uint8_t k[MLKEM_SS_LEN];
    CHECK_EQ(crypto_mlkem768_keygen(ek, dk), HO_OK);
    /* Wrong lengths. */
    CHECK_EQ(crypto_mlkem768_encaps(ek, sizeof(ek) - 1, ct, k), HO_ERR_BAD_PEER_KEY);
    CHECK_EQ(crypto_mlkem768_encaps(ek, 0, ct, k), HO_ERR_BAD_PEER_KEY);
    CHECK_EQ(crypto_mlkem768_encaps(NULL, sizeof(ek), ct, k), HO_ERR_BAD_PEER_KEY);
    CHECK_EQ(crypto_mlkem768_encaps(ek, sizeof(ek), ct, k), HO_OK);
    CHECK_EQ(crypto_mlkem768_decaps(dk, ct, sizeof(ct) - 1, k), HO_ERR_BAD_PEER_KEY);
    CHECK_EQ(crypto_mlkem768_decaps(dk, ct, sizeof(ct) + 1, k), HO_ERR_BAD_PEER_KEY);
    CHECK_EQ(crypto_mlkem768_decaps(dk, ct, 0, k), HO_ERR_BAD_PEER_KEY);
    /* Modulus check: a 12-bit coefficient of q..4095 at the first, a middle
     * and the last position of t (each 3 bytes hold two coefficients). */
    static const size_t coeff[] = {0, 1, 383, 767};
    static const uint16_t vals[] = {3329, 3330, 4095};
    for (size_t c = 0; c < sizeof(coeff) / sizeof(coeff[0]); c++)
        for (size_t v = 0; v < 3; v++) {
            static uint8_t bad[MLKEM768_EK_LEN];
            memcpy(bad, ek, sizeof(ek));
            size_t b = coeff[c] / 2 * 3;
            if (coeff[c] % 2 == 0) {
                bad[b] = (uint8_t)vals[v];
                bad[b + 1] = (uint8_t)((bad[b + 1] & 0xf0) | (vals[v] >> 8));
            } else {
                bad[b + 1] = (uint8_t)((bad[b + 1] & 0x0f) | ((vals[v] & 0x0f) << 4));
                bad[b + 2] = (uint8_t)(vals[v] >> 4);
            }
            CHECK_EQ(crypto_mlkem768_encaps(bad, sizeof(bad), ct, k), HO_ERR_BAD_PEER_KEY);
            /* q - 1 at the same place is fine. */
            const uint16_t ok = 3328;
            if (coeff[c] % 2 == 0) {
                bad[b] = (uint8_t)ok;
                bad[b + 1] = (uint8_t)((bad[b + 1] & 0xf0) | (ok >> 8));
            } else {
                bad[b + 1] = (uint8_t)((bad[b + 1] & 0x0f) | ((ok & 0x0f) << 4));
                bad[b + 2] = (uint8_t)(ok >> 4);
            }
            CHECK_EQ(crypto_mlkem768_encaps(bad, sizeof(bad), ct, k), HO_OK);
        }
    /* Decapsulation key hash check (§7.3 step 3). */
    dk[1152 + 5] ^= 1;
    CHECK_EQ(crypto_mlkem768_decaps(dk, ct, sizeof(ct), k), HO_ERR_INVALID_ARG);
}

int main(void)
{
    RUN(test_intermediate);
    RUN(test_strcmp);
    RUN(test_implicit_rejection);
    RUN(test_input_checks);
    RUN(test_accumulated_fips203);
    RUN(test_accumulated_ipd);
    return ho_test_summary("test_mlkem");
}
