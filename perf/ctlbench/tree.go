package ctlbench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/hal"
)

// nopUpcalls drops upcalls (the tree benchmark never raises any).
type nopUpcalls struct{}

func (nopUpcalls) OnResolve(hal.ResolveRequest)            {}
func (nopUpcalls) OnWrongInterface(hal.WrongInterface)     {}
func (nopUpcalls) OnPunt(hal.IFLIndex, hal.TrapID, []byte) {}
func (nopUpcalls) OnLinkState(hal.LinkState)               {}

func macOf(idx hal.IFLIndex) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x6d, 0x78, byte(idx >> 16), byte(idx >> 8), byte(idx)}
}

// treeComposite programs the trio tree benchmark's ports: 48 unicast
// ports, one on each of PFEs 0..47, and an aggregate of 8 members on PFEs
// 0..7, so that a composite over all of them has 8 sublists whose trees
// span the 48 PFEs (drivers/trio BenchmarkTreeBuild, through the HAL).
func treeComposite(ctx context.Context, d hal.Driver) ([]hal.NHID, error) {
	var ops []hal.Op
	var members, lag []hal.NHID
	var lagIFLs []hal.IFLIndex
	phys := func(idx hal.IFLIndex, pfe int, name string) hal.Op {
		return hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: name, Kind: hal.IFLPhysical, PFE: hal.PFEID(pfe), MAC: macOf(idx), MTU: 1500, Up: true}}
	}
	for p := range 48 {
		idx := hal.IFLIndex(1000 + p)
		ops = append(ops, phys(idx, p, fmt.Sprintf("xe-%d/%d/0.0", p/4, p%4)),
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHID(2000 + p), Type: hal.NHUnicast, IFL: idx}})
		members = append(members, hal.NHID(2000+p))
	}
	for k := range 8 {
		idx := hal.IFLIndex(1100 + k)
		ops = append(ops, phys(idx, k, fmt.Sprintf("xe-%d/%d/1.0", k/4, k%4)),
			hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHID(2100 + k), Type: hal.NHUnicast, IFL: idx}})
		lag, lagIFLs = append(lag, hal.NHID(2100+k)), append(lagIFLs, idx)
	}
	ops = append(ops,
		hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: 1200, Name: "ae0.0", Kind: hal.IFLAggregate, Members: lagIFLs, Up: true}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 2200, Type: hal.NHAggregate, IFL: 1200, Members: lag}})
	if _, err := d.Apply(ctx, ops); err != nil {
		return nil, err
	}
	return append(members, 2200), nil
}

// Tree measures, through the HAL and trio's exported BuildTree:
//   - tree build: Apply of one composite over the 48-PFE, 8-sublist OIL
//     (the expansion into sublists) plus both trees of each of the 8
//     sublists laid out by trio.BuildTree, i.e. what the driver's own
//     BenchmarkTreeBuild times, from outside; the composite alternates
//     between two member orders so that every Apply really recompiles;
//   - composites/s: Apply of that composite under 1024 ids in batches of
//     64 (the driver's BenchmarkProgramComposites).
func Tree(ctx context.Context, window time.Duration) (Result, error) {
	d, err := trio.New(ctx, hal.Config{Logger: slog.New(slog.DiscardHandler), Upcalls: nopUpcalls{},
		Options: map[string]string{trio.OptMcastLists: "1000000"}})
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	members, err := treeComposite(ctx, d)
	if err != nil {
		return Result{}, err
	}
	rev := make([]hal.NHID, len(members))
	for i, m := range members {
		rev[len(members)-1-i] = m
	}
	pfes := make([]hal.PFEID, 48)
	for p := range pfes {
		pfes[p] = hal.PFEID(p)
	}
	win := window
	var expand, trees time.Duration
	n := 0
	one := make([]hal.Op, 1)
	for start := time.Now(); time.Since(start) < win; n++ {
		ms := members
		if n%2 == 1 {
			ms = rev
		}
		one[0] = hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: 5000, Type: hal.NHComposite, Members: ms}}
		t0 := time.Now()
		if _, err := d.Apply(ctx, one); err != nil {
			return Result{}, err
		}
		t1 := time.Now()
		for range 8 {
			for _, reverse := range []bool{false, true} {
				t := trio.BuildTree(trio.ModeBinary, 5000, pfes, 0, false, reverse, nil)
				if len(t.Order) != 48 {
					return Result{}, fmt.Errorf("tree over %d PFEs, want 48", len(t.Order))
				}
			}
		}
		expand += t1.Sub(t0)
		trees += time.Since(t1)
	}
	const batch = 64
	ops := make([]hal.Op, batch)
	id := 0
	var count int
	start := time.Now()
	for time.Since(start) < win {
		for i := range ops {
			ms := members
			if (id/1024)%2 == 1 {
				ms = rev
			}
			ops[i] = hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHID(6000 + id%1024), Type: hal.NHComposite, Members: ms}}
			id++
		}
		if _, err = d.Apply(ctx, ops); err != nil {
			return Result{}, err
		}
		count += batch
	}
	rate := float64(count) / time.Since(start).Seconds()
	e, t := expand.Seconds()*1e6/float64(n), trees.Seconds()*1e6/float64(n)
	return Result{Metrics: map[string]float64{"tree_build_us": e + t, "expand_us": e, "trees_us": t, "composites_per_s": rate}}, nil
}
