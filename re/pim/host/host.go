// Package host runs the multicast routing protocols — the PIM-SM/SSM
// engine (re/pim) and the IGMP router (re/igmp) — inside the routing
// engine: it decodes the PIM and IGMP packets the line cards trap (through
// re/pktio) into the engines' events, encodes their send actions into
// packets, hands PIM's routes to the kernel as the PIM owner's
// contributions (re/kernel), feeds the kernel's events (new source, wrong
// interface, activity, link state) and the RIB's changes to the engine,
// performs the data-plane side of registers (a packet the pe- interface
// traps is encapsulated in a Register to the RP; at the RP a Register's
// packet is injected on pd- to follow the tree), and drives both engines'
// timers on the owner loop. It also runs graceful insertion and removal
// (re/pim/gir; gir.go): PFMs in and out, the engine's graceful window, and
// a make-before-break period after each graceful RPF change (settle.go).
//
// Concurrency: everything runs on the routing engine's owner loop
// (re/engine); nothing here is safe for concurrent use.
package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/gir"
	"github.com/mxfwd/mxfwd/re/pim/rpset"
	"github.com/mxfwd/mxfwd/re/pktio"
	"github.com/mxfwd/mxfwd/re/rib"
)

// The register interfaces, named as the modelled platform names them.
const (
	EncapInterface = "pe-0/0/0.32769"
	DecapInterface = "pd-0/0/0.32768"
)

// IP protocol numbers.
const (
	protoPIM  = 103
	protoIGMP = 2
)

// RIB is what the host needs of the unicast RIB.
type RIB interface {
	RPF(a netip.Addr) (rib.Result, bool)
}

// Env is the host's environment, all owned by the owner loop.
type Env struct {
	Kernel  *kernel.Kernel
	Engine  *engine.Engine
	Packets *pktio.Dispatcher
	RIB     RIB
	// Inject hands a frame to the PFE as received on ifl (forward) or
	// sends it out of ifl.
	Inject func(ifl string, frame []byte, forward bool) error
	Logger *slog.Logger
	// Seed makes the PIM engine's randomness (generation IDs, jitter)
	// reproducible in tests; zero: from the clock.
	Seed [2]uint64
	// MSDP receives what MSDP needs of PIM (nil: none).
	MSDP MSDPHooks
}

// MSDPHooks are PIM's outputs to MSDP (RFC 3618 §3; seed 001).
type MSDPHooks interface {
	// LocalSource: Source of Group became active (or not) at this router
	// as RP rp: it registered here, or is directly connected to this RP.
	LocalSource(source, group, rp netip.Addr, active bool)
	// StarG: (*,G) state with receivers appeared (joined) or went at this
	// RP.
	StarG(group netip.Addr, joined bool)
	// RPSet: the RP-set changed (bootstrap, with the S-bits).
	RPSet(hashMaskLen int, set []rpset.Candidate)
}

// Stats are the host's own counters (the engines keep theirs).
type Stats struct {
	PIMReceived     uint64            `json:"pim-received"`
	PIMBad          map[string]uint64 `json:"pim-bad"`
	PIMSent         uint64            `json:"pim-sent"`
	PIMSendErrors   uint64            `json:"pim-send-errors"`
	IGMPReceived    uint64            `json:"igmp-received"`
	IGMPBad         map[string]uint64 `json:"igmp-bad"`
	IGMPSent        uint64            `json:"igmp-sent"`
	RegistersSent   uint64            `json:"registers-sent"`
	RegistersDecap  uint64            `json:"registers-decapsulated"`
	EncapNoRoute    uint64            `json:"encap-without-register-route"`
	KernelErrors    uint64            `json:"kernel-errors"`
	NotPIMInterface uint64            `json:"pim-on-non-pim-interface"`
	// PFMOriginated and PFMForwarded count PFM packets sent (one per
	// interface) that we originated or forwarded (graceful insertion and
	// removal, gir.go).
	PFMOriginated uint64 `json:"pfm-originated"`
	PFMForwarded  uint64 `json:"pfm-forwarded"`
	// GracefulSettles counts graceful RPF changes whose entry accepted on
	// any interface for GracefulSettle after the switch (settle.go).
	GracefulSettles uint64 `json:"graceful-settles"`
	// HeldMessages counts messages held back GracefulPruneDelay after a
	// graceful switch (settle.go).
	HeldMessages uint64 `json:"held-messages"`
}

