package kernel

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// pfeModel applies downloads with the hal contract's rules, stricter where
// the contract leaves room: every reference (aggregate members, route RPF)
// must exist, and nothing referenced may be deleted.
type pfeModel struct {
	ifls   map[hal.IFLIndex]hal.IFL
	nhs    map[hal.NHID]hal.NextHop
	routes map[hal.RouteKey]hal.Route
	traps  map[hal.TrapID]hal.Trap
}

func newPFEModel() *pfeModel {
	return &pfeModel{
		ifls:   make(map[hal.IFLIndex]hal.IFL),
		nhs:    make(map[hal.NHID]hal.NextHop),
		routes: make(map[hal.RouteKey]hal.Route),
		traps:  make(map[hal.TrapID]hal.Trap),
	}
}

func (m *pfeModel) apply(ops []hal.Op) error {
	for i, op := range ops {
		if err := m.applyOne(op); err != nil {
			return hal.OpError(i, op, err)
		}
	}
	return nil
}

func (m *pfeModel) needNH(id hal.NHID, types ...hal.NHType) error {
	nh, ok := m.nhs[id]
	if !ok {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	if !slices.Contains(types, nh.Type) {
		return fmt.Errorf("nh %d is %s: %w", id, nh.Type, hal.ErrInvalid)
	}
	return nil
}

func (m *pfeModel) applyOne(op hal.Op) error {
	switch op.Kind {
	case hal.OpSetIFL:
		if op.IFL.Index == 0 {
			return hal.ErrInvalid
		}
		for _, mem := range op.IFL.Members {
			if f, ok := m.ifls[mem]; !ok || f.Kind != hal.IFLPhysical {
				return fmt.Errorf("member %d: %w", mem, hal.ErrNotFound)
			}
		}
		m.ifls[op.IFL.Index] = op.IFL
	case hal.OpDelIFL:
		if _, ok := m.ifls[op.IFL.Index]; !ok {
			return hal.ErrNotFound
		}
		for _, f := range m.ifls {
			if slices.Contains(f.Members, op.IFL.Index) {
				return fmt.Errorf("member of %d: %w", f.Index, hal.ErrInvalid)
			}
		}
		for _, nh := range m.nhs {
			if nh.IFL == op.IFL.Index {
				return fmt.Errorf("used by nh %d: %w", nh.ID, hal.ErrInvalid)
			}
		}
		for _, r := range m.routes {
			if r.RPF == op.IFL.Index {
				return fmt.Errorf("rpf of %s: %w", r.Key, hal.ErrInvalid)
			}
		}
		delete(m.ifls, op.IFL.Index)
	case hal.OpSetNH:
		nh := op.NH
		if nh.ID == 0 {
			return hal.ErrInvalid
		}
		switch nh.Type {
		case hal.NHUnicast:
			if f, ok := m.ifls[nh.IFL]; !ok || (f.Kind != hal.IFLPhysical && f.Kind != hal.IFLEncap) {
				return fmt.Errorf("ifl %d: %w", nh.IFL, hal.ErrNotFound)
			}
		case hal.NHAggregate:
			if f, ok := m.ifls[nh.IFL]; !ok || f.Kind != hal.IFLAggregate {
				return fmt.Errorf("ifl %d: %w", nh.IFL, hal.ErrNotFound)
			}
			for _, mem := range nh.Members {
				if err := m.needNH(mem, hal.NHUnicast); err != nil {
					return err
				}
			}
		case hal.NHComposite:
			for _, mem := range nh.Members {
				if err := m.needNH(mem, hal.NHUnicast, hal.NHAggregate); err != nil {
					return err
				}
			}
		case hal.NHIndirect:
			if err := m.needNH(nh.Target, hal.NHComposite); err != nil {
				return err
			}
		}
		if old, ok := m.nhs[nh.ID]; ok && old.Type != nh.Type {
			return fmt.Errorf("nh %d type change: %w", nh.ID, hal.ErrInvalid)
		}
		m.nhs[nh.ID] = nh
	case hal.OpDelNH:
		id := op.NH.ID
		if _, ok := m.nhs[id]; !ok {
			return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
		}
		for _, nh := range m.nhs {
			if nh.Target == id || slices.Contains(nh.Members, id) {
				return fmt.Errorf("nh %d used by nh %d: %w", id, nh.ID, hal.ErrInvalid)
			}
		}
		for _, r := range m.routes {
			if r.NH == id {
				return fmt.Errorf("nh %d used by %s: %w", id, r.Key, hal.ErrInvalid)
			}
		}
		delete(m.nhs, id)
	case hal.OpSetRoute:
		r := op.Route
		if _, ok := m.nhs[r.NH]; !ok {
			return fmt.Errorf("route nh %d: %w", r.NH, hal.ErrNotFound)
		}
		if r.RPF != 0 {
			if _, ok := m.ifls[r.RPF]; !ok {
				return fmt.Errorf("route rpf %d: %w", r.RPF, hal.ErrNotFound)
			}
		}
		m.routes[r.Key] = r
	case hal.OpDelRoute:
		if _, ok := m.routes[op.Route.Key]; !ok {
			return fmt.Errorf("route %s: %w", op.Route.Key, hal.ErrNotFound)
		}
		delete(m.routes, op.Route.Key)
	case hal.OpSetTrap:
		if err := op.Trap.Validate(); err != nil {
			return err
		}
		m.traps[op.Trap.ID] = op.Trap
	case hal.OpDelTrap:
		if _, ok := m.traps[op.Trap.ID]; !ok {
			return fmt.Errorf("trap %d: %w", op.Trap.ID, hal.ErrNotFound)
		}
		delete(m.traps, op.Trap.ID)
	default:
		return hal.ErrInvalid
	}
	return nil
}

func (m *pfeModel) equal(o *pfeModel) bool {
	return maps.EqualFunc(m.ifls, o.ifls, iflEqual) &&
		maps.EqualFunc(m.nhs, o.nhs, nhEqual) &&
		maps.Equal(m.routes, o.routes) && maps.Equal(m.traps, o.traps)
}

// recSink validates every download against a pfeModel and records them.
type recSink struct {
	mu      sync.Mutex
	t       testing.TB
	model   *pfeModel
	batches [][]hal.Op
}

func newRecSink(t testing.TB) *recSink { return &recSink{t: t, model: newPFEModel()} }

func (s *recSink) Download(ops []hal.Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.model.apply(ops); err != nil {
		s.t.Errorf("download rejected: %v\nbatch: %v", err, ops)
	}
	s.batches = append(s.batches, ops)
}

// take returns and forgets the recorded batches, flattened.
func (s *recSink) take() []hal.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hal.Op
	for _, b := range s.batches {
		out = append(out, b...)
	}
	s.batches = nil
	return out
}

