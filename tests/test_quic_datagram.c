/* test_quic_datagram: DATAGRAM frames (RFC 9221) between an in-memory
 * client and server (quic_pair.h): negotiated through
 * max_datagram_frame_size, delivered, echoed, never retransmitted under
 * loss (each payload arrives at most once; losses are counted), held to
 * the congestion window, bounded by the send queue; a frame without the
 * transport parameter or above it is a PROTOCOL_VIOLATION (§3). */
#include <inttypes.h>
#include <string.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/quic.h"
#include "quic/conn_int.h"
#include "netsim.h"

#include "quic_pair.h"

#define NMSG 400

typedef struct dsim {
    quic_pair p;
    int hs[2];
    uint32_t got[2][NMSG];     /* times each message id arrived, per receiving side */
    uint64_t bad;              /* payloads that did not match their id */
    bool echo;                 /* the server sends every datagram back */
    uint32_t to_send, sent_ok; /* client: messages still to queue, queued */
    size_t msg_len;
} dsim;

static ho_tls_config *server_tls, *client_tls;

static void fill(uint8_t *b, size_t len, uint32_t id)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(id * 13 + i);
    if (len >= 4) {
        b[0] = (uint8_t)(id >> 24);
        b[1] = (uint8_t)(id >> 16);
        b[2] = (uint8_t)(id >> 8);
        b[3] = (uint8_t)id;
    }
}

static void cb_hs(void *ctx, ho_quic_conn *c)
{
    dsim *s = ctx;
    s->hs[quic_pair_side(&s->p, c)]++;
}

static void cb_datagram(void *ctx, ho_quic_conn *c, const uint8_t *data, size_t len)
{
    dsim *s = ctx;
    int side = quic_pair_side(&s->p, c);
    if (len < 4) {
        s->bad++;
        return;
    }
    uint32_t id = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    uint8_t want[1500];
    if (id >= NMSG || len > sizeof(want)) {
        s->bad++;
        return;
    }
    fill(want, len, id);
    if (memcmp(want, data, len) != 0)
        s->bad++;
    s->got[side][id]++;
    if (side == QP_SERVER && s->echo)
        ho_quic_conn_send_datagram(c, data, len);
}

/* The client queues what the queue takes, each step, until to_send is spent. */
static void app(quic_pair *p)
{
    dsim *s = p->user;
    ho_quic_conn *c = p->conn[QP_CLIENT];
    if (c == NULL || s->hs[QP_CLIENT] == 0)
        return;
    uint8_t b[1500];
    while (s->to_send > 0) {
        uint32_t id = s->sent_ok;
        fill(b, s->msg_len, id);
        if (ho_quic_conn_send_datagram(c, b, s->msg_len) != HO_OK)
            break;
        s->sent_ok++;
        s->to_send--;
    }
}

static void dsim_init(dsim *s, unsigned loss, uint64_t seed, uint64_t client_max, uint64_t server_max)
{
    memset(s, 0, sizeof(*s));
    ho_quic_callbacks cb = {.ctx = s, .handshake_done = cb_hs, .datagram = cb_datagram};
    quic_pair_init(&s->p, &cb, server_tls, client_tls, loss, seed);
    s->p.ccfg.max_datagram_frame_size = client_max;
    s->p.scfg.max_datagram_frame_size = server_max;
    s->p.app = app;
    s->p.user = s;
    s->msg_len = 200;
}

static bool both_hs(quic_pair *p, void *arg)
{
    (void)arg;
    dsim *s = p->user;
    return s->hs[0] > 0 && s->hs[1] > 0 && quic_pair_hs_done(p, NULL);
}

static bool all_echoed(quic_pair *p, void *arg)
{
    (void)arg;
    dsim *s = p->user;
    for (uint32_t i = 0; i < s->sent_ok; i++)
        if (s->got[QP_CLIENT][i] == 0)
            return false;
    return s->to_send == 0;
}

static void up(dsim *s)
{
    CHECK(quic_pair_start(&s->p));
    CHECK(quic_pair_run(&s->p, both_hs, NULL, HO_QUIC_SEC(10)));
}