// Host hosts PIM and IGMP.
type Host struct {
	env  Env
	log  *slog.Logger
	now  func() time.Time
	pim  *pim.Engine
	igmp *igmp.Router
	cfg  *config.Config

	byName  map[string]hal.IFLIndex
	byIndex map[hal.IFLIndex]ifState

	// routes are PIM's routes as last handed to the kernel, for the
	// register data path.
	routes map[pim.SG]pim.Route
	// sources indexes the (S,G) routes by group: their kernel exclusions
	// follow the group's (*,G) route.
	sources map[netip.Addr]map[netip.Addr]struct{}
	// members tracks IGMP memberships passed to PIM, to clear what goes.
	members map[memberKey]igmp.Membership

	// gir is graceful insertion and removal (gir.go); girMaint the
	// maintenance statement last applied.
	gir      *gir.Controller
	girMaint *config.GIRMaintenance
	// settling are the entries in their make-before-break period after a
	// graceful RPF change (settle.go).
	settling map[pim.SG]settlePeriod
	held     []heldMessage

	timer    *engine.Timer
	timerAt  time.Time
	stats    Stats
	warnings map[string]time.Time

	// MSDP's view: sources active at this RP (last register or
	// activity), and the groups with (*,G) receivers here.
	localSources map[pim.SG]localSource
	starJoined   map[netip.Addr]bool
	sweep        *engine.Timer

	// helloLost are the interfaces whose last Hello went nowhere because
	// their line card was not connected (CardConnected).
	helloLost map[hal.IFLIndex]struct{}

	// Non-stop routing (replica.go): the master records every input; a
	// replica replays them and neither sends nor touches the kernel.
	clock     func() time.Time
	rec       Recorder
	recording *Input
	replica   bool
	replaying *Input
}

type localSource struct {
	rp   netip.Addr
	seen time.Time
}

type ifState struct {
	name string
	addr netip.Prefix
	up   bool
}

type memberKey struct {
	iface hal.IFLIndex
	group netip.Addr
}

// New returns a host; Configure starts the engines.
func New(env Env) *Host {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{
		env: env, log: env.Logger, now: env.Engine.Clock().Now, clock: env.Engine.Clock().Now,
		byName: map[string]hal.IFLIndex{}, byIndex: map[hal.IFLIndex]ifState{},
		routes: map[pim.SG]pim.Route{}, members: map[memberKey]igmp.Membership{}, settling: map[pim.SG]settlePeriod{},
		sources:      map[netip.Addr]map[netip.Addr]struct{}{},
		igmp:         igmp.NewRouter(),
		warnings:     map[string]time.Time{},
		localSources: map[pim.SG]localSource{},
		starJoined:   map[netip.Addr]bool{},
		helloLost:    map[hal.IFLIndex]struct{}{},
	}
	h.stats.PIMBad, h.stats.IGMPBad = map[string]uint64{}, map[string]uint64{}
	env.Packets.Register(protoPIM, h.onPIM)
	env.Packets.Register(protoIGMP, h.onIGMP)
	env.Packets.RegisterTrap(hal.TrapEncap, h.onEncap)
	return h
}

// Engine returns the PIM engine (nil before Configure with PIM enabled).
func (h *Host) Engine() *pim.Engine { return h.pim }

// IGMP returns the IGMP router.
func (h *Host) IGMP() *igmp.Router { return h.igmp }

// Stats returns the host's counters.
func (h *Host) Stats() Stats {
	s := h.stats
	s.PIMBad, s.IGMPBad = clone(h.stats.PIMBad), clone(h.stats.IGMPBad)
	return s
}

