/*
 * ML-KEM-768 (FIPS 203): K-PKE and the ML-KEM key generation, encapsulation
 * and decapsulation, with k = 3, eta1 = eta2 = 2, du = 10, dv = 4.
 *
 * Polynomial coefficients are kept fully reduced in [0, q). Every reduction
 * is a multiplication by floor(2^32 / q) and a masked correction, so the
 * running time does not depend on secret coefficients; the only branches on
 * data are in SampleNTT's rejection sampling of the public matrix and in the
 * modulus check of a public encapsulation key.
 */
#include "crypto/mlkem.h"

#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <pthread.h>
#include <string.h>

#define N 256
#define K 3
#define Q 3329
#define DU 10
#define DV 4
#define POLY_BYTES 384 /* ByteEncode12 of one polynomial */
#define C1_BYTES (32 * DU * K)
#define XOF_BLOCK 168  /* SHAKE128 rate */
#define PRF_BYTES 128  /* 64 * eta for eta = 2 */

typedef struct {
    uint16_t c[N];
} poly;

/* ---- arithmetic mod q ---------------------------------------------------- */

#define BARRETT 1290167u /* floor(2^32 / q) */

/* x - q if x >= q, else x; for x < 2q. No branch. */
static uint16_t csubq(uint32_t x)
{
    uint32_t d = x - Q;
    uint32_t mask = 0u - (d >> 31); /* all ones when x < q */
    return (uint16_t)(d + (Q & mask));
}

/* x mod q for any 32-bit x: the quotient estimate is off by at most one. */
static uint16_t modq(uint32_t x)
{
    uint32_t t = (uint32_t)(((uint64_t)x * BARRETT) >> 32);
    return csubq(x - t * Q);
}

/* floor(x / q) for x < 2^31, by multiplication. */
static uint32_t divq(uint32_t x)
{
    uint32_t t = (uint32_t)(((uint64_t)x * BARRETT) >> 32);
    uint32_t r = x - t * Q; /* in [0, 2q) */
    uint32_t d = r - Q;
    return t + 1u - (d >> 31); /* +1 when r >= q */
}

static uint16_t addq(uint16_t a, uint16_t b) { return csubq((uint32_t)a + b); }
static uint16_t subq(uint16_t a, uint16_t b) { return csubq((uint32_t)a + Q - b); }
static uint16_t mulq(uint16_t a, uint16_t b) { return modq((uint32_t)a * b); }

/* zetas[i] = 17^BitRev7(i), gammas[i] = 17^(2 BitRev7(i) + 1) mod q
 * (FIPS 203 §4.3, Appendix A), computed once. */
static uint16_t g_zetas[128], g_gammas[128];
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    uint16_t pow[256];
    pow[0] = 1;
    for (unsigned i = 1; i < 256; i++)
        pow[i] = mulq(pow[i - 1], 17);
    for (unsigned i = 0; i < 128; i++) {
        unsigned r = 0;
        for (unsigned b = 0; b < 7; b++)
            r |= ((i >> b) & 1u) << (6 - b);
        g_zetas[i] = pow[r];
        g_gammas[i] = pow[2 * r + 1];
    }
}

/* Algorithm 9: NTT, in place. */
static void ntt(poly *f)
{
    unsigned i = 1;
    for (unsigned len = 128; len >= 2; len /= 2)
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = g_zetas[i++];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = mulq(zeta, f->c[j + len]);
                f->c[j + len] = subq(f->c[j], t);
                f->c[j] = addq(f->c[j], t);
            }
        }
}

/* Algorithm 10: NTT^-1, in place (with the final multiplication by 128^-1 = 3303). */
static void invntt(poly *f)
{
    unsigned i = 127;
    for (unsigned len = 2; len <= 128; len *= 2)
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = g_zetas[i--];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = f->c[j];
                f->c[j] = addq(t, f->c[j + len]);
                f->c[j + len] = mulq(zeta, subq(f->c[j + len], t));
            }
        }
    for (unsigned j = 0; j < N; j++)
        f->c[j] = mulq(f->c[j], 3303);
}

