package msdp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// ErrNoPeer is returned for an address that is not a peer.
var ErrNoPeer = errors.New("no such MSDP peer")

// Options are the engine's injected dependencies.
type Options struct {
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// RIB answers peer-RPF lookups; nil means no routes (only rules that
	// need none apply).
	RIB RIB
	// Seed seeds the engine's random numbers (SA-Advertisement jitter,
	// random early drop above the active-source threshold), so that a
	// run is reproducible.
	Seed uint64
}

// GlobalStats are the engine-wide counters.
type GlobalStats struct {
	// ActiveSourceExceeded counts SAs refused by the global limit.
	ActiveSourceExceeded uint64 `json:"active-source-exceeded"`
	// Originated counts SA entries this router advertised for its own
	// sources.
	Originated uint64 `json:"sa-entries-originated"`
	// Expired counts cache entries whose SA-State timer expired.
	Expired uint64 `json:"sa-entries-expired"`
}

// localSA is a source this router originates SAs for.
type localSA struct {
	source, group, rp netip.Addr
	created           int64
	nextAdv           int64
	fromPIM           bool
	fromConfig        bool
}

// Engine is one MSDP instance: every peer's state machine, the SA cache,
// origination, peer-RPF, flooding, limits, policies and seed 001's roles.
// It is a deterministic function of its inputs: events (Handle), the
// clock (Expire with the time passed in) and management calls; it does
// no I/O and starts no goroutine. The owner goroutine calls everything;
// an Engine is not safe for concurrent use.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	rib  RIB
	rand *rand.Rand
	t0   time.Time

	peers           []*peer // by index; nil slots are free
	byAddr          map[netip.Addr]*peer
	order           []*peer // configured peers in configuration order, then internal ones
	configuredPeers int

	cache    saCache
	limit    Limit
	locals   map[saKey]*localSA
	advAt    int64
	starG    map[uint32]struct{}
	rpfCache map[rpfKey]RPFRule
	// The last peer-RPF result, checked before the map.
	rpfLastKey rpfKey
	rpfLast    RPFRule
	rpfLastOK  bool
	own        map[netip.Addr]bool

	gsp gspState

	stats       GlobalStats
	limitLogAt  int64
	statsSince  int64
	started     bool
	fwd         []entry
	pending     []pendingFlood
	pendIdx     map[netip.Addr]int
	rpBuckets   map[netip.Addr][]entry
	entriesPool []entry
}

// New returns an engine for cfg. now is the engine's epoch; Start brings
// the peers up.
func New(cfg Config, opt Options, now time.Time) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:       cfg.withDefaults(),
		log:       log,
		rib:       opt.RIB,
		rand:      rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x6d736470)),
		t0:        now,
		byAddr:    map[netip.Addr]*peer{},
		cache:     newSACache(),
		locals:    map[saKey]*localSA{},
		starG:     map[uint32]struct{}{},
		rpfCache:  map[rpfKey]RPFRule{},
		rpBuckets: map[netip.Addr][]entry{},
		pendIdx:   map[netip.Addr]int{},
	}
	e.gsp = newGSPState()
	e.applyConfig(now)
	return e, nil
}

// Start enables every peer (RFC 3618 §11 E1) and the configured local
// sources. Until Start an engine is a standby: it opens and accepts
// nothing, but adopts sessions handed over with ConnUp{Adopted} (non-stop
// routing); Start then enables the peers that have no session.
func (e *Engine) Start(now time.Time, out []Action) []Action {
	t := e.ns(now)
	e.started = true
	for _, p := range e.order {
		if !p.cfg.Disable && p.state == StateDisabled {
			out = e.peerInput(p, input{kind: inStart}, t, out)
		}
	}
	return e.syncConfiguredSources(t, out)
}

