#!/bin/bash
# ab.sh OUT "variants" : interleaved points. variant spec NAME:BINDIR:KDROP:OPTS (OPTS with , for spaces)
cd /work/main
OUT=/tmp/afp-runs/$1; shift
export KB=../shared/perf/kbase.sh OUTDIR=$OUT RUNDIR=$(mktemp -d /tmp/afp-kb.XXXXXX) ROUTER_NAME=afpacket ROUTER_WARM=15 ROUTER_CMD="exec $PWD/perf/afpacket/router.sh" DUR=${DUR:-3} WARM=1
mkdir -p $OUT; : > $OUT/points.jsonl
bash $KB setup >/dev/null 2>&1
for rep in $(seq 1 ${REPS:-3}); do
 for size in ${SIZES:-64 1518}; do for n in ${FANOUTS:-1 8}; do
  for v in kernel "$@"; do
   if [ "$v" = kernel ]; then j=$(bash $KB point kernel $n $size 2>/dev/null); name=kernel
   else IFS=: read name bdir kd opts <<< "$v"
     j=$(BIN=$bdir AFP_KERNEL_DROP=$kd AFP_OPTS="${opts//,/ }" bash $KB point cmd $n $size 2>/dev/null); fi
   echo "{\"v\":\"$name\",\"rep\":$rep,\"p\":$j}" >> $OUT/points.jsonl
  done
 done; done
done
bash $KB teardown >/dev/null 2>&1
python3 - $OUT/points.jsonl <<'PY'
import json,sys,statistics as st,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: r=json.loads(l)
    except Exception: continue
    p=r['p']; d[(p['size'],p['n'],r['v'])].append(p)
keys=sorted(set((k[0],k[1]) for k in d)); vs=[]
for k in d:
    if k[2] not in vs: vs.append(k[2])
print("| size | N | variant | in pps | out pps | out/kernel | ns/out copy | CPU/copy vs kernel | rtr softirq% | reps |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s,n in keys:
    kout=st.median([p['total_out_pps'] for p in d[(s,n,'kernel')]]) if d[(s,n,'kernel')] else None
    kns=st.median([p['ns_per_out_pkt'] for p in d[(s,n,'kernel')]]) if d[(s,n,'kernel')] else None
    for v in vs:
        ps=d.get((s,n,v),[])
        if not ps: continue
        o=st.median([p['total_out_pps'] for p in ps]); i=st.median([p['in_rx_pps'] for p in ps])
        ns=st.median([p['ns_per_out_pkt'] or 0 for p in ps]); si=st.median([p['rtr_cpu_softirq_pct'] for p in ps])
        print(f"| {s} | {n} | {v} | {i/1e3:.0f}k | {o/1e3:.0f}k | {o/kout:.2f} | {ns:.0f} | {ns/kns:.2f} | {si:.0f} | {len(ps)} |")
PY