/* h = sum_j a[j] o b[j] in the NTT domain (Algorithms 11 and 12: pairs of
 * coefficients multiplied modulo X^2 - gamma). Each term stays below 2^24,
 * so three of them sum without overflow before one reduction. */
static void poly_dot(poly *h, const poly *a[K], const poly *b[K])
{
    for (unsigned i = 0; i < N / 2; i++) {
        uint32_t c0 = 0, c1 = 0;
        for (unsigned j = 0; j < K; j++) {
            uint32_t a0 = a[j]->c[2 * i], a1 = a[j]->c[2 * i + 1];
            uint32_t b0 = b[j]->c[2 * i], b1 = b[j]->c[2 * i + 1];
            c0 += modq(a0 * b0) + (uint32_t)mulq(modq(a1 * b1), g_gammas[i]);
            c1 += modq(a0 * b1) + modq(a1 * b0);
        }
        h->c[2 * i] = modq(c0);
        h->c[2 * i + 1] = modq(c1);
    }
}

static void poly_add(poly *r, const poly *a)
{
    for (unsigned i = 0; i < N; i++)
        r->c[i] = addq(r->c[i], a->c[i]);
}

/* ---- encodings and compression (§4.2.1) ----------------------------------- */

/* Algorithm 5: ByteEncode_d, d <= 12, coefficients already < 2^d. */
static void byte_encode(uint8_t *out, const poly *f, unsigned d)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    for (unsigned i = 0; i < N; i++) {
        acc |= (uint32_t)f->c[i] << bits;
        bits += d;
        while (bits >= 8) {
            *out++ = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
}

/* Algorithm 6: ByteDecode_d without the reduction mod q (d = 12 callers
 * reduce or check). */
static void byte_decode(poly *f, const uint8_t *in, unsigned d)
{
    uint32_t acc = 0, mask = (1u << d) - 1;
    unsigned bits = 0;
    for (unsigned i = 0; i < N; i++) {
        while (bits < d) {
            acc |= (uint32_t)*in++ << bits;
            bits += 8;
        }
        f->c[i] = (uint16_t)(acc & mask);
        acc >>= d;
        bits -= d;
    }
}

/* Compress_d(x) = round(2^d x / q) mod 2^d (eq. 4.7), division by multiplication. */
static void poly_compress(poly *f, unsigned d)
{
    for (unsigned i = 0; i < N; i++)
        f->c[i] = (uint16_t)(divq(((uint32_t)f->c[i] << d) + Q / 2) & ((1u << d) - 1));
}

/* Decompress_d(y) = round(q y / 2^d) (eq. 4.8). */
static void poly_decompress(poly *f, unsigned d)
{
    for (unsigned i = 0; i < N; i++)
        f->c[i] = (uint16_t)(((uint32_t)f->c[i] * Q + (1u << (d - 1))) >> d);
}

/* ---- hashes (§4.1) ------------------------------------------------------- */

typedef struct {
    EVP_MD_CTX *ctx;
    const ho_crypto_algs *algs;
} hashes;

static int hashes_init(hashes *h)
{
    pthread_once(&g_tables_once, tables_init);
    h->algs = ho_crypto_algs_get();
    if (h->algs == NULL)
        return HO_ERR_CRYPTO;
    h->ctx = EVP_MD_CTX_new();
    return h->ctx != NULL ? HO_OK : HO_ERR_NOMEM;
}

/* Digest of a || b with md; outlen is used for the XOFs. */
static bool hash2(hashes *h, const EVP_MD *md, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  uint8_t *out, size_t outlen, bool xof)
{
    if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1 || EVP_DigestUpdate(h->ctx, a, alen) != 1 ||
        (blen != 0 && EVP_DigestUpdate(h->ctx, b, blen) != 1))
        return false;
    if (xof)
        return EVP_DigestFinalXOF(h->ctx, out, outlen) == 1;
    return EVP_DigestFinal_ex(h->ctx, out, NULL) == 1;
}

/* PRF_eta(s, b) = SHAKE256(s || b, 64 eta) then SamplePolyCBD_2
 * (Algorithm 8): each nibble gives (b0 + b1) - (b2 + b3). */
