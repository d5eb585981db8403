#!/usr/bin/env bash
# make run: an RE and two FPCs (slots 3 and 4) on the seed 003 topology,
# with a stream (10.128.1.10, 232.0.7.1) flowing into ae90 on FPC 3.
# The default socket directory and FPC port, so that `bin/re cli` and
# `bin/fpc vty` work from any shell without options.
export MXFWD_RUN_DIR=${MXFWD_RUN_DIR:-/tmp/mxfwd}
if [ -S "$MXFWD_RUN_DIR/re.sock" ] && "$(dirname "$0")/../bin/re" cli --cli-socket "$MXFWD_RUN_DIR/re.sock" 'show version' >/dev/null 2>&1; then
	echo "an RE is already running with its CLI in $MXFWD_RUN_DIR; stop it or set MXFWD_RUN_DIR" >&2
	exit 1
fi
if [ -z "${PORT:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/6234) 2>/dev/null; then
	PORT=6234
fi
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT INT TERM
WAIT_ROUTE=232.0.7.1 start_platform "$ROOT/examples/seed003.conf"
vty 3 "test traffic source 10.128.1.10 group 232.0.7.1 interface ae90.0 count 1000000000 rate 1000" >/dev/null
cat <<MSG
mxfwd is up: RE on 127.0.0.1:$PORT, FPC 3 and FPC 4 on the $DRIVER driver.
A stream (10.128.1.10, 232.0.7.1) enters ae90.0 on FPC 3 at 1000 pps.
Logs and sockets: $MXFWD_RUN_DIR

Inspect it (in another shell$( [ "$MXFWD_RUN_DIR" = /tmp/mxfwd ] || echo ", after export MXFWD_RUN_DIR=$MXFWD_RUN_DIR")):
  bin/re cli 'show tnp addresses'
  bin/re cli 'show multicast next-hops'
  bin/re cli 'show multicast route group 232.0.7.1 extensive'
  bin/re cli 'show multicast statistics'
  bin/re cli 'show route table inet.1 detail'
  bin/re cli 'monitor kernel'
  bin/fpc vty --slot 3 'show route long_ip prefix 232.0.7.1.10.128.1.10 detail'
  bin/fpc vty --slot 3 'show nhdb mcast resolve'
  bin/fpc vty --slot 3 'show pfe egress'
  bin/re cli            # interactive; '?' lists completions
Press Ctrl-C to stop.
MSG
wait
