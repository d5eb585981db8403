#!/usr/bin/env bash
# perf/kbase/kbase.sh: the project's copy of the kernel baseline harness
# (shared/perf/kbase.sh at the time of issue #12), with its helpers
# (kb_*.py, kb_*.c, routers/*.sh) beside it so that nothing outside the
# repository is needed at run time. Changed from the original:
#   NSP [kb-]    prefix of the namespaces (perf run uses "mxp-", so that its
#                runs never delete or reuse the kb- namespaces of someone
#                running kbase.sh by hand; setup/teardown only touch NSP*)
#   KB_LIB [this directory]  where the helpers are
#   ipmr         on a kernel without multicast routing (CONFIG_IP_MROUTE
#                off: no /proc/net/ip_mr_vif) the router "kernel" is
#                dropped from ROUTERS with one line saying so; "kernel" is
#                skipped at fan-outs above 31 (MAXVIFS 32, one is the input)
#   mroute       subcommand: prints "yes" or the one-line reason for "no"
#   sweep        a point that fails (a router that cannot start) is logged
#                and skipped; the sweep goes on
#
# kbase.sh - Linux kernel IPv4 multicast forwarding (ipmr) baseline over veth
# pairs in network namespaces, driven by trafgen (AF_PACKET TX_RING).
#
#   kb-snd [snd0] ---veth--- [rin] kb-rtr [out1] ---veth--- [rcv0] kb-rcv1
#                                          [out2] ---veth--- [rcv0] kb-rcv2
#                                          ...    ---veth--- [rcv0] kb-rcvN
#
# Subcommands (run as root):
#   setup            create namespaces/veths (MAXN receivers, default 8)
#   verify [N]       functional check: (S,G) forwarded to N outputs, TTL-1
#   point R N SIZE   one measurement (R = off|kernel|cmd), prints JSON
#   sweep            generator ceiling + all (router x N x size x rep) points
#                    -> $OUTDIR/results.jsonl, env.txt, table.md
#   report DIR       (re)build DIR/table.md from DIR/results.jsonl
#   profile R N SIZE perf cpu-clock profile of the router CPU during a point
#   afxdp-check      can an AF_XDP socket be created / bound / used on a veth?
#   status           list kb- namespaces and our background process groups
#   mroute           does this kernel have ipmr? ("yes" or "no: why")
#   teardown         delete all kb- namespaces, stop our background processes
#
# Environment parameters (defaults in brackets):
#   FANOUTS ["1 4 8"]  SIZES ["64 1518"]: Ethernet frame size incl. FCS;
#       64 = minimal UDP frame (60 B on the veth, IP 46),
#       1518 = 1500-byte IP packet (1514 B on the veth)
#   DUR [5] measured seconds per point, WARM [1] s skipped after start,
#   REPS [3], MAXN [8], GRP [239.1.1.1] (source is 10.98.0.1)
#   ROUTERS ["kernel"]: routers to measure, interleaved per point; any of
#       off    - nothing forwards (kernel mc forwarding off): generator
#                ceiling, measured at the router's input (rin) rx counter
#                (sweep always runs it first)
#       kernel - kernel ipmr with a static (S,G) MFC entry (kb_mroute.py)
#       cmd    - your program: ROUTER_CMD (shell string) is started in
#                kb-rtr, pinned (taskset) to the router CPU, with env
#                KB_IN=rin KB_OUTS="out1 ... outN" KB_SRC KB_GRP KB_N
#                KB_SIZE KB_RTR_CPU KB_READY_FILE; kernel mc forwarding is
#                off. ROUTER_NAME [cmd] labels its rows; it gets
#                ROUTER_WARM [1] s to start, or may write to $KB_READY_FILE.
#   LAYOUT [split]  split : trafgen on CPU0; RPS on rin steers the router's
#                           softirq work to CPU1 (the "router CPU")
#                   inline: no RPS; everything runs on CPU0 inside
#                           trafgen's sendto() (generator+router share it)
#   SINK_CPU [gen]  gen: RPS on the receivers' rcv0 steers the sinks' work
#                        to CPU0 (generator CPU), so the router CPU only
#                        does rx + forwarding + tx
#                   rtr: no RPS on receivers; sinks run on the CPU that
#                        transmitted (router CPU) and share its backlog
#   SINK [tc]   tc: receivers drop at tc ingress (cls_bpf 'return SHOT')
#               ip: receivers let the IPv4 stack drop the (unjoined) group
#   RIN_DROP [0] 1: tc ingress drop on rin (only for user-space routers that
#               read rin with ETH_P_ALL AF_PACKET or XDP; kills kernel fwd)
#   SNDBUF [33554432] trafgen socket sndbuf, set by the kb_sndbuf.so shim
#   TRAFGEN_OPTS [] extra trafgen options (e.g. "-S 4MiB" or "-b 100000pps")
#   OUTDIR [results/<timestamp>]   RUNDIR [/tmp/kb-run] scratch files
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NSP=${NSP:-kb-}
KB_LIB=${KB_LIB:-$HERE}
PY=${PY:-python3}
MAXN=${MAXN:-8}
FANOUTS=${FANOUTS:-"1 4 8"}
SIZES=${SIZES:-"64 1518"}
DUR=${DUR:-5}
WARM=${WARM:-1}
REPS=${REPS:-3}
ROUTERS=${ROUTERS:-kernel}
ROUTER_CMD=${ROUTER_CMD:-}
ROUTER_NAME=${ROUTER_NAME:-cmd}
ROUTER_WARM=${ROUTER_WARM:-1}
LAYOUT=${LAYOUT:-split}
SINK=${SINK:-tc}
SINK_CPU=${SINK_CPU:-gen}
RIN_DROP=${RIN_DROP:-0}
GRP=${GRP:-239.1.1.1}
SNDBUF=${SNDBUF:-33554432}     # trafgen socket sndbuf via kb_sndbuf.so shim
TRAFGEN_OPTS=${TRAFGEN_OPTS:-} # extra trafgen options, e.g. "-b 500000pps"
SRC=10.98.0.1
SND_MAC=02:6b:62:00:00:01
NS_SND=${NSP}snd
NS_RTR=${NSP}rtr
GEN_CPU=0                      # trafgen -P 1 pins its worker to CPU0 itself
if [ "$LAYOUT" = split ]; then RTR_CPU=1; else RTR_CPU=0; fi
RUNDIR=${RUNDIR:-/tmp/kb-run}
OUTDIR=${OUTDIR:-${TMPDIR:-/tmp}/kbase-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUNDIR"

log() { echo "[kbase] $*" >&2; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

kb_namespaces() { ip netns list | awk '{print $1}' | grep -E "^${NSP}" || true; }

# mroute_missing prints why the kernel cannot forward multicast itself
# (empty when it can).
mroute_missing() {
    [ -e /proc/net/ip_mr_vif ] && return 0
    echo "this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE off, no /proc/net/ip_mr_vif): no ipmr baseline; comparing against the in-kernel replicators it has (nft dup, the bridge)"
}

teardown() {
    stop_bg
    local ns
    for ns in $(kb_namespaces); do ip netns del "$ns"; done
    log "teardown done; remaining ${NSP} namespaces: $(kb_namespaces | wc -l)"
}

setup() {
    if [ -n "$(kb_namespaces)" ]; then teardown; fi
    local i ns
    ip netns add $NS_SND
    ip netns add $NS_RTR
    for i in $(seq 1 "$MAXN"); do ip netns add ${NSP}rcv$i; done
    for ns in $NS_SND $NS_RTR $(seq -f "${NSP}rcv%g" 1 "$MAXN"); do
        nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    nsx $NS_RTR sysctl -qw net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_forward=1
    ip -n $NS_SND link add snd0 address $SND_MAC type veth \
        peer name rin address 02:6b:62:00:01:00 netns $NS_RTR
    ip -n $NS_SND addr add 10.98.0.1/24 dev snd0
    ip -n $NS_RTR addr add 10.98.0.2/24 dev rin
    ip -n $NS_SND link set snd0 up
    ip -n $NS_RTR link set rin up
    for i in $(seq 1 "$MAXN"); do
        ip -n $NS_RTR link add out$i address 02:6b:62:00:01:$(printf %02x "$i") \
            type veth peer name rcv0 address 02:6b:62:00:02:$(printf %02x "$i") \
            netns ${NSP}rcv$i
        ip -n $NS_RTR addr add 10.98.$i.1/24 dev out$i
        ip -n ${NSP}rcv$i addr add 10.98.$i.2/24 dev rcv0
        ip -n $NS_RTR link set out$i up
        ip -n ${NSP}rcv$i link set rcv0 up
        nsx ${NSP}rcv$i sysctl -qw net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.default.rp_filter=0
        if [ "$SINK" = tc ]; then
            tc -n ${NSP}rcv$i qdisc add dev rcv0 clsact
            # classic BPF "ret #2" in direct-action mode = TC_ACT_SHOT
            tc -n ${NSP}rcv$i filter add dev rcv0 ingress bpf bytecode '1,6 0 0 2,' da
        fi
    done
    set_layout
    log "setup done: $NS_SND, $NS_RTR, ${NSP}rcv1..${NSP}rcv$MAXN (SINK=$SINK LAYOUT=$LAYOUT)"
}

set_layout() {
    # RPS on the router input: where the router's softirq work runs.
    local mask=0 smask=0 i
    [ "$LAYOUT" = split ] && mask=$(printf %x $((1 << RTR_CPU)))
    nsx $NS_RTR sh -c "echo $mask > /sys/class/net/rin/queues/rx-0/rps_cpus"
    # optional tc ingress drop on rin (for user-space routers: ETH_P_ALL
    # AF_PACKET taps and XDP see the frame before tc ingress; the kernel
    # IPv4 stack then does not have to drop it).  Breaks kernel forwarding.
    tc -n $NS_RTR qdisc del dev rin clsact 2>/dev/null || true
    if [ "$RIN_DROP" = 1 ]; then
        tc -n $NS_RTR qdisc add dev rin clsact
        tc -n $NS_RTR filter add dev rin ingress bpf bytecode '1,6 0 0 2,' da
    fi
    # RPS on the receivers: where the sinks' softirq work runs.
    [ "$SINK_CPU" = gen ] && smask=$(printf %x $((1 << GEN_CPU)))
    for i in $(seq 1 "$MAXN"); do
        ip netns exec ${NSP}rcv$i sh -c "echo $smask > /sys/class/net/rcv0/queues/rx-0/rps_cpus"
    done
}

# ---- background process bookkeeping (only PIDs/process groups we started)
BG_PIDS_FILE=$RUNDIR/bg.pids
start_bg() {  # start_bg LOGFILE cmd... ; echoes the pid (= its process group)
    local logf=$1; shift
    setsid "$@" >"$logf" 2>&1 < /dev/null &
    local pid=$!
    echo "$pid" >> "$BG_PIDS_FILE"
    echo "$pid"
}
stop_pg() {   # stop_pg PID SIGNAL : signal the process group we created
    local pid=$1 sig=${2:-TERM} i
    kill -"$sig" -- -"$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- -"$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    [ -f "$BG_PIDS_FILE" ] && sed -i "/^$pid\$/d" "$BG_PIDS_FILE" || true
}
stop_bg() {
    [ -f "$BG_PIDS_FILE" ] || return 0
    local p
    for p in $(cat "$BG_PIDS_FILE"); do
        if kill -0 "$p" 2>/dev/null; then kill -TERM -- -"$p" 2>/dev/null || true; fi
    done
    sleep 0.5
    for p in $(cat "$BG_PIDS_FILE"); do
        if kill -0 "$p" 2>/dev/null; then kill -KILL -- -"$p" 2>/dev/null || true; fi
    done
    rm -f "$BG_PIDS_FILE"
}

outs_list() { seq -s' ' -f 'out%g' 1 "$1"; }

build_shim() {
    [ -f "$RUNDIR/kb_sndbuf.so" ] && [ "$RUNDIR/kb_sndbuf.so" -nt "$KB_LIB/kb_sndbuf.c" ] && return 0
    gcc -O2 -Wall -shared -fPIC -o "$RUNDIR/kb_sndbuf.so" "$KB_LIB/kb_sndbuf.c" -ldl
}

pkt_cfg() {   # pkt_cfg SIZE -> path of trafgen config
    local f=$RUNDIR/pkt-$1.cfg
    $PY "$KB_LIB/kb_pkt.py" --size "$1" --smac $SND_MAC --src $SRC --grp "$GRP" > "$f"
    echo "$f"
}

ROUTER_PID=
start_router() {  # start_router KIND N SIZE
    local kind=$1 n=$2 size=$3 outs ready=$RUNDIR/router.ready
    outs=$(outs_list "$n")
    rm -f "$ready"
    ROUTER_PID=
    case $kind in
    off) ;;
    kernel)
        ROUTER_PID=$(start_bg "$RUNDIR/router.log" ip netns exec $NS_RTR \
            taskset -c $RTR_CPU $PY "$KB_LIB/kb_mroute.py" --in rin --out "$outs" \
            --src $SRC --grp "$GRP" --ready-file "$ready")
        wait_ready "$ready" 5 || { cat "$RUNDIR/router.log" >&2; return 1; }
        ;;
    cmd)
        [ -n "$ROUTER_CMD" ] || { log "ROUTER_CMD is empty"; return 1; }
        ROUTER_PID=$(start_bg "$RUNDIR/router.log" env KB_IN=rin KB_OUTS="$outs" \
            KB_SRC=$SRC KB_GRP="$GRP" KB_N="$n" KB_SIZE="$size" \
            KB_RTR_CPU=$RTR_CPU KB_READY_FILE="$ready" \
            ip netns exec $NS_RTR taskset -c $RTR_CPU bash -c "$ROUTER_CMD")
        wait_ready "$ready" "$ROUTER_WARM" || true
        kill -0 "$ROUTER_PID" 2>/dev/null || { log "router cmd died:"; cat "$RUNDIR/router.log" >&2; return 1; }
        ;;
    *)  # any other name K runs the shell string in $RCMD_K
        # exactly like "cmd" (same env, netns, pinning, process group).
        local var=RCMD_$kind
        [ -n "${!var:-}" ] || { log "unknown router kind $kind (no RCMD_$kind)"; return 1; }
        ROUTER_PID=$(start_bg "$RUNDIR/router.log" env KB_IN=rin KB_OUTS="$outs" \
            KB_SRC=$SRC KB_GRP="$GRP" KB_N="$n" KB_SIZE="$size" \
            KB_RTR_CPU=$RTR_CPU KB_GEN_CPU=$GEN_CPU KB_READY_FILE="$ready" \
            ip netns exec $NS_RTR taskset -c $RTR_CPU bash -c "${!var}")
        wait_ready "$ready" "$ROUTER_WARM" || true
        kill -0 "$ROUTER_PID" 2>/dev/null || { log "router $kind died:"; cat "$RUNDIR/router.log" >&2; return 1; }
        ;;
    esac
}
wait_ready() { local f=$1 t=$2 i; for i in $(seq 1 $((t * 20))); do [ -f "$f" ] && return 0; sleep 0.05; done; return 1; }

