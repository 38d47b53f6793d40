#!/usr/bin/env python3
"""Checks qlog files (JSON-SEQ, .sqlog) for tests/interop/qlog.sh.

  qlog_check.py check FILE [--sent N] [--received N] [--closed-by local|remote]
      Every record parses (RFC 7464: RS before each, one JSON text); the
      first is the file header of draft-ietf-quic-qlog-main-schema-14 (a
      "sequential" file with one trace naming the QUIC event schema), every
      other one an event with the fields the main schema requires (time,
      name, data); each event of draft-ietf-quic-qlog-quic-events-13 has the
      data fields the draft marks required (REQUIRED below: the CDDL fields
      without "?"), and so does every frame (FRAME_REQUIRED) and packet
      header; enumerated values are among the draft's. With
      --sent / --received, the number of quic:packet_sent / packet_received
      events must equal those counters. With --closed-by, the file must
      begin with one connection_started and hold one connection_closed whose
      initiator is that side. Prints the event counts.

  qlog_check.py names FILE
      Prints the file's event names, normalized (see normalize), one a line.

Exit status 0 when every check passed, 1 otherwise (each failure printed).
"""
import json
import re
import sys

RS = "\x1e"

# The tables follow draft-ietf-quic-qlog-main-schema-14 ("main") and
# draft-ietf-quic-qlog-quic-events-13 ("qe"), field by field from their CDDL
# (required = no "?"); the section of each is beside it. Where a line says
# "policy", we ask for more than the draft does.

# main-schema
HEADER_REQUIRED = ["file_schema", "serialization_format", "trace"]  # main §3 LogFile + §5 QlogFileSeq
FILE_SCHEMA = "urn:ietf:params:qlog:file:sequential"                 # main §5
SERIALIZATION_FORMAT = "application/qlog+json-seq"                   # main §11.2
TRACE_REQUIRED = ["event_schemas"]                                   # main §5.1 TraceSeq
VANTAGE_POINT_REQUIRED = ["type"]                                    # main §6 VantagePoint
VANTAGE_POINT_TYPES = {"client", "server", "network", "unknown"}     # main §6 VantagePointType
REFERENCE_TIME_REQUIRED = ["clock_type", "epoch"]                    # main §7.1 ReferenceTime
TIME_FORMATS = {"relative_to_epoch", "relative_to_previous_event"}   # main §7.1 TimeFormat
EVENT_REQUIRED = ["time", "name", "data"]                            # main §7 Event
QUIC_SCHEMA_PREFIX = "urn:ietf:params:qlog:events:quic-"             # qe §2.1: draft N => "...:quic-N"

# quic-events: required data fields per event (an event we do not list is an error: policy)
REQUIRED = {
    "quic:connection_started": ["local", "remote"],      # qe §4.2 QUICConnectionStarted (TupleEndpointInfo)
    "quic:connection_closed": [],                        # qe §4.3 QUICConnectionClosed
    "quic:connection_state_updated": ["new"],            # qe §4.6 QUICConnectionStateUpdated
    "quic:mtu_updated": ["new"],                         # qe §4.8 QUICMTUUpdated
    "quic:parameters_set": [],                           # qe §5.3 QUICParametersSet
    "quic:packet_sent": ["header"],                      # qe §5.5 QUICPacketSent
    "quic:packet_received": ["header"],                  # qe §5.6 QUICPacketReceived
    "quic:packet_dropped": [],                           # qe §5.7 QUICPacketDropped
    "quic:migration_state_updated": ["new"],             # qe §5.20 QUICMigrationStateUpdated
    "quic:key_updated": ["key_type"],                    # qe §6.1 QUICKeyUpdated
    "quic:recovery_metrics_updated": [],                 # qe §7.2 (at least one metric: prose)
    "quic:packet_lost": [],                              # qe §7.4 QUICPacketLost
    "quic:ecn_state_updated": ["new"],                   # qe §7.6 QUICECNStateUpdated
}
RECOVERY_METRICS = {"min_rtt", "smoothed_rtt", "latest_rtt", "rtt_variance", "pto_count",  # qe §7.2
                    "congestion_window", "bytes_in_flight", "ssthresh", "packets_in_flight", "pacing_rate"}
