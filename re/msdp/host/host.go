// Package host runs MSDP inside the routing engine: the engine (re/msdp)
// on the owner loop, its sockets (re/msdp/msdpnet) feeding the loop —
// keepalive and hold-timer accounting on the loop's priority path, SAs
// behind the line cards' inputs — the configuration mapped from the
// operator's statements, peer-RPF lookups from the unicast RIB, and PIM:
// an RP's registered sources become originated SAs, an SA for a group
// with receivers makes the RP join the source (re/pim's RemoteSource),
// (*,G) state asks for cached sources, and seed 001's server and RP roles
// learn the RP-set with its S-bits from PIM's bootstrap state.
//
// Concurrency: Configure, the event handlers and Do run on the owner
// loop; Start runs the transport's goroutines, which only post to the
// loop.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
	"github.com/mxfwd/mxfwd/re/rib"
)

// RIB is what MSDP needs of the unicast RIB.
type RIB interface {
	RPF(a netip.Addr) (rib.Result, bool)
}

// PIM is what MSDP asks of PIM.
type PIM interface {
	// RemoteSource: an SA says Source is active for Group (restarts the
	// RP's (S,G) keepalive; the RP joins the source when it has
	// receivers).
	RemoteSource(source, group netip.Addr)
	// Deliver forwards a data packet carried in an SA down the (*,G)
	// tree.
	Deliver(source, group netip.Addr, pkt []byte)
}

// Env is the host's environment.
type Env struct {
	Engine *engine.Engine
	RIB    RIB
	PIM    PIM
	Logger *slog.Logger
	// Port overrides the MSDP port (tests; 639 when zero).
	Port int
	// Tap, if set, sees every inbound byte before it is decoded (non-stop
	// routing mirrors them).
	Tap func(peer netip.Addr, conn msdp.ConnID, b []byte)
	// Standby keeps the engine from opening sessions (a backup routing
	// engine adopts them).
	Standby bool
	// Mirror makes the transport a non-stop routing master (socket
	// replication; msdpnet.Mirror).
	Mirror msdpnet.Mirror
	// ConnDown is told when a session's connection ends on this routing
	// engine (a master tells its backup, which drops the shadow).
	ConnDown func(conn msdp.ConnID)
}

// Host hosts MSDP.
type Host struct {
	env Env
	log *slog.Logger
	now func() time.Time
	cfg *config.Config
	mc  msdp.Config

	e     *msdp.Engine
	t     *msdpnet.Transport
	acts  []msdp.Action
	timer *engine.Timer
	at    time.Time

	started bool
	pending []msdp.Event // PIM events before Start
}

// New returns a host; Configure and Start bring MSDP up.
func New(env Env) *Host {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	return &Host{env: env, log: env.Logger, now: env.Engine.Clock().Now}
}

// Engine returns the MSDP engine (nil when MSDP is not configured).
func (h *Host) Engine() *msdp.Engine { return h.e }

// Transport returns the socket transport (nil before Start).
func (h *Host) Transport() *msdpnet.Transport { return h.t }

// ribAdapter is the RIB as the engine sees it.
type ribAdapter struct{ r RIB }

func (a ribAdapter) Lookup(addr netip.Addr) (msdp.Route, bool) {
	res, ok := a.r.RPF(addr)
	if !ok {
		return msdp.Route{}, false
	}
	rt := msdp.Route{Prefix: res.Prefix, Interface: res.Interface, Metric: res.Metric, Preference: res.Preference}
	if !res.Connected {
		rt.NextHop = res.Neighbor
	}
	return rt, true
}