point() {  # point KIND N SIZE [REP] -> one JSON line on stdout
    local kind=$1 n=$2 size=$3 rep=${4:-1} cfg tg gen rcvargs=() i label name
    name=$kind; [ "$kind" = cmd ] && name=$ROUTER_NAME
    cfg=$(pkt_cfg "$size")
    set_layout
    start_router "$kind" "$n" "$size"
    build_shim
    tg=$(start_bg "$RUNDIR/trafgen.log" ip netns exec $NS_SND \
        env LD_PRELOAD="$RUNDIR/kb_sndbuf.so" KB_SNDBUF="$SNDBUF" \
        trafgen -o snd0 -i "$cfg" -P 1 --no-sock-mem --notouch-irq $TRAFGEN_OPTS)
    sleep 0.3
    gen=$(pgrep -P "$tg" | head -1 || true)
    for i in $(seq 1 "$n"); do rcvargs+=(--rcv ${NSP}rcv$i:rcv0); done
    label=$(printf '{"router":"%s","n":%d,"size":%d,"rep":%d,"layout":"%s","sink":"%s","sink_cpu":"%s","rin_drop":%d,"frame_on_veth":%d,"other_netns":%d}' \
        "$name" "$n" "$size" "$rep" "$LAYOUT" "$SINK" "$SINK_CPU" "$RIN_DROP" $((size - 4)) \
        "$(ip netns list | grep -vc "^${NSP}" || true)")
    [ -n "${ROUTER_LOGDIR:-}" ] && echo "$(date +%T) $name n=$n size=$size rep=$rep load=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$ROUTER_LOGDIR/load.txt"
    $PY "$KB_LIB/kb_measure.py" --warm "$WARM" --dur "$DUR" --gen-cpu $GEN_CPU \
        --rtr-cpu $RTR_CPU --snd $NS_SND:snd0 --rtr $NS_RTR:rin \
        --outs "$(outs_list "$n" | tr ' ' ,)" "${rcvargs[@]}" \
        ${gen:+--gen-pid $gen} ${ROUTER_PID:+--rtr-pid $ROUTER_PID} --label "$label" \
        --my-pgids "$tg${ROUTER_PID:+,$ROUTER_PID}"
    stop_pg "$tg" INT
    [ -n "$ROUTER_PID" ] && stop_pg "$ROUTER_PID" TERM
    ROUTER_PID=
    [ -n "${ROUTER_LOGDIR:-}" ] && [ -f "$RUNDIR/router.log" ] && cp "$RUNDIR/router.log" "$ROUTER_LOGDIR/router-$name-n$n-s$size-r$rep.log"
    sleep 0.5
}

