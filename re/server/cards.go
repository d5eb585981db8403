package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/kernel"
)

// What the RE accepts from a card is bounded by the RE itself: it cannot
// trust the card's own throttle.

// slotMask is a set of slots (hal.MaxSlot < 16).
type slotMask uint16

const allSlots slotMask = 1<<(hal.MaxSlot+1) - 1

// hosting maps each interface to the cards that host it: a physical unit
// to the card of its PFE, an aggregate to the cards of its members, and
// an interface with no port (pe-, pd-) to every card. Rebuilt at each
// commit, read by the session readers without a lock.
type hosting map[hal.IFLIndex]slotMask

func hostingOf(ifs []kernel.InterfaceState) hosting {
	byName := make(map[string]kernel.InterfaceState, len(ifs))
	for _, f := range ifs {
		byName[f.Name] = f
	}
	h := make(hosting, len(ifs))
	for _, f := range ifs {
		switch f.Kind {
		case hal.IFLPhysical.String():
			if s := hal.Slot(f.PFE / 4); s.Valid() {
				h[f.Index] = 1 << s
			}
		case hal.IFLAggregate.String():
			var m slotMask
			for _, n := range f.Members {
				if mf, ok := byName[n]; ok {
					if s := hal.Slot(mf.PFE / 4); s.Valid() {
						m |= 1 << s
					}
				}
			}
			h[f.Index] = m
		default:
			h[f.Index] = allSlots
		}
	}
	return h
}

// hosts reports whether card slot hosts interface ifl.
func (s *Server) hosts(slot hal.Slot, ifl hal.IFLIndex) bool {
	h := s.hosting.Load()
	return h != nil && (*h)[ifl]&(1<<slot) != 0
}

// updateHosting rebuilds the interface-to-card map (after SetInterfaces).
func (s *Server) updateHosting() {
	h := hostingOf(s.kern.Interfaces())
	s.hosting.Store(&h)
}

// resolveBucket is a card's token bucket for resolve requests, used by the
// card's session reader only (no lock).
type resolveBucket struct {
	tokens float64
	last   time.Time
}

// resolveHeadroom is how far above its configured resolve-rate a card may
// go before the RE drops its requests: the card's throttle admits a full
// second's burst on top of its rate (rate tokens, refilled at rate), so a
// conforming card sends at most twice its rate in any second.
const resolveHeadroom = 2

// resolveLimit returns the requests per second the RE accepts from a card
// (0: unlimited).
func (s *Server) resolveLimit() float64 {
	switch {
	case s.opt.ResolveLimit < 0:
		return 0
	case s.opt.ResolveLimit > 0:
		return float64(s.opt.ResolveLimit)
	}
	return float64(resolveHeadroom * s.resolveRate.Load())
}

// allow takes a token at now, refilling at limit per second with a burst
// of one second's worth.
func (b *resolveBucket) allow(now time.Time, limit float64) bool {
	if limit <= 0 {
		return true
	}
	if b.last.IsZero() {
		b.tokens, b.last = limit, now
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(limit, b.tokens+el*limit)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// DefaultMaxFailureRecords bounds the programming failures the RE keeps
// per card (about 100 bytes each: 1.6 MB per card at most). A card
// reports how many objects it fails on in every report, so the count
// stays right beyond the bound; only the per-route lines are missing.
const DefaultMaxFailureRecords = 16384

// objKey identifies a programmed object whatever the operation (a set and
// a delete of one route are one object).
type objKey struct {
	kind  uint8 // 1 IFL, 2 NH, 3 route, 4 trap
	id    uint32
	route hal.RouteKey
}

func objKeyOf(m *ipc.ApplyError) objKey {
	switch m.Op {
	case hal.OpSetIFL, hal.OpDelIFL:
		return objKey{kind: 1, id: uint32(m.IFL)}
	case hal.OpSetNH, hal.OpDelNH:
		return objKey{kind: 2, id: uint32(m.NH)}
	case hal.OpSetRoute, hal.OpDelRoute:
		return objKey{kind: 3, route: m.Key}
	}
	return objKey{kind: 4, id: uint32(m.Trap)}
}

type failRecord struct {
	op    hal.OpKind
	class ipc.ErrorClass
}

// failures are the programming failures a card reported and has not
// cleared.
type failures struct {
	max int

	mu       sync.Mutex
	recs     map[objKey]failRecord
	failing  uint32 // the card's own count in its last report
	overflow uint64 // reports not recorded: the table was full
	reports  atomic.Uint64
}

func newFailures(max int) *failures {
	if max <= 0 {
		max = DefaultMaxFailureRecords
	}
	return &failures{max: max, recs: map[objKey]failRecord{}}
}

// record applies one report.
func (f *failures) record(m *ipc.ApplyError) {
	f.reports.Add(1)
	k := objKeyOf(m)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = m.Failed
	if m.Class == ipc.ClassCleared {
		delete(f.recs, k)
		return
	}
	if _, ok := f.recs[k]; !ok && len(f.recs) >= f.max {
		f.overflow++
		return
	}
	f.recs[k] = failRecord{op: m.Op, class: m.Class}
}

// FailureStats is a card's programming failures as the RE knows them.
type FailureStats struct {
	// Failing is the number of objects the card failed to program, from
	// its last report.
	Failing uint32 `json:"failing"`
	// Recorded is the failures the RE keeps for `show multicast route
	// extensive`, Unrecorded the reports beyond its bound.
	Recorded   int    `json:"recorded"`
	Unrecorded uint64 `json:"unrecorded"`
	// Reports counts the card's stats/apply-error messages.
	Reports uint64 `json:"reports"`
}

func (f *failures) stats() FailureStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FailureStats{Failing: f.failing, Recorded: len(f.recs), Unrecorded: f.overflow, Reports: f.reports.Load()}
}

// annotate adds, to each route, the first failure of this card among the
// route's composite, indirect and route objects (the root cause first: a
// route fails when its next hop did).
func (f *failures) annotate(slot hal.Slot, rs []kernel.MulticastRoute) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recs) == 0 {
		return
	}
	for i := range rs {
		r := &rs[i]
		keys := [...]objKey{
			{kind: 2, id: uint32(r.CompositeID)},
			{kind: 2, id: uint32(r.NextHopID)},
			{kind: 3, route: hal.SG(r.Source, r.Group)},
		}
		for j, k := range keys {
			if j < 2 && k.id == 0 {
				continue
			}
			if rec, ok := f.recs[k]; ok {
				obj := &ipc.ApplyError{Op: rec.op, NH: hal.NHID(k.id), Key: k.route}
				r.Programming = append(r.Programming, kernel.ProgrammingFailure{Slot: slot, Object: obj.Object(), Error: rec.class.String()})
				break
			}
		}
	}
}

// annotateRoutes fills in the connected cards' programming failures.
func (s *Server) annotateRoutes(rs []kernel.MulticastRoute) {
	for _, f := range s.connected() {
		f.fails.annotate(f.slot, rs)
	}
}
