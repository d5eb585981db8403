#!/usr/bin/env bash
# bench.sh - the real-port drivers (afpacket, xdp) side by side with the
# in-kernel baselines, in ONE interleaved kbase sweep (perf/kbase/kbase.sh:
# trafgen -> router netns -> N receivers on veth pairs), then one table:
# output copies/s, router CPU per copy and loss per (size, N, router), the
# ratios against the baselines, the goals of issue #12, and plots.
#
#   sudo perf/datapath/bench.sh                 # make bench-datapath
#   sudo DRIVERS=afpacket perf/datapath/bench.sh  # make bench-afpacket
#
# Routers (interleaved point by point, so drift hits all alike):
#   kernel    ipmr with a static MFC entry - only if the kernel has
#             CONFIG_IP_MROUTE (else one line says so) and N <= 31
#   nftdup    nftables netdev ingress: (S,G) match, TTL-1, MAC rewrite,
#             "dup to" every port (perf/kbase/routers/nftdup.sh)
#   bridge    a Linux bridge flooding rin to the outputs: layer 2 only, the
#             cost of a clone + transmit (perf/kbase/routers/bridge.sh)
#   afpacket, xdp  an RE + one FPC on that driver (router.sh); xdp runs its
#             default mode (auto: tc on veth)
#   xdpgeneric (XDP_GENERIC=1) the xdp driver forced to generic XDP
#   afpold    (AFP_OLD_BIN=DIR with re/fpc of another build) afpacket as
#             that build runs it: the regression check
#
# Environment (defaults): DRIVERS ("afpacket xdp"), BASELINES ("auto":
# kernel if present, nftdup, bridge), FANOUTS ("1 4 8 16 64"), SIZES
# ("64 1518"), REPS (3), DUR (5), OUTDIR ($TMPDIR/datapath-bench/<time>),
# AFP_OPTS ("--opt rx-rt-priority=10"), AFP_KERNEL_DROP (1), KEEP=1 leaves
# the namespaces up, LOSS_ROUTERS/LOSS_N/LOSS_REPS/LOSS_SECONDS shape the
# loss runs, LOSS_ONLY=1 runs only them against an earlier OUTDIR's sweep.
# Everything kbase.sh reads passes through.
# Needs root, bin/re and bin/fpc (make build), trafgen (netsniff-ng),
# nft, tcpdump, python3, gcc; missing Debian packages are installed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KB=$ROOT/perf/kbase
KBASE=${KBASE:-$KB/kbase.sh}
export OUTDIR=${OUTDIR:-${TMPDIR:-/tmp}/datapath-bench/$(date +%Y%m%d-%H%M%S)}
export BIN=${BIN:-$ROOT/bin}
# A private scratch directory: kbase.sh keeps the process groups it started
# in $RUNDIR/bg.pids and stops them on exit.
export RUNDIR=${RUNDIR:-$(mktemp -d /tmp/mx-kb.XXXXXX)}

die() { echo "bench.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, AF_PACKET, BPF, trafgen)"
[ -f "$KBASE" ] || die "kbase.sh not found at $KBASE"
[ -x "$BIN/re" ] && [ -x "$BIN/fpc" ] || die "$BIN/re and $BIN/fpc missing: run make build"
need=()
command -v trafgen > /dev/null || need+=(netsniff-ng)
command -v tcpdump > /dev/null || need+=(tcpdump)
command -v nft > /dev/null || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
    echo "bench.sh: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
fi
for c in python3 gcc go; do command -v $c > /dev/null || die "$c not found"; done

DRIVERS=${DRIVERS:-"afpacket xdp"}
export FANOUTS=${FANOUTS:-"1 4 8 16 64"}
export SIZES=${SIZES:-"64 1518"}
maxn=8
for n in $FANOUTS; do [ "$n" -gt "$maxn" ] && maxn=$n; done
export MAXN=${MAXN:-$maxn}

routers=""
why=$(bash "$KBASE" mroute | sed -n 's/^no: //p')
if [ "${BASELINES:-auto}" = auto ]; then
    if [ -n "$why" ]; then
        echo "bench.sh: $why" >&2
        BASELINES="nftdup bridge"
    else
        BASELINES="kernel nftdup bridge"
    fi
fi
routers="$BASELINES"
export RCMD_nftdup="exec $KB/routers/nftdup.sh"
export RCMD_bridge="exec $KB/routers/bridge.sh"
# Kernel forwarding runs in softirq, which preempts every task; the
# user-space dataplane gets the comparable treatment: SCHED_FIFO RX workers
# (drivers/afpacket, "Receive livelock"). AFP_OPTS= (empty) turns it off.
export AFP_OPTS=${AFP_OPTS-"--opt rx-rt-priority=10"}
export AFP_KERNEL_DROP=${AFP_KERNEL_DROP:-1}
for d in $DRIVERS; do
    case $d in
    afpacket) export RCMD_afpacket="FPC_DRIVER=afpacket exec $HERE/router.sh" ;;
    xdp) export RCMD_xdp="FPC_DRIVER=xdp AFP_OPTS= exec $HERE/router.sh" ;;
    *) die "unknown driver $d (afpacket, xdp)" ;;
    esac
    routers="$routers $d"
