/* DPLPMTUD (RFC 8899 §5, RFC 9000 §14.3, §14.4). The search climbs a table
 * of common sizes — 1452 (IPv6 over Ethernet), 1472 (IPv4 over Ethernet),
 * then jumbo and loopback sizes — up to MAX_PLPMTU, the smaller of our
 * ceiling (ho_quic_config.max_udp_payload) and the peer's
 * max_udp_payload_size (RFC 9000 §18.2). One probe is in flight at a time;
 * an acknowledged probe raises max_datagram_size; MAX_PROBES lost probes
 * at a size end the search there; PMTU_RAISE_TIMER later it resumes. */
#include "quic/conn_int.h"

static const size_t search_sizes[] = {1452, 1472, 4096, 8952, 8972, 16384, 32768, 65527};

/* The next size above `above` to try, capped at max; 0 when none. */
static size_t next_size(const ho_quic_pmtud *p, size_t above)
{
    if (p->max <= above)
        return 0;
    for (size_t i = 0; i < sizeof(search_sizes) / sizeof(search_sizes[0]); i++)
        if (search_sizes[i] > above)
            return search_sizes[i] < p->max ? search_sizes[i] : p->max;
    return p->max;
}

static void set_size(ho_quic_conn *c, size_t size)
{
    ho_quic_pmtud *p = &c->pmtud;
    p->current = size;
    /* Packets numbered from here on are sent at the new size. */
    p->raised_from_pn = c->spaces[HO_QUIC_PN_SPACE_APPLICATION].next_pn;
    p->bh_losses = 0;
    p->bh_small_acked = false;
    /* RFC 9002 §7.2: the window follows max_datagram_size (cc.c). */
    ho_quic_cc_set_max_datagram_size(&c->cc, size);
    c->pacer.max_datagram_size = size;
    c->pacer.capacity = size * HO_QUIC_PACER_BURST_PACKETS * (uint64_t)HO_QUIC_NS_PER_SEC;
    if (c->pacer.tokens > c->pacer.capacity)
        c->pacer.tokens = c->pacer.capacity;
}

/* The search stops at the current size until the raise timer. */
static void search_over(ho_quic_conn *c)
{
    quic_ev_pmtud(c, HO_EV_PMTUD_DONE, 0, c->pmtud.current, c->pmtud.current);
    c->pmtud.probe_size = 0;
    c->pmtud.search_again_at = c->now + HO_QUIC_PMTUD_RAISE_TIMER;
}

/* Back to BASE_PLPMTU (RFC 8899 §5.2 BASE state after a black hole). */
static void fall_back(ho_quic_conn *c)
{
    ho_quic_pmtud *p = &c->pmtud;
    p->black_holes++;
    quic_ev_pmtud(c, HO_EV_PMTUD_BLACK_HOLE, 0, p->current, p->base);
    set_size(c, p->base);
    p->probe_in_flight = false;
    search_over(c);
}

void ho_quic_pmtud_on_path_change(ho_quic_conn *c)
{
    /* RFC 9000 §14.3, RFC 8899 §4.3: a new path starts again at BASE_PLPMTU;
     * what was learned about the old one says nothing about it. The
     * congestion controller has just been reset at the base size too. */
    ho_quic_pmtud *p = &c->pmtud;
    set_size(c, p->base);
    p->probe_in_flight = false;
    p->probe_count = 0;
    p->search_again_at = 0;
    p->probe_size = p->enabled ? next_size(p, p->base) : 0;
}

void ho_quic_pmtud_init(ho_quic_conn *c)
{
    ho_quic_pmtud *p = &c->pmtud;
    p->base = p->current = c->cfg.max_datagram_size;
    p->max = c->cfg.max_udp_payload;
}

void ho_quic_pmtud_start(ho_quic_conn *c, ho_quic_time now)
{
    (void)now;
    ho_quic_pmtud *p = &c->pmtud;
    if (p->enabled)
        return;
    /* RFC 9000 §14.3: never above the peer's max_udp_payload_size (its
     * default, absent, is 65527). */
    if (c->tpx.peer_received && c->tpx.peer.max_udp_payload_size < p->max)
        p->max = (size_t)c->tpx.peer.max_udp_payload_size;
    if (p->max <= p->base)
        return;
    p->enabled = true;
    p->probe_size = next_size(p, p->current);
    p->probe_count = 0;
}