// Handle processes one event and appends the resulting actions to out.
func (e *Engine) Handle(now time.Time, ev Event, out []Action) []Action {
	t := e.ns(now)
	switch ev := ev.(type) {
	case ConnUp:
		if p := e.byAddr[ev.Peer]; p != nil {
			return e.peerInput(p, input{kind: inConnUp, conn: ev.Conn, active: ev.Active, adopted: ev.Adopted}, t, out)
		}
		return append(out, Close{Peer: ev.Peer, Conn: ev.Conn, Reason: "not a configured peer"})
	case ConnDown:
		if p := e.byAddr[ev.Peer]; p != nil && p.conn == ev.Conn {
			return e.peerInput(p, input{kind: inConnDown, conn: ev.Conn, remote: ev.Remote, reason: ev.Reason}, t, out)
		}
	case DialFailed:
		if p := e.byAddr[ev.Peer]; p != nil {
			reason := "connect failed"
			if ev.Err != nil {
				reason = ev.Err.Error()
			}
			return e.peerInput(p, input{kind: inDialFailed, reason: reason}, t, out)
		}
	case Received:
		if p := e.byAddr[ev.Peer]; p != nil && p.state == StateEstablished && p.conn == ev.Conn {
			return e.receive(p, ev, t, out)
		}
	case Alive:
		if p := e.byAddr[ev.Peer]; p != nil && p.state == StateEstablished && p.conn == ev.Conn {
			p.lastHeard = max(p.lastHeard, e.ns(ev.At))
		}
	case Drained:
		if p := e.byAddr[ev.Peer]; p != nil && p.state == StateEstablished && p.conn == ev.Conn && p.dump.active {
			return e.dumpStep(p, t, out)
		}
	case LocalSourceEvent:
		return e.localSource(ev, t, out)
	case StarGEvent:
		return e.starGEvent(ev, t, out)
	case RPSetEvent:
		return e.rpSet(ev, t, out)
	case RIBChanged:
		e.clearRPF()
	}
	return out
}

// NextDeadline is when Expire has work next; the zero time if nothing is
// scheduled.
func (e *Engine) NextDeadline() time.Time {
	var next int64
	take := func(t int64) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	for _, p := range e.peers {
		if p != nil {
			take(e.peerDeadline(p))
		}
	}
	if e.cache.head >= 0 {
		take(max(1, e.cache.at(e.cache.head).refreshed+int64(e.cfg.SAHoldTime)))
	}
	take(e.advAt)
	if next == 0 {
		return time.Time{}
	}
	return e.timeOf(next)
}

// Expire runs every timer due at now: ConnectRetry, KeepAlive and Hold
// per peer, the SA-State timers of the cache, and the SA-Advertisement
// of local sources.
func (e *Engine) Expire(now time.Time, out []Action) []Action {
	t := e.ns(now)
	for _, p := range e.peers {
		if p != nil && p.state >= StateConnecting {
			out = e.peerTimers(p, t, out)
		}
	}
	out = e.expireCache(t, out)
	if e.advAt != 0 && t >= e.advAt {
		out = e.advertise(t, out)
	}
	return out
}

// applyConfig builds the peers of e.cfg (first configuration).
func (e *Engine) applyConfig(now time.Time) {
	t := e.ns(now)
	e.limit = *e.cfg.ActiveSourceLimit
	for _, pc := range e.cfg.Peers {
		e.addPeer(pc, false, t)
	}
	e.configuredPeers = len(e.cfg.Peers)
	e.refreshOwn()
}

func (e *Engine) refreshOwn() {
	e.own = map[netip.Addr]bool{}
	for _, a := range []netip.Addr{e.cfg.OriginatorID, e.cfg.LocalAddress} {
		if a.IsValid() {
			e.own[a] = true
		}
	}
	for _, p := range e.cfg.Peers {
		if l := e.cfg.localAddress(p); l.IsValid() {
			e.own[l] = true
		}
	}
	if e.cfg.Server != nil {
		e.own[e.cfg.Server.Address] = true
	}
	if e.cfg.RP != nil {
		e.own[e.cfg.RP.Address] = true
	}
	for _, l := range e.locals {
		e.own[l.rp] = true
	}
}

