package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/igmp"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/gir"
	"github.com/mxfwd/mxfwd/re/pktio"
)

// Non-stop routing (issue #17) replicates PIM and IGMP as state machines:
// both engines are pure functions of (state, input, now), so a backup that
// starts from the master's snapshot and applies the master's inputs in
// order, each at the master's time and with the RIB answers the master's
// engine got, holds the master's state at every point of the stream. The
// master records each input after handling it (Recorder); the backup
// (SetReplica) ignores its own inputs, replays the master's (Replay),
// never sends a packet nor touches the kernel (whose state is mirrored
// separately), and at takeover (Takeover) reconciles its routes with the
// mirrored kernel and starts its timers.

// InputKind is what an input is.
type InputKind uint8

// Input kinds.
const (
	InPacket       InputKind = iota + 1 // a PIM or IGMP packet
	InKernel                            // kernel events
	InRIB                               // route changes
	InTick                              // the engines' timers
	InRemoteSource                      // an MSDP-learned source
	InConfigure                         // the configuration was (re)applied
	InClearJoin                         // clear pim join [group]
	InClearStats                        // clear pim statistics
	InMaintenance                       // request pim maintenance enable|disable (gir.go)
	InHelloLost                         // a line card connected: Hellos lost before it are sent again
)

func (k InputKind) String() string {
	switch k {
	case InPacket:
		return "packet"
	case InKernel:
		return "kernel"
	case InRIB:
		return "rib"
	case InTick:
		return "tick"
	case InRemoteSource:
		return "remote-source"
	case InConfigure:
		return "configure"
	case InClearJoin:
		return "clear-join"
	case InClearStats:
		return "clear-statistics"
	case InMaintenance:
		return "maintenance"
	case InHelloLost:
		return "hello-lost"
	}
	return fmt.Sprintf("input-%d", uint8(k))
}

// Input is one recorded input of the host, with the time the master
// handled it and the RIB answers its engine got while doing so.
type Input struct {
	Kind     InputKind      `json:"kind"`
	Now      time.Time      `json:"now"`
	Packet   *PacketInput   `json:"packet,omitempty"`
	Kernel   []kernel.Event `json:"kernel,omitempty"`
	Prefixes []netip.Prefix `json:"prefixes,omitempty"`
	Source   netip.Addr     `json:"source,omitzero"`
	Group    netip.Addr     `json:"group,omitzero"`
	RPF      []RPFAnswer    `json:"rpf,omitempty"`
	// Maintenance is a request pim maintenance (InMaintenance).
	Maintenance *MaintenanceInput `json:"maintenance,omitempty"`
	// Interfaces are the interfaces whose Hellos were lost (InHelloLost).
	Interfaces []hal.IFLIndex `json:"interfaces,omitempty"`
}

// MaintenanceInput is `request pim maintenance enable|disable`.
type MaintenanceInput struct {
	Enable bool          `json:"enable"`
	Start  time.Duration `json:"start"`
	Stop   time.Duration `json:"stop"`
}

// PacketInput is a received control packet.
type PacketInput struct {
	Interface string     `json:"interface"`
	Src       netip.Addr `json:"src"`
	Dst       netip.Addr `json:"dst"`
	Proto     uint8      `json:"proto"`
	TTL       uint8      `json:"ttl"`
	Payload   []byte     `json:"payload"`
}

// RPFAnswer is one answer of the RIB to the engine.
type RPFAnswer struct {
	Addr netip.Addr `json:"addr"`
	RPF  pim.RPF    `json:"rpf"`
}

// Recorder receives the master's inputs in order, on the owner loop. The
// Input is the recorder's; it must not block.
type Recorder interface {
	Record(in *Input)
}

// ErrReplica is returned for what a replica refuses.
var ErrReplica = errors.New("not supported on the backup routing engine")

// SetRecorder sets (or, with nil, clears) the master's recorder.
func (h *Host) SetRecorder(r Recorder) { h.rec = r }

// SetReplica makes the host a replica (before Configure): it ignores the
// inputs of its own environment and follows the master's through Replay.
func (h *Host) SetReplica(on bool) { h.replica = on }

// Replica reports whether the host is a replica.
func (h *Host) Replica() bool { return h.replica }

// ignored reports whether an input from the environment is to be dropped:
// a replica only takes the master's.
func (h *Host) ignored() bool { return h.replica && h.replaying == nil }

// record starts recording in and returns the function that hands it to
// the recorder once it has been handled (nested inputs are part of the
// outer one).
func (h *Host) record(in *Input) func() {
	if h.rec == nil || h.recording != nil || h.replaying != nil {
		return func() {}
	}
	in.Now = h.now()
	h.recording = in
	return func() {
		h.recording = nil
		h.rec.Record(in)
	}
}