static bool sample_cbd(hashes *h, poly *f, const uint8_t seed[32], uint8_t nonce)
{
    uint8_t buf[PRF_BYTES];
    if (!hash2(h, h->algs->shake256, seed, 32, &nonce, 1, buf, sizeof(buf), true))
        return false;
    for (unsigned i = 0; i < PRF_BYTES; i++) {
        uint32_t b = buf[i];
        uint32_t s = (b & 0x55) + ((b >> 1) & 0x55); /* pair sums of bits */
        uint32_t x0 = s & 3, y0 = (s >> 2) & 3, x1 = (s >> 4) & 3, y1 = (s >> 6) & 3;
        f->c[2 * i] = csubq(x0 + Q - y0);
        f->c[2 * i + 1] = csubq(x1 + Q - y1);
    }
    ho_wipe(buf, sizeof(buf));
    return true;
}

/* Algorithm 7: SampleNTT(rho || j || i). OpenSSL 3.0 cannot squeeze a
 * SHAKE128 stream incrementally, so the XOF output is produced anew with a
 * longer length in the (public, rare) case that rejection needs more: an
 * XOF's shorter output is a prefix of its longer one. */
static bool sample_ntt(hashes *h, poly *a, const uint8_t rho[32], uint8_t j, uint8_t i)
{
    static const size_t lens[] = {3 * XOF_BLOCK, 8 * XOF_BLOCK, 32 * XOF_BLOCK};
    uint8_t buf[32 * XOF_BLOCK];
    const uint8_t ji[2] = {j, i};
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        if (!hash2(h, h->algs->shake128, rho, 32, ji, 2, buf, lens[l], true))
            return false;
        unsigned n = 0;
        for (size_t p = 0; p + 3 <= lens[l] && n < N; p += 3) {
            uint16_t d1 = (uint16_t)(buf[p] | ((buf[p + 1] & 0x0f) << 8));
            uint16_t d2 = (uint16_t)((buf[p + 1] >> 4) | (buf[p + 2] << 4));
            if (d1 < Q)
                a->c[n++] = d1;
            if (d2 < Q && n < N)
                a->c[n++] = d2;
        }
        if (n == N)
            return true;
    }
    return false; /* would need over 5 KB of rejections: probability ~0 */
}

/* Â[i][j] = SampleNTT(rho || j || i) (Algorithm 13 step 6). */
static bool gen_matrix(hashes *h, poly a[K][K], const uint8_t rho[32])
{
    for (uint8_t i = 0; i < K; i++)
        for (uint8_t j = 0; j < K; j++)
            if (!sample_ntt(h, &a[i][j], rho, j, i))
                return false;
    return true;
}

/* ---- K-PKE (§5) ---------------------------------------------------------- */

/* The K-PKE.Encrypt state kept on the stack, wiped on return. */
typedef struct {
    poly a[K][K], t[K], y[K], e1[K], u[K], e2, v, mu;
} enc_state;