// addPeer creates a peer in state StateDisabled.
func (e *Engine) addPeer(pc PeerConfig, internal bool, now int64) *peer {
	idx := int32(slices.Index(e.peers, nil))
	if idx < 0 {
		idx = int32(len(e.peers))
		e.peers = append(e.peers, nil)
	}
	p := &peer{idx: idx, addr: pc.Address, internal: internal, since: now}
	e.configurePeer(p, pc)
	e.peers[idx] = p
	e.byAddr[p.addr] = p
	e.order = append(e.order, p)
	if internal {
		e.sortOrder()
	}
	return p
}

// sortOrder keeps configured peers first in configuration order.
func (e *Engine) sortOrder() {
	pos := map[netip.Addr]int{}
	for i, pc := range e.cfg.Peers {
		pos[pc.Address] = i
	}
	slices.SortStableFunc(e.order, func(a, b *peer) int {
		if a.internal != b.internal {
			if a.internal {
				return 1
			}
			return -1
		}
		if !a.internal {
			return cmp.Compare(pos[a.addr], pos[b.addr])
		}
		return a.addr.Compare(b.addr)
	})
}

// configurePeer applies pc to p (everything but its session).
func (e *Engine) configurePeer(p *peer, pc PeerConfig) {
	p.cfg = pc
	if !p.internal {
		p.local = e.cfg.localAddress(pc)
		p.key = e.cfg.key(pc)
		p.group = pc.Group
		p.mesh = e.cfg.meshGroup(pc)
		g := e.cfg.Groups[pc.Group]
		p.importChain = e.cfg.policies(pc.Import, g.Import, e.cfg.Import)
		p.exportChain = e.cfg.policies(pc.Export, g.Export, e.cfg.Export)
		// RFC 3618 §11: the higher address listens, the lower connects.
		p.active = p.local.Compare(p.addr) < 0
	} else {
		p.local, p.key = pc.LocalAddress, pc.AuthenticationKey
	}
	p.limit = pc.ActiveSourceLimit
}

// removePeer stops p and forgets it with its SAs.
func (e *Engine) removePeer(p *peer, now int64, reason string, out []Action) []Action {
	out = e.peerInput(p, input{kind: inStop, reason: reason}, now, out)
	out = e.purgePeer(p, now, out)
	e.peers[p.idx] = nil
	delete(e.byAddr, p.addr)
	e.order = slices.DeleteFunc(e.order, func(q *peer) bool { return q == p })
	e.clearRPF()
	return out
}

// purgePeer removes the SAs learnt from p.
func (e *Engine) purgePeer(p *peer, now int64, out []Action) []Action {
	for i := int32(0); i < e.cache.slots; i++ {
		en := e.cache.at(i)
		if en.flags&flagLive != 0 && en.peer == p.idx {
			out = e.dropEntry(int32(i), out)
		}
	}
	return out
}