func (h *Host) replayedRPF(a netip.Addr) (pim.RPF, bool) {
	if h.replaying == nil {
		return pim.RPF{}, false
	}
	for _, r := range h.replaying.RPF {
		if r.Addr == a {
			return r.RPF, true
		}
	}
	return pim.RPF{}, false
}

func packetInput(p *pktio.Packet) *Input {
	return &Input{Kind: InPacket, Packet: &PacketInput{Interface: p.Interface, Src: p.Src, Dst: p.Dst,
		Proto: p.Proto, TTL: p.TTL, Payload: slices.Clone(p.Payload)}}
}

// relevantEvents keeps the kernel events the engines act on.
func relevantEvents(evs []kernel.Event) []kernel.Event {
	n := 0
	for _, ev := range evs {
		switch ev.Kind {
		case kernel.EventInterface, kernel.EventNewSource, kernel.EventWrongInterface, kernel.EventActivity:
			n++
		}
	}
	if n == len(evs) {
		return evs
	}
	out := make([]kernel.Event, 0, n)
	for _, ev := range evs {
		switch ev.Kind {
		case kernel.EventInterface, kernel.EventNewSource, kernel.EventWrongInterface, kernel.EventActivity:
			out = append(out, ev)
		}
	}
	return out
}

// Replay applies one of the master's inputs (replica, owner loop).
func (h *Host) Replay(in *Input) error {
	if !h.replica {
		return fmt.Errorf("replay %s: %w", in.Kind, errors.New("not a replica"))
	}
	h.replaying = in
	h.now = func() time.Time { return in.Now }
	defer func() {
		h.replaying = nil
		h.now = h.clock
	}()
	switch in.Kind {
	case InPacket:
		p := in.Packet
		if p == nil {
			return fmt.Errorf("replay %s: no packet", in.Kind)
		}
		pkt := &pktio.Packet{Interface: p.Interface, Src: p.Src, Dst: p.Dst, Proto: p.Proto, TTL: p.TTL, Payload: p.Payload}
		switch p.Proto {
		case protoPIM:
			h.onPIM(pkt)
		case protoIGMP:
			h.onIGMP(pkt)
		default:
			return fmt.Errorf("replay %s: protocol %d", in.Kind, p.Proto)
		}
	case InKernel:
		h.kernelEvents(in.Kernel)
	case InRIB:
		if h.pim != nil {
			h.ribChanged(in.Now, in.Prefixes)
		}
	case InTick:
		h.advance()
	case InRemoteSource:
		h.RemoteSource(in.Source, in.Group)
	case InConfigure:
		if h.cfg == nil {
			return fmt.Errorf("replay %s: no configuration", in.Kind)
		}
		return h.configure(h.cfg)
	case InHelloLost:
		if h.pim != nil {
			h.helloLostOn(in.Interfaces)
		}
	case InClearJoin:
		return h.ClearJoin(in.Group)
	case InClearStats:
		return h.ClearStatistics()
	case InMaintenance:
		if m := in.Maintenance; m != nil {
			return h.Maintenance(m.Enable, m.Start, m.Stop)
		}
		return fmt.Errorf("replay %s: no request", in.Kind)
	default:
		return fmt.Errorf("replay: unknown input kind %d", in.Kind)
	}
	return nil
}

// CardConnected is called once a line card has registered and received
// its state. The Hellos sent before, on interfaces whose card was not
// there, went nowhere: they are sent again within the triggered-Hello
// delay (pim.HelloLost) instead of a Hello_Period later, so neighbours
// form as soon as the cards are up. Not on a replica (it replays the
// master's).
func (h *Host) CardConnected() {
	if h.pim == nil || h.ignored() || len(h.helloLost) == 0 {
		return
	}
	ifs := slices.Sorted(maps.Keys(h.helloLost))
	clear(h.helloLost)
	defer h.record(&Input{Kind: InHelloLost, Interfaces: ifs})()
	h.helloLostOn(ifs)
}

func (h *Host) helloLostOn(ifs []hal.IFLIndex) {
	now := h.now()
	for _, i := range ifs {
		h.run(h.pim.Handle(now, pim.HelloLost{If: pim.IfIndex(i)}))
	}
	h.reschedule()
}

// ClearJoin clears the join state of group (all groups when invalid):
// `clear pim join`. Not on a replica.
func (h *Host) ClearJoin(group netip.Addr) error {
	if h.pim == nil {
		return errors.New("pim is not configured")
	}
	if h.ignored() {
		return fmt.Errorf("clear pim join: %w", ErrReplica)
	}
	defer h.record(&Input{Kind: InClearJoin, Group: group})()
	h.run(h.pim.Handle(h.now(), pim.ClearJoin{Group: group}))
	h.reschedule()
	return nil
}

