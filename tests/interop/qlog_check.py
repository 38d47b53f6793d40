#!/usr/bin/env python3
"""Checks qlog files (JSON-SEQ, .sqlog) for tests/interop/qlog.sh.

  qlog_check.py check FILE [--sent N] [--received N]
      Every record parses (RFC 7464: RS before each, one JSON text); the
      first is the file header of draft-ietf-quic-qlog-main-schema (a
      "sequential" file with one trace), every other one an event with the
      fields the main schema requires (time, name, data); each event of
      draft-ietf-quic-qlog-quic-events has the data fields the draft marks
      required (REQUIRED below: the CDDL fields without "?"), and so does
      every frame of packet_sent / packet_received (FRAME_REQUIRED). With
      --sent / --received, the number of quic:packet_sent / packet_received
      events must equal those counters. Prints the event counts.

  qlog_check.py names FILE
      Prints the file's event names, normalized (see normalize), one a line.

Exit status 0 when every check passed, 1 otherwise (each failure printed).
"""
import json
import sys

RS = "\x1e"

# draft-ietf-quic-qlog-main-schema: the QlogFileSeq header and its trace.
HEADER_REQUIRED = ["file_schema", "serialization_format", "trace"]
TRACE_REQUIRED = ["vantage_point"]
EVENT_REQUIRED = ["time", "name", "data"]

# draft-ietf-quic-qlog-quic-events: required data fields per event we write.
REQUIRED = {
    "quic:packet_sent": ["header"],
    "quic:packet_received": ["header"],
    "quic:packet_lost": [],
    "quic:packet_dropped": [],
    "quic:recovery_metrics_updated": [],
    "quic:key_updated": ["key_type"],
    "quic:parameters_set": [],
    "quic:connection_state_updated": ["new"],
    "quic:migration_state_updated": ["new"],
    "quic:ecn_state_updated": ["new"],
    "quic:mtu_updated": ["new"],
}
HEADER_FIELDS = ["packet_type"]
FRAME_REQUIRED = {
    "padding": [],
    "ping": [],
    "ack": [],
    "reset_stream": ["stream_id", "error_code", "final_size"],
    "stop_sending": ["stream_id", "error_code"],
    "crypto": ["offset", "length"],
    "new_token": ["token"],
    "stream": ["stream_id", "offset", "length"],
    "max_data": ["maximum"],
    "max_stream_data": ["stream_id", "maximum"],
    "max_streams": ["stream_type", "maximum"],
    "data_blocked": ["limit"],
    "stream_data_blocked": ["stream_id", "limit"],
    "streams_blocked": ["stream_type", "limit"],
    "new_connection_id": ["sequence_number", "retire_prior_to", "connection_id"],
    "retire_connection_id": ["sequence_number"],
    "path_challenge": [],
    "path_response": [],
    "connection_close": [],
    "handshake_done": [],
    "datagram": [],
}
KEY_TYPES = {
    "server_initial_secret", "client_initial_secret", "server_handshake_secret", "client_handshake_secret",
    "server_0rtt_secret", "client_0rtt_secret", "server_1rtt_secret", "client_1rtt_secret",
}
STATES = {"attempted", "peer_validated", "handshake_started", "early_write", "handshake_complete",
          "handshake_confirmed", "closing", "draining", "closed"}

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


def check(path, sent, received):
    errors = []
    recs = records(path, errors)
    if not recs:
        errors.append(f"{path}: no records")
        return errors, {}
    head = recs[0]
    for f in missing(head, HEADER_REQUIRED):
        errors.append(f"{path}: header lacks {f}")
    if "trace" in head:
        for f in missing(head["trace"], TRACE_REQUIRED):
            errors.append(f"{path}: trace lacks {f}")
    counts = {}
    last_time = None
    for i, ev in enumerate(recs[1:], 1):
        lack = missing(ev, EVENT_REQUIRED)
        if lack:
            errors.append(f"{path}: event {i} lacks {lack}")
            continue
        name, data = ev["name"], ev["data"]
        counts[name] = counts.get(name, 0) + 1
        if not isinstance(ev["time"], (int, float)):
            errors.append(f"{path}: event {i} time is not a number")
        elif last_time is not None and ev["time"] < last_time:
            errors.append(f"{path}: event {i} goes back in time")
        else:
            last_time = ev["time"]
        if name not in REQUIRED:
            errors.append(f"{path}: event {i}: unknown name {name}")
            continue
        for f in missing(data, REQUIRED[name]):
            errors.append(f"{path}: event {i} {name} lacks data.{f}")
        if name in ("quic:packet_sent", "quic:packet_received"):
            hdr = data.get("header", {})
            for f in missing(hdr, HEADER_FIELDS):
                errors.append(f"{path}: event {i} {name} header lacks {f}")
            if hdr.get("packet_type") not in ("version_negotiation", "retry") and "packet_number" not in hdr:
                errors.append(f"{path}: event {i} {name} header lacks packet_number")
            for frame in data.get("frames", []):
                ft = frame.get("frame_type")
                if ft not in FRAME_REQUIRED:
                    errors.append(f"{path}: event {i} unknown frame_type {ft}")
                    continue
                for f in missing(frame, FRAME_REQUIRED[ft]):
                    errors.append(f"{path}: event {i} {ft} frame lacks {f}")
        if name == "quic:key_updated" and data.get("key_type") not in KEY_TYPES:
            errors.append(f"{path}: event {i} key_type {data.get('key_type')}")
        if name == "quic:connection_state_updated" and data.get("new") not in STATES:
            errors.append(f"{path}: event {i} state {data.get('new')}")
    if sent is not None and counts.get("quic:packet_sent", 0) != sent:
        errors.append(f"{path}: {counts.get('quic:packet_sent', 0)} packet_sent events, the counter says {sent}")
    if received is not None and counts.get("quic:packet_received", 0) != received:
        errors.append(
            f"{path}: {counts.get('quic:packet_received', 0)} packet_received events, the counter says {received}")
    return errors, counts


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        sent = received = None
        args = argv[3:]
        while args:
            if args[0] == "--sent":
                sent = int(args[1])
            elif args[0] == "--received":
                received = int(args[1])
            else:
                print(f"unknown argument {args[0]}")
                return 2
            args = args[2:]
        errors, counts = check(argv[2], sent, received)
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