/* Echo over a clean link: every message there and back, once, intact. */
static void test_echo(void)
{
    dsim s;
    dsim_init(&s, 0, 1, 65535, 65535);
    s.echo = true;
    s.p.scfg.datagram_queue = NMSG; /* the echoes of a whole window arrive in one step */
    up(&s);
    ho_quic_conn *cl = s.p.conn[QP_CLIENT], *sv = s.p.conn[QP_SERVER];
    /* Both announced 65535: the path's size bounds the payload. */
    size_t max = ho_quic_conn_datagram_max(cl);
    CHECK(max > 1000 && max < 1200);
    CHECK_EQ(ho_quic_conn_datagram_max(sv), max);
    uint8_t big[1500];
    CHECK_EQ(ho_quic_conn_send_datagram(cl, big, max + 1), HO_ERR_INVALID_ARG);
    s.to_send = NMSG;
    CHECK(quic_pair_run(&s.p, all_echoed, NULL, HO_QUIC_SEC(30)));
    for (uint32_t i = 0; i < NMSG; i++) {
        CHECK_EQ(s.got[QP_SERVER][i], 1u);
        CHECK_EQ(s.got[QP_CLIENT][i], 1u);
    }
    CHECK_EQ(s.bad, 0u);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(cl, &cs);
    ho_quic_conn_get_stats(sv, &ss);
    CHECK_EQ(cs.dgram_frames_sent, (uint64_t)NMSG);
    CHECK_EQ(ss.dgram_frames_received, (uint64_t)NMSG);
    CHECK_EQ(ss.dgram_frames_sent, (uint64_t)NMSG);
    CHECK_EQ(cs.dgram_frames_received, (uint64_t)NMSG);
    CHECK_EQ(s.p.cwnd_violations, 0u);
    /* The largest payload goes through. */
    fill(big, max, 7);
    s.got[QP_CLIENT][7] = 0;
    CHECK_EQ(ho_quic_conn_send_datagram(cl, big, max), HO_OK);
    s.msg_len = max;
    CHECK(quic_pair_run(&s.p, all_echoed, NULL, HO_QUIC_SEC(5)));
    CHECK_EQ(s.bad, 0u);
    quic_pair_free(&s.p);
}

/* 10 % loss: no message arrives twice (no retransmission), the losses
 * are counted, and nothing is sent beyond the congestion window. */
static void test_loss(void)
{
    dsim s;
    dsim_init(&s, 10, 2, 0, 1200);
    up(&s);
    s.to_send = NMSG;
    quic_pair_run(&s.p, NULL, NULL, HO_QUIC_SEC(20));
    CHECK_EQ(s.to_send, 0u);
    uint32_t arrived = 0;
    for (uint32_t i = 0; i < NMSG; i++) {
        CHECK(s.got[QP_SERVER][i] <= 1);
        arrived += s.got[QP_SERVER][i];
    }
    CHECK_EQ(s.bad, 0u);
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(s.p.conn[QP_CLIENT], &cs);
    CHECK_EQ(cs.dgram_frames_sent, (uint64_t)NMSG);
    /* Roughly a tenth lost, none resent: what did not arrive was declared
     * lost (a lost packet's datagrams are all counted). */
    CHECK(arrived < NMSG && arrived > NMSG * 8 / 10);
    CHECK(cs.dgram_frames_lost >= NMSG - arrived);
    CHECK(cs.dgram_frames_lost > 0);
    CHECK_EQ(s.p.cwnd_violations, 0u);
    fprintf(stderr, "  loss 10%%: %u of %u arrived, %" PRIu64 " declared lost\n", arrived, NMSG, cs.dgram_frames_lost);
    quic_pair_free(&s.p);
}