size_t ho_quic_pmtud_probe_due(ho_quic_conn *c)
{
    ho_quic_pmtud *p = &c->pmtud;
    if (!p->enabled || p->probe_in_flight)
        return 0;
    if (p->probe_size == 0 && p->search_again_at != 0 && c->now >= p->search_again_at) {
        /* RFC 8899 §5.1.1: PMTU_RAISE_TIMER expired, search again. */
        p->search_again_at = 0;
        p->probe_size = next_size(p, p->current);
        p->probe_count = 0;
    }
    return p->probe_size;
}

void ho_quic_pmtud_on_probe_sent(ho_quic_conn *c, uint64_t pn)
{
    ho_quic_pmtud *p = &c->pmtud;
    p->probe_in_flight = true;
    p->probe_pn = pn;
    p->probe_count++;
    p->probes_sent++;
    quic_ev_pmtud(c, HO_EV_PMTUD_PROBE_SENT, p->probe_size, p->current, p->current);
}

void ho_quic_pmtud_on_acked(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_quic_pmtud *p = &c->pmtud;
    if (space != HO_QUIC_PN_SPACE_APPLICATION)
        return;
    if (pkt->bytes > p->base) {
        p->bh_losses = 0; /* a large packet got through */
        p->bh_small_acked = false;
    } else if (p->bh_losses > 0 && !(pkt->flags & HO_QUIC_SENT_PMTU_PROBE)) {
        p->bh_small_acked = true; /* ... while small ones do */
    }
    if (!(pkt->flags & HO_QUIC_SENT_PMTU_PROBE) || !p->probe_in_flight || pkt->pn != p->probe_pn)
        return;
    /* RFC 8899 §5.2: an acknowledged probe confirms its size. */
    p->probe_in_flight = false;
    p->probes_acked++;
    quic_ev_pmtud(c, HO_EV_PMTUD_PROBE_ACKED, pkt->bytes, p->current,
                  pkt->bytes > p->current ? pkt->bytes : p->current);
    if (pkt->bytes > p->current)
        set_size(c, pkt->bytes);
    p->probe_size = next_size(p, p->current);
    p->probe_count = 0;
    if (p->probe_size == 0)
        search_over(c);
}

void ho_quic_pmtud_on_lost(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_quic_pmtud *p = &c->pmtud;
    if (space != HO_QUIC_PN_SPACE_APPLICATION || !p->enabled)
        return;
    if (pkt->flags & HO_QUIC_SENT_PMTU_PROBE) {
        if (!p->probe_in_flight || pkt->pn != p->probe_pn)
            return;
        p->probe_in_flight = false;
        p->probes_lost++;
        quic_ev_pmtud(c, HO_EV_PMTUD_PROBE_LOST, pkt->bytes, p->current, p->current);
        /* RFC 8899 §5.1.2: MAX_PROBES failures end the search at this size. */
        if (p->probe_count >= HO_QUIC_PMTUD_MAX_PROBES)
            search_over(c);
        return;
    }
    /* RFC 8899 §4.3 / RFC 9000 §14.4: after a raise, full-size packets
     * keep getting lost while small ones are acknowledged: a black hole. */
    if (p->current > p->base && pkt->bytes > p->base && pkt->pn >= p->raised_from_pn &&
        ++p->bh_losses >= HO_QUIC_PMTUD_BLACK_HOLE_LOSSES && p->bh_small_acked)
        fall_back(c);
}

void ho_quic_pmtud_on_pto(ho_quic_conn *c)
{
    /* Nothing acknowledged for several PTOs while sending above the base
     * size (losses cannot even be declared without acknowledgments): the
     * same fallback, so the PTO probes go out at the base size. */
    if (c->pmtud.current > c->pmtud.base && c->rec.pto_count >= HO_QUIC_PMTUD_BLACK_HOLE_PTOS)
        fall_back(c);
}