// ClearStatistics clears the PIM counters: `clear pim statistics`. Not
// on a replica.
func (h *Host) ClearStatistics() error {
	if h.pim == nil {
		return errors.New("pim is not configured")
	}
	if h.ignored() {
		return fmt.Errorf("clear pim statistics: %w", ErrReplica)
	}
	defer h.record(&Input{Kind: InClearStats})()
	h.pim.ClearStats()
	if h.gir != nil {
		h.gir.ClearStats()
	}
	return nil
}

// Snapshot is the host's whole dynamic state: the engines' and the
// host's own bookkeeping. The configuration is not part of it.
type Snapshot struct {
	Taken        time.Time                `json:"taken"`
	PIM          *pim.Snapshot            `json:"pim,omitempty"`
	IGMP         []igmp.InterfaceSnapshot `json:"igmp,omitempty"`
	Routes       []pim.Route              `json:"routes,omitempty"`
	Members      []igmp.MembershipChanged `json:"members,omitempty"`
	LocalSources []LocalSourceSnapshot    `json:"local-sources,omitempty"`
	StarJoined   []netip.Addr             `json:"star-joined,omitempty"`
	// GIR is graceful insertion and removal's state, Settling the entries
	// in their make-before-break period (gir.go, settle.go).
	GIR      *gir.Snapshot    `json:"gir,omitempty"`
	Settling []SettleSnapshot `json:"settling,omitempty"`
}

// SettleSnapshot is an entry in its make-before-break period.
type SettleSnapshot struct {
	Source netip.Addr  `json:"source,omitzero"`
	Group  netip.Addr  `json:"group"`
	IIF    pim.IfIndex `json:"iif"`
	Until  time.Time   `json:"until"`
}

// LocalSourceSnapshot is a source active at this RP, for MSDP.
type LocalSourceSnapshot struct {
	Source netip.Addr `json:"source"`
	Group  netip.Addr `json:"group"`
	RP     netip.Addr `json:"rp"`
	Seen   time.Time  `json:"seen"`
}

// Snapshot returns the host's dynamic state (owner loop).
func (h *Host) Snapshot() (*Snapshot, error) {
	now := h.now()
	sn := &Snapshot{Taken: now, IGMP: h.igmp.Snapshot()}
	if h.pim != nil {
		ps, err := h.pim.Export(now)
		if err != nil {
			return nil, err
		}
		sn.PIM = ps
	}
	for _, r := range h.routes {
		r.OIL = slices.Clone(r.OIL)
		sn.Routes = append(sn.Routes, r)
	}
	slices.SortFunc(sn.Routes, func(a, b pim.Route) int {
		if c := a.Group.Compare(b.Group); c != 0 {
			return c
		}
		return a.Source.Compare(b.Source)
	})
	for k, m := range h.members {
		m.Sources = slices.Clone(m.Sources)
		sn.Members = append(sn.Members, igmp.MembershipChanged{Iface: k.iface, Membership: m})
	}
	slices.SortFunc(sn.Members, func(a, b igmp.MembershipChanged) int {
		if a.Iface != b.Iface {
			return int(a.Iface) - int(b.Iface)
		}
		return a.Group.Compare(b.Group)
	})
	for k, ls := range h.localSources {
		sn.LocalSources = append(sn.LocalSources, LocalSourceSnapshot{Source: k.Source, Group: k.Group, RP: ls.rp, Seen: ls.seen})
	}
	slices.SortFunc(sn.LocalSources, func(a, b LocalSourceSnapshot) int {
		if c := a.Group.Compare(b.Group); c != 0 {
			return c
		}
		return a.Source.Compare(b.Source)
	})
	for g := range h.starJoined {
		sn.StarJoined = append(sn.StarJoined, g)
	}
	slices.SortFunc(sn.StarJoined, netip.Addr.Compare)
	if h.gir != nil {
		sn.GIR = h.gir.Export()
	}
	for k, s := range h.settling {
		sn.Settling = append(sn.Settling, SettleSnapshot{Source: k.Source, Group: k.Group, IIF: s.iif, Until: s.until})
	}
	slices.SortFunc(sn.Settling, func(a, b SettleSnapshot) int {
		if c := a.Group.Compare(b.Group); c != 0 {
			return c
		}
		return a.Source.Compare(b.Source)
	})
	return sn, nil
}

