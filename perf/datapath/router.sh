#!/usr/bin/env bash
# router.sh - a router command for perf/kbase/kbase.sh (RCMD_<name>, see
# perf/datapath/bench.sh): an RE plus one FPC (slot 3) on driver
# FPC_DRIVER (afpacket, default, or xdp) forwarding (KB_SRC, KB_GRP) from
# KB_IN to every interface of KB_OUTS.
#
# kbase.sh starts it inside netns kb-rtr, pinned to the router CPU with
# taskset (the RE and the FPC inherit the pinning, so GOMAXPROCS is 1), in
# its own process group, and stops it with SIGTERM to that group.
#
# Model: rin is xe-3/0/0 (10.98.0.254/24: the RE picks it as upstream of
# KB_SRC=10.98.0.1 because its subnet contains the source), outI is
# xe-3/1/(I-1) with 10.98.I.254/24 and a static IGMP (S,G) join, so the RE
# builds one composite next hop with N unicast members and downloads the
# route to the FPC, exactly as for a PIM join (seed 003).
#
# Environment (from kbase.sh): KB_IN KB_OUTS KB_SRC KB_GRP KB_READY_FILE.
# Optional: BIN (default <repo>/bin), FPC_DRIVER (afpacket), AFP_OPTS
# (extra "--opt k=v" flags for the driver, e.g. "--opt busy-poll=50us" or
# "--opt mode=generic"), AFP_LOG_LEVEL (info),
# AFP_KERNEL_DROP (afpacket only; 1: while the FPC runs, the kernel stack drops what
# arrives on KB_IN at tc ingress, after the FPC's packet socket has seen
# it, as a user-space dataplane that owns the port would arrange; the
# kernel router never runs with it: kbase.sh clears rin's tc state before
# every point).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${BIN:-$(cd "$HERE/../.." && pwd)/bin}
RUN=$(mktemp -d /tmp/mx-router.XXXXXX)
DRIVER=${FPC_DRIVER:-afpacket}
[ "$DRIVER" = afpacket ] || AFP_KERNEL_DROP=0 # xdp: nothing it forwards reaches the stack
PORT=${AFP_RE_PORT:-16234}
: "${KB_IN:?} ${KB_OUTS:?} ${KB_SRC:?} ${KB_GRP:?}"

pids=()
stop() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${AFP_KERNEL_DROP:-0}" = 1 ] && tc qdisc del dev "$KB_IN" clsact 2>/dev/null || true
    if [ "${AFP_KEEP_RUN:-0}" = 1 ]; then echo "router.sh: logs kept in $RUN" >&2; else rm -rf "$RUN"; fi
}
trap stop EXIT
trap 'exit 0' TERM INT

cfg=$RUN/re.conf
{
    echo "set system host-name kb-$DRIVER"
    echo "set interfaces xe-3/0/0 unit 0 family inet address 10.98.0.254/24"
    echo "set protocols pim interface xe-3/0/0.0"
    i=1
    for o in $KB_OUTS; do
        echo "set interfaces xe-3/1/$((i - 1)) unit 0 family inet address 10.98.$i.254/24"
        echo "set protocols igmp interface xe-3/1/$((i - 1)).0 static group $KB_GRP source $KB_SRC"
        i=$((i + 1))
    done
} > "$cfg"

if [ "${AFP_KERNEL_DROP:-0}" = 1 ]; then
    tc qdisc add dev "$KB_IN" clsact
    # classic BPF "ret #2" in direct-action mode = TC_ACT_SHOT (as kbase.sh)
    tc filter add dev "$KB_IN" ingress bpf bytecode '1,6 0 0 2,' da
fi

ports=(--port "xe-3/0/0=$KB_IN")
i=1
for o in $KB_OUTS; do ports+=(--port "xe-3/1/$((i - 1))=$o"); i=$((i + 1)); done

"$BIN/re" run --config "$cfg" --listen "127.0.0.1:$PORT" --metrics "" \
    --cli-socket "$RUN/re.sock" --log-level "${AFP_LOG_LEVEL:-info}" > "$RUN/re.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    "$BIN/re" cli --cli-socket "$RUN/re.sock" 'show version' > /dev/null 2>&1 && break
    sleep 0.1
done

# shellcheck disable=SC2086 # AFP_OPTS is a list of flags
"$BIN/fpc" run --slot 3 --driver "$DRIVER" --re "127.0.0.1:$PORT" --metrics "" \
    --vty-socket "$RUN/fpc3.sock" --log-level "${AFP_LOG_LEVEL:-info}" \
    "${ports[@]}" ${AFP_OPTS:-} > "$RUN/fpc.log" 2>&1 &
pids+=($!)

# Ready once the FPC holds the (S,G) route (then it forwards).
ready=0
for _ in $(seq 1 200); do
    if "$BIN/fpc" vty --vty-socket "$RUN/fpc3.sock" 'show route long_ip' 2> /dev/null | grep -q "$KB_GRP"; then
        ready=1
        break
    fi
    kill -0 "${pids[1]}" 2> /dev/null || break
    sleep 0.05
done
if [ $ready = 1 ]; then
    [ -n "${KB_READY_FILE:-}" ] && touch "$KB_READY_FILE"
else
    echo "router.sh: the FPC did not get the route for $KB_GRP; logs:" >&2
    tail -20 "$RUN/re.log" "$RUN/fpc.log" >&2
    exit 1
fi
# AFP_STATS_OUT: keep the FPC's port counters (`show DRIVER ports`),
# refreshed every second, for the record (costs one vty call per second).
if [ -n "${AFP_STATS_OUT:-}" ]; then
    while kill -0 "${pids[1]}" 2> /dev/null; do
        "$BIN/fpc" vty --vty-socket "$RUN/fpc3.sock" "show $DRIVER ports" > "$AFP_STATS_OUT.tmp" 2>&1 &&
            mv "$AFP_STATS_OUT.tmp" "$AFP_STATS_OUT"
        sleep 1
    done &
fi
wait "${pids[1]}"