/* Algorithm 14: K-PKE.Encrypt(ek, m, r). ek is already checked. */
static bool kpke_encrypt(hashes *h, enc_state *s, const uint8_t *ek, const uint8_t m[32], const uint8_t r[32],
                         uint8_t ct[MLKEM768_CT_LEN])
{
    const uint8_t *rho = ek + K * POLY_BYTES;
    for (unsigned i = 0; i < K; i++)
        byte_decode(&s->t[i], ek + i * POLY_BYTES, 12);
    if (!gen_matrix(h, s->a, rho))
        return false;
    uint8_t nonce = 0;
    for (unsigned i = 0; i < K; i++)
        if (!sample_cbd(h, &s->y[i], r, nonce++))
            return false;
    for (unsigned i = 0; i < K; i++)
        if (!sample_cbd(h, &s->e1[i], r, nonce++))
            return false;
    if (!sample_cbd(h, &s->e2, r, nonce))
        return false;
    for (unsigned i = 0; i < K; i++)
        ntt(&s->y[i]);
    const poly *yv[K] = {&s->y[0], &s->y[1], &s->y[2]};
    for (unsigned i = 0; i < K; i++) {
        const poly *col[K] = {&s->a[0][i], &s->a[1][i], &s->a[2][i]}; /* Â^T */
        poly_dot(&s->u[i], col, yv);
        invntt(&s->u[i]);
        poly_add(&s->u[i], &s->e1[i]);
    }
    /* mu = Decompress_1(ByteDecode_1(m)): each bit to 0 or 1665. */
    for (unsigned i = 0; i < N; i++)
        s->mu.c[i] = (uint16_t)((0u - (uint32_t)((m[i / 8] >> (i % 8)) & 1)) & 1665);
    const poly *tv[K] = {&s->t[0], &s->t[1], &s->t[2]};
    poly_dot(&s->v, tv, yv);
    invntt(&s->v);
    poly_add(&s->v, &s->e2);
    poly_add(&s->v, &s->mu);
    for (unsigned i = 0; i < K; i++) {
        poly_compress(&s->u[i], DU);
        byte_encode(ct + i * 32 * DU, &s->u[i], DU);
    }
    poly_compress(&s->v, DV);
    byte_encode(ct + C1_BYTES, &s->v, DV);
    return true;
}

/* Algorithm 15: K-PKE.Decrypt(dk, c) -> m. */
static void kpke_decrypt(const uint8_t *dkpke, const uint8_t *ct, uint8_t m[32])
{
    poly u[K], s, v, w;
    for (unsigned i = 0; i < K; i++) {
        byte_decode(&u[i], ct + i * 32 * DU, DU);
        poly_decompress(&u[i], DU);
        ntt(&u[i]);
    }
    byte_decode(&v, ct + C1_BYTES, DV);
    poly_decompress(&v, DV);
    poly sv[K];
    for (unsigned i = 0; i < K; i++) {
        byte_decode(&sv[i], dkpke + i * POLY_BYTES, 12);
        for (unsigned j = 0; j < N; j++)
            sv[i].c[j] = modq(sv[i].c[j]); /* ByteDecode_12 is mod q */
    }
    const poly *sp[K] = {&sv[0], &sv[1], &sv[2]}, *up[K] = {&u[0], &u[1], &u[2]};
    poly_dot(&s, sp, up);
    invntt(&s);
    for (unsigned i = 0; i < N; i++)
        w.c[i] = subq(v.c[i], s.c[i]);
    poly_compress(&w, 1);
    memset(m, 0, 32);
    for (unsigned i = 0; i < N; i++)
        m[i / 8] |= (uint8_t)(w.c[i] << (i % 8));
    ho_wipe(sv, sizeof(sv));
    ho_wipe(&s, sizeof(s));
    ho_wipe(&w, sizeof(w));
    ho_wipe(u, sizeof(u));
    ho_wipe(&v, sizeof(v));
}

/* ---- ML-KEM (§6, §7) ----------------------------------------------------- */

/* fips203: (rho, sigma) = G(d || k) as FIPS 203 has it; false: G(d), the
 * FIPS 203 initial public draft, for the published accumulated vectors. */