func clone(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// warn logs once per key and minute (peers control how often bad input
// arrives).
func (h *Host) warn(key, msg string, args ...any) {
	now := h.now()
	if t, ok := h.warnings[key]; ok && now.Sub(t) < time.Minute {
		return
	}
	if len(h.warnings) > 4096 {
		clear(h.warnings)
	}
	h.warnings[key] = now
	h.log.Warn(msg, args...)
}

// refreshInterfaces rebuilds the name/index map from the kernel.
func (h *Host) refreshInterfaces() {
	clear(h.byName)
	clear(h.byIndex)
	for _, f := range h.env.Kernel.Interfaces() {
		h.byName[f.Name] = f.Index
		h.byIndex[f.Index] = ifState{name: f.Name, addr: f.Addr, up: f.Up}
	}
}

func (h *Host) index(name string) hal.IFLIndex { return h.byName[name] }

func (h *Host) name(i pim.IfIndex) string { return h.byIndex[hal.IFLIndex(i)].name }

// pimConfig maps the configuration onto the engine's.
func (h *Host) pimConfig(c *config.Config) pim.Config {
	var pc pim.Config
	for _, pi := range c.PIM.Interfaces {
		idx := h.index(pi.Name)
		if idx == 0 {
			continue
		}
		pc.Interfaces = append(pc.Interfaces, pim.InterfaceConfig{Index: pim.IfIndex(idx), Name: pi.Name,
			DRPriority: pi.Priority, HelloInterval: time.Duration(pi.HelloInterval) * time.Second})
	}
	for _, a := range c.LoopbackAddresses() {
		pc.RouterAddresses = append(pc.RouterAddresses, a.Addr())
	}
	for _, r := range c.PIM.RPStatic {
		pc.StaticRPs = append(pc.StaticRPs, pim.StaticRP{Addr: r.Address, Groups: slices.Clone(r.GroupRanges)})
	}
	if r := c.PIM.RPLocal; r != nil {
		pc.LocalRP = &pim.StaticRP{Addr: r.Address, Groups: slices.Clone(r.GroupRanges)}
		if !slices.Contains(pc.RouterAddresses, r.Address) {
			pc.RouterAddresses = append(pc.RouterAddresses, r.Address)
		}
	}
	if b := c.PIM.Bootstrap; b != nil {
		addr := h.routerAddress(c)
		if addr.IsValid() {
			pc.BSR = &pim.BSRCandidate{Addr: addr, Priority: uint8(b.Priority)}
			if p := time.Duration(c.PIM.Timers.BootstrapPeriod) * time.Second; p > 0 {
				// RFC 5059 §5: BS_Timeout is 2 x BS_Period + 10 s.
				pc.BSR.BSPeriod, pc.BSR.BSTimeout = p, 2*p+10*time.Second
			}
			if r := c.PIM.RPLocal; r != nil {
				pc.CandidateRP = &pim.CandidateRP{Addr: r.Address, Groups: slices.Clone(r.GroupRanges)}
			}
		}
	}
	if sv := c.MSDP.Server; sv != nil {
		// Seed 001 §3, §5: the MSDP server is a candidate RP for 224/4
		// with the lowest priority (255) and the S-bit.
		addr := sv.Address
		if !addr.IsValid() {
			addr = h.routerAddress(c)
		}
		if addr.IsValid() {
			pc.CandidateRP = &pim.CandidateRP{Addr: addr, Groups: []netip.Prefix{netip.MustParsePrefix("224.0.0.0/4")}, Priority: 255, SBit: true}
			if !slices.Contains(pc.RouterAddresses, addr) {
				pc.RouterAddresses = append(pc.RouterAddresses, addr)
			}
		}
	}
	pc.Timers.RegisterSuppression = time.Duration(c.PIM.Timers.RegisterSuppression) * time.Second
	pc.Timers.RegisterProbe = time.Duration(c.PIM.Timers.RegisterProbe) * time.Second
	pc.Timers.Keepalive = time.Duration(c.PIM.Timers.Keepalive) * time.Second
	pc.SPTThresholdInfinity = c.PIM.SPTThresholdInfinity
	pc.SSMRanges = slices.Clone(c.PIM.SSMGroups)
	return pc
}

// routerAddress is the router's identity for BSR: the first loopback
// address, else the first PIM interface's address.
func (h *Host) routerAddress(c *config.Config) netip.Addr {
	if lo := c.LoopbackAddresses(); len(lo) > 0 {
		return lo[0].Addr()
	}
	for _, pi := range c.PIM.Interfaces {
		if u := c.UnitOf(pi.Name); u != nil && u.Address.IsValid() {
			return u.Address.Addr()
		}
	}
	return netip.Addr{}
}

// Configure applies a configuration (loop only): the PIM engine is
// created or reconfigured, interfaces are brought up with their addresses,
// and IGMP runs on its interfaces with the static groups.
func (h *Host) Configure(c *config.Config) error {
	h.refreshInterfaces()
	h.cfg = c
	if h.replica {
		// The master's configure arrives as an input, at its time.
		return nil
	}
	defer h.record(&Input{Kind: InConfigure})()
	return h.configure(c)
}

func (h *Host) configure(c *config.Config) error {
	now := h.now()
	var errs []error
	if c.PIM.Enabled() {
		pc := h.pimConfig(c)
		if h.pim == nil {
			seed := h.env.Seed
			if seed == [2]uint64{} {
				seed = [2]uint64{uint64(now.UnixNano()), 0x6d78667764}
			}
			e, err := pim.New(pc, pim.Options{Seed: seed, RPF: pim.RPFLookupFunc(h.lookupRPF), Logger: h.log}, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("pim: %w", err))
			} else {
				h.pim = e
			}
		} else {
			acts, err := h.pim.SetConfig(now, pc)
			if err != nil {
				errs = append(errs, fmt.Errorf("pim: %w", err))
			}
			h.run(acts)
		}
		if h.pim != nil {
			for _, ic := range pc.Interfaces {
				h.run(h.pim.Handle(now, h.interfaceEvent(hal.IFLIndex(ic.Index))))
			}
		}
	} else if h.pim != nil {
		// PIM removed: withdraw its state.
		for k := range h.routes {
			h.kernelUpdate([]kernel.Change{{Owner: kernel.OwnerPIM, Entry: entryOf(k)}})
		}
		clear(h.routes)
		clear(h.sources)
		clear(h.settling)
		h.held = nil
		h.pim = nil
	}
	errs = append(errs, h.configureGIR(c, now))
	errs = append(errs, h.configureIGMP(c, now))
	h.reschedule()
	return errors.Join(errs...)
}

