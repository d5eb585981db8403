package xdp

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/mxfwd/mxfwd/hal"
)

// Counters live in per-CPU BPF arrays (ifl_stats, route_stats) that the
// programs increment without atomics; readers sum the CPUs. Route counters
// are read in batches (BPF_MAP_LOOKUP_BATCH over the used slots): one
// system call per 4,096 routes.
//
// The programs do not stamp times: a route's LastUsed is the driver's
// clock (hal.Config.Now) at the first read that found its packet count
// grown, so its resolution is the interval between walks (the FPC's
// statistics interval), which is what the forwarding cache needs.

// hitState is what the walks remember of a route slot.
type hitState struct {
	pkts     uint64
	lastUsed time.Time
}

// batchLen is the slots read per BPF_MAP_LOOKUP_BATCH.
const batchLen = 4096

// readRouteStats returns the summed counters of route slots [0, n).
func (d *Driver) readRouteStats(n int) ([]routeStatsVal, error) {
	out := make([]routeStatsVal, n)
	keys := make([]uint32, batchLen)
	vals := make([]routeStatsVal, batchLen*d.ncpu)
	var cursor ebpf.MapBatchCursor
	read := 0
	for read < n {
		c, err := d.ob.routeStats.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < c; i++ {
			k := int(keys[i])
			if k >= n {
				continue
			}
			var s routeStatsVal
			for cpu := 0; cpu < d.ncpu; cpu++ {
				v := &vals[i*d.ncpu+cpu]
				s.Pkts += v.Pkts
				s.Bytes += v.Bytes
			}
			out[k] = s
		}
		read += c
		if errors.Is(err, ebpf.ErrKeyNotExist) || c == 0 {
			break
		}
		if err != nil {
			return nil, err
		}
		if keys[c-1] >= uint32(n-1) {
			break
		}
	}
	return out, nil
}

// observe records slot's packet count and returns its LastUsed. Under
// hitsMu.
func (d *Driver) observeLocked(slot uint32, pkts uint64, now time.Time) time.Time {
	h := &d.hits[slot]
	if pkts > h.pkts {
		h.pkts = pkts
		h.lastUsed = now
	}
	return h.lastUsed
}

// WalkRoutes implements hal.Driver: every route with its counters.
func (d *Driver) WalkRoutes(fn func(hal.Route, hal.RouteStat) bool) {
	if d.closed.Load() {
		return
	}
	stats, slots := d.routeSnapshot()
	if stats == nil {
		return
	}
	d.core.WalkRoutes(func(r hal.Route, _ hal.RouteStat) bool {
		st := hal.RouteStat{Key: r.Key}
		if slot, ok := slots[r.Key]; ok {
			st.Counters = hal.Counters{Packets: stats[slot].Pkts, Bytes: stats[slot].Bytes}
			d.hitsMu.Lock()
			st.LastUsed = d.hits[slot].lastUsed
			d.hitsMu.Unlock()
		}
		return fn(r, st)
	})
}

// routeSnapshot reads every used route slot, updates LastUsed, and returns
// the counters by slot with the slots by key.
func (d *Driver) routeSnapshot() ([]routeStatsVal, map[hal.RouteKey]uint32) {
	d.hitsMu.Lock()
	n := d.slotHigh
	d.hitsMu.Unlock()
	stats, err := d.readRouteStats(n)
	if err != nil {
		d.log.Warn("xdp: read route counters", "err", err)
		return nil, nil
	}
	now := d.cfg.Now()
	slots := make(map[hal.RouteKey]uint32, n)
	d.hitsMu.Lock()
	defer d.hitsMu.Unlock()
	for i := 0; i < n && i < len(d.slotKeys); i++ {
		k := d.slotKeys[i]
		if !k.Group.IsValid() {
			continue
		}
		slots[k] = uint32(i)
		d.observeLocked(uint32(i), stats[i].Pkts, now)
	}
	return stats, slots
}

// WalkHits implements hal.HitWalker: the routes whose counters grew at or
// after since (by the driver's observation, see above), read in batches.
func (d *Driver) WalkHits(since time.Time, fn func(hal.Route, hal.RouteStat) bool) {
	if d.closed.Load() {
		return
	}
	d.hitsMu.Lock()
	n := d.slotHigh
	d.hitsMu.Unlock()
	stats, err := d.readRouteStats(n)
	if err != nil {
		d.log.Warn("xdp: read route counters", "err", err)
		return
	}
	now := d.cfg.Now()
	type hit struct {
		key  hal.RouteKey
		stat hal.RouteStat
	}
	var hits []hit
	d.hitsMu.Lock()
	for i := 0; i < n && i < len(d.slotKeys); i++ {
		k := d.slotKeys[i]
		if !k.Group.IsValid() {
			continue
		}
		last := d.observeLocked(uint32(i), stats[i].Pkts, now)
		if last.IsZero() || last.Before(since) {
			continue
		}
		hits = append(hits, hit{k, hal.RouteStat{Key: k, Counters: hal.Counters{Packets: stats[i].Pkts, Bytes: stats[i].Bytes}, LastUsed: last}})
	}
	d.hitsMu.Unlock()
	for _, h := range hits {
		r, err := d.core.Route(h.key)
		if err != nil {
			continue // deleted meanwhile
		}
		if !fn(r, h.stat) {
			return
		}
	}
}

// iflStats sums the per-CPU counters of an IFL slot.
func (d *Driver) iflStats(slot uint32) (iflStatsVal, error) {
	vals := make([]iflStatsVal, d.ncpu)
	var s iflStatsVal
	if err := d.ob.iflStats.Lookup(slot, &vals); err != nil {
		return s, err
	}
	for i := range vals {
		s.add(&vals[i])
	}
	return s, nil
}

// IFLCounters implements hal.Driver: the data path's counters of the IFL,
// plus what Input and Transmit counted in user space. Ring buffer records
// lost (the FPC not reading fast enough) count as QueueFull.
func (d *Driver) IFLCounters(index hal.IFLIndex) (hal.IFLCounters, error) {
	if d.closed.Load() {
		return hal.IFLCounters{}, hal.ErrClosed
	}
	st := (*d.iflsPub.Load())[index]
	if st == nil {
		if _, err := d.core.IFL(index); err != nil {
			return hal.IFLCounters{}, err
		}
		return hal.IFLCounters{}, fmt.Errorf("ifl %d: no counters: %w", index, hal.ErrNotFound)
	}
	s, err := d.iflStats(st.slot)
	if err != nil {
		return hal.IFLCounters{}, fmt.Errorf("ifl %d counters: %w", index, err)
	}
	short, shortBytes := st.rxShort.Load(), st.rxShortBytes.Load()
	return hal.IFLCounters{
		RxPackets: s.RxPkts + short, RxBytes: s.RxBytes + shortBytes,
		TxPackets: s.TxPkts + st.txInject.Load(), TxBytes: s.TxBytes + st.txBytes.Load(),
		RPFFail: s.RPFFail, TTLExpiry: s.TTL, NoRoute: s.NoRoute, Discard: s.Discard,
		Resolve: s.Resolve, Malformed: s.Malformed + short, QueueFull: s.EventsLost, PortDown: s.PortDown,
	}, nil
}