// manualClock is an injected clock for tests.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// seedInterfaces is the interface table of seed 003: ae90.0 (ifl 331,
// upstream), ae91.0 (ifl 332, NH 1048583) with members xe-3/1/0.0 (ifl 395,
// NH 1378, PFE 13) and xe-3/3/1.0 (ifl 400, NH 1387, PFE 15), and ae101.0.
func seedInterfaces() []Interface {
	return []Interface{
		{Name: "ae90.0", Index: 331, NH: 1048582},
		{Name: "ae91.0", Index: 332, NH: 1048583},
		{Name: "ae101.0", Index: 340, NH: 1048586},
		{Name: "xe-3/0/0.0", Index: 390, NH: 1370, LAG: "ae90"},
		{Name: "xe-3/1/0.0", Index: 395, NH: 1378, LAG: "ae91"},
		{Name: "xe-3/3/1.0", Index: 400, NH: 1387, LAG: "ae91"},
		{Name: "xe-4/0/0.0", Index: 410, NH: 1390, LAG: "ae101"},
		{Name: "xe-5/0/0.0"},
		{Name: "xe-5/1/0.0"},
	}
}

var (
	seedS  = netip.MustParseAddr("10.128.1.10")
	seedG  = netip.MustParseAddr("232.0.7.1")
	seedG2 = netip.MustParseAddr("232.0.8.1")
)

type fixture struct {
	k     *Kernel
	clock *manualClock
	sink  *recSink
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	c := &manualClock{t: time.Date(2012, 12, 3, 15, 23, 31, 0, time.UTC)}
	s := newRecSink(t)
	cfg.Now = c.Now
	cfg.Sink = s
	k := New(cfg)
	_, err := k.SetInterfaces(seedInterfaces())
	require.NoError(t, err)
	s.take()
	return &fixture{k: k, clock: c, sink: s}
}

// checkSnapshot asserts that replaying Snapshot gives the state the
// downloads built.
func (f *fixture) checkSnapshot(t testing.TB) {
	t.Helper()
	m := newPFEModel()
	require.NoError(t, m.apply(f.k.Snapshot()))
	f.sink.mu.Lock()
	defer f.sink.mu.Unlock()
	require.True(t, m.equal(f.sink.model), "snapshot differs from downloaded state")
}