static int keygen(const uint8_t d[MLKEM_SEED_LEN], const uint8_t z[MLKEM_SEED_LEN], uint8_t ek[MLKEM768_EK_LEN],
                  uint8_t dk[MLKEM768_DK_LEN], bool fips203)
{
    hashes h;
    int rc = hashes_init(&h);
    if (rc != HO_OK)
        return rc;
    struct {
        poly a[K][K], s[K], e[K], t[K];
        uint8_t rs[64]; /* rho || sigma = G(d || k) (Algorithm 13 step 1) */
    } st;
    const uint8_t kbyte = K;
    rc = HO_ERR_CRYPTO;
    if (!hash2(&h, h.algs->sha3_512, d, MLKEM_SEED_LEN, &kbyte, fips203 ? 1 : 0, st.rs, 64, false))
        goto out;
    const uint8_t *rho = st.rs, *sigma = st.rs + 32;
    if (!gen_matrix(&h, st.a, rho))
        goto out;
    uint8_t nonce = 0;
    for (unsigned i = 0; i < K; i++)
        if (!sample_cbd(&h, &st.s[i], sigma, nonce++))
            goto out;
    for (unsigned i = 0; i < K; i++)
        if (!sample_cbd(&h, &st.e[i], sigma, nonce++))
            goto out;
    for (unsigned i = 0; i < K; i++) {
        ntt(&st.s[i]);
        ntt(&st.e[i]);
    }
    const poly *sv[K] = {&st.s[0], &st.s[1], &st.s[2]};
    for (unsigned i = 0; i < K; i++) {
        const poly *row[K] = {&st.a[i][0], &st.a[i][1], &st.a[i][2]};
        poly_dot(&st.t[i], row, sv);
        poly_add(&st.t[i], &st.e[i]);
        byte_encode(ek + i * POLY_BYTES, &st.t[i], 12);
        byte_encode(dk + i * POLY_BYTES, &st.s[i], 12);
    }
    memcpy(ek + K * POLY_BYTES, rho, 32);
    /* dk = dk_PKE || ek || H(ek) || z (Algorithm 16). */
    uint8_t *p = dk + K * POLY_BYTES;
    memcpy(p, ek, MLKEM768_EK_LEN);
    p += MLKEM768_EK_LEN;
    if (!hash2(&h, h.algs->sha3_256, ek, MLKEM768_EK_LEN, NULL, 0, p, 32, false))
        goto out;
    memcpy(p + 32, z, MLKEM_SEED_LEN);
    rc = HO_OK;
out:
    if (rc != HO_OK)
        ho_wipe(dk, MLKEM768_DK_LEN);
    ho_wipe(&st, sizeof(st));
    EVP_MD_CTX_free(h.ctx);
    return rc;
}

int crypto_mlkem768_keygen_internal(const uint8_t d[MLKEM_SEED_LEN], const uint8_t z[MLKEM_SEED_LEN],
                                    uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN])
{
    return keygen(d, z, ek, dk, true);
}

int crypto_mlkem768_keygen_ipd(const uint8_t d[MLKEM_SEED_LEN], const uint8_t z[MLKEM_SEED_LEN],
                               uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN])
{
    return keygen(d, z, ek, dk, false);
}

int crypto_mlkem768_keygen(uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN])
{
    uint8_t dz[2 * MLKEM_SEED_LEN];
    int rc = ho_random(dz, sizeof(dz));
    if (rc == HO_OK)
        rc = crypto_mlkem768_keygen_internal(dz, dz + MLKEM_SEED_LEN, ek, dk);
    ho_wipe(dz, sizeof(dz));
    return rc;
}

/* FIPS 203 §7.2 encapsulation key check: the length, and the "modulus
 * check" ByteEncode_12(ByteDecode_12(ek)) == ek, i.e. every 12-bit
 * coefficient is below q. The key is public: branching is fine. */
static bool ek_valid(const uint8_t *ek, size_t eklen)
{
    if (eklen != MLKEM768_EK_LEN)
        return false;
    poly t;
    for (unsigned i = 0; i < K; i++) {
        byte_decode(&t, ek + i * POLY_BYTES, 12);
        for (unsigned j = 0; j < N; j++)
            if (t.c[j] >= Q)
                return false;
    }
    return true;
}

int crypto_mlkem768_encaps_internal(const uint8_t *ek, size_t eklen, const uint8_t m[MLKEM_SEED_LEN],
                                    uint8_t ct[MLKEM768_CT_LEN], uint8_t ss[MLKEM_SS_LEN])
{
    if (ek == NULL || !ek_valid(ek, eklen))
        return HO_ERR_BAD_PEER_KEY;
    hashes h;
    int rc = hashes_init(&h);
    if (rc != HO_OK)
        return rc;
    enc_state *s = ho_mem_alloc(sizeof(*s));
    uint8_t hek[32], kr[64];
    rc = s == NULL ? HO_ERR_NOMEM : HO_ERR_CRYPTO;
    /* (K, r) = G(m || H(ek)) (Algorithm 17). */
    if (s == NULL || !hash2(&h, h.algs->sha3_256, ek, eklen, NULL, 0, hek, 32, false) ||
        !hash2(&h, h.algs->sha3_512, m, 32, hek, 32, kr, 64, false) || !kpke_encrypt(&h, s, ek, m, kr + 32, ct))
        goto out;
    memcpy(ss, kr, MLKEM_SS_LEN);
    rc = HO_OK;
out:
    if (s != NULL) {
        ho_wipe(s, sizeof(*s));
        ho_mem_free(s);
    }
    ho_wipe(kr, sizeof(kr));
    EVP_MD_CTX_free(h.ctx);
    return rc;
}

