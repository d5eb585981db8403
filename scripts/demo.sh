#!/usr/bin/env bash
# make demo: seed 003's walkthrough, step by step, across real processes.
# DRIVER=trio|swpfe (default swpfe). Exits when done.
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT INT TERM
CACHE=${CACHE:-10s}
G=232.0.7.1; S=10.128.1.10; LONG=$G.$S
step() { printf '\n==== %s\n' "$*"; }
show() { printf '\nsponge@bob> %s\n' "$1"; re_cli "$1"; }
pfe() { printf '\nNPC3(bob vty)# %s\n' "$1"; vty 3 "$1"; }

# The join for (S,G) arrives once the FPCs are up, as Patrick's PIM join does
# in the seed, so the (shortened) cache lifetime starts with step 1.
grep -v "static group $G " "$ROOT/examples/seed003.conf" > "$MXFWD_RUN_DIR/seed003.conf"
start_platform "$MXFWD_RUN_DIR/seed003.conf" --cache-timeout "$CACHE"
echo "RE and FPCs 3, 4 up on driver $DRIVER (forwarding-cache timeout shortened to $CACHE for the demo)"

step "1. Join (S,G)=($S,$G) on ae91.0: the kernel allocates a multicast NH for the new OIL, then the NH chain and the route"
show "request multicast join source $S group $G interface ae91.0"
wait_for "the route on FPC 3" sh -c "'$BIN/fpc' vty --slot 3 'show route long_ip prefix $LONG' | grep -q Indirect"
show "show multicast next-hops"
show "show route table inet.1 detail"
show "show multicast route group $G extensive"
printf '\n# rtsockmon -t\n'; re_cli "monitor kernel" | grep -E "NH-comp|nh=indr|route +add +inet $G" | grep -E "comp=1048583|$G|nh=indr" | head -3
pfe "show route long_ip prefix $LONG detail"
COMP=$(vty 3 "show route long_ip prefix $LONG detail" | awk '/Compst/{sub(/\(.*/,"",$1); print $1; exit}')
if [ "$DRIVER" = trio ]; then
	pfe "show nhdb id $COMP"
fi

step "2. No traffic for the cache lifetime: route, indirect and composite NH are deleted; the join stays"
# The deadline comes from the entry's own lifetime (as the RE reports it),
# plus the 1 s aging tick and the time for the deletes to reach the card.
LEFT=$(cache_left $G)
WAIT_S=$((LEFT + 5)) wait_for "cache expiry (${LEFT} s left)" sh -c "! '$BIN/re' cli --cli-socket '$MXFWD_RUN_DIR/re.sock' 'show multicast route group $G' | grep -q $G"
show "show multicast route group $G"
printf '\n# rtsockmon -t\n'; re_cli "monitor kernel" | grep -A2 -E "route +delete +inet $G,"
pfe "show route long_ip prefix $LONG detail"

step "3. The stream starts again: the first packet hits 224/4 -> Resolve 983, FPC 3 sends a resolve request, the route comes back"
pfe "test traffic source $S group $G interface ae90.0 count 1"
wait_for "the route to come back" sh -c "'$BIN/fpc' vty --slot 3 'show route long_ip prefix $LONG' | grep -q Indirect"
printf '\n# rtsockmon -t\n'; re_cli "monitor kernel count 3"
show "show multicast statistics"
pfe "show route long_ip prefix $LONG detail"
pfe "show nhdb mcast resolve"

step "4. Unknown (S,G)=($S,232.0.8.1): no join, so the kernel installs G.S/64 -> mdiscard 35 and resolves stop"
pfe "test traffic source $S group 232.0.8.1 interface ae90.0 count 1"
wait_for "mdiscard" sh -c "'$BIN/fpc' vty --slot 3 'show route long_ip prefix 232.0.8.1.$S' | grep -q mdiscard"
printf '\n# rtsockmon -t\n'; re_cli "monitor kernel count 1"
pfe "show route long_ip prefix 232.0.8.1.$S detail"
pfe "test traffic source $S group 232.0.8.1 interface ae90.0 count 1000"
pfe "show resolve statistics | match requests-sent"
show "show multicast statistics | match \"Interface: ae90|Kernel resolve\""
if [ "$DRIVER" = trio ]; then
	pfe "show nhdb mcast resolve"
	pfe "show mcast replication stats"
fi
printf '\ndemo complete (driver %s)\n' "$DRIVER"