// interfaceEvent is the engine's view of an interface's state now.
func (h *Host) interfaceEvent(i hal.IFLIndex) pim.Event {
	st, ok := h.byIndex[i]
	if !ok || !st.up || !st.addr.IsValid() {
		return pim.InterfaceDown{If: pim.IfIndex(i)}
	}
	return pim.InterfaceUp{If: pim.IfIndex(i), Addr: st.addr.Addr(), Prefixes: []netip.Prefix{st.addr.Masked()}}
}

func (h *Host) configureIGMP(c *config.Config, now time.Time) error {
	want := map[hal.IFLIndex]config.IGMPInterface{}
	for _, gi := range c.IGMP.Interfaces {
		if idx := h.index(gi.Name); idx != 0 {
			want[idx] = gi
		}
	}
	var errs []error
	for _, idx := range h.igmp.Interfaces() {
		if _, ok := want[idx]; !ok {
			acts, _ := h.igmp.Remove(now, idx)
			h.runIGMP(acts)
		}
	}
	for idx, gi := range want {
		st := h.byIndex[idx]
		statics := igmpStatics(c, gi.Name)
		if s := h.igmp.Interface(idx); s != nil {
			acts, _ := h.igmp.Step(now, idx, igmp.SetStatic{Static: statics})
			h.runIGMP(acts)
			continue
		}
		v := uint8(gi.Version)
		if v == 0 {
			v = 3
		}
		ic := igmp.Config{Iface: idx, Address: st.addr.Addr(), Version: v, Static: statics, SSM: c.PIM.SSMGroups}
		if len(ic.SSM) == 0 {
			ic.SSM = igmp.DefaultSSM
		}
		if _, err := h.igmp.Add(ic); err != nil {
			errs = append(errs, fmt.Errorf("igmp interface %s: %w", gi.Name, err))
			continue
		}
		if st.up && st.addr.IsValid() {
			acts, _ := h.igmp.Step(now, idx, igmp.Start{})
			h.runIGMP(acts)
		}
	}
	return errors.Join(errs...)
}

// igmpStatics groups the configuration's static groups of an interface.
func igmpStatics(c *config.Config, ifl string) []igmp.Static {
	var out []igmp.Static
	idx := map[netip.Addr]int{}
	for _, j := range c.IGMP.Static {
		if j.Interface != ifl {
			continue
		}
		i, ok := idx[j.Group]
		if !ok {
			i = len(out)
			idx[j.Group] = i
			out = append(out, igmp.Static{Group: j.Group})
		}
		if j.Source.IsValid() {
			out[i].Sources = append(out[i].Sources, j.Source)
		}
	}
	return out
}

// lookupRPF is the engine's view of the RIB.
func (h *Host) lookupRPF(a netip.Addr) pim.RPF {
	if r, ok := h.replayedRPF(a); ok {
		return r
	}
	r := h.ribRPF(a)
	if h.recording != nil {
		h.recording.RPF = append(h.recording.RPF, RPFAnswer{Addr: a, RPF: r})
	}
	return r
}

