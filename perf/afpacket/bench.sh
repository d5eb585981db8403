#!/usr/bin/env bash
# bench.sh - afpacket next to the in-kernel baselines (make bench-afpacket):
# perf/datapath/bench.sh with DRIVERS=afpacket. On a kernel without
# multicast routing it says so in one line and compares against nft dup
# and the bridge; see perf/datapath/bench.sh for every knob.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DRIVERS=${DRIVERS:-afpacket}
exec "$HERE/../datapath/bench.sh" "$@"