/* The send queue is bounded: what does not fit is refused and counted. */
static void test_queue_bound(void)
{
    dsim s;
    dsim_init(&s, 0, 3, 0, 1200);
    s.p.ccfg.datagram_queue = 16;
    up(&s);
    ho_quic_conn *cl = s.p.conn[QP_CLIENT];
    uint8_t b[100] = {0};
    int ok = 0, blocked = 0;
    for (int i = 0; i < 50; i++) {
        int rc = ho_quic_conn_send_datagram(cl, b, sizeof(b));
        ok += rc == HO_OK;
        blocked += rc == HO_ERR_WOULD_BLOCK;
    }
    CHECK_EQ(ok, 16);
    CHECK_EQ(blocked, 34);
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(cl, &cs);
    CHECK_EQ(cs.dgram_frames_dropped, 34u);
    quic_pair_run(&s.p, NULL, NULL, HO_QUIC_MS(200));
    ho_quic_conn_get_stats(cl, &cs);
    CHECK_EQ(cs.dgram_frames_sent, 16u);
    /* Sent: the queue takes more again. */
    CHECK_EQ(ho_quic_conn_send_datagram(cl, b, sizeof(b)), HO_OK);
    quic_pair_free(&s.p);
}

static void inject(dsim *s, const uint8_t *frames, size_t len)
{
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(netsim_seal(s->p.conn[QP_CLIENT], HO_QUIC_PN_SPACE_APPLICATION, frames, len, &b), HO_OK);
    ho_quic_conn_receive(s->p.conn[QP_SERVER], b.data, b.len, NULL, s->p.now);
    ho_buf_free(&b);
}

/* §3: no DATAGRAM without the parameter, none above it. */
static void test_violations(void)
{
    static const struct {
        uint64_t server_max;
        size_t payload;
        bool with_len;
        const char *what;
    } cases[] = {
        {0, 10, true, "not announced"},
        {0, 10, false, "not announced, no length field"},
        {100, 98, true, "one byte above: 1 + 2 + 98"},
        {100, 97, true, "the largest that fits: 1 + 2 + 97"},
        {100, 99, false, "no length field: 1 + 99 fits"},
        {100, 100, false, "no length field: 1 + 100 above"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dsim s;
        dsim_init(&s, 0, 10 + i, 0, cases[i].server_max);
        up(&s);
        /* The client never sends more than the server announced. */
        size_t max = ho_quic_conn_datagram_max(s.p.conn[QP_CLIENT]);
        CHECK_EQ(max, cases[i].server_max == 0 ? 0 : (size_t)97);
        uint8_t payload[200] = {0};
        CHECK_EQ(ho_quic_conn_send_datagram(s.p.conn[QP_CLIENT], payload, max + 1), HO_ERR_INVALID_ARG);
        ho_quic_frame f = {.type = cases[i].with_len ? HO_QUIC_FT_DATAGRAM_LEN : HO_QUIC_FT_DATAGRAM};
        f.datagram.data = payload;
        f.datagram.len = cases[i].payload;
        ho_buf b;
        ho_buf_init(&b);
        CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_OK);
        bool fits = cases[i].server_max != 0 && b.len <= cases[i].server_max;
        inject(&s, b.data, b.len);
        ho_buf_free(&b);
        ho_quic_conn *sv = s.p.conn[QP_SERVER];
        if (fits) {
            CHECK(!ho_quic_conn_is_closing(sv));
            ho_quic_conn_stats ss;
            ho_quic_conn_get_stats(sv, &ss);
            CHECK_EQ(ss.dgram_frames_received, 1u);
        } else {
            CHECK(ho_quic_conn_is_closing(sv));
            CHECK_EQ(ho_quic_conn_error(sv), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
        }
        if (ho_quic_conn_is_closing(sv) != !fits)
            fprintf(stderr, "case %zu (%s) wrong\n", i, cases[i].what);
        quic_pair_free(&s.p);
    }
}

int main(void)
{
    quic_test_tls("hq-test", &server_tls, &client_tls);
    RUN(test_echo);
    RUN(test_loss);
    RUN(test_queue_bound);
    RUN(test_violations);
    ho_tls_config_free(server_tls);
    ho_tls_config_free(client_tls);
    return ho_test_summary("test_quic_datagram");
}