func (h *Host) ribRPF(a netip.Addr) pim.RPF {
	res, ok := h.env.RIB.RPF(a)
	if !ok {
		return pim.RPF{}
	}
	idx := h.index(res.Interface)
	if idx == 0 {
		return pim.RPF{}
	}
	r := pim.RPF{Iface: pim.IfIndex(idx), Preference: res.Preference, Metric: res.Metric}
	if !res.Connected {
		r.NextHop = res.Neighbor
	}
	return r
}

// RIBChanged feeds route changes to the engine (loop only).
func (h *Host) RIBChanged(cs []rib.Change) {
	if h.pim == nil || h.ignored() {
		return
	}
	in := &Input{Kind: InRIB}
	defer h.record(in)()
	now := h.now()
	for _, c := range cs {
		p := c.Prefix
		if !p.IsValid() {
			if c.New.Found() {
				p = c.New.Prefix
			} else {
				p = c.Old.Prefix
			}
		}
		if p.IsValid() {
			in.Prefixes = append(in.Prefixes, p)
		}
	}
	h.ribChanged(now, in.Prefixes)
}

func (h *Host) ribChanged(now time.Time, ps []netip.Prefix) {
	for _, p := range ps {
		h.run(h.pim.Handle(now, pim.RIBChange{Prefix: p}))
	}
	h.reschedule()
}

// KernelEvents feeds the kernel's events to the engines (loop only).
func (h *Host) KernelEvents(evs []kernel.Event) {
	if h.ignored() {
		return
	}
	evs = relevantEvents(evs)
	if len(evs) == 0 {
		return
	}
	defer h.record(&Input{Kind: InKernel, Kernel: evs})()
	h.kernelEvents(evs)
}

func (h *Host) kernelEvents(evs []kernel.Event) {
	now := h.now()
	for _, ev := range evs {
		switch ev.Kind {
		case kernel.EventInterface:
			h.refreshInterfaces()
			name := ev.Interface
			if _, logical, ok := h.env.Kernel.InterfaceByName(name); ok {
				name = logical
			}
			idx := h.index(name)
			if h.pim != nil {
				if _, ok := h.cfg.PIM.Interface(name); ok {
					h.run(h.pim.Handle(now, h.interfaceEvent(idx)))
				}
			}
			if h.igmp.Interface(idx) != nil {
				var e igmp.Event = igmp.Stop{}
				if st := h.byIndex[idx]; st.up {
					e = igmp.Start{}
				}
				acts, _ := h.igmp.Step(now, idx, e)
				h.runIGMP(acts)
			}
		}
		if h.pim == nil {
			continue
		}
		switch ev.Kind {
		case kernel.EventNewSource:
			_, acts := h.pim.Resolve(now, ev.Entry.Source, ev.Entry.Group, pim.IfIndex(h.index(ev.Interface)))
			h.run(acts)
			h.directSource(ev.Entry.Source, ev.Entry.Group, now)
		case kernel.EventWrongInterface:
			h.run(h.pim.Handle(now, pim.WrongInterface{If: pim.IfIndex(h.index(ev.Interface)), Source: ev.Entry.Source, Group: ev.Entry.Group}))
		case kernel.EventActivity:
			h.run(h.pim.Handle(now, pim.DataActivity{Source: ev.Entry.Source, Group: ev.Entry.Group}))
			h.directSource(ev.Entry.Source, ev.Entry.Group, now)
		}
	}
	h.reschedule()
}

