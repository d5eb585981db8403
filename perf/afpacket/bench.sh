#!/usr/bin/env bash
# bench.sh - kernel multicast forwarding vs the afpacket FPC, side by side,
# on shared/perf/kbase.sh's veth topology (one (S,G), fan-out N, 64 and
# 1518-byte frames), then the two tables and their ratios.
#
#   sudo perf/afpacket/bench.sh            # (make bench-afpacket)
#
# Everything kbase.sh reads from the environment passes through (FANOUTS,
# SIZES, REPS, DUR, LAYOUT, SINK_CPU, RIN_DROP, ...); the defaults are the
# ones of the published kernel tables (split layout, sinks on the
# generator CPU, 3 x 5 s per point). Extra knobs:
#   OUTDIR    where results go (default $TMPDIR/afpacket-bench/<time>)
#   AFP_OPTS  driver options for the FPC (default "--opt rx-rt-priority=10")
#   AFP_KERNEL_DROP=1 (default; 0 to disable) the kernel stack drops rin's frames at tc ingress
#             while the FPC runs (see router.sh)
#   KBASE     path of kbase.sh (default <repo>/../shared/perf/kbase.sh)
#   KEEP=1    leave the kb- namespaces up afterwards
# Needs root, bin/re and bin/fpc (make build), trafgen (netsniff-ng),
# tcpdump, python3, gcc; missing Debian packages are installed with apt-get.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KBASE=${KBASE:-$(cd "$ROOT/.." && pwd)/shared/perf/kbase.sh}
export OUTDIR=${OUTDIR:-${TMPDIR:-/tmp}/afpacket-bench/$(date +%Y%m%d-%H%M%S)}
export BIN=${BIN:-$ROOT/bin}
# A private scratch directory: kbase.sh keeps the process groups it started
# in $RUNDIR/bg.pids and stops them all on exit, so two harnesses sharing
# the default /tmp/kb-run would stop each other's generators.
export RUNDIR=${RUNDIR:-$(mktemp -d /tmp/afp-kb.XXXXXX)}

die() { echo "bench.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, AF_PACKET, trafgen)"
[ -x "$KBASE" ] || [ -f "$KBASE" ] || die "kbase.sh not found at $KBASE (set KBASE)"
[ -x "$BIN/re" ] && [ -x "$BIN/fpc" ] || die "$BIN/re and $BIN/fpc missing: run make build"
need=()
command -v trafgen > /dev/null || need+=(netsniff-ng)
command -v tcpdump > /dev/null || need+=(tcpdump)
if [ ${#need[@]} -gt 0 ]; then
    echo "bench.sh: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" > /dev/null
fi
for c in python3 gcc go; do command -v $c > /dev/null || die "$c not found"; done

mkdir -p "$OUTDIR"
export ROUTERS="kernel cmd" ROUTER_NAME=afpacket ROUTER_WARM=${ROUTER_WARM:-15}
export ROUTER_CMD="exec $HERE/router.sh"
# Kernel forwarding runs in softirq, which preempts every task; the
# user-space dataplane gets the comparable treatment: SCHED_FIFO RX workers
# (see drivers/afpacket, "Receive livelock"). AFP_OPTS= (empty) turns it off.
export AFP_OPTS=${AFP_OPTS-"--opt rx-rt-priority=10"}
export AFP_KERNEL_DROP=${AFP_KERNEL_DROP:-1}
cleanup() { [ "${KEEP:-0}" = 1 ] || bash "$KBASE" teardown > /dev/null 2>&1 || true; }
trap cleanup EXIT
bash "$KBASE" setup
bash "$KBASE" sweep
{
    echo
    echo "## afpacket vs kernel (ratios of medians; >1 means afpacket forwards more / uses more CPU per copy)"
    echo
    (cd "$ROOT" && go run ./perf/afpacket/kbcompare "$OUTDIR/results.jsonl")
    echo
    echo "date: $(date -Is); $(uname -srm); $(nproc) CPUs; AFP_OPTS='$AFP_OPTS' AFP_KERNEL_DROP=$AFP_KERNEL_DROP"
} | tee "$OUTDIR/compare.md"
echo "bench.sh: results in $OUTDIR (table.md, compare.md, results.jsonl, env.txt)" >&2