sweep() {
    [ -e /run/netns/$NS_RTR ] || setup
    mkdir -p "$OUTDIR"
    local res=$OUTDIR/results.jsonl size n rep r
    {
        echo "date: $(date -Is)"; uname -a; nproc
        echo "LAYOUT=$LAYOUT SINK=$SINK SINK_CPU=$SINK_CPU RIN_DROP=$RIN_DROP SNDBUF=$SNDBUF TRAFGEN_OPTS=$TRAFGEN_OPTS DUR=$DUR WARM=$WARM REPS=$REPS FANOUTS='$FANOUTS' SIZES='$SIZES' ROUTERS='$ROUTERS' ROUTER_CMD='$ROUTER_CMD'"
        echo "GEN_CPU=$GEN_CPU RTR_CPU=$RTR_CPU"; { trafgen -v 2>&1 | head -1; } || true
        echo "other netns: $(ip netns list | grep -v "^${NSP}" | awk '{print $1}' | tr '\n' ' ')"
    } > "$OUTDIR/env.txt"
    log "results -> $res"
    local why routers=""
    why=$(mroute_missing)
    for r in $ROUTERS; do
        if [ "$r" = kernel ] && [ -n "$why" ]; then log "$why"; continue; fi
        routers="$routers $r"
    done
    # 1) generator ceiling: nothing forwards, count at router input
    for size in $SIZES; do
        for rep in $(seq 1 "$REPS"); do
            log "ceiling size=$size rep=$rep"
            point off 1 "$size" "$rep" | tee -a "$res" | summ
        done
    done
    # 2) routers, interleaved so that drift/noise hits all of them alike
    for size in $SIZES; do
        for n in $FANOUTS; do
            for rep in $(seq 1 "$REPS"); do
                for r in $routers; do
                    [ "$r" = off ] && continue
                    [ "$r" = kernel ] && [ "$n" -gt 31 ] && continue # MAXVIFS
                    log "router=$r n=$n size=$size rep=$rep"
                    point "$r" "$n" "$size" "$rep" | tee -a "$res" | summ ||
                        { log "router=$r n=$n size=$size rep=$rep failed; the sweep goes on"; stop_bg; }
                done
            done
        done
    done
    $PY "$KB_LIB/kb_report.py" "$res" > "$OUTDIR/table.md"
    cat "$OUTDIR/table.md"
}

