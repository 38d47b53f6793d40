/* Authenticating a client's first Initial before any connection exists
 * (include: quic/packet.h, ho_quic_initial_authenticate).
 *
 * An Initial that matches no connection is checked with keys derived on
 * the stack from its DCID (RFC 9001 §5.2) and opened in a scratch copy, so
 * that forged or corrupted Initials cost a key derivation and one AEAD
 * open, and never a connection (docs/QUIC.md, "Forged Initials"). */
#include <string.h>

#include "crypto/prim.h"
#include "quic/frame.h"
#include "quic/packet.h"

int ho_quic_initial_authenticate(ho_quic_keys *k, const uint8_t *dgram, const ho_quic_header *hdr, uint8_t *scratch,
                                 size_t cap)
{
    if (hdr->type != HO_QUIC_PKT_INITIAL || !ho_quic_version_supported(hdr->version) || hdr->packet_len > cap)
        return HO_ERR_INVALID_ARG;
    /* RFC 9001 §5.2: initial_secret = HKDF-Extract(initial_salt, DCID of
     * the client's first Initial), with the salt of the packet's version
     * (RFC 9369 §3.3.1); client_initial_secret = HKDF-Expand-Label(
     * initial_secret, "client in", "", 32). Only the client-to-server keys
     * are installed, into k's contexts (rekeyed, not allocated). */
    uint8_t server[32], client[32];
    ho_quic_key_material m;
    int rc = ho_quic_initial_secrets(hdr->version, hdr->dcid.data, hdr->dcid.len, client, server);
    if (rc == HO_OK)
        rc = ho_quic_key_material_derive(hdr->version, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, client, &m);
    if (rc == HO_OK)
        rc = crypto_aead_rekey(k->aead, m.key, m.iv);
    if (rc == HO_OK)
        rc = crypto_hp_rekey(k->hp, m.hp);
    ho_wipe(server, sizeof(server));
    ho_wipe(client, sizeof(client));
    ho_wipe(&m, sizeof(m));
    if (rc != HO_OK)
        return rc;
    /* The datagram stays as received: the connection made for it, if any,
     * processes it again with its own keys. */
    memcpy(scratch, dgram, hdr->packet_len);
    ho_quic_header h = *hdr;
    /* The client's first packet in the space: no largest yet (§17.1). */
    rc = ho_quic_packet_unprotect(k, scratch, &h, HO_QUIC_PN_NONE);
    if (rc == HO_ERR_QUIC_DISCARD || rc == HO_ERR_DECRYPT) {
        ho_wipe(scratch, hdr->packet_len);
        return HO_ERR_DECRYPT;
    }
    if (rc != HO_OK) {
        ho_wipe(scratch, hdr->packet_len);
        return rc;
    }
    /* RFC 9000 §12.4 / §17.2.2: an Initial carries only PADDING, PING,
     * ACK, CRYPTO and CONNECTION_CLOSE (0x1c); a payload that is empty or
     * does not parse as such frames is a PROTOCOL_VIOLATION (or
     * FRAME_ENCODING_ERROR) and builds no connection. */
    ho_quic_frame_reader r;
    ho_quic_frame f;
    ho_quic_frame_reader_init(&r, scratch + h.payload_offset, h.payload_len, HO_QUIC_PKT_INITIAL, false);
    while ((rc = ho_quic_frame_read(&r, &f)) == HO_OK)
        ;
    ho_wipe(scratch, hdr->packet_len);
    return rc == HO_ERR_NOT_FOUND ? HO_OK : rc;
}

int ho_quic_initial_check_keys_new(ho_quic_keys *k)
{
    ho_quic_key_material m;
    memset(&m, 0, sizeof(m));
    m.aead = HO_AEAD_AES_128_GCM;
    return ho_quic_keys_new(k, &m, false);
}
