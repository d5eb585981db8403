package ctlbench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/kernel"
)

// resolveWindow is the closed-loop resolve run's bound on flows in flight
// (Input done, route not yet applied): 256 keeps the FPC's upcall queue
// (4096) and the throttle's outstanding table (65536) far from full, so no
// request is dropped, and by Little's law costs 256/rate of queueing in the
// closed-loop latency (5 ms at 50k/s); the open-loop run measures latency.
const resolveWindow = 256

// resolveRun tracks the flows of the resolve benchmark.
type resolveRun struct {
	e       *e2e
	frames  [][]byte
	sentAt  []atomic.Int64
	doneAt  []atomic.Int64
	done    atomic.Int64
	retries int
}

// inject sends flows [from, to) into the FPC's driver as received on the
// upstream port, stamping their send time.
func (rr *resolveRun) inject(from, to int) error {
	now := time.Now().UnixNano()
	for f := from; f < to; f++ {
		rr.sentAt[f].Store(now)
	}
	return rr.e.pr.Input(rr.e.ingress, rr.frames[from:to])
}

// resend re-injects the flows of [from, to) that were sent but not
// resolved (a request dropped on the way is retried by its next packet).
func (rr *resolveRun) resend(from, to int) error {
	for f := from; f < to; f++ {
		if rr.sentAt[f].Load() != 0 && rr.doneAt[f].Load() == 0 {
			rr.retries++
			if err := rr.e.pr.Input(rr.e.ingress, rr.frames[f:f+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitDone waits until count flows are resolved, re-sending unresolved
// ones of [from, to) when nothing moves for 200 ms.
func (rr *resolveRun) waitDone(ctx context.Context, count int64, from, to int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, lastMove := rr.done.Load(), time.Now()
	for rr.done.Load() < count {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d flows resolved after %v", rr.done.Load(), count, timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-rr.e.pr.signal:
		case <-time.After(10 * time.Millisecond):
		}
		if d := rr.done.Load(); d != last {
			last, lastMove = d, time.Now()
		} else if time.Since(lastMove) > 200*time.Millisecond {
			if err := rr.resend(from, to); err != nil {
				return err
			}
			lastMove = time.Now()
		}
	}
	return nil
}

func (rr *resolveRun) latenciesUS(from, to int) (lat []float64, first, last int64) {
	first = rr.sentAt[from].Load()
	for f := from; f < to; f++ {
		s, d := rr.sentAt[f].Load(), rr.doneAt[f].Load()
		if s == 0 || d == 0 {
			continue
		}
		lat = append(lat, float64(d-s)/1e3)
		last = max(last, d)
	}
	return lat, first, last
}

// Resolve measures the resolve path with the FPC throttle off: the
// first packet of a new flow enters the FPC's driver (swpfe) on the
// upstream port, hits 224/4 -> Resolve, the runtime sends a
// resolve-addr-request, the RE kernel resolves it (half the flows have
// join state whose cache entry was cleared: the forwarding chain is
// installed; half have none: mdiscard) and downloads the route, which the
// probe sees applied. Latency is packet in -> route applied.
//
//   - closed loop: n flows, at most resolveWindow in flight;
//     resolves/s = flows / (last applied - first sent);
//   - open loop: l more flows offered at rate per second (paced every
//     200 µs); latency percentiles over them.
func Resolve(ctx context.Context, n, l, rate int) (Result, error) {
	total := n + l
	if n <= 0 {
		return Result{}, errors.New("no resolves configured")
	}
	e, err := startE2E(ctx)
	if err != nil {
		return Result{}, err
	}
	defer e.stop()
	// Join state for the even flows, cache cleared.
	var js []kernel.Join
	for f := 0; f < total; f += 2 {
		js = append(js, e2eJoins(f, 1)[0])
	}
	base := e.pr.sgSets.Load()
	if err := e.joinAll(js); err != nil {
		return Result{}, err
	}
	if err := e.pr.waitFor(ctx, time.Minute, "join routes on the PFE", func() bool { return e.pr.sgSets.Load() >= base+int64(len(js)) }); err != nil {
		return Result{}, err
	}
	e.srv.Kernel().ClearCache()
	if err := e.pr.waitFor(ctx, time.Minute, "the cleared cache to leave the PFE", func() bool { return e.pr.Summary().Routes == 1 }); err != nil {
		return Result{}, err
	}
	rr := &resolveRun{e: e, frames: make([][]byte, total), sentAt: make([]atomic.Int64, total), doneAt: make([]atomic.Int64, total)}
	idx := make(map[hal.RouteKey]int, total)
	for f := range total {
		s, g := flowSG(f)
		rr.frames[f] = fpc.BuildFrame(s, g, 60, 64, uint16(f))
		idx[hal.SG(s, g)] = f
	}
	hook := func(key hal.RouteKey, at int64) {
		if f, ok := idx[key]; ok && rr.doneAt[f].CompareAndSwap(0, at) {
			rr.done.Add(1)
		}
	}
	e.pr.hook.Store(&hook)
	defer e.pr.hook.Store(nil)

	// Closed loop.
	const burst = 16
	sent := 0
	for sent < n {
		for int64(sent)-rr.done.Load() >= resolveWindow {
			if err := rr.waitDone(ctx, int64(sent-resolveWindow+1), 0, sent, time.Minute); err != nil {
				return Result{}, fmt.Errorf("closed loop: %w", err)
			}
		}
		k := min(burst, n-sent, resolveWindow-int(int64(sent)-rr.done.Load()))
		if err := rr.inject(sent, sent+k); err != nil {
			return Result{}, err
		}
		sent += k
	}
	if err := rr.waitDone(ctx, int64(n), 0, n, time.Minute); err != nil {
		return Result{}, fmt.Errorf("closed loop: %w", err)
	}
	closed, first, last := rr.latenciesUS(0, n)
	m := map[string]float64{
		"resolves_per_s": float64(len(closed)) / (float64(last-first) / 1e9),
		"closed_p50_us":  percentile(closed, 0.50),
		"closed_p99_us":  percentile(closed, 0.99),
	}
	closedRetries := rr.retries

	// Open loop.
	if l > 0 {
		rate := float64(max(1, rate))
		start := time.Now()
		sent := 0
		for sent < l {
			due := min(l, int(rate*time.Since(start).Seconds())+1)
			for sent < due {
				k := min(64, due-sent)
				if err := rr.inject(n+sent, n+sent+k); err != nil {
					return Result{}, err
				}
				sent += k
			}
			time.Sleep(200 * time.Microsecond)
		}
		if err := rr.waitDone(ctx, int64(total), n, total, time.Minute); err != nil {
			return Result{}, fmt.Errorf("open loop: %w", err)
		}
		open, first, last := rr.latenciesUS(n, total)
		m["offered_per_s"] = rate
		m["achieved_per_s"] = float64(len(open)) / (float64(last-first) / 1e9)
		m["lat_p50_us"] = percentile(open, 0.50)
		m["lat_p99_us"] = percentile(open, 0.99)
		m["lat_max_us"] = percentile(open, 1)
	}
	m["retries"] = float64(rr.retries)
	m["unresolved"] = float64(int64(total) - rr.done.Load())
	note := fmt.Sprintf("closed loop: window %d flows in flight (its latency includes that queue); "+
		"open loop: paced every 200 µs; half the flows have join state (forwarding chain), half none (mdiscard); "+
		"retries in the closed loop: %d", resolveWindow, closedRetries)
	return Result{Metrics: m, Note: note}, nil
}
