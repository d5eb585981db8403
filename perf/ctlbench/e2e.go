package ctlbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/server"
)

// e2eConfig is the RE configuration of the end-to-end benchmarks: one
// upstream port (the sources' subnet), three downstream ports and a
// two-member aggregate.
const e2eConfig = `set interfaces xe-0/0/0 unit 0 family inet address 10.0.0.254/8
set interfaces xe-1/0/0 unit 0 family inet address 192.168.1.1/24
set interfaces xe-1/0/1 unit 0 family inet address 192.168.2.1/24
set interfaces xe-1/0/2 unit 0 family inet address 192.168.3.1/24
set interfaces xe-1/1/0 gigether-options 802.3ad ae1
set interfaces xe-1/1/1 gigether-options 802.3ad ae1
set interfaces ae1 unit 0 family inet address 192.168.10.1/24
`

// e2eIFLs is the number of IFLs the RE downloads for e2eConfig.
const e2eIFLs = 7

// e2eInterfaces is e2eConfig as re/kernel interfaces (for the RE-only
// memory figure).
func e2eInterfaces() []kernel.Interface {
	return []kernel.Interface{
		{Name: "ae1.0"},
		{Name: "xe-0/0/0.0"}, {Name: "xe-1/0/0.0"}, {Name: "xe-1/0/1.0"}, {Name: "xe-1/0/2.0"},
		{Name: "xe-1/1/0.0", LAG: "ae1"}, {Name: "xe-1/1/1.0", LAG: "ae1"},
	}
}

// e2eOILs rotate over the joins (as re/kernel's own benchmark does).
var e2eOILs = [][]string{{"xe-1/0/0.0"}, {"ae1.0"}, {"xe-1/0/0.0", "ae1.0"}, {"xe-1/0/1.0", "xe-1/0/2.0", "ae1.0"}}

func e2eJoins(from, n int) []kernel.Join {
	js := make([]kernel.Join, n)
	for i := range js {
		s, g := flowSG(from + i)
		js[i] = kernel.Join{Source: s, Group: g, Upstream: "xe-0/0/0.0", Downstream: e2eOILs[(from+i)%len(e2eOILs)], Protocol: "PIM"}
	}
	return js
}

// probe wraps the FPC's driver to see, through the HAL, when routes land
// on the PFE: it counts (S,G) route sets applied and calls a hook with the
// time of each.
type probe struct {
	hal.Driver
	sgSets    atomic.Int64
	applyErrs atomic.Int64
	lastErr   atomic.Pointer[string]
	hook      atomic.Pointer[func(key hal.RouteKey, at int64)]
	signal    chan struct{} // capacity 1: something was applied
}

// Apply implements hal.Driver.
func (p *probe) Apply(ctx context.Context, ops []hal.Op) (int, error) {
	n, err := p.Driver.Apply(ctx, ops)
	now := time.Now().UnixNano()
	if err != nil {
		p.applyErrs.Add(1)
		s := firstErrors(err, 2).Error()
		p.lastErr.Store(&s)
	}
	hook := p.hook.Load()
	var sets int64
	for i := range ops {
		if ops[i].Kind == hal.OpSetRoute && ops[i].Route.Key.IsSG() {
			sets++
			if hook != nil {
				(*hook)(ops[i].Route.Key, now)
			}
		}
	}
	p.sgSets.Add(sets)
	select {
	case p.signal <- struct{}{}:
	default:
	}
	return n, err
}

// SetOption passes run-time options through (hal.Tunable).
func (p *probe) SetOption(key, value string) error {
	if t, ok := p.Driver.(hal.Tunable); ok {
		return t.SetOption(key, value)
	}
	return nil
}