ENDPOINT_FIELDS = {"ip_v4", "port_v4", "ip_v6", "port_v6", "connection_ids"}  # qe §8.5 TupleEndpointInfo

HEADER_FIELDS = ["packet_type"]                                       # qe §8.8 PacketHeader
PACKET_TYPES = {"initial", "handshake", "0RTT", "1RTT", "retry",      # qe §8.6 $PacketType
                "version_negotiation", "stateless_reset", "unknown"}
PN_TYPES = {"initial", "handshake", "0RTT", "1RTT"}  # qe §8.8 "only if packet_type === ..."; required there: policy
BOOL_HEADER_FIELDS = ["key_phase_bit", "spin_bit"]                    # qe §8.8

FRAME_REQUIRED = {
    "padding": [],                                                    # qe §8.13.1
    "ping": [],                                                       # qe §8.13.2
    "ack": [],                                                        # qe §8.13.3
    "reset_stream": ["stream_id", "error", "final_size"],             # qe §8.13.4
    "reset_stream_at": ["stream_id", "error", "final_size", "reliable_size"],  # qe §8.13.5
    "stop_sending": ["stream_id", "error"],                           # qe §8.13.6
    "crypto": ["offset", "raw"],                                      # qe §8.13.7 (+ raw.length MUST)
    "new_token": ["token"],                                           # qe §8.13.8 (Token: an object)
    "stream": ["stream_id"],                                          # qe §8.13.9
    "max_data": ["maximum"],                                          # qe §8.13.10
    "max_stream_data": ["stream_id", "maximum"],                      # qe §8.13.11
    "max_streams": ["stream_type", "maximum"],                        # qe §8.13.12
    "data_blocked": ["limit"],                                        # qe §8.13.13
    "stream_data_blocked": ["stream_id", "limit"],                    # qe §8.13.14
    "streams_blocked": ["stream_type", "limit"],                      # qe §8.13.15
    "new_connection_id": ["sequence_number", "retire_prior_to", "connection_id"],  # qe §8.13.16
    "retire_connection_id": ["sequence_number"],                      # qe §8.13.17
    "path_challenge": [],                                             # qe §8.13.18
    "path_response": [],                                              # qe §8.13.19
    "connection_close": [],                                           # qe §8.13.20
    "handshake_done": [],                                             # qe §8.13.21
    "unknown": ["frame_type_bytes"],                                  # qe §8.13.22 UnknownFrame
    "datagram": [],                                                   # qe §8.13.23
}
FRAME_RAW_LENGTH = {"crypto", "stream", "datagram"}  # qe §8.13.7 MUST; §8.13.9/.23 MUST with a Length field
STREAM_TYPES = {"unidirectional", "bidirectional"}                    # qe §5.13 StreamType
ERROR_SPACES = {"transport", "application"}                           # qe §8.13.20 ErrorSpace
TRANSPORT_ERRORS = {"no_error", "internal_error", "connection_refused", "flow_control_error",  # qe §8.13.24
                    "stream_limit_error", "stream_state_error", "final_size_error", "frame_encoding_error",
                    "transport_parameter_error", "connection_id_limit_error", "protocol_violation",
                    "invalid_token", "application_error", "crypto_buffer_exceeded", "key_update_error",
                    "aead_limit_reached", "no_viable_path", "unknown"}
CRYPTO_ERROR_RE = re.compile(r"^crypto_error_0x1[0-9a-f][0-9a-f]$")  # qe §8.13.26 CryptoError
APPLICATION_ERRORS = {"unknown"}                                      # qe §8.13.25 (HTTP/3 names: not ours)

KEY_TYPES = {"server_initial_secret", "client_initial_secret",        # qe §8.11 $KeyType
             "server_handshake_secret", "client_handshake_secret",
             "server_0rtt_secret", "client_0rtt_secret", "server_1rtt_secret", "client_1rtt_secret"}
KEY_TRIGGERS = {"tls", "remote_update", "local_update"}               # qe §6.1
STATES = {"attempted", "handshake_started", "handshake_complete", "closed",  # qe §4.6 BaseConnectionStates
          "peer_validated", "early_write", "handshake_confirmed",           # and GranularConnectionStates;
          "closing", "draining"}                                            # custom states refused: policy
