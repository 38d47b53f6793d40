/* QUIC event sites (handoff/event.h): each inline wrapper tests the type's
 * bit in the global mask and only then builds the payload (qevent.c), so a
 * site costs one branch while nobody subscribes. */
#ifndef HO_QUIC_QEVENT_H
#define HO_QUIC_QEVENT_H

#include "handoff/event.h"
#include "quic/packet.h"
#include "quic/quic_types.h"
#include "quic/recovery.h"

struct ho_quic_conn;

/* Packet sent, in two halves around the seal: begin reads the plaintext
 * frames, end adds the padding the seal appended (size minus the frames
 * and `overhead`, header and tag) and emits. */
void quic_ev_packet_sent_begin(struct ho_quic_conn *c, ho_event *ev, const ho_quic_header *hdr, const uint8_t *payload,
                               size_t payload_len);
void quic_ev_packet_sent_end(ho_event *ev, size_t size, size_t overhead);
void quic_ev_packet_received_emit(struct ho_quic_conn *c, const ho_quic_header *hdr, const uint8_t *payload,
                                  size_t payload_len);
void quic_ev_packet_lost_emit(struct ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void quic_ev_packet_dropped_emit(struct ho_quic_conn *c, const ho_quic_header *hdr, size_t size, unsigned reason);
void quic_ev_rtt_emit(struct ho_quic_conn *c);
void quic_ev_cc_emit(struct ho_quic_conn *c);
void quic_ev_key_emit(struct ho_quic_conn *c, unsigned key_type, unsigned trigger, bool is_write);
void quic_ev_path_emit(struct ho_quic_conn *c, unsigned what);
void quic_ev_ecn_emit(struct ho_quic_conn *c, unsigned old_state, unsigned new_state);
void quic_ev_pmtud_emit(struct ho_quic_conn *c, unsigned what, uint64_t probe, uint64_t old_size, uint64_t new_size);
void quic_ev_state_emit(struct ho_quic_conn *c, unsigned state);
void quic_ev_params_emit(struct ho_quic_conn *c, bool remote);
/* Endpoint events: dcid may be NULL. */
void quic_ev_endpoint_emit(ho_event_type t, const uint8_t *dcid, size_t dcid_len, size_t size, unsigned reason,
                           ho_quic_time now);

#define QUIC_EV(t) __builtin_expect(ho_event_wanted(t), 0)

static inline void quic_ev_packet_received(struct ho_quic_conn *c, const ho_quic_header *hdr, const uint8_t *payload,
                                           size_t payload_len)
{
    if (QUIC_EV(HO_EV_QUIC_PACKET_RECEIVED))
        quic_ev_packet_received_emit(c, hdr, payload, payload_len);
}
static inline void quic_ev_packet_lost(struct ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    if (QUIC_EV(HO_EV_QUIC_PACKET_LOST))
        quic_ev_packet_lost_emit(c, space, pkt);
}
static inline void quic_ev_packet_dropped(struct ho_quic_conn *c, const ho_quic_header *hdr, size_t size,
                                          unsigned reason)
{
    if (QUIC_EV(HO_EV_QUIC_PACKET_DROPPED))
        quic_ev_packet_dropped_emit(c, hdr, size, reason);
}
static inline void quic_ev_rtt(struct ho_quic_conn *c)
{
    if (QUIC_EV(HO_EV_QUIC_RTT_UPDATED))
        quic_ev_rtt_emit(c);
}
static inline void quic_ev_cc(struct ho_quic_conn *c)
{
    if (QUIC_EV(HO_EV_QUIC_CC_UPDATED))
        quic_ev_cc_emit(c);
}
static inline void quic_ev_key(struct ho_quic_conn *c, unsigned key_type, unsigned trigger, bool is_write)
{
    if (QUIC_EV(HO_EV_QUIC_KEY_UPDATED))
        quic_ev_key_emit(c, key_type, trigger, is_write);
}
static inline void quic_ev_path(struct ho_quic_conn *c, unsigned what)
{
    if (QUIC_EV(HO_EV_QUIC_PATH))
        quic_ev_path_emit(c, what);
}
static inline void quic_ev_ecn(struct ho_quic_conn *c, unsigned old_state, unsigned new_state)
{
    if (old_state != new_state && QUIC_EV(HO_EV_QUIC_ECN_STATE))
        quic_ev_ecn_emit(c, old_state, new_state);
}
static inline void quic_ev_pmtud(struct ho_quic_conn *c, unsigned what, uint64_t probe, uint64_t old_size,
                                 uint64_t new_size)
{
    if (QUIC_EV(HO_EV_QUIC_PMTUD))
        quic_ev_pmtud_emit(c, what, probe, old_size, new_size);
}
static inline void quic_ev_params(struct ho_quic_conn *c)
{
    if (QUIC_EV(HO_EV_QUIC_PARAMS)) {
        quic_ev_params_emit(c, false);
        quic_ev_params_emit(c, true);
    }
}
/* Always tracks the state (so a subscriber added later sees real
 * transitions); emits when wanted. */
void quic_ev_state(struct ho_quic_conn *c, unsigned state);
static inline void quic_ev_endpoint(ho_event_type t, const uint8_t *dcid, size_t dcid_len, size_t size,
                                    unsigned reason, ho_quic_time now)
{
    if (QUIC_EV(t))
        quic_ev_endpoint_emit(t, dcid, dcid_len, size, reason, now);
}

#endif