// Restore replaces a replica's dynamic state with the master's snapshot.
// The replica must run the configuration the master ran when it took the
// snapshot: the engines are built from it at the snapshot's time, then
// their state is replaced.
func (h *Host) Restore(sn *Snapshot) error {
	if !h.replica {
		return errors.New("restore: not a replica")
	}
	if h.cfg == nil {
		return errors.New("restore: no configuration")
	}
	in := &Input{Kind: InConfigure, Now: sn.Taken}
	h.replaying = in
	h.now = func() time.Time { return in.Now }
	defer func() {
		h.replaying = nil
		h.now = h.clock
	}()
	if err := h.configure(h.cfg); err != nil {
		return fmt.Errorf("restore: configure: %w", err)
	}
	if (sn.PIM != nil) != (h.pim != nil) {
		return fmt.Errorf("restore: pim configured on one routing engine only")
	}
	if h.pim != nil {
		if err := h.pim.Import(sn.PIM); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := h.igmp.Restore(sn.IGMP); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	clear(h.routes)
	for _, r := range sn.Routes {
		h.routes[pim.SG{Source: r.Source, Group: r.Group}] = r
	}
	h.indexRoutes()
	clear(h.members)
	for _, m := range sn.Members {
		h.members[memberKey{m.Iface, m.Group}] = m.Membership
	}
	clear(h.localSources)
	for _, ls := range sn.LocalSources {
		h.localSources[pim.SG{Source: ls.Source, Group: ls.Group}] = localSource{rp: ls.RP, seen: ls.Seen}
	}
	clear(h.starJoined)
	for _, g := range sn.StarJoined {
		h.starJoined[g] = true
	}
	if (sn.GIR != nil) != (h.gir != nil) {
		return fmt.Errorf("restore: graceful insertion and removal on one routing engine only")
	}
	if h.gir != nil {
		if err := h.gir.Import(sn.GIR); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	clear(h.settling)
	for _, s := range sn.Settling {
		h.settling[pim.SG{Source: s.Source, Group: s.Group}] = settlePeriod{iif: s.IIF, until: s.Until}
	}
	return nil
}

// Reset forgets the engines' state (a backup taking over without
// replicated PIM state starts afresh, as after a restart); Configure
// builds them again.
func (h *Host) Reset() {
	h.env.Engine.Stop(h.timer)
	h.timer = nil
	h.pim = nil
	h.igmp = igmp.NewRouter()
	clear(h.routes)
	clear(h.sources)
	clear(h.members)
	clear(h.localSources)
	clear(h.starJoined)
}

// Takeover makes a replica the master's successor (owner loop, after the
// mirrored kernel state is in place): PIM's contributions in the kernel
// are reconciled with the replicated routes — normally nothing changes —
// and the timers start.
func (h *Host) Takeover() (changed int) {
	h.replica = false
	changed = h.Reconcile()
	h.refreshInterfaces()
	h.reschedule()
	return changed
}

// Reconcile makes PIM's contributions in the kernel exactly the host's
// routes: what differs is set, what PIM has no route for is withdrawn. It
// returns the number of changes.
func (h *Host) Reconcile() int {
	have := h.env.Kernel.Contributions(kernel.OwnerPIM)
	var changes []kernel.Change
	for k, r := range h.routes {
		e := entryOf(k)
		want := h.contribution(r)
		if s, ok := h.settling[k]; ok && s.iif == r.IIF {
			want.AnyRPF = want.RPF != ""
		}
		if got, ok := have[e]; ok && sameContribution(got, want) {
			delete(have, e)
			continue
		}
		delete(have, e)
		changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: e, Contribution: &want})
	}
	for e := range have {
		changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: e})
	}
	if len(changes) > 0 {
		slices.SortFunc(changes, func(a, b kernel.Change) int {
			if c := a.Entry.Group.Compare(b.Entry.Group); c != 0 {
				return c
			}
			return a.Entry.Source.Compare(b.Entry.Source)
		})
		h.kernelUpdate(changes)
	}
	return len(changes)
}

func sameContribution(a, b kernel.Contribution) bool {
	norm := func(l []string) []string {
		l = slices.Clone(l)
		for i, n := range l {
			if nn, ok := normName(n); ok {
				l[i] = nn
			}
		}
		slices.Sort(l)
		return slices.Compact(l)
	}
	an, _ := normName(a.RPF)
	bn, _ := normName(b.RPF)
	return an == bn && a.AnyRPF == b.AnyRPF && slices.Equal(norm(a.Downstream), norm(b.Downstream)) && slices.Equal(norm(a.Exclude), norm(b.Exclude))
}

// normName is the kernel's spelling of an interface name (the unit
// defaults to 0).
func normName(n string) (string, bool) {
	if n == "" || strings.Contains(n, ".") {
		return n, true
	}
	return n + ".0", true
}

// MarshalInput and UnmarshalInput are the inputs' encoding on the mirror.
func MarshalInput(in *Input) ([]byte, error) { return json.Marshal(in) }

// UnmarshalInput decodes an input.
func UnmarshalInput(b []byte) (*Input, error) {
	in := new(Input)
	if err := json.Unmarshal(b, in); err != nil {
		return nil, fmt.Errorf("pim input: %w", err)
	}
	if in.Kind < InPacket || in.Kind > InMaintenance {
		return nil, fmt.Errorf("pim input: unknown kind %d", in.Kind)
	}
	return in, nil
}