// Config maps the operator's statements onto the engine's configuration.
func Config(c *config.Config) (msdp.Config, error) {
	m := c.MSDP
	mc := msdp.Config{
		LocalAddress: m.LocalAddress,
		KeepAlive:    time.Duration(m.KeepAlive) * time.Second,
		HoldTime:     time.Duration(m.HoldTime) * time.Second,
		SAHoldTime:   time.Duration(m.SAHoldTime) * time.Second,
		Import:       slices.Clone(m.Import),
		Export:       slices.Clone(m.Export),
		Groups:       map[string]msdp.GroupConfig{},
		Policies:     map[string]*msdp.Policy{},
	}
	if !mc.LocalAddress.IsValid() {
		if lo := c.LoopbackAddresses(); len(lo) > 0 {
			mc.LocalAddress = lo[0].Addr()
		}
	}
	if m.ActiveSourceLimit != nil {
		mc.ActiveSourceLimit = limit(m.ActiveSourceLimit)
	}
	// The RP address in the SAs of configured local sources: this
	// router's RP address, else its loopback, else the peering address.
	if len(m.LocalSources) > 0 {
		switch lo := c.LoopbackAddresses(); {
		case c.PIM.RPLocal != nil:
			mc.OriginatorID = c.PIM.RPLocal.Address
		case len(lo) > 0:
			mc.OriginatorID = lo[0].Addr()
		case mc.LocalAddress.IsValid():
			mc.OriginatorID = mc.LocalAddress
		default:
			for _, p := range m.Peers {
				if p.LocalAddress.IsValid() {
					mc.OriginatorID = p.LocalAddress
					break
				}
			}
		}
	}
	for _, g := range m.Groups {
		gc := msdp.GroupConfig{LocalAddress: g.LocalAddress, Import: slices.Clone(g.Import), Export: slices.Clone(g.Export), AuthenticationKey: g.AuthenticationKey}
		if g.MeshGroup {
			gc.Mode = msdp.ModeMeshGroup
		}
		mc.Groups[g.Name] = gc
	}
	for _, p := range m.Peers {
		pc := msdp.PeerConfig{Address: p.Address, LocalAddress: p.LocalAddress, Group: p.Group, DefaultPeer: p.DefaultPeer,
			Import: slices.Clone(p.Import), Export: slices.Clone(p.Export), AuthenticationKey: p.AuthenticationKey}
		if pc.AuthenticationKey == "" {
			pc.AuthenticationKey = m.AuthenticationKey
		}
		if p.ActiveSourceLimit != nil {
			pc.ActiveSourceLimit = limit(p.ActiveSourceLimit)
		}
		mc.Peers = append(mc.Peers, pc)
	}
	for _, s := range m.LocalSources {
		mc.LocalSources = append(mc.LocalSources, msdp.LocalSource{Source: s.Source, Group: s.Group})
	}
	for name, ps := range c.Policies {
		pol := &msdp.Policy{Name: name}
		for _, t := range ps.Terms {
			term := msdp.Term{Name: t.Name, Group: filters(t.Group), Source: filters(t.Source), Originator: filters(t.RP)}
			switch {
			case t.Accept:
				term.Then = msdp.VerdictAccept
			case t.Reject:
				term.Then = msdp.VerdictReject
			default:
				term.Then = msdp.VerdictNext
			}
			pol.Terms = append(pol.Terms, term)
		}
		mc.Policies[name] = pol
	}
	if s := m.Server; s != nil {
		addr := s.Address
		if !addr.IsValid() {
			addr = mc.LocalAddress
		}
		if !addr.IsValid() {
			return mc, errors.New("msdp server: no address (set protocols msdp server address A, or a lo0 address)")
		}
		mc.Server = &msdp.ServerConfig{Address: addr, AcceptRPs: slices.Clone(s.AcceptRPs), AuthenticationKey: m.AuthenticationKey}
	}
	if g := m.GroupSpecific; g != nil {
		addr := g.LocalAddress
		if !addr.IsValid() && c.PIM.RPLocal != nil {
			addr = c.PIM.RPLocal.Address
		}
		if !addr.IsValid() {
			addr = mc.LocalAddress
		}
		if !addr.IsValid() {
			return mc, errors.New("msdp group-specific-peering: no address (an rp local address, a local-address or a lo0 address)")
		}
		mc.RP = &msdp.RPConfig{Address: addr, AuthenticationKey: m.AuthenticationKey}
	}
	return mc, mc.Validate()
}

func limit(l *config.SourceLimit) *msdp.Limit {
	return &msdp.Limit{Maximum: l.Maximum, Threshold: l.Threshold, LogWarning: l.LogWarning, LogInterval: time.Duration(l.LogInterval) * time.Second}
}

func filters(in []config.PrefixMatch) []msdp.PrefixFilter {
	var out []msdp.PrefixFilter
	for _, p := range in {
		f := msdp.PrefixFilter{Prefix: p.Prefix, Min: p.Min, Max: p.Max}
		switch p.Type {
		case "exact":
			f.Type = msdp.Exact
		case "orlonger":
			f.Type = msdp.OrLonger
		case "longer":
			f.Type = msdp.Longer
		default:
			f.Type = msdp.PrefixLengthRange
		}
		out = append(out, f)
	}
	return out
}

