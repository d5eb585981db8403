// Command kbcompare prints, from a kbase.sh results.jsonl holding kernel
// and afpacket points of the same sweep, one Markdown table comparing them:
// per (size, fan-out) the medians of input pps, total output pps and router
// CPU ns per output copy, and their ratios afpacket/kernel.
//
//	go run ./perf/afpacket/kbcompare results.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
)

// point is the subset of a kb_measure.py JSON line used here.
type point struct {
	Router     string  `json:"router"`
	N          int     `json:"n"`
	Size       int     `json:"size"`
	InPPS      float64 `json:"in_rx_pps"`
	OutPPS     float64 `json:"total_out_pps"`
	DropPPS    float64 `json:"total_out_drop_pps"`
	NsPerOut   float64 `json:"ns_per_out_pkt"`
	NsPerIn    float64 `json:"ns_per_in_pkt"`
	RtrCPU     float64 `json:"rtr_cpu_busy_pct"`
	RtrProcCPU float64 `json:"rtr_proc_cpu_pct"`
}

type key struct{ size, n int }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kbcompare results.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	if err := run(f, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kbcompare:", err)
		os.Exit(1)
	}
}

func run(r io.Reader, w io.Writer) error {
	pts := map[string]map[key][]point{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var p point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		if p.Router == "off" {
			continue
		}
		if pts[p.Router] == nil {
			pts[p.Router] = map[key][]point{}
		}
		k := key{p.Size, p.N}
		pts[p.Router][k] = append(pts[p.Router][k], p)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	other := ""
	for r := range pts {
		if r != "kernel" {
			other = r
		}
	}
	if pts["kernel"] == nil || other == "" {
		return fmt.Errorf("need points of the kernel and one other router, have %d routers", len(pts))
	}
	var keys []key
	for k := range pts["kernel"] {
		if pts[other][k] != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].size != keys[j].size {
			return keys[i].size < keys[j].size
		}
		return keys[i].n < keys[j].n
	})
	fmt.Fprintf(w, "| size | N | kernel in pps | %[1]s in pps | in ratio | kernel out pps | %[1]s out pps | out ratio | kernel ns/out copy | %[1]s ns/out copy | CPU/copy ratio | %[1]s out drops pps | %[1]s proc CPU%% |\n", other)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		kp, op := pts["kernel"][k], pts[other][k]
		m := func(ps []point, f func(point) float64) float64 {
			v := make([]float64, len(ps))
			for i, p := range ps {
				v[i] = f(p)
			}
			return median(v)
		}
		kin, oin := m(kp, func(p point) float64 { return p.InPPS }), m(op, func(p point) float64 { return p.InPPS })
		kout, oout := m(kp, func(p point) float64 { return p.OutPPS }), m(op, func(p point) float64 { return p.OutPPS })
		kns, ons := m(kp, func(p point) float64 { return p.NsPerOut }), m(op, func(p point) float64 { return p.NsPerOut })
		fmt.Fprintf(w, "| %d | %d | %.0fk | %.0fk | %.2f | %.0fk | %.0fk | %.2f | %.0f | %.0f | %.2f | %.0f | %.0f |\n",
			k.size, k.n, kin/1e3, oin/1e3, ratio(oin, kin), kout/1e3, oout/1e3, ratio(oout, kout),
			kns, ons, ratio(ons, kns), m(op, func(p point) float64 { return p.DropPPS }),
			m(op, func(p point) float64 { return p.RtrProcCPU }))
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