// Reconfigure applies a new configuration as a diff: peers added,
// removed (with their SAs) or changed; a peer whose addresses or key
// changed restarts its session, other changes (policies, limits, mesh
// groups) apply at once. Timers apply from their next start.
func (e *Engine) Reconfigure(now time.Time, cfg Config, out []Action) ([]Action, error) {
	if err := cfg.Validate(); err != nil {
		return out, err
	}
	t := e.ns(now)
	old := e.cfg
	e.cfg = cfg.withDefaults()
	e.limit = *e.cfg.ActiveSourceLimit
	want := map[netip.Addr]PeerConfig{}
	for _, pc := range e.cfg.Peers {
		want[pc.Address] = pc
	}
	for _, p := range slices.Clone(e.order) {
		if p.internal {
			continue
		}
		pc, ok := want[p.addr]
		if !ok {
			out = e.removePeer(p, t, "peer removed from the configuration", out)
			continue
		}
		restart := !old.samePeerSession(&e.cfg, p.cfg, pc)
		e.configurePeer(p, pc)
		if restart {
			out = e.peerInput(p, input{kind: inStop, reason: "session parameters changed"}, t, out)
			if !pc.Disable && e.started {
				out = e.peerInput(p, input{kind: inStart}, t, out)
			}
		}
	}
	for _, pc := range e.cfg.Peers {
		if e.byAddr[pc.Address] == nil || e.byAddr[pc.Address].internal {
			if q := e.byAddr[pc.Address]; q != nil {
				out = e.removePeer(q, t, "now a configured peer", out)
			}
			p := e.addPeer(pc, false, t)
			if !pc.Disable && e.started {
				out = e.peerInput(p, input{kind: inStart}, t, out)
			}
		}
	}
	e.configuredPeers = len(e.cfg.Peers)
	e.sortOrder()
	e.clearRPF()
	// Import policies may have changed: re-judge the cache.
	for i := int32(0); i < e.cache.slots; i++ {
		en := e.cache.at(i)
		if en.flags&flagLive == 0 || en.peer < 0 {
			continue
		}
		p := e.peers[en.peer]
		ok := accepts(p.importChain, addrOf(en.key.group()), addrOf(en.key.source()), addrOf(en.rp))
		if ok == (en.flags&flagRejected == 0) {
			continue
		}
		if ok {
			en.flags &^= flagRejected
			p.saAccepted++
		} else {
			en.flags |= flagRejected
			p.saAccepted--
			if en.flags&flagJoined != 0 {
				en.flags &^= flagJoined
				out = append(out, SourceGone{Source: addrOf(en.key.source()), Group: addrOf(en.key.group())})
			}
		}
	}
	e.refreshOwn()
	out = e.syncConfiguredSources(t, out)
	out = e.gspReconcile(t, out)
	return out, nil
}

// Config returns the configuration in force (timers with their defaults).
func (e *Engine) Config() Config { return e.cfg }

// ClearPeer resets the session of peer addr (every peer if addr is the
// zero Addr) and deletes the SAs learnt from it and its statistics
// (`clear msdp peer [A]`). Like every clear command it acts on this
// engine only: a backup routing engine keeps its own state (seed 000
// §6.c).
func (e *Engine) ClearPeer(now time.Time, addr netip.Addr, out []Action) ([]Action, error) {
	t := e.ns(now)
	var ps []*peer
	if addr.IsValid() {
		p := e.byAddr[addr]
		if p == nil {
			return out, fmt.Errorf("clear msdp peer %v: %w", addr, ErrNoPeer)
		}
		ps = []*peer{p}
	} else {
		ps = slices.Clone(e.order)
	}
	for _, p := range ps {
		out = e.purgePeer(p, t, out)
		p.stats = PeerStats{}
		p.retries = 0
		if p.state == StateDisabled {
			continue
		}
		out = e.peerInput(p, input{kind: inStop, reason: "cleared by the operator"}, t, out)
		out = e.peerInput(p, input{kind: inStart}, t, out)
	}
	return out, nil
}

// ClearStatistics zeroes every counter (`clear msdp statistics`), on this
// engine only.
func (e *Engine) ClearStatistics(now time.Time) {
	for _, p := range e.peers {
		if p != nil {
			p.stats = PeerStats{}
		}
	}
	e.stats = GlobalStats{}
	e.statsSince = e.ns(now)
}

// CacheFilter selects cache entries to clear; zero fields match all.
type CacheFilter struct {
	Peer   netip.Addr
	Group  netip.Addr
	Source netip.Addr
}

// ClearCache deletes learnt SAs (`clear msdp cache`), those of one peer,
// group or source if the filter says so, on this engine only. Locally
// originated sources stay: they come from PIM and are advertised again.
func (e *Engine) ClearCache(now time.Time, f CacheFilter, out []Action) []Action {
	for i := int32(0); i < e.cache.slots; i++ {
		en := e.cache.at(i)
		if en.flags&flagLive == 0 {
			continue
		}
		if f.Peer.IsValid() && (en.peer < 0 || e.peers[en.peer].addr != f.Peer) {
			continue
		}
		if f.Group.IsValid() && addrOf(en.key.group()) != f.Group {
			continue
		}
		if f.Source.IsValid() && addrOf(en.key.source()) != f.Source {
			continue
		}
		out = e.dropEntry(int32(i), out)
	}
	return out
}