summ() {  # one-line human summary of a point's JSON on stderr
    $PY -c '
import json,sys
for l in sys.stdin:
    r=json.loads(l)
    print("   %-8s n=%d size=%-4d offered=%9.0f in_rx=%9.0f out/if=%9.0f out_tot=%9.0f (%.2f Gb/s) out_drop=%8.0f rtrCPU=%5.1f%% genCPU=%5.1f%%" % (
      r["router"],r["n"],r["size"],r["offered_pps"],r["in_rx_pps"],r["out_pps_mean"],r["total_out_pps"],r["total_out_gbps"],r["total_out_drop_pps"],r["rtr_cpu_busy_pct"],r["gen_cpu_busy_pct"]), file=sys.stderr)
'
}

verify() {
    # 1) kernel forwarding delivers (S,G) to every output with TTL-1
    local n=${1:-$MAXN} cfg tg i ok=1 cap
    cfg=$(pkt_cfg 64)
    start_router kernel "$n" 64
    log "MFC/VIF state in $NS_RTR:"
    nsx $NS_RTR cat /proc/net/ip_mr_vif >&2
    nsx $NS_RTR cat /proc/net/ip_mr_cache >&2
    nsx $NS_RTR sysctl net.ipv4.conf.all.mc_forwarding >&2
    local caps=()
    for i in $(seq 1 "$n"); do
        cap=$(start_bg "$RUNDIR/tcpdump$i.log" ip netns exec ${NSP}rcv$i \
            tcpdump -nn -v -c 5 -i rcv0 -Q in udp)
        caps+=("$cap")
    done
    sleep 1.5
    ip netns exec $NS_SND trafgen -o snd0 -i "$cfg" -P 1 -n 20 --no-sock-mem --notouch-irq >/dev/null 2>&1
    sleep 1
    for i in $(seq 1 "$n"); do
        if grep -q "ttl 63" "$RUNDIR/tcpdump$i.log" && grep -q "10.98.0.1.4000 > 239.1.1.1.5000" "$RUNDIR/tcpdump$i.log"; then
            echo "${NSP}rcv$i: OK  $(grep -m1 -A1 'ttl 63' "$RUNDIR/tcpdump$i.log" | tr -s ' \n' ' ' | cut -c1-160)"
        else
            echo "${NSP}rcv$i: FAIL"; ok=0; cat "$RUNDIR/tcpdump$i.log"
        fi
    done
    for cap in "${caps[@]}"; do stop_pg "$cap" INT; done
    nsx $NS_RTR cat /proc/net/ip_mr_cache
    stop_pg "$ROUTER_PID" TERM; ROUTER_PID=
    log "after router exit mc_forwarding: $(nsx $NS_RTR sysctl -n net.ipv4.conf.all.mc_forwarding)"
    [ $ok = 1 ] && echo "verify: PASS" || { echo "verify: FAIL"; return 1; }
}

