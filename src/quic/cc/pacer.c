/* Pacing, RFC 9002 §7.7: a token bucket filled at 1.25 * cwnd / smoothed_rtt
 * whose depth is a burst of ten datagrams (§7.7: SHOULD limit bursts to the
 * initial window). Tokens are bytes scaled by 1e9 so that
 * rate[bytes/s] * elapsed[ns] adds exactly, with no rounding drift. */
#include "quic/cc/cc.h"

/* RFC 9002 §7.7: N = 1.25 so RTT variation does not leave the window unused. */
#define PACING_GAIN_NUM 5
#define PACING_GAIN_DEN 4

typedef unsigned __int128 u128;

uint64_t ho_quic_cc_pacing_rate(const ho_quic_cc *cc, const ho_quic_rtt *rtt)
{
    /* A rate the controller chose (handoff/quic_cc.h) replaces §7.7's. */
    if (cc->pacing_rate != 0)
        return cc->pacing_rate;
    if (rtt->smoothed_rtt <= 0)
        return UINT64_MAX;
    u128 rate = (u128)cc->cwnd * PACING_GAIN_NUM * HO_QUIC_NS_PER_SEC /
                ((u128)rtt->smoothed_rtt * PACING_GAIN_DEN);
    if (rate == 0)
        rate = 1;
    return rate > UINT64_MAX ? UINT64_MAX : (uint64_t)rate;
}

void ho_quic_pacer_init(ho_quic_pacer *p, uint64_t max_datagram_size)
{
    p->max_datagram_size = max_datagram_size;
    p->capacity = max_datagram_size * HO_QUIC_PACER_BURST_PACKETS * (uint64_t)HO_QUIC_NS_PER_SEC;
    p->tokens = p->capacity;
    p->last = HO_QUIC_TIME_NEVER;
}

static void refill(ho_quic_pacer *p, uint64_t rate, ho_quic_time now)
{
    if (p->last == HO_QUIC_TIME_NEVER || now < p->last) {
        p->last = now;
        return;
    }
    u128 add = (u128)rate * (uint64_t)(now - p->last);
    u128 tokens = (u128)p->tokens + add;
    p->tokens = tokens > p->capacity ? p->capacity : (uint64_t)tokens;
    p->last = now;
}

ho_quic_time ho_quic_pacer_next_send_time(ho_quic_pacer *p, const ho_quic_cc *cc,
                                          const ho_quic_rtt *rtt, uint64_t bytes, ho_quic_time now)
{
    uint64_t rate = ho_quic_cc_pacing_rate(cc, rtt);
    refill(p, rate, now);
    u128 need = (u128)bytes * HO_QUIC_NS_PER_SEC;
    /* A packet larger than the bucket may leave once the bucket is full. */
    if (need > p->capacity)
        need = p->capacity;
    if (p->tokens >= need || rate == UINT64_MAX)
        return now;
    u128 wait = (need - p->tokens + rate - 1) / rate; /* ns, rounded up */
    return now + (ho_quic_time)wait;
}

void ho_quic_pacer_on_packet_sent(ho_quic_pacer *p, const ho_quic_cc *cc, const ho_quic_rtt *rtt,
                                  uint64_t bytes, ho_quic_time now)
{
    refill(p, ho_quic_cc_pacing_rate(cc, rtt), now);
    u128 take = (u128)bytes * HO_QUIC_NS_PER_SEC;
    p->tokens = take >= p->tokens ? 0 : p->tokens - (uint64_t)take;
}