// Configure applies a configuration (loop only).
func (h *Host) Configure(c *config.Config) error {
	h.cfg = c
	if !c.MSDP.Enabled() {
		if h.e != nil {
			// MSDP removed: close every session.
			acts, _ := h.e.Reconfigure(h.now(), msdp.Config{}, nil)
			h.apply(acts)
			h.e = nil
		}
		return nil
	}
	mc, err := Config(c)
	if err != nil {
		return err
	}
	h.mc = mc
	now := h.now()
	if h.e == nil {
		e, err := msdp.New(mc, msdp.Options{Logger: h.log, RIB: ribAdapter{h.env.RIB}, Seed: uint64(now.UnixNano())}, now)
		if err != nil {
			return fmt.Errorf("msdp: %w", err)
		}
		h.e = e
		if h.started && !h.env.Standby {
			h.apply(h.e.Start(now, nil))
		}
	} else {
		acts, err := h.e.Reconfigure(now, mc, nil)
		if err != nil {
			return fmt.Errorf("msdp: %w", err)
		}
		h.apply(acts)
	}
	h.reschedule()
	return nil
}

// Start opens the transport (its goroutines end with ctx) and starts the
// peers. Call it once, from outside the loop.
func (h *Host) Start(ctx context.Context) error {
	t := msdpnet.New(ctx, msdpnet.Options{Port: h.env.Port, Logger: h.log.With("component", "msdp-transport"), Tap: h.env.Tap, Mirror: h.env.Mirror})
	eng := h.env.Engine
	go func() {
		for {
			select {
			case ev := <-t.Urgent():
				if eng.PostPriority(ctx, func() { h.handle(ev) }) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case ev := <-t.Events():
				if eng.PostWait(ctx, engine.Input{Kind: engine.InCall, Call: func() { h.handle(ev) }}) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return eng.Do(ctx, func() error {
		h.t = t
		h.started = true
		if h.e != nil && !h.env.Standby {
			h.apply(h.e.Start(h.now(), nil))
		}
		for _, ev := range h.pending {
			h.handle(ev)
		}
		h.pending = nil
		h.reschedule()
		return nil
	})
}

// Activate starts a standby engine's peers (non-stop routing: the backup
// became master; its adopted sessions continue).
func (h *Host) Activate() {
	h.env.Standby = false
	if h.e != nil && h.started {
		h.apply(h.e.Start(h.now(), nil))
		h.reschedule()
	}
}

// handle feeds one event to the engine (loop only).
func (h *Host) handle(ev msdp.Event) {
	if h.e == nil {
		return
	}
	if !h.started {
		if len(h.pending) < 4096 {
			h.pending = append(h.pending, ev)
		}
		return
	}
	if d, ok := ev.(msdp.ConnDown); ok && h.env.ConnDown != nil {
		h.env.ConnDown(d.Conn)
	}
	h.acts = h.e.Handle(h.now(), ev, h.acts[:0])
	h.apply(h.acts)
	h.reschedule()
}

// apply carries out the engine's actions: sockets by the transport, the
// rest by PIM.
func (h *Host) apply(acts []msdp.Action) {
	if h.t != nil {
		h.t.Apply(acts)
	}
	for _, a := range acts {
		switch a := a.(type) {
		case msdp.Close:
			if h.env.ConnDown != nil && !h.env.Standby {
				h.env.ConnDown(a.Conn)
			}
		case msdp.JoinSource:
			if h.env.PIM != nil {
				h.env.PIM.RemoteSource(a.Source, a.Group)
			}
		case msdp.DeliverData:
			if h.env.PIM != nil {
				h.env.PIM.Deliver(a.Source, a.Group, a.Packet)
			}
		}
	}
}

func (h *Host) reschedule() {
	if h.e == nil {
		return
	}
	next := h.e.NextDeadline()
	if next.IsZero() || (h.timer != nil && h.at.Equal(next)) {
		return
	}
	h.env.Engine.Stop(h.timer)
	h.at = next
	h.timer = h.env.Engine.AfterFunc(max(0, next.Sub(h.now())), func() {
		h.timer = nil
		if h.e == nil {
			return
		}
		h.acts = h.e.Expire(h.now(), h.acts[:0])
		h.apply(h.acts)
		h.reschedule()
	})
}

// Event hands a PIM or RIB event to the engine (loop only).
func (h *Host) Event(ev msdp.Event) { h.handle(ev) }

// RIBChanged tells the engine the unicast routes changed (loop only).
func (h *Host) RIBChanged([]rib.Change) { h.handle(msdp.RIBChanged{}) }

// Do runs fn with the engine (CLI) and carries out its actions (loop
// only).
func (h *Host) Do(fn func(e *msdp.Engine, now time.Time) []msdp.Action) error {
	if h.e == nil {
		return errors.New("msdp is not configured")
	}
	h.apply(fn(h.e, h.now()))
	h.reschedule()
	return nil
}