// reschedule arms the loop timer for the engines' next deadline.
func (h *Host) reschedule() {
	if h.replica {
		return
	}
	var next time.Time
	if h.pim != nil {
		next = h.pim.NextDeadline()
	}
	if t, ok := h.igmp.NextDeadline(); ok && (next.IsZero() || t.Before(next)) {
		next = t
	}
	if h.gir != nil {
		if t := h.gir.NextDeadline(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if t := h.settleDeadline(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t
	}
	if next.IsZero() {
		return
	}
	if h.timer != nil && h.timerAt.Equal(next) {
		return
	}
	h.env.Engine.Stop(h.timer)
	h.timerAt = next
	h.timer = h.env.Engine.AfterFunc(max(0, next.Sub(h.now())), h.tick)
}

func (h *Host) tick() {
	h.timer = nil
	if h.replica {
		return
	}
	defer h.record(&Input{Kind: InTick})()
	h.advance()
}

func (h *Host) advance() {
	now := h.now()
	if h.pim != nil && !h.pim.NextDeadline().After(now) {
		h.run(h.pim.Advance(now))
	}
	h.runIGMP(h.igmp.Tick(now))
	if h.gir != nil {
		h.runGIR(h.gir.Advance(now))
	}
	h.endSettles(now)
	h.reschedule()
}

// Do runs fn with the engine (for show and clear commands) and executes
// the actions it returns (loop only).
func (h *Host) Do(fn func(e *pim.Engine, now time.Time) []pim.Action) error {
	if h.pim == nil {
		return errors.New("pim is not configured")
	}
	h.run(fn(h.pim, h.now()))
	h.reschedule()
	return nil
}

// entryOf is the kernel entry of a PIM key.
func entryOf(k pim.SG) kernel.Entry {
	if k.IsStarG() {
		return kernel.StarG(k.Group)
	}
	return kernel.SGEntry(k.Source, k.Group)
}

// LocalSourceLifetime is how long a source stays active for MSDP after its
// last Register or packet: the (S,G) keepalive period (RFC 7761 §4.11,
// 210 s), as MSDP originates SAs while the RP's KAT runs (RFC 3618 §3).
const LocalSourceLifetime = 210 * time.Second

// registered records a source that registered at this RP.
func (h *Host) registered(s, g, rp netip.Addr, now time.Time) {
	h.markLocal(pim.SG{Source: s, Group: g}, rp, now)
}

// directSource records a directly connected source at this router when it
// is the RP for the group (no Register on the wire).
func (h *Host) directSource(s, g netip.Addr, now time.Time) {
	if h.env.MSDP == nil || h.pim == nil {
		return
	}
	rp, local, ok := h.pim.RP(g, now)
	if !ok || !local {
		return
	}
	res, found := h.env.RIB.RPF(s)
	if !found || !res.Connected {
		return
	}
	h.markLocal(pim.SG{Source: s, Group: g}, rp, now)
}

func (h *Host) markLocal(k pim.SG, rp netip.Addr, now time.Time) {
	if h.env.MSDP == nil {
		return
	}
	_, had := h.localSources[k]
	h.localSources[k] = localSource{rp: rp, seen: now}
	if !had {
		h.env.MSDP.LocalSource(k.Source, k.Group, rp, true)
	}
	if h.sweep == nil {
		h.sweep = h.env.Engine.AfterFunc(LocalSourceLifetime/7, h.sweepLocal)
	}
}

// sweepLocal ends the sources not seen for LocalSourceLifetime.
func (h *Host) sweepLocal() {
	h.sweep = nil
	now := h.now()
	for k, ls := range h.localSources {
		if now.Sub(ls.seen) >= LocalSourceLifetime {
			delete(h.localSources, k)
			h.env.MSDP.LocalSource(k.Source, k.Group, ls.rp, false)
		}
	}
	if len(h.localSources) > 0 {
		h.sweep = h.env.Engine.AfterFunc(LocalSourceLifetime/7, h.sweepLocal)
	}
}

// starChanged tells MSDP when (*,G) receivers appear or go at this RP.
func (h *Host) starChanged(r pim.Route, gone bool) {
	if h.env.MSDP == nil || h.pim == nil {
		return
	}
	joined := !gone && len(r.OIL) > 0
	if joined {
		if _, local, ok := h.pim.RP(r.Group, h.now()); !ok || !local {
			joined = false
		}
	}
	if h.starJoined[r.Group] == joined {
		return
	}
	if joined {
		h.starJoined[r.Group] = true
	} else {
		delete(h.starJoined, r.Group)
	}
	h.env.MSDP.StarG(r.Group, joined)
}

// RemoteSource feeds an MSDP-learned source to the engine (loop only).
func (h *Host) RemoteSource(s, g netip.Addr) {
	if h.pim == nil || h.ignored() {
		return
	}
	defer h.record(&Input{Kind: InRemoteSource, Source: s, Group: g})()
	h.run(h.pim.Handle(h.now(), pim.RemoteSource{Source: s, Group: g}))
	h.reschedule()
}

// Deliver forwards a data packet carried in an SA down the tree, as a
// decapsulated Register (loop only).
func (h *Host) Deliver(s, g netip.Addr, pkt []byte) {
	if h.replica {
		return
	}
	h.forwardDecap(s, g, pkt)
}