MIGRATION_STATES = {"probing_started", "probing_abandoned", "probing_successful",  # qe §5.20 MigrationState
                    "migration_started", "migration_abandoned", "migration_complete"}
ECN_STATES = {"testing", "unknown", "failed", "capable"}              # qe §7.6 ECNState
INITIATORS = {"local", "remote"}                                      # qe §8.3 Initiator
LOSS_TRIGGERS = {"reordering_threshold", "time_threshold", "pto_expired"}           # qe §7.4
DROP_TRIGGERS = {"internal_error", "rejected", "unsupported", "invalid", "duplicate",  # qe §5.7
                 "connection_unknown", "decryption_failure", "key_unavailable", "general"}
CLOSED_TRIGGERS = {"idle_timeout", "application", "error", "version_mismatch",      # qe §4.3
                   "stateless_reset", "aborted", "unspecified"}

# Older qlog (ngtcp2 writes qlog_version 0.3: "transport:", "recovery:" categories) to the
# names of draft-ietf-quic-qlog-quic-events.
RENAMES = {"recovery:metrics_updated": "quic:recovery_metrics_updated"}


def normalize(name):
    if name in RENAMES:
        return RENAMES[name]
    return "quic:" + name.split(":", 1)[1] if ":" in name else name


def records(path, errors):
    text = open(path, "rb").read().decode("utf-8", "replace")
    if not text.startswith(RS):
        errors.append(f"{path}: does not start with RS (0x1e): not JSON-SEQ")
    out = []
    for i, chunk in enumerate(text.split(RS)[1:]):
        try:
            out.append(json.loads(chunk))
        except ValueError as e:
            errors.append(f"{path}: record {i} does not parse: {e}: {chunk[:120]!r}")
    return out


def missing(obj, fields):
    return [f for f in fields if f not in obj]


def in_set(errors, where, value, allowed):
    if value not in allowed:
        errors.append(f"{where}: {value!r} is not one of the draft's values")


def check_error(errors, where, obj, key, space):
    """connection_error / error of CONNECTION_CLOSE: a known name, or "unknown" with error_code."""
    if key not in obj:
        return
    v = obj[key]
    if space == "application":
        in_set(errors, f"{where} {key}", v, APPLICATION_ERRORS)
    elif not (v in TRANSPORT_ERRORS or (isinstance(v, str) and CRYPTO_ERROR_RE.match(v))):
        errors.append(f"{where}: {key} {v!r} is not a TransportError or CryptoError")
    if v == "unknown" and "error_code" not in obj:
        errors.append(f"{where}: {key} \"unknown\" without error_code")


def check_frame(errors, where, frame):
    ft = frame.get("frame_type")
    if ft not in FRAME_REQUIRED:
        errors.append(f"{where}: unknown frame_type {ft}")
        return
    for f in missing(frame, FRAME_REQUIRED[ft]):
        errors.append(f"{where} {ft} frame lacks {f}")
    if ft in FRAME_RAW_LENGTH and not isinstance(frame.get("raw", {}).get("length"), int):
        errors.append(f"{where} {ft} frame lacks raw.length")
    if ft in ("crypto", "stream") and "length" in frame:
        errors.append(f"{where} {ft} frame has a top-level length (qe: raw.length)")
    if "stream_type" in frame:
        in_set(errors, f"{where} {ft} stream_type", frame["stream_type"], STREAM_TYPES)
    if ft in ("reset_stream", "stop_sending"):
        check_error(errors, f"{where} {ft}", frame, "error", "application")
    if ft == "connection_close":
        space = frame.get("error_space", "transport")
        in_set(errors, f"{where} error_space", space, ERROR_SPACES)
        check_error(errors, f"{where} connection_close", frame, "error", space)
    if ft == "new_token" and not isinstance(frame.get("token"), dict):
        errors.append(f"{where} new_token token is not an object")
    if ft == "ack":
        if "ack_delay" in frame and not isinstance(frame["ack_delay"], (int, float)):
            errors.append(f"{where} ack_delay is not a number")
        for r in frame.get("acked_ranges", []):
            if not (isinstance(r, list) and 1 <= len(r) <= 2 and all(isinstance(x, int) for x in r)
                    and r == sorted(r)):
                errors.append(f"{where} acked_ranges entry {r!r}")


