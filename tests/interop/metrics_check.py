#!/usr/bin/env python3
"""Compares a scrape of `handoff serve --metrics` with the SIGUSR1 counters JSON taken at the
same quiet moment (tests/interop/metrics.sh).

    metrics_check.py compare METRICS_FILE JSON_FILE   every JSON counter equals its series
    metrics_check.py value METRICS_FILE NAME [LABEL=VALUE...]   prints the sum of matching samples
    metrics_check.py same A B                          exit 0 when two scrapes hold equal values

Every JSON field must have a series here: a counter added to the JSON without one fails the test.
Times: the JSON has microseconds (floored), the metrics exact seconds."""
import json
import re
import sys

# JSON field -> (metric, {extra labels}, kind). kind: "n" a number, "us" seconds vs microseconds,
# "bool" a 0/1 gauge. TCP and QUIC fields are per thread (summed here); pool fields are not.
TCP = {
    "accepted": ("handoff_tcp_connections_accepted_total", {}),
    "closed": ("handoff_tcp_connections_closed_total", {}),
    "active": ("handoff_tcp_connections_active", {}),
    "handshakes_done": ("handoff_tls_handshakes_total", {}),
    "handshakes_pq": ("handoff_tls_handshakes_pq_total", {}),
    "client_certs_verified": ("handoff_tls_client_certs_verified_total", {}),
    "client_certs_refused": ("handoff_tls_client_certs_refused_total", {}),
    "early_accepted": ("handoff_tls_early_data_total", {"outcome": "accepted"}),
    "early_rejected": ("handoff_tls_early_data_total", {"outcome": "rejected"}),
    "early_replayed": ("handoff_tls_early_data_total", {"outcome": "replayed"}),
    "handshakes_failed": ("handoff_tls_handshakes_failed_total", {}),
    "handshake_timeouts": ("handoff_tls_handshake_timeouts_total", {}),
    "handshakes_offloaded": ("handoff_tls_handshake_steps_total", {"mode": "offloaded"}),
    "handshakes_inline": ("handoff_tls_handshake_steps_total", {"mode": "inline"}),
    "worker_steps": ("handoff_tls_handshake_worker_steps_total", {}),
    "served_during_offload": ("handoff_tcp_requests_during_offload_total", {}),
    "requests": ("handoff_tcp_requests_total", {}),
    "async_started": ("handoff_tls_async_started_total", {}),
    "async_completed": ("handoff_tls_async_completed_total", {}),
    "served_during_async": ("handoff_tcp_requests_during_async_total", {}),
    "idle_timeouts": ("handoff_tcp_idle_timeouts_total", {}),
    "request_timeouts": ("handoff_tcp_request_timeouts_total", {}),
    "ktls_engaged": ("handoff_ktls_engaged_total", {}),
    "ktls_fallback": ("handoff_ktls_fallbacks_total", {}),
    "send_timeouts": ("handoff_tcp_send_timeouts_total", {}),
    "trims": ("handoff_heap_trims_total", {}),
    "accept_emfile": ("handoff_tcp_accept_fd_limit_total", {}),
}
POOL = {
    "pool_jobs": ("handoff_offload_jobs_submitted_total", "n"),
    "pool_completed": ("handoff_offload_jobs_completed_total", "n"),
    "pool_inline": ("handoff_offload_jobs_inline_total", "n"),
    "pool_depth": ("handoff_offload_queue_depth", "n"),
    "pool_max_depth": ("handoff_offload_queue_depth_max", "n"),
    "pool_queued_us": ("handoff_offload_queued_seconds_total", "us"),
    "pool_run_us": ("handoff_offload_run_seconds_total", "us"),
}
QUIC = {
    "h3_connections": ("handoff_quic_connections_accepted_total", {}, "n"),
    "h3_connections_closed": ("handoff_quic_connections_closed_total", {}, "n"),
    "h3_handshakes": ("handoff_quic_handshakes_total", {}, "n"),
    "h3_resumed": ("handoff_quic_handshakes_resumed_total", {}, "n"),
    "h3_handshakes_pq": ("handoff_quic_handshakes_pq_total", {}, "n"),
    "h3_client_certs_verified": ("handoff_quic_client_certs_verified_total", {}, "n"),
    "h3_client_certs_refused": ("handoff_quic_client_certs_refused_total", {}, "n"),
    "h3_key_updates": ("handoff_quic_key_updates_total", {}, "n"),
    "h3_requests": ("handoff_h3_requests_total", {}, "n"),
    "h3_vn_sent": ("handoff_quic_version_negotiation_sent_total", {}, "n"),
    "h3_retry_sent": ("handoff_quic_retry_sent_total", {}, "n"),
    "h3_resets_sent": ("handoff_quic_stateless_resets_sent_total", {}, "n"),
    "h3_refused": ("handoff_quic_connections_refused_total", {}, "n"),
    "h3_admission_retries": ("handoff_quic_admission_retries_total", {}, "n"),
    "h3_admission_refused": ("handoff_quic_admission_refused_total", {}, "n"),
    "h3_handshakes_in_progress": ("handoff_quic_handshakes_in_progress", {}, "n"),
    "h3_new_tokens_issued": ("handoff_quic_new_tokens_issued_total", {}, "n"),
    "h3_new_tokens_accepted": ("handoff_quic_new_tokens_accepted_total", {}, "n"),
    "h3_new_tokens_refused": ("handoff_quic_new_tokens_refused_total", {}, "n"),
    "h3_early_accepted": ("handoff_quic_early_data_total", {"outcome": "accepted"}, "n"),
    "h3_early_rejected": ("handoff_quic_early_data_total", {"outcome": "rejected"}, "n"),
    "h3_early_replayed": ("handoff_quic_early_data_total", {"outcome": "replayed"}, "n"),
    "quic_0rtt_received": ("handoff_quic_0rtt_packets_total", {"outcome": "received"}, "n"),
    "quic_0rtt_accepted": ("handoff_quic_0rtt_packets_total", {"outcome": "accepted"}, "n"),
    "quic_0rtt_dropped": ("handoff_quic_0rtt_packets_total", {"outcome": "dropped"}, "n"),
    "h3_datagrams_received": ("handoff_quic_datagrams_received_total", {}, "n"),
    "h3_datagrams_dropped": ("handoff_quic_datagrams_dropped_total", {}, "n"),
    "h3_migrations": ("handoff_quic_migrations_total", {}, "n"),
    "h3_paths_validated": ("handoff_quic_paths_validated_total", {}, "n"),
    "quic_forwarded": ("handoff_quic_datagrams_forwarded_total", {}, "n"),
    "quic_forwarded_in": ("handoff_quic_datagrams_forwarded_in_total", {}, "n"),
    "quic_forward_drops": ("handoff_quic_forward_drops_total", {}, "n"),
    "quic_steps_offloaded": ("handoff_quic_handshake_steps_total", {"mode": "offloaded"}, "n"),
    "quic_steps_inline": ("handoff_quic_handshake_steps_total", {"mode": "inline"}, "n"),
    "quic_step_queued": ("handoff_quic_step_queued_datagrams_total", {}, "n"),
    "quic_step_queue_overflows": ("handoff_quic_step_queue_overflows_total", {}, "n"),
    "quic_step_queue_us": ("handoff_quic_step_queue_wait_seconds_total", {}, "us"),
    "quic_step_out_us": ("handoff_quic_step_out_seconds_total", {}, "us"),
    "h3_async_started": ("handoff_quic_tls_async_started_total", {}, "n"),
    "h3_async_completed": ("handoff_quic_tls_async_completed_total", {}, "n"),
    "h3_async_waiting": ("handoff_quic_tls_async_waiting", {}, "n"),
    "h3_served_during_async": ("handoff_quic_handshakes_during_async_total", {}, "n"),
    "quic_packets_sent": ("handoff_quic_packets_sent_total", {}, "n"),
    "quic_packets_received": ("handoff_quic_packets_received_total", {}, "n"),
    "quic_packets_lost": ("handoff_quic_packets_lost_total", {}, "n"),
    "quic_send_calls": ("handoff_quic_send_calls_total", {}, "n"),
    "quic_send_gathered": ("handoff_quic_send_gathered_total", {}, "n"),
}
for _r in ("initial_too_small", "initial_undecryptable", "initial_bad_frames", "initial_bad_dcid",
           "initial_bad_token", "unknown_long", "unknown_version"):
    QUIC["quic_" + _r] = ("handoff_quic_unrouted_dropped_total", {"reason": _r}, "n")

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(path):
    """[(name, {labels}, value)] of every sample."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                raise SystemExit(f"unparsable sample line: {line!r}")
            labels = dict(LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def total(samples, name, want):
    """Sum of the samples of name whose labels include want; None if there is none."""
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in want.items())]
    return sum(vals) if vals else None


def as_json_unit(v, kind):
    if kind == "us":
        return int(round(v * 1e9)) // 1000
    return int(round(v))


def compare(mfile, jfile):
    samples = parse(mfile)
    with open(jfile) as f:
        js = json.load(f)
    bad = 0
    checked = 0

    def expect(what, got, want):
        nonlocal bad, checked
        checked += 1
        if got != want:
            bad += 1
            print(f"MISMATCH {what}: metrics {got}, JSON {want}")

    for key, value in js.items():
        if key == "quic_threads":
            for i, th in enumerate(value):
                for k, v in th.items():
                    if k not in QUIC:
                        bad += 1
                        print(f"UNMAPPED quic_threads[{i}].{k}")
                        continue
                    name, labels, kind = QUIC[k]
                    got = total(samples, name, dict(labels, thread=str(i)))
                    expect(f"{k} thread {i} ({name})", None if got is None else as_json_unit(got, kind), v)
            continue
        if key == "quic_steering":
            got = total(samples, "handoff_quic_steering", {})
            expect("quic_steering", got, 1.0 if value else 0.0)
            continue
        if key in TCP:
            name, labels = TCP[key]
            kind = "n"
        elif key in POOL:
            name, kind = POOL[key]
            labels = {}
        elif key in QUIC:
            name, labels, kind = QUIC[key]
        else:
            bad += 1
            print(f"UNMAPPED JSON counter {key}: no metric for it")
            continue
        got = total(samples, name, labels)
        expect(f"{key} ({name})", None if got is None else as_json_unit(got, kind), value)

    # The histograms agree with the counters at rest: one handshake observed per handshake
    # completed, one queue time per pool job started (= completed once idle).
    def hcount(extra):
        return total(samples, "handoff_handshake_duration_seconds_count", extra)

    expect("TCP handshake histogram count", as_json_unit(hcount({"transport": "tcp"}) or 0, "n"),
           js["handshakes_done"])
    if "h3_handshakes" in js:
        expect("QUIC handshake histogram count", as_json_unit(hcount({"transport": "quic"}) or 0, "n"),
               js["h3_handshakes"])
    expect("offload queue histogram count",
           as_json_unit(total(samples, "handoff_offload_queue_duration_seconds_count", {}) or 0, "n"),
           js["pool_completed"])
    expect("offload queue histogram sum",
           as_json_unit(total(samples, "handoff_offload_queue_duration_seconds_sum", {}) or 0, "us"),
           js["pool_queued_us"])
    print(f"{checked} values compared, {bad} mismatches")
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
    if len(sys.argv) >= 4 and sys.argv[1] == "value":
        want = dict(a.split("=", 1) for a in sys.argv[4:])
        v = total(parse(sys.argv[2]), sys.argv[3], want)
        print("?" if v is None else (int(v) if v == int(v) else v))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "same":
        a, b = parse(sys.argv[2]), parse(sys.argv[3])
        return 0 if sorted(map(repr, a)) == sorted(map(repr, b)) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
