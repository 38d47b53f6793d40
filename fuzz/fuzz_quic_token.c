/* libFuzzer target: the endpoint's NEW_TOKEN tokens (src/quic/new_token.c,
 * RFC 9000 §8.1.3). Input: [selector][token bytes...]. The selector picks
 * the client address the Initial came from (IPv4 127.0.0.1 or 127.0.0.2,
 * IPv6 ::1, none) and the wall clock (bits 2..7: hours after a fixed
 * time). The bytes go through quic_nt_check with a fixed key: it must not
 * crash, and may accept only a token of the right length and mark. Then a
 * round trip: a token made for that address at the fixed time, with the
 * first input bytes as nonce, is accepted at that time, refused from
 * another address, refused once expired, and refused with any one bit of
 * the input's choosing flipped.
 * Seeds: fuzz/corpus/fuzz_quic_token/ (HO_FUZZ_WRITE_SEEDS=DIR writes them,
 * see fuzz_quic.h). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz_quic.h"
#include "crypto/prim.h"
#include "quic/new_token.h"

#define T0 1790000000000LL /* ms since the epoch */
#define LIFETIME (24LL * 3600 * 1000)

static crypto_aead *seal, *open_;

static void path_for(unsigned which, ho_quic_path *p)
{
    memset(p, 0, sizeof(*p));
    if (which == 2) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p->remote;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(40000);
        a->sin6_addr.s6_addr[15] = 1;
        p->remote_len = sizeof(*a);
        return;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&p->remote;
    a->sin_family = AF_INET;
    a->sin_port = htons(40000);
    a->sin_addr.s_addr = htonl(which == 1 ? 0x7f000002 : 0x7f000001);
    p->remote_len = sizeof(*a);
}

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const uint8_t key[16] = "fuzz token key!";
    static const uint8_t iv[HO_AEAD_IV_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    seal = crypto_aead_new(HO_AEAD_AES_128_GCM, true, key, iv);
    open_ = crypto_aead_new(HO_AEAD_AES_128_GCM, false, key, iv);
    if (seal == NULL || open_ == NULL)
        abort();
    const char *dir = getenv("HO_FUZZ_WRITE_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] & 3;
    int64_t wall = T0 + (int64_t)(data[0] >> 2) * 3600 * 1000;
    ho_quic_path path, other;
    path_for(which, &path);
    path_for(which == 0 ? 1 : 0, &other);
    const uint8_t *tok = data + 1;
    size_t len = size - 1;
    bool ok = quic_nt_check(open_, tok, len, which == 3 ? NULL : &path, HO_QUIC_V1, wall);
    CHECK(!ok || (len == QUIC_NT_LEN && tok[0] == QUIC_NT_MARK));

    uint64_t seq = 0;
    for (size_t i = 0; i < 8 && i < len; i++)
        seq = seq << 8 | tok[i];
    uint8_t made[QUIC_NT_LEN];
    CHECK(quic_nt_make(seal, seq, which == 3 ? NULL : &path, HO_QUIC_V1, T0, LIFETIME, made) == QUIC_NT_LEN);
    CHECK(made[0] == QUIC_NT_MARK);
    CHECK(quic_nt_check(open_, made, sizeof(made), which == 3 ? NULL : &path, HO_QUIC_V1, T0));
    CHECK(quic_nt_check(open_, made, sizeof(made), which == 3 ? NULL : &path, HO_QUIC_V1, T0 + LIFETIME));
    CHECK(!quic_nt_check(open_, made, sizeof(made), which == 3 ? NULL : &path, HO_QUIC_V1, T0 + LIFETIME + 1));
    if (which != 3)
        CHECK(!quic_nt_check(open_, made, sizeof(made), &other, HO_QUIC_V1, T0));
    /* RFC 9369 §5: a token of one QUIC version is not accepted in another. */
    CHECK(!quic_nt_check(open_, made, sizeof(made), which == 3 ? NULL : &path, HO_QUIC_V2, T0));
    size_t bit = len > 0 ? tok[len - 1] % (QUIC_NT_LEN * 8) : 0;
    made[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    CHECK(!quic_nt_check(open_, made, sizeof(made), which == 3 ? NULL : &path, HO_QUIC_V1, T0));
    CHECK(!quic_nt_check(open_, made, sizeof(made) - 1, which == 3 ? NULL : &path, HO_QUIC_V1, T0));
    return 0;
}

static void write_seeds(const char *dir)
{
    uint8_t in[1 + QUIC_NT_LEN];
    for (unsigned which = 0; which < 4; which++) {
        ho_quic_path p;
        path_for(which, &p);
        in[0] = (uint8_t)which;
        if (quic_nt_make(seal, 0x0102030405060708ull + which, which == 3 ? NULL : &p, HO_QUIC_V1, T0, LIFETIME, in + 1) !=
            QUIC_NT_LEN)
            abort();
        char name[32];
        snprintf(name, sizeof(name), "valid-%u", which);
        fuzz_quic_write_seed(dir, name, in, sizeof(in));
        in[0] = (uint8_t)(which | 25u << 2); /* 25 h later: expired */
        snprintf(name, sizeof(name), "expired-%u", which);
        fuzz_quic_write_seed(dir, name, in, sizeof(in));
    }
    /* A Retry token's shape ('R', longer) and a short one. */
    uint8_t r[1 + 60];
    memset(r, 0x11, sizeof(r));
    r[0] = 0;
    r[1] = 'R';
    fuzz_quic_write_seed(dir, "retry-shape", r, sizeof(r));
    fuzz_quic_write_seed(dir, "short", r, 5);
}