afxdp_check() {
    local bin=$RUNDIR/kb_afxdp_check
    gcc -O2 -Wall -o "$bin" "$KB_LIB/kb_afxdp_check.c"
    local ns=${NSP}xdpchk
    ip netns add $ns
    nsx $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n $ns link add xa type veth peer name xb
    ip -n $ns link set xa up; ip -n $ns link set xb up
    ip netns exec $ns "$bin" xa || true
    ip netns del $ns
}

profile() {  # profile KIND N SIZE: perf (cpu-clock, call graphs) of the router CPU
    local kind=${1:-kernel} n=${2:-8} size=${3:-64} out=$OUTDIR tag
    tag=$kind-n$n-s$size
    mkdir -p "$out"
    ( point "$kind" "$n" "$size" > "$out/profile-point-$tag.json" ) &
    local pp=$!
    sleep "$WARM"; sleep 1
    perf record -g -C $RTR_CPU -e cpu-clock -o "$RUNDIR/perf.data" -- sleep 3 2>/dev/null
    wait $pp || true
    perf report -i "$RUNDIR/perf.data" --stdio --no-children --sort sym -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -40 > "$out/profile-$tag.txt"
    # leaf <- parent <- grandparent, share of samples
    perf script -i "$RUNDIR/perf.data" 2>/dev/null | awk '
        /^[^ \t]/ { if (n > 0) emit(); n = 0; next }
        /^[ \t]+[0-9a-f]+ / { n++; fn[n] = $2; next }
        /^$/ { if (n > 0) emit(); n = 0 }
        function emit() { cnt[fn[1] " <- " (n > 1 ? fn[2] : "-") " <- " (n > 2 ? fn[3] : "-")]++; tot++ }
        END { for (k in cnt) printf "%5.2f%% %s\n", 100 * cnt[k] / tot, k }' \
        | sort -rn | head -40 > "$out/callers-$tag.txt"
    rm -f "$RUNDIR/perf.data" "$RUNDIR/perf.data.old"
    head -15 "$out/profile-$tag.txt"; echo "..."; head -12 "$out/callers-$tag.txt"
}

status() {
    echo "${NSP} namespaces: $(kb_namespaces | tr '\n' ' ')"
    if [ -f "$BG_PIDS_FILE" ]; then
        echo "background process groups we started: $(tr '\n' ' ' < "$BG_PIDS_FILE")"
    fi
}

cmd=${1:-}
shift || true
case $cmd in
setup) setup ;;
teardown) teardown ;;
verify) verify "$@" ;;
point) point "$@" ;;
sweep) trap 'stop_bg' EXIT; sweep ;;
mroute) why=$(mroute_missing); if [ -z "$why" ]; then echo yes; else echo "no: $why"; fi ;;
report) $PY "$KB_LIB/kb_report.py" "$1/results.jsonl" | tee "$1/table.md" ;;
afxdp-check) afxdp_check ;;
profile) profile "$@" ;;
status) status ;;
*) sed -n '2,60p' "$0"; exit 1 ;;
esac
