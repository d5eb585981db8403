# Shared by run.sh and demo.sh: start an RE and FPCs 3 and 4 on loopback.
# Uses a private run directory and free ports so that several copies (and
# the test suite) can run side by side.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
DRIVER=${DRIVER:-swpfe}
export MXFWD_RUN_DIR=${MXFWD_RUN_DIR:-$(mktemp -d /tmp/mxfwd.XXXXXX)}
mkdir -p "$MXFWD_RUN_DIR"
PORT=${PORT:-$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 16234)}
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$MXFWD_RUN_DIR"
}

re_cli() { "$BIN/re" cli --cli-socket "$MXFWD_RUN_DIR/re.sock" "$@"; }
vty() { local slot=$1; shift; "$BIN/fpc" vty --slot "$slot" "$@"; }

wait_for() { # wait_for DESCRIPTION COMMAND... (fails after WAIT_S seconds, 10 by default)
	local what=$1; shift
	local deadline=$((SECONDS + ${WAIT_S:-10}))
	while [ "$SECONDS" -le "$deadline" ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "timed out waiting for $what (${WAIT_S:-10} s)" >&2
	return 1
}

cache_left() { # cache_left GROUP: seconds of cache lifetime left for GROUP's first entry
	re_cli "show multicast route group $1 extensive | display json" |
		python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["cache-lifetime-seconds"] if r else 0)'
}

start_platform() { # start_platform CONFIG [extra re flags]
	local cfg=$1; shift
	"$BIN/re" run --config "$cfg" --listen "127.0.0.1:$PORT" --metrics "" \
		--cli-socket "$MXFWD_RUN_DIR/re.sock" "$@" >"$MXFWD_RUN_DIR/re.log" 2>&1 &
	PIDS+=($!)
	wait_for "the RE CLI" re_cli 'show version'
	for slot in 3 4; do
		"$BIN/fpc" run --slot "$slot" --driver "$DRIVER" --re "127.0.0.1:$PORT" --metrics "" \
			>"$MXFWD_RUN_DIR/fpc$slot.log" 2>&1 &
		PIDS+=($!)
	done
	wait_for "FPC 3 and 4 to register" sh -c "'$BIN/re' cli --cli-socket '$MXFWD_RUN_DIR/re.sock' 'show tnp addresses' | grep -q fpc4 && '$BIN/re' cli --cli-socket '$MXFWD_RUN_DIR/re.sock' 'show tnp addresses' | grep -q fpc3"
	wait_for "FPC 3 to receive its routes" sh -c "'$BIN/fpc' vty --slot 3 'show route long_ip' | grep -q ${WAIT_ROUTE:-224/4}"
}
