#!/usr/bin/env bash
# bench/charts.sh — the PNG charts of docs/BENCHMARKS.md, drawn with gnuplot (Debian
# gnuplot-nox, scripts/deps.sh --test) from the simulator and the benchmarks:
#   cc        docs/img/cc_{loss,blackhole,bottleneck}.png: our QUIC server's congestion
#             window and bytes in flight over virtual time, one panel per controller (cubic,
#             newreno), from bench/cc_trace (the network simulator of tests/netsim.c; a
#             deterministic run, so the same chart on any machine)
#   latency   docs/img/offload_latency.png: the distribution (CDF) of the latency of requests
#             on established keep-alive connections during a handshake storm, one curve per
#             --offload mode (off, always, adaptive), from bench/offload_latency.sh --probe
#             h2load --samples (every request's own time)
#   scaling   docs/img/scaling.png: handshakes/s (bench/handshakes.sh, handoff-adaptive) and
#             req/s (bench/json_tls.sh, handoff) for --threads 1 and 2
#
# Usage: bench/charts.sh [options] [PART...]      (PARTs: cc latency scaling; default all)
#   --out DIR         where the PNGs go (default docs/img)
#   --build DIR       the build tree with handoff and bench/cc_trace (default build)
#   --check DIR       the pipeline test (ctest bench_charts): a short cc run (256 KB, cubic,
#                     blackhole) drawn into DIR/cc_check.png, which must be a non-empty PNG
#   --lat-samples DIR  latency: draw DIR/*_storm_1.lat of an earlier
#                     offload_latency.sh --samples DIR run instead of running it
#   --scaling-data F  scaling: draw F (lines "THREADS<TAB>HS/S<TAB>REQ/S", as this script
#                     prints at the end of a scaling run) instead of running the benchmarks
#   -h, --help
# The latency and scaling parts run the real benchmarks (a few minutes in all).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/docs/img BUILD=$REPO/build CHECK= LAT_SAMPLES= SCALING_DATA= PARTS=()
die() { echo "charts.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --check) CHECK=$2; shift 2 ;;
    --lat-samples) LAT_SAMPLES=$2; shift 2 ;;
    --scaling-data) SCALING_DATA=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    cc | latency | scaling) PARTS+=("$1"); shift ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ ${#PARTS[@]} -gt 0 ] || PARTS=(cc latency scaling)
command -v gnuplot >/dev/null || die "gnuplot is not installed (scripts/deps.sh --test installs gnuplot-nox)"
CC_TRACE=$BUILD/bench/cc_trace
[ -x "$CC_TRACE" ] || die "no $CC_TRACE: build first"
W=$(mktemp -d "${TMPDIR:-/tmp}/ho-charts.XXXXXX")
trap 'rm -rf "$W"' EXIT

TERM_PNG="set terminal pngcairo size 800,500 font 'Sans,10'"
gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo || TERM_PNG="set terminal png size 800,500"

# cc_chart SCENARIO TITLE PNG [CC...]: one panel per controller.
cc_chart() {
    local scen=$1 title=$2 png=$3 cc n plot=""
    shift 3
    n=$#
    for cc; do
        "$CC_TRACE" "$scen" "$cc" ${SHORT:+--short} >"$W/$scen-$cc.tsv" 2>"$W/$scen-$cc.err" ||
            die "cc_trace $scen $cc failed: $(tail -3 "$W/$scen-$cc.err")"
        plot+="set title '$title — $cc ($(cat "$W/$scen-$cc.err" | sed 's/^cc_trace [a-z]* [a-z]*: //'))';
plot '$W/$scen-$cc.tsv' using 1:(\$2/1000) with steps lw 1.5 title 'cwnd', '' using 1:(\$3/1000) with steps lw 1 title 'bytes in flight';
"
    done
    gnuplot <<GP
$TERM_PNG
set output '$png'
set multiplot layout $n,1
set xlabel 'virtual time since the handshake (ms)'
set ylabel 'KB'
set key top right
set grid
$plot
unset multiplot
GP
}

# lat_chart DIR PNG: the latency samples DIR/{off,always,adaptive}_storm_1.lat (ms, one a
# line) as a CDF (left) and as the fraction of requests slower than x, log-log (right: the tail).
lat_chart() {
    local m f plot="" tail=""
    for m in off always adaptive; do
        f=$1/${m}_storm_1.lat
        [ -s "$f" ] || die "no samples for --offload $m in $1"
        sort -n "$f" | awk '{ a[NR] = $1 } END { for (i = 1; i <= NR; i++) print a[i], i / NR, (NR - i) / NR }' >"$W/$m.cdf"
        plot+="${plot:+, }'$W/$m.cdf' using 1:2 with lines lw 2 title '--offload $m ($(wc -l <"$f") req.)'"
        tail+="${tail:+, }'$W/$m.cdf' using 1:(\$3 > 0 ? \$3 : 1/0) with lines lw 2 title '--offload $m'"
    done
    gnuplot <<GP
$TERM_PNG
set output '$2'
set multiplot layout 1,2 title 'Requests on established connections during a handshake storm (h2load -c 64, loaded 2-core VM)'
set xlabel 'latency (ms, log scale)'
set logscale x
set grid
set key top left
set ylabel 'fraction of requests'
set yrange [0:1]
plot $plot
set ylabel 'fraction of requests slower (log scale)'
set logscale y
set yrange [1e-4:1]
set key top right
plot $tail
unset multiplot
GP
}

check_png() {
    [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        die "$1 is not a PNG"
}

if [ -n "$CHECK" ]; then
    mkdir -p "$CHECK"
    SHORT=1 cc_chart blackhole "check: 1 s blackhole" "$CHECK/cc_check.png" cubic
    check_png "$CHECK/cc_check.png"
    lines=$(wc -l <"$W/blackhole-cubic.tsv")
    [ "$lines" -ge 20 ] || die "only $lines trace lines"
    echo "charts.sh --check: $CHECK/cc_check.png ($(stat -c %s "$CHECK/cc_check.png") bytes, $lines trace lines)"
    echo "1 passed, 0 failed"
    exit 0
fi

mkdir -p "$OUT"
for part in "${PARTS[@]}"; do
    case $part in
    cc)
        cc_chart loss "20 Mbit/s, 20 ms RTT, 2 % loss" "$OUT/cc_loss.png" cubic newreno
        cc_chart blackhole "10 Mbit/s, 20 ms RTT, 3 s blackhole at 300 ms" "$OUT/cc_blackhole.png" cubic newreno
        cc_chart bottleneck "10 Mbit/s, 30 KB queue, 40 ms RTT" "$OUT/cc_bottleneck.png" cubic newreno
        ;;
    latency)
        if [ -z "$LAT_SAMPLES" ]; then
            LAT_SAMPLES=$W/lat
            HANDOFF=$BUILD/handoff bash "$REPO/bench/offload_latency.sh" --probe h2load --servers "off always adaptive" \
                --no-baseline -r 1 -d 5s --samples "$LAT_SAMPLES" >"$W/latency.txt" 2>&1 ||
                die "offload_latency.sh failed: $(tail -5 "$W/latency.txt")"
            cat "$W/latency.txt"
        fi
        lat_chart "$LAT_SAMPLES" "$OUT/offload_latency.png"
        ;;
    scaling)
        if [ -n "$SCALING_DATA" ]; then
            cp "$SCALING_DATA" "$W/scaling.tsv"
        else
            : >"$W/scaling.tsv"
        fi
        for t in 1 2; do
            [ -z "$SCALING_DATA" ] || break
            HANDOFF=$BUILD/handoff bash "$REPO/bench/handshakes.sh" --servers handoff-adaptive -n 4000 -r 1 \
                --threads "$t" >"$W/hs$t.txt" 2>&1 || die "handshakes.sh failed: $(tail -5 "$W/hs$t.txt")"
            HANDOFF=$BUILD/handoff bash "$REPO/bench/json_tls.sh" --servers handoff -d 5s -r 1 \
                --threads "$t" >"$W/json$t.txt" 2>&1 || die "json_tls.sh failed: $(tail -5 "$W/json$t.txt")"
            hs=$(awk '$1 ~ /^[0-9]+$/ && $2 == "handoff-adaptive" { print $3; exit }' "$W/hs$t.txt")
            rq=$(awk '$1 ~ /^[0-9]+$/ && $2 == "handoff" { print $3; exit }' "$W/json$t.txt")
            [ -n "$hs" ] && [ -n "$rq" ] || die "no rates for --threads $t"
            printf '%s\t%s\t%s\n' "$t" "$hs" "$rq" >>"$W/scaling.tsv"
        done
        gnuplot <<GP
$TERM_PNG
set output '$OUT/scaling.png'
set multiplot layout 1,2 title 'Scaling over I/O threads (2-core machine, loaded)'
set style data histograms
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xlabel '--threads'
set title 'TLS 1.3 handshakes/s (h2load, --offload adaptive)'
plot '$W/scaling.tsv' using 2:xtic(1) notitle
set title 'keep-alive req/s (json-tls, wrk)'
plot '$W/scaling.tsv' using 3:xtic(1) notitle
unset multiplot
GP
        [ -n "$SCALING_DATA" ] || cat "$W/hs1.txt" "$W/hs2.txt" "$W/json1.txt" "$W/json2.txt"
        cat "$W/scaling.tsv"
        ;;
    esac
done
ls -l "$OUT"/*.png