done
if [ "${XDP_GENERIC:-0}" = 1 ]; then
    export RCMD_xdpgeneric="FPC_DRIVER=xdp AFP_OPTS='--opt mode=generic' exec $HERE/router.sh"
    routers="$routers xdpgeneric"
fi
if [ -n "${AFP_OLD_BIN:-}" ]; then
    [ -x "$AFP_OLD_BIN/fpc" ] || die "AFP_OLD_BIN=$AFP_OLD_BIN has no fpc"
    export RCMD_afpold="BIN=$AFP_OLD_BIN FPC_DRIVER=afpacket exec $HERE/router.sh"
    routers="$routers afpold"
fi
export ROUTERS=$routers ROUTER_WARM=${ROUTER_WARM:-15}

mkdir -p "$OUTDIR"
cleanup() { [ "${KEEP:-0}" = 1 ] || bash "$KBASE" teardown > /dev/null 2>&1 || true; }
trap cleanup EXIT
export REPS=${REPS:-3} DUR=${DUR:-5}
echo "bench.sh: routers: $ROUTERS; N: $FANOUTS; sizes: $SIZES; $REPS x $DUR s per point; results in $OUTDIR" >&2
bash "$KBASE" setup
if [ "${LOSS_ONLY:-0}" = 1 ]; then
    # Loss runs only, at half the rates of an earlier sweep in OUTDIR.
    [ -f "$OUTDIR/results.jsonl" ] || die "LOSS_ONLY=1 needs $OUTDIR/results.jsonl from a sweep"
    echo "bench.sh: loss runs only, rates from $OUTDIR/results.jsonl" >&2
    # One short generator-only point sets up what the loss runs rely on:
    # the RPS layout, the trafgen frame and the sndbuf shim.
    DUR=1 WARM=0 bash "$KBASE" point off 1 64 > /dev/null 2>&1 || true
else
    # A router that fails a point (logged by kbase) does not void the others.
    bash "$KBASE" sweep || echo "bench.sh: the sweep stopped early; comparing what it measured" >&2
fi

