#!/bin/sh
# mxfwd-node: run one mxfwd router in the current network namespace (a
# container's): the RE with the configuration $MXFWD_CONFIG
# (/config/re.conf), and one afpacket FPC per slot F found among the
# interfaces named xe-F-P-N (port xe-F/P/N), as bin/lab does for a node of
# kind mxfwd. Exits when the RE or an FPC exits.
#
# Environment: MXFWD_CONFIG, MXFWD_RUN_DIR (sockets: /run/mxfwd; `re cli`
# and `fpc vty --slot N` find them through it), MXFWD_BIN (where re and fpc
# are: PATH), CLAB_INTFS (containerlab: how many links to wait for),
# MXFWD_HOST_INTERFACES=0 to run the RE without --host-interfaces.
set -eu
CONFIG=${MXFWD_CONFIG:-/config/re.conf}
export MXFWD_RUN_DIR="${MXFWD_RUN_DIR:-/run/mxfwd}"
BIN=${MXFWD_BIN:-}
RE=${BIN:+$BIN/}re
FPC=${BIN:+$BIN/}fpc
mkdir -p "$MXFWD_RUN_DIR"

ports() { ls /sys/class/net | grep -E '^xe-[0-9]+-[0-3]-[0-9]+$' || true; }

# containerlab attaches the links after the container starts.
want=${CLAB_INTFS:-0}
i=0
while [ "$(ports | wc -l)" -lt "$want" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done

# The router forwards in user space; the container's own IP stack must
# not see transit frames (tc ingress drop, after the FPC's packet socket).
for p in $(ports); do
	ip link set "$p" up
	tc qdisc add dev "$p" clsact 2>/dev/null || true
	tc filter add dev "$p" ingress bpf bytecode '1,6 0 0 2,' da 2>/dev/null || true
done

hostif=""
if [ "${MXFWD_HOST_INTERFACES:-1}" != 0 ] && "$RE" run --help 2>&1 | grep -q -- --host-interfaces; then
	hostif=--host-interfaces
fi
"$RE" run --config "$CONFIG" --listen 127.0.0.1:6234 $hostif &
pids=$!
i=0
until "$RE" cli 'show version' >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "mxfwd-node: the RE did not start" >&2; exit 1; }
	sleep 0.05
done
for slot in $(ports | cut -d- -f2 | sort -un); do
	args=""
	for p in $(ports | grep "^xe-$slot-"); do
		args="$args --port $(echo "$p" | sed 's/^xe-\([0-9]*\)-\([0-9]\)-\([0-9]*\)$/xe-\1\/\2\/\3/')=$p"
	done
	# shellcheck disable=SC2086 # $args is a list of flags
	"$FPC" run --slot "$slot" --driver afpacket --re 127.0.0.1:6234 $args &
	pids="$pids $!"
done
trap 'kill $pids 2>/dev/null' INT TERM
echo "mxfwd-node: RE and FPC(s) running (pids $pids); sockets in $MXFWD_RUN_DIR"
# Exit (and let the container stop) as soon as one of them exits.
while :; do
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || { kill $pids 2>/dev/null; wait; exit 1; }
	done
	sleep 1
done