// waitFor waits until cond holds, re-checking after every Apply and at
// least every 20 ms.
func (p *probe) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %v waiting for %s", timeout, what)
			if e := p.lastErr.Load(); e != nil {
				msg += fmt.Sprintf(" (%d failed Apply calls, last: %s)", p.applyErrs.Load(), *e)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.signal:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// e2e is an RE (re/server) and one FPC (fpc runtime with swpfe behind a
// probe) in this process, talking over loopback TCP.
type e2e struct {
	srv     *server.Server
	rt      *fpc.Runtime
	pr      *probe
	ingress hal.IFLIndex
	stop    func()
}

func startE2E(ctx context.Context) (*e2e, error) {
	cfg, err := config.Parse("perf-e2e.conf", strings.NewReader(e2eConfig))
	if err != nil {
		return nil, err
	}
	// The RE's per-card bounds off as well as the card's throttle: the
	// benchmarks measure the path at full speed, from one trusted card.
	srv, err := server.New(server.Options{Config: cfg, Listen: "127.0.0.1:0", ResolveLimit: -1, DiscardLimitPerSlot: -1, DiscardLimit: -1})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	srvErr := make(chan error, 1)
	wg.Go(func() { srvErr <- srv.Run(ctx) })
	e := &e2e{srv: srv, stop: func() { cancel(); wg.Wait() }}
	select {
	case <-srv.Ready():
	case err := <-srvErr:
		e.stop()
		return nil, fmt.Errorf("RE: %w", err)
	case <-time.After(10 * time.Second):
		e.stop()
		return nil, errors.New("RE did not start listening within 10s")
	}
	var pr *probe
	rt, err := fpc.New(ctx, fpc.Config{Slot: 1, RE: srv.Addr(), DriverName: swpfe.Name,
		NewDriver: func(ctx context.Context, c hal.Config) (hal.Driver, error) {
			d, err := swpfe.New(ctx, c)
			if err != nil {
				return nil, err
			}
			pr = &probe{Driver: d, signal: make(chan struct{}, 1)}
			return pr, nil
		}})
	if err != nil {
		e.stop()
		return nil, err
	}
	e.rt, e.pr = rt, pr
	wg.Go(func() { _ = rt.Run(ctx) })
	// Registered and replayed: the card options come before the snapshot,
	// so once the IFLs are on the PFE the RE's resolve-rate has been set
	// and can be overridden.
	// The runtime records an IFL in its own tables after the driver's
	// Apply returns, so wait for both.
	var idx hal.IFLIndex
	err = pr.waitFor(ctx, 10*time.Second, "the FPC to register and receive the RE's interfaces", func() bool {
		_, opt := rt.Option("resolve-rate")
		var known bool
		idx, known = rt.IFLByName("xe-0/0/0.0")
		return rt.Connected() && opt && known && pr.Summary().IFLs >= e2eIFLs
	})
	if err != nil {
		e.stop()
		return nil, err
	}
	rt.Throttle().SetRate(0) // unlimited: measure the path, not the throttle
	e.ingress = idx
	return e, nil
}

// joinAll feeds joins to the RE kernel in batches of 1000, as PIM join
// processing would.
func (e *e2e) joinAll(js []kernel.Join) error {
	k := e.srv.Kernel()
	for i := 0; i < len(js); i += 1000 {
		if err := k.JoinBatch(js[i:min(len(js), i+1000)]); err != nil {
			return fmt.Errorf("join batch at %d: %w", i, err)
		}
	}
	return nil
}

// Install measures joins/s from the RE kernel until programmed on the
// PFE: joins are fed in batches of 1000; at each table size in routes it
// waits until the probe saw every route applied, and the time since the
// previous size gives the rate at that size (the Series).
func Install(ctx context.Context, routes []int) (Result, error) {
	sizes := slices.Clone(routes)
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	if len(sizes) == 0 || sizes[0] <= 0 {
		return Result{}, errors.New("no table sizes (control routes)")
	}
	n := sizes[len(sizes)-1]
	joins := e2eJoins(0, n)
	e, err := startE2E(ctx)
	if err != nil {
		return Result{}, err
	}
	defer e.stop()
	base := e.pr.sgSets.Load()
	start := time.Now()
	prevT, prev := start, 0
	var series []XY
	for _, c := range sizes {
		if err := e.joinAll(joins[prev:c]); err != nil {
			return Result{}, err
		}
		target := base + int64(c)
		if err := e.pr.waitFor(ctx, 60*time.Second+time.Duration(c/10_000)*time.Second,
			fmt.Sprintf("%d routes on the PFE (have %d)", c, e.pr.sgSets.Load()-base),
			func() bool { return e.pr.sgSets.Load() >= target }); err != nil {
			return Result{}, err
		}
		t := time.Now()
		series = append(series, XY{X: float64(c), Y: float64(c-prev) / t.Sub(prevT).Seconds()})
		prev, prevT = c, t
	}
	s, g := flowSG(n - 1)
	if _, err := e.pr.Route(hal.SG(s, g)); err != nil {
		return Result{}, fmt.Errorf("last route %s,%s not on the PFE: %w", s, g, err)
	}
	return Result{Metrics: map[string]float64{"routes_per_s": float64(n) / prevT.Sub(start).Seconds(), "routes": float64(n)}, Series: series}, nil
}

// E2EMemoryPerRoute installs n routes through RE + FPC and returns the live
// heap per route of the whole process (both sides and the IPC between).
func E2EMemoryPerRoute(ctx context.Context, n int) (float64, error) {
	joins := e2eJoins(0, n)
	e, err := startE2E(ctx)
	if err != nil {
		return 0, err
	}
	defer e.stop()
	base := e.pr.sgSets.Load()
	before := HeapInUse()
	if err := e.joinAll(joins); err != nil {
		return 0, err
	}
	if err := e.pr.waitFor(ctx, 60*time.Second+time.Duration(n/10_000)*time.Second, fmt.Sprintf("%d routes on the PFE", n),
		func() bool { return e.pr.sgSets.Load() >= base+int64(n) }); err != nil {
		return 0, err
	}
	after := HeapInUse()
	return float64(after-before) / float64(n), nil
}