# Loss phase: each of LOSS_ROUTERS (xdp; add nftdup as the control) at
# LOSS_N (4 8), LOSS_REPS (3) times, 64-byte frames, sends exactly
# LOSS_SECONDS worth of frames at half the input rate it reached in the
# sweep, and every receiver's interface counter must have gone up by what
# the sender's went up. The sender is perf/datapath/pace (an ordinary UDP
# socket paced in 1 ms slices), not trafgen: trafgen's rate limiter spins on
# the generator CPU in bursts, and that CPU also runs the receivers, whose
# backlogs then overflow whatever the router does (measured: nft dup loses
# 0.1-2.7 % that way at half its maximum rate).
NSP=${NSP:-kb-}
ns_stat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
# softnet_dropped sums the second column (hex) of /proc/net/softnet_stat:
# packets a CPU's input backlog refused.
softnet_dropped() { local t=0 x; for x in $(awk '{print $2}' /proc/net/softnet_stat); do t=$((t + 16#$x)); done; echo $t; }
loss_point() { # loss_point ROUTER N
    local r=$1 n=$2 var=RCMD_$1 max rate count outs ready=$RUNDIR/loss.ready pid i
    max=$(python3 - "$OUTDIR/results.jsonl" "$r" "$n" <<'PY'
import json, statistics, sys
v = [json.loads(l)["in_rx_pps"] for l in open(sys.argv[1]) if l.strip()
     and json.loads(l)["router"] == sys.argv[2] and json.loads(l)["n"] == int(sys.argv[3]) and json.loads(l)["size"] == 64]
print(int(statistics.median(v)) if v else 0)
PY
)
    [ "$max" -gt 0 ] || { echo "bench.sh: no sweep point for $r N=$n at 64 B; no loss run" >&2; return 0; }
    rate=$((max / 2)); count=$((rate * ${LOSS_SECONDS:-5}))
    outs=$(seq -s' ' -f 'out%g' 1 "$n")
    rm -f "$ready"
    setsid env KB_IN=rin KB_OUTS="$outs" KB_SRC=10.98.0.1 KB_GRP="${GRP:-239.1.1.1}" KB_N="$n" KB_SIZE=64 \
        KB_READY_FILE="$ready" ip netns exec ${NSP}rtr taskset -c 1 bash -c "${!var}" > "$RUNDIR/loss-router.log" 2>&1 &
    pid=$!
    for i in $(seq 1 300); do [ -f "$ready" ] && break; sleep 0.05; done
    sleep 1
    local s0 s1 r0=() r1=() in0 in1 sd0 sd1 od0=0 od1=0
    s0=$(ns_stat ${NSP}snd snd0 tx_packets)
    in0=$(ns_stat ${NSP}rtr rin rx_packets)
    sd0=$(softnet_dropped)
    for i in $(seq 1 "$n"); do
        r0+=("$(ns_stat ${NSP}rcv$i rcv0 rx_packets)")
        od0=$((od0 + $(ns_stat ${NSP}rtr out$i tx_dropped)))
    done
    local t0 t1
    t0=$(date +%s.%N)
    ip netns exec ${NSP}snd taskset -c 0 "$RUNDIR/pace" -if snd0 -src 10.98.0.1 -group "${GRP:-239.1.1.1}" \
        -rate "$rate" -count "$count" -payload 18 > "$RUNDIR/pace.out" 2>&1 || cat "$RUNDIR/pace.out" >&2
    t1=$(date +%s.%N)
    sleep 1
    s1=$(ns_stat ${NSP}snd snd0 tx_packets)
    in1=$(ns_stat ${NSP}rtr rin rx_packets)
    sd1=$(softnet_dropped)
    for i in $(seq 1 "$n"); do
        r1+=("$(ns_stat ${NSP}rcv$i rcv0 rx_packets)")
        od1=$((od1 + $(ns_stat ${NSP}rtr out$i tx_dropped)))
    done
    kill -TERM -- -"$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    local got=""
    for i in $(seq 0 $((n - 1))); do got="$got${got:+,}$((r1[i] - r0[i]))"; done
    # Where frames went missing: rin_rx below sent = refused at the router's
    # input; softnet_dropped = a CPU's input backlog (RPS to the router CPU,
    # or a receiver's) was full; out_tx_dropped = an output veth refused.
    echo "{\"router\":\"$r\",\"n\":$n,\"size\":64,\"rate_pps\":$rate,\"max_in_pps\":$max,\"sent\":$((s1 - s0)),\"received\":[$got],\"rin_rx\":$((in1 - in0)),\"softnet_dropped\":$((sd1 - sd0)),\"out_tx_dropped\":$((od1 - od0)),\"seconds\":$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}"),\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" | tee -a "$OUTDIR/loss.jsonl" >&2
}
[ -n "${LOSS_ROUTERS-xdp}" ] && (cd "$ROOT" && go build -o "$RUNDIR/pace" ./perf/datapath/pace)
for r in ${LOSS_ROUTERS-xdp}; do
    var=RCMD_$r
    [ -n "${!var:-}" ] || { echo "bench.sh: no router $r for the loss runs" >&2; continue; }
    for n in ${LOSS_N:-4 8}; do
        for _ in $(seq 1 "${LOSS_REPS:-3}"); do loss_point "$r" "$n"; done
    done
done
{
    echo "date: $(date -Is); $(uname -srm); $(nproc) CPUs; routers: $ROUTERS; AFP_OPTS='$AFP_OPTS' AFP_KERNEL_DROP=$AFP_KERNEL_DROP"
    [ -n "$why" ] && echo "$why"
    echo
    (cd "$ROOT" && go run ./perf/datapath/compare -plots "$OUTDIR" -loss "$OUTDIR/loss.jsonl" "$OUTDIR/results.jsonl")
} | tee "$OUTDIR/compare.md"
echo "bench.sh: results in $OUTDIR (compare.md, *.png, table.md, results.jsonl, env.txt)" >&2