int crypto_mlkem768_encaps(const uint8_t *ek, size_t eklen, uint8_t ct[MLKEM768_CT_LEN], uint8_t ss[MLKEM_SS_LEN])
{
    uint8_t m[MLKEM_SEED_LEN];
    int rc = ho_random(m, sizeof(m));
    if (rc == HO_OK)
        rc = crypto_mlkem768_encaps_internal(ek, eklen, m, ct, ss);
    ho_wipe(m, sizeof(m));
    return rc;
}

int crypto_mlkem768_decaps(const uint8_t dk[MLKEM768_DK_LEN], const uint8_t *ct, size_t ctlen,
                           uint8_t ss[MLKEM_SS_LEN])
{
    /* §7.3 input checks: ciphertext length (1), key length is the type (2),
     * hash check H(dk[384k : 768k + 32]) == dk[768k + 32 : 768k + 64] (3). */
    if (ct == NULL || ctlen != MLKEM768_CT_LEN)
        return HO_ERR_BAD_PEER_KEY;
    const uint8_t *dkpke = dk, *ekpke = dk + K * POLY_BYTES, *hek = ekpke + MLKEM768_EK_LEN, *z = hek + 32;
    hashes h;
    int rc = hashes_init(&h);
    if (rc != HO_OK)
        return rc;
    enc_state *s = ho_mem_alloc(sizeof(*s));
    uint8_t check[32], mprime[32], kr[64], kbar[32], cprime[MLKEM768_CT_LEN];
    rc = s == NULL ? HO_ERR_NOMEM : HO_ERR_CRYPTO;
    if (s == NULL || !hash2(&h, h.algs->sha3_256, ekpke, MLKEM768_EK_LEN, NULL, 0, check, 32, false))
        goto out;
    uint8_t diff = 0;
    for (unsigned i = 0; i < 32; i++)
        diff |= check[i] ^ hek[i];
    if (diff != 0) {
        rc = HO_ERR_INVALID_ARG;
        goto out;
    }
    /* Algorithm 18: m' = Decrypt, (K', r') = G(m' || h), Kbar = J(z || c),
     * c' = Encrypt(ek, m', r'); K' if c == c' else Kbar. */
    kpke_decrypt(dkpke, ct, mprime);
    if (!hash2(&h, h.algs->sha3_512, mprime, 32, hek, 32, kr, 64, false) ||
        !hash2(&h, h.algs->shake256, z, 32, ct, ctlen, kbar, 32, true) ||
        !kpke_encrypt(&h, s, ekpke, mprime, kr + 32, cprime))
        goto out;
    /* Constant-time comparison and selection (no early exit, no branch). */
    uint32_t acc = 0;
    for (size_t i = 0; i < MLKEM768_CT_LEN; i++)
        acc |= (uint32_t)(ct[i] ^ cprime[i]);
    uint8_t keep = (uint8_t)((acc - 1) >> 8); /* 0xff when equal, else 0 */
    for (unsigned i = 0; i < MLKEM_SS_LEN; i++)
        ss[i] = (uint8_t)((kr[i] & keep) | (kbar[i] & (uint8_t)~keep));
    rc = HO_OK;
out:
    if (s != NULL) {
        ho_wipe(s, sizeof(*s));
        ho_mem_free(s);
    }
    ho_wipe(mprime, sizeof(mprime));
    ho_wipe(kr, sizeof(kr));
    ho_wipe(kbar, sizeof(kbar));
    ho_wipe(cprime, sizeof(cprime));
    EVP_MD_CTX_free(h.ctx);
    return rc;
}