def check_header(errors, where, hdr):
    for f in missing(hdr, HEADER_FIELDS):
        errors.append(f"{where} header lacks {f}")
    pt = hdr.get("packet_type")
    in_set(errors, f"{where} packet_type", pt, PACKET_TYPES)
    if pt in PN_TYPES and "packet_number" not in hdr:
        errors.append(f"{where} header lacks packet_number")
    if pt not in PN_TYPES and "packet_number" in hdr:
        errors.append(f"{where} header of a {pt} packet has a packet_number")
    for f in BOOL_HEADER_FIELDS:
        if f in hdr and not isinstance(hdr[f], bool):
            errors.append(f"{where} header {f} is not a bool")
    if "token" in hdr:  # qe §8.13 $Token: an Initial's Retry or NEW_TOKEN token
        tok = hdr["token"]
        if pt != "initial":
            errors.append(f"{where} header of a {pt} packet has a token")
        if not isinstance(tok, dict) or tok.get("type") not in ("retry", "resumption") or \
                not isinstance(tok.get("raw", {}).get("length"), int):
            errors.append(f"{where} header token {tok!r}")


def check(path, sent, received, closed_by=None):
    errors = []
    recs = records(path, errors)
    if not recs:
        errors.append(f"{path}: no records")
        return errors, {}
    head = recs[0]
    for f in missing(head, HEADER_REQUIRED):
        errors.append(f"{path}: header lacks {f}")
    if head.get("file_schema") != FILE_SCHEMA:
        errors.append(f"{path}: file_schema {head.get('file_schema')!r}")
    if head.get("serialization_format") != SERIALIZATION_FORMAT:
        errors.append(f"{path}: serialization_format {head.get('serialization_format')!r}")
    trace = head.get("trace", {})
    for f in missing(trace, TRACE_REQUIRED):
        errors.append(f"{path}: trace lacks {f}")
    if not any(isinstance(x, str) and x.startswith(QUIC_SCHEMA_PREFIX) for x in trace.get("event_schemas", [])):
        errors.append(f"{path}: event_schemas has no {QUIC_SCHEMA_PREFIX}N")
    if "vantage_point" in trace:
        vp = trace["vantage_point"]
        for f in missing(vp, VANTAGE_POINT_REQUIRED):
            errors.append(f"{path}: vantage_point lacks {f}")
        in_set(errors, f"{path}: vantage_point type", vp.get("type"), VANTAGE_POINT_TYPES)
    common = trace.get("common_fields", {})
    if "time_format" in common:
        in_set(errors, f"{path}: time_format", common["time_format"], TIME_FORMATS)
    if "reference_time" in common:
        for f in missing(common["reference_time"], REFERENCE_TIME_REQUIRED):
            errors.append(f"{path}: reference_time lacks {f}")
    counts = {}
    last_time = None
    for i, ev in enumerate(recs[1:], 1):
        lack = missing(ev, EVENT_REQUIRED)
        if lack:
            errors.append(f"{path}: event {i} lacks {lack}")
            continue
        name, data = ev["name"], ev["data"]
        where = f"{path}: event {i} {name}"
        counts[name] = counts.get(name, 0) + 1
        if not isinstance(ev["time"], (int, float)):
            errors.append(f"{where}: time is not a number")
        elif last_time is not None and ev["time"] < last_time:
            errors.append(f"{where}: goes back in time (policy)")
        else:
            last_time = ev["time"]
        if name not in REQUIRED:
            errors.append(f"{path}: event {i}: unknown name {name}")
            continue
        for f in missing(data, REQUIRED[name]):
            errors.append(f"{where} lacks data.{f}")
        if name in ("quic:packet_sent", "quic:packet_received", "quic:packet_lost", "quic:packet_dropped"):
            if "header" in data:
                hdr = data["header"]
                if name == "quic:packet_dropped":
                    in_set(errors, f"{where} packet_type", hdr.get("packet_type"), PACKET_TYPES)
                else:
                    check_header(errors, where, hdr)
            for frame in data.get("frames", []):
                check_frame(errors, where, frame)
        if name == "quic:packet_lost" and "trigger" in data:
            in_set(errors, f"{where} trigger", data["trigger"], LOSS_TRIGGERS)
        if name == "quic:packet_dropped" and "trigger" in data:
            in_set(errors, f"{where} trigger", data["trigger"], DROP_TRIGGERS)
        if name == "quic:key_updated":
            in_set(errors, f"{where} key_type", data.get("key_type"), KEY_TYPES)
            if "trigger" in data:
                in_set(errors, f"{where} trigger", data["trigger"], KEY_TRIGGERS)
        if name == "quic:connection_state_updated":
            in_set(errors, f"{where} new", data.get("new"), STATES)
            if "old" in data:
                in_set(errors, f"{where} old", data["old"], STATES)
        if name == "quic:migration_state_updated":
            in_set(errors, f"{where} new", data.get("new"), MIGRATION_STATES)
        if name == "quic:ecn_state_updated":
            in_set(errors, f"{where} new", data.get("new"), ECN_STATES)
        if name == "quic:mtu_updated" and not all(isinstance(data.get(k, 0), int) for k in ("new", "old")):
            errors.append(f"{where}: old/new are not integers")
        if name == "quic:recovery_metrics_updated" and not RECOVERY_METRICS & set(data):
            errors.append(f"{where}: no metric")
        if name == "quic:parameters_set" and "initiator" in data:
            in_set(errors, f"{where} initiator", data["initiator"], INITIATORS)
        if name == "quic:connection_started":
            for side in ("local", "remote"):
                ep = data.get(side)
                if not isinstance(ep, dict) or set(ep) - ENDPOINT_FIELDS:
                    errors.append(f"{where}: {side} is not a TupleEndpointInfo: {ep!r}")
        if name == "quic:connection_closed":
            if "initiator" in data:
                in_set(errors, f"{where} initiator", data["initiator"], INITIATORS)
            if "trigger" in data:
                in_set(errors, f"{where} trigger", data["trigger"], CLOSED_TRIGGERS)
            check_error(errors, where, data, "connection_error", "transport")
            check_error(errors, where, data, "application_error", "application")
    if closed_by is not None:
        # One connection: connection_started first, one connection_closed by that side.
        if len(recs) < 2 or recs[1].get("name") != "quic:connection_started" or \
                counts.get("quic:connection_started") != 1:
            errors.append(f"{path}: not exactly one connection_started, as the first event")
        closed = [r for r in recs[1:] if r.get("name") == "quic:connection_closed"]
        if len(closed) != 1 or closed[0].get("data", {}).get("initiator") != closed_by:
            errors.append(f"{path}: want one connection_closed with initiator {closed_by}: {closed!r}")
    if sent is not None and counts.get("quic:packet_sent", 0) != sent:
        errors.append(f"{path}: {counts.get('quic:packet_sent', 0)} packet_sent events, the counter says {sent}")
    if received is not None and counts.get("quic:packet_received", 0) != received:
        errors.append(
            f"{path}: {counts.get('quic:packet_received', 0)} packet_received events, the counter says {received}")
    return errors, counts


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        sent = received = closed_by = None
        args = argv[3:]
        while args:
            if args[0] == "--sent":
                sent = int(args[1])
            elif args[0] == "--received":
                received = int(args[1])
            elif args[0] == "--closed-by":
                closed_by = args[1]
            else:
                print(f"unknown argument {args[0]}")
                return 2
            args = args[2:]
        errors, counts = check(argv[2], sent, received, closed_by)
        for e in errors:
            print("ERROR " + e)
        print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        return 1 if errors else 0
    if len(argv) == 3 and argv[1] == "names":
        errors = []
        names = sorted({normalize(r["name"]) for r in records(argv[2], errors)[1:] if "name" in r})
        for e in errors:
            print("ERROR " + e, file=sys.stderr)
        print("\n".join(names))
        return 1 if errors else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
