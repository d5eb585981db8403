package gir

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

// Defaults (seed 002 §5 for the interval; the others are this
// implementation's, see Config).
const (
	DefaultInterval = 60 * time.Second
	DefaultCopies   = 3
	DefaultSpacing  = time.Second
	// DefaultStart and DefaultStop are a removal's window when the
	// operator gives none: the window opens 10 s after receipt (the three
	// copies go out over 2 s; 10 s leaves room for a copy lost on every
	// hop of a few) and lasts until 300 s after receipt, the time the
	// operator has to change the unicast metrics and the flows have to
	// move.
	DefaultStart = 10 * time.Second
	DefaultStop  = 300 * time.Second
	// DefaultInsertion is an insertion's window (start 0, stop N).
	DefaultInsertion = 300 * time.Second
	// MaxWindow bounds a learned window: the timers are 32-bit seconds
	// chosen by a peer; longer announcements are clamped to a day.
	MaxWindow = 24 * time.Hour
	// maxSeen bounds the duplicate-suppression memory (originators are
	// peer-controlled).
	maxSeen = 4096
	// DefaultMaxMessageRate and DefaultMinMessageGap are RFC 8364 §3.3's
	// Max_PFM_Message_Rate (messages a router may originate per minute)
	// and Min_PFM_Message_Gap.
	DefaultMaxMessageRate = 6
	DefaultMinMessageGap  = time.Second
	// NoForwardWindow is how long after PIM starts a PFM with the
	// No-Forward bit is accepted (RFC 8364 §3.4.1).
	NoForwardWindow = 60 * time.Second
)

// Sentinel errors.
var (
	// ErrInvalid: a request's timers are not a window (stop must be
	// positive and not before start; at most 2^32-1 seconds).
	ErrInvalid = errors.New("invalid maintenance window")
	// ErrNotInMaintenance: Disable while not in maintenance.
	ErrNotInMaintenance = errors.New("not in maintenance")
	// ErrNoOriginator: Enable/Disable without an originator address
	// (RFC 8364 §3: the Originator identifies the router; the RPF check of
	// every receiver is against it).
	ErrNoOriginator = errors.New("no originator address (configure lo0 or a PIM interface address)")
)

// Config is the controller's configuration.
type Config struct {
	// TLVType is the GIR TLV's type (15 bits; the draft's "TBD"). 0 means
	// pimmsg.DefaultGIRType.
	TLVType uint16
	// Originator is this router's address in the PFMs it originates.
	Originator netip.Addr
	// Interval is the period of the announcements after the first copies
	// and the duplicate-suppression hold (0: DefaultInterval).
	Interval time.Duration
	// Copies is how many copies of a new announcement are sent, Spacing
	// apart (0: DefaultCopies, DefaultSpacing).
	Copies  int
	Spacing time.Duration
	// MaxMessageRate and MinMessageGap bound what this router originates
	// (RFC 8364 §3.3; 0: DefaultMaxMessageRate, DefaultMinMessageGap): a
	// copy due earlier waits.
	MaxMessageRate int
	MinMessageGap  time.Duration
}

func (c Config) tlvType() uint16 {
	if c.TLVType == 0 {
		return pimmsg.DefaultGIRType
	}
	return c.TLVType & 0x7fff
}

func (c Config) interval() int64 {
	if c.Interval <= 0 {
		return int64(DefaultInterval)
	}
	return int64(c.Interval)
}

func (c Config) copies() int {
	if c.Copies <= 0 {
		return DefaultCopies
	}
	return c.Copies
}

func (c Config) maxRate() int {
	if c.MaxMessageRate <= 0 {
		return DefaultMaxMessageRate
	}
	return c.MaxMessageRate
}

func (c Config) minGap() int64 {
	if c.MinMessageGap <= 0 {
		return int64(DefaultMinMessageGap)
	}
	return int64(c.MinMessageGap)
}

func (c Config) spacing() int64 {
	if c.Spacing <= 0 {
		return int64(DefaultSpacing)
	}
	return int64(c.Spacing)
}

// Options are the controller's injected dependencies.
type Options struct {
	// HasState reports whether this router has multicast state for a
	// source inside p (the source-prefix optimisation). nil: every window
	// is relevant.
	HasState func(p netip.Prefix) bool
}

// Mode is the local router's maintenance state.
type Mode uint8

// The modes.
const (
	// ModeNormal: not in maintenance (possibly still sending the "fully
	// operational" copies).
	ModeNormal Mode = iota
	// ModeRemoval: maintenance announced; the window is pending or open.
	ModeRemoval
	// ModeMaintenance: in maintenance, the announced window is over.
	ModeMaintenance
	// ModeInsertion: back from maintenance; the insertion window is open.
	ModeInsertion
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeRemoval:
		return "removal"
	case ModeMaintenance:
		return "maintenance"
	case ModeInsertion:
		return "insertion"
	}
	return fmt.Sprintf("mode-%d", uint8(m))
}

// Event is an input of Handle.
type Event interface{ isEvent() }

// Enable is `request pim maintenance enable [start S] [stop T]` (or the
// configuration's maintenance statement): announce a removal window.
type Enable struct {
	Start, Stop time.Duration
	// Sources are the source prefixes to advertise (the optimisation);
	// empty: the draft's exact 8-byte TLV.
	Sources []netip.Prefix
}

// Disable is `request pim maintenance disable [stop N]`: announce an
// insertion window (0, N), then "fully operational" (0, 0); N = 0 sends
// (0, 0) at once.
type Disable struct {
	Stop time.Duration
}

// Received is a PFM that arrived on interface If from Src, with what the
// caller (the owner of the PIM engine and the RIB) knows about it (RFC
// 8364 §3.4.1's initial checks).
type Received struct {
	If  pim.IfIndex
	Src netip.Addr
	Msg *pimmsg.PFM
	// FromNeighbor: Src is a PIM neighbour on If (and so directly
	// connected); ToAllPIMRouters: the destination was ALL-PIM-ROUTERS.
	FromNeighbor    bool
	ToAllPIMRouters bool
	// RPFIf and RPFNeighbor are RPF_interface and RPF_neighbor of
	// Msg.Originator from the unicast RIB (0 and invalid: no route; for a
	// directly connected originator the neighbour is the originator).
	RPFIf       pim.IfIndex
	RPFNeighbor netip.Addr
	// Boundary: If is an administrative boundary for PFM (RFC 8364 §3.2).
	Boundary bool
	// Local: the Originator is one of this router's addresses.
	Local bool
}

func (Enable) isEvent()   {}
func (Disable) isEvent()  {}
func (Received) isEvent() {}

// Action is an output.
type Action interface{ isAction() }

// Send floods Msg on every PIM interface that has a neighbour and is not
// an administrative boundary. A forwarded PFM (Forwarded) goes out of the
// interface it came in on (In) too, as RFC 8364 §3.4.2 says, but only when
// a neighbour other than its sender (From) is there: on a point-to-point
// link the copy could only come back.
type Send struct {
	In        pim.IfIndex
	From      netip.Addr
	Msg       *pimmsg.PFM
	Forwarded bool
}

// Graceful opens or closes the PIM engine's graceful-RPF-change window
// (re/pim GracefulWindow).
type Graceful struct {
	Active bool
}

func (Send) isAction()     {}
func (Graceful) isAction() {}

// Stats are the controller's counters (`show pim statistics`, `show pim
// maintenance`).
type Stats struct {
	// Originated counts the PFMs with our GIR TLV we sent (each copy).
	Originated uint64 `json:"originated"`
	// Received counts PFMs handed to the controller.
	Received uint64 `json:"received"`
	// Accepted passed the checks below.
	Accepted uint64 `json:"accepted"`
	// Forwarded were flooded on (once per PFM, whatever the interfaces).
	Forwarded uint64 `json:"forwarded"`
	// DropOwn: our own Originator came back.
	DropOwn uint64 `json:"dropped-own"`
	// DropNotNeighbor: not from a PIM neighbour.
	DropNotNeighbor uint64 `json:"dropped-not-neighbor"`
	// DropRPF: not from RPF_neighbor(Originator) on its interface.
	DropRPF uint64 `json:"dropped-rpf"`
	// DropNotAllPIM: not sent to ALL-PIM-ROUTERS; DropBoundary: received
	// on an administrative boundary; DropNoForward: the No-Forward bit
	// more than a minute after PIM started.
	DropNotAllPIM uint64 `json:"dropped-destination"`
	DropBoundary  uint64 `json:"dropped-boundary"`
	DropNoForward uint64 `json:"dropped-no-forward-late"`
	// RateLimited counts our copies delayed by Max_PFM_Message_Rate or
	// Min_PFM_Message_Gap.
	RateLimited uint64 `json:"rate-limited"`
	// Duplicates: same Originator and TLVs within the interval.
	Duplicates uint64 `json:"duplicates"`
	// NoForwardBit: accepted, not forwarded (N bit).
	NoForwardBit uint64 `json:"not-forwarded-n-bit"`
	// NothingToForward: accepted, not forwarded: only unknown
	// non-transitive TLVs.
	NothingToForward uint64 `json:"not-forwarded-no-tlv"`
	// NoGIR: accepted PFMs without a GIR TLV of the configured type.
	NoGIR uint64 `json:"without-gir-tlv"`
	// MalformedGIR: a GIR TLV that does not decode.
	MalformedGIR uint64 `json:"malformed-gir-tlv"`
	// InvalidWindow: stop before start, or a zero stop with a start.
	InvalidWindow uint64 `json:"invalid-window"`
	// WindowsLearned: new learned windows; Refreshes: announcements for a
	// window we had.
	WindowsLearned uint64 `json:"windows-learned"`
	Refreshes      uint64 `json:"refreshes"`
	// WindowsOpened: learned windows whose start arrived.
	WindowsOpened uint64 `json:"windows-opened"`
	// WindowsClosed: learned windows closed by (0, 0); WindowsExpired:
	// by their stop.
	WindowsClosed  uint64 `json:"windows-closed"`
	WindowsExpired uint64 `json:"windows-expired"`
	// NotRelevant: windows that opened without state for their sources.
	NotRelevant uint64 `json:"not-relevant"`
	// GracefulOpened counts the times the engine's window opened.
	GracefulOpened uint64 `json:"graceful-opened"`
}

// local is this router's own announcement.
type local struct {
	mode            Mode
	startAt, stopAt int64 // the window (removal, insertion)
	opened          bool
	sources         []netip.Prefix
	next            int64 // next copy; 0: none
	burst           int   // copies of the burst still to send after next
	first           int64 // when the burst started (the periodic anchor)
	opLeft          int   // (0, 0) copies still to send
	sent            uint64
}

// window is an announcement learned from another router.
type window struct {
	origin          netip.Addr
	ifx             pim.IfIndex
	from            netip.Addr
	startAt, stopAt int64
	opened          bool
	relevant        bool
	sources         []netip.Prefix
	received, last  int64
	refreshes       uint64
}

type seen struct {
	content string
	at      int64
}

// Controller is the GIR state machine of one router. It is not safe for
// concurrent use.
type Controller struct {
	cfg     Config
	opt     Options
	local   local
	windows map[netip.Addr]*window
	seen    map[netip.Addr]seen
	active  bool
	stats   Stats
	started int64   // PIM enabled (the No-Forward window)
	sentAt  []int64 // our last originated messages (rate limit), oldest first
	now     int64
	out     []Action
}

// New returns a controller at now, the time PIM is enabled.
func New(cfg Config, opt Options, now time.Time) *Controller {
	return &Controller{cfg: cfg, opt: opt, windows: map[netip.Addr]*window{}, seen: map[netip.Addr]seen{},
		now: now.UnixNano(), started: now.UnixNano()}
}

// Config returns the configuration in force.
func (c *Controller) Config() Config { return c.cfg }

// SetConfig applies a new configuration; announcements in progress go on
// with the new type, originator and interval.
func (c *Controller) SetConfig(now time.Time, cfg Config) []Action {
	c.begin(now)
	c.cfg = cfg
	return c.end()
}

// Stats returns the counters.
func (c *Controller) Stats() Stats { return c.stats }

// ClearStats zeroes the counters.
func (c *Controller) ClearStats() { c.stats = Stats{} }

// Mode returns the local maintenance mode.
func (c *Controller) Mode() Mode { return c.local.mode }

// Active reports whether the engine's graceful window should be open (the
// last Graceful action emitted).
func (c *Controller) Active() bool { return c.active }

func (c *Controller) begin(now time.Time) {
	c.now = now.UnixNano()
	c.out = c.out[:0]
}

// end runs the timers due now and the aggregate, and returns the actions.
func (c *Controller) end() []Action {
	c.timers()
	c.aggregate()
	if len(c.out) == 0 {
		return nil
	}
	return slices.Clone(c.out)
}

// Handle processes one event at now. Enable and Disable return an error
// (and no actions) when the request is refused.
func (c *Controller) Handle(now time.Time, ev Event) ([]Action, error) {
	c.begin(now)
	var err error
	switch ev := ev.(type) {
	case Enable:
		err = c.enable(ev)
	case Disable:
		err = c.disable(ev)
	case Received:
		c.receive(ev)
	default:
		err = fmt.Errorf("gir: unknown event %T", ev)
	}
	if err != nil {
		c.out = c.out[:0]
		return nil, err
	}
	return c.end(), nil
}

// Advance fires the timers due at or before now.
func (c *Controller) Advance(now time.Time) []Action {
	c.begin(now)
	return c.end()
}

// NextDeadline is when Advance must next be called (zero: nothing
// pending).
func (c *Controller) NextDeadline() time.Time {
	var next int64
	at := func(t int64) {
		if t > 0 && (next == 0 || t < next) {
			next = t
		}
	}
	l := &c.local
	at(l.next)
	if l.mode == ModeRemoval || l.mode == ModeInsertion {
		if !l.opened {
			at(l.startAt)
		}
		at(l.stopAt)
	}
	for _, w := range c.windows {
		if !w.opened {
			at(w.startAt)
		}
		at(w.stopAt)
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next)
}

// seconds converts a request's duration to the TLV's whole seconds
// (rounded up).
func seconds(d time.Duration) (uint32, bool) {
	if d < 0 {
		return 0, false
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return 0, false
	}
	return uint32(s), true
}

func (c *Controller) enable(ev Enable) error {
	if !c.cfg.Originator.IsValid() {
		return ErrNoOriginator
	}
	start, ok1 := seconds(ev.Start)
	stop, ok2 := seconds(ev.Stop)
	if !ok1 || !ok2 || stop == 0 || stop < start {
		return fmt.Errorf("%w: start %v, stop %v (stop must be positive and not before start)", ErrInvalid, ev.Start, ev.Stop)
	}
	for _, p := range ev.Sources {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("%w: source prefix %v is not IPv4", ErrInvalid, p)
		}
	}
	c.local = local{mode: ModeRemoval, startAt: c.now + int64(start)*int64(time.Second),
		stopAt: c.now + int64(stop)*int64(time.Second), sources: slices.Clone(ev.Sources), sent: c.local.sent}
	c.startBurst()
	return nil
}

func (c *Controller) disable(ev Disable) error {
	if c.local.mode == ModeNormal {
		return ErrNotInMaintenance
	}
	if !c.cfg.Originator.IsValid() {
		return ErrNoOriginator
	}
	stop, ok := seconds(ev.Stop)
	if !ok {
		return fmt.Errorf("%w: stop %v", ErrInvalid, ev.Stop)
	}
	if stop == 0 {
		c.operational()
		return nil
	}
	c.local = local{mode: ModeInsertion, startAt: c.now, stopAt: c.now + int64(stop)*int64(time.Second),
		sources: c.local.sources, sent: c.local.sent}
	c.startBurst()
	return nil
}

// operational starts the (0, 0) copies and returns to normal.
func (c *Controller) operational() {
	c.local = local{mode: ModeNormal, sent: c.local.sent, opLeft: c.cfg.copies(), next: c.now}
}

func (c *Controller) startBurst() {
	l := &c.local
	l.first, l.next, l.burst = c.now, c.now, c.cfg.copies()-1
}

// timers fires what is due at c.now, in time order within this call.
func (c *Controller) timers() {
	l := &c.local
	for range 1 << 16 { // bounded: each pass consumes one due timer
		if l.next != 0 && l.next <= c.now && (l.mode == ModeNormal || l.next < l.stopAt) {
			c.sendLocal()
			continue
		}
		if (l.mode == ModeRemoval || l.mode == ModeInsertion) && !l.opened && l.startAt <= c.now {
			l.opened = true
			continue
		}
		if (l.mode == ModeRemoval || l.mode == ModeInsertion) && l.stopAt <= c.now {
			if l.mode == ModeInsertion {
				c.operational()
			} else {
				*l = local{mode: ModeMaintenance, sent: l.sent, sources: l.sources}
			}
			continue
		}
		break
	}
	for o, w := range c.windows {
		if !w.opened && w.startAt <= c.now {
			w.opened = true
			w.relevant = c.relevant(w.sources)
			c.stats.WindowsOpened++
			if !w.relevant {
				c.stats.NotRelevant++
			}
		}
		if w.stopAt <= c.now {
			delete(c.windows, o)
			c.stats.WindowsExpired++
		}
	}
}

// allowed is the earliest time at or after now when RFC 8364 §3.3 lets
// this router originate a message: Min_PFM_Message_Gap after the last one,
// and no more than Max_PFM_Message_Rate within a minute.
func (c *Controller) allowed() int64 {
	t := c.now
	if n := len(c.sentAt); n > 0 {
		t = max(t, c.sentAt[n-1]+c.cfg.minGap())
	}
	if r := c.cfg.maxRate(); len(c.sentAt) >= r {
		t = max(t, c.sentAt[len(c.sentAt)-r]+int64(time.Minute))
	}
	return t
}

// sendLocal sends the copy due now and schedules the next.
func (c *Controller) sendLocal() {
	l := &c.local
	if at := c.allowed(); at > c.now {
		l.next = at
		c.stats.RateLimited++
		return
	}
	var g pimmsg.GIR
	if l.mode == ModeRemoval || l.mode == ModeInsertion {
		g = pimmsg.GIR{Start: remaining(l.startAt, c.now), Stop: remaining(l.stopAt, c.now), Sources: slices.Clone(l.sources)}
		if g.Stop == 0 {
			l.next = 0
			return
		}
	}
	t, err := g.TLV(c.cfg.tlvType())
	if err == nil {
		c.out = append(c.out, Send{Msg: &pimmsg.PFM{Originator: c.cfg.Originator, TLVs: []pimmsg.TLV{t}}})
		l.sent++
		c.stats.Originated++
		c.sentAt = append(c.sentAt, c.now)
		if r := c.cfg.maxRate(); len(c.sentAt) > r {
			c.sentAt = slices.Delete(c.sentAt, 0, len(c.sentAt)-r)
		}
	}
	switch {
	case l.mode == ModeNormal:
		l.opLeft--
		l.next = 0
		if l.opLeft > 0 {
			l.next = c.now + c.cfg.spacing()
		}
	case l.burst > 0:
		l.burst--
		l.next = c.now + c.cfg.spacing()
	default:
		// Periodic: every interval from the first copy.
		iv := c.cfg.interval()
		k := (c.now-l.first)/iv + 1
		l.next = l.first + k*iv
	}
}

// remaining is the whole seconds from now until t, rounded up (0 when t
// has passed).
func remaining(t, now int64) uint32 {
	if t <= now {
		return 0
	}
	s := (t - now + int64(time.Second) - 1) / int64(time.Second)
	return uint32(min(s, math.MaxUint32))
}

func (c *Controller) relevant(sources []netip.Prefix) bool {
	if len(sources) == 0 || c.opt.HasState == nil {
		return true
	}
	for _, p := range sources {
		if c.opt.HasState(p) {
			return true
		}
	}
	return false
}

// aggregate emits Graceful when the engine's window should change.
func (c *Controller) aggregate() {
	l := &c.local
	want := (l.mode == ModeRemoval || l.mode == ModeInsertion) && l.opened && c.now < l.stopAt
	for _, w := range c.windows {
		if w.opened && w.relevant && c.now < w.stopAt {
			want = true
			break
		}
	}
	if want != c.active {
		c.active = want
		if want {
			c.stats.GracefulOpened++
		}
		c.out = append(c.out, Graceful{Active: want})
	}
}

// content is the duplicate-suppression key of a PFM: its TLVs.
func content(m *pimmsg.PFM) string {
	b := make([]byte, 0, 64)
	for _, t := range m.TLVs {
		v := t.Type
		if t.Transitive {
			v |= 0x8000
		}
		b = append(b, byte(v>>8), byte(v), byte(len(t.Value)>>8), byte(len(t.Value)))
		b = append(b, t.Value...)
	}
	return string(b)
}

func (c *Controller) receive(ev Received) {
	c.stats.Received++
	m := ev.Msg
	if m == nil {
		return
	}
	// RFC 8364 §3.4.1, and our own messages coming back.
	switch {
	case ev.Local || m.Originator == c.cfg.Originator:
		c.stats.DropOwn++
		return
	case !ev.ToAllPIMRouters:
		c.stats.DropNotAllPIM++
		return
	case !ev.FromNeighbor:
		c.stats.DropNotNeighbor++
		return
	case ev.Boundary:
		c.stats.DropBoundary++
		return
	case !m.NoForward && (ev.RPFIf == 0 || ev.RPFIf != ev.If || ev.Src != ev.RPFNeighbor):
		c.stats.DropRPF++
		return
	case m.NoForward && c.now-c.started > int64(NoForwardWindow): // "more than 60 seconds"
		c.stats.DropNoForward++
		return
	}
	key := content(m)
	if s, ok := c.seen[m.Originator]; ok && s.content == key && c.now-s.at < c.cfg.interval() {
		c.stats.Duplicates++
		return
	}
	c.remember(m.Originator, key)
	c.stats.Accepted++

	g, ok, err := m.FindGIR(c.cfg.tlvType())
	switch {
	case err != nil:
		c.stats.MalformedGIR++
	case !ok:
		c.stats.NoGIR++
	default:
		c.apply(ev, g)
	}
	c.forward(ev)
}

// remember records the last content accepted from an originator, bounded.
func (c *Controller) remember(o netip.Addr, key string) {
	if _, ok := c.seen[o]; !ok && len(c.seen) >= maxSeen {
		for k, s := range c.seen {
			if c.now-s.at >= c.cfg.interval() {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxSeen {
			clear(c.seen)
		}
	}
	c.seen[o] = seen{content: key, at: c.now}
}

// apply applies a GIR TLV from an accepted PFM (§5 step 2.1, §6).
func (c *Controller) apply(ev Received, g pimmsg.GIR) {
	o := ev.Msg.Originator
	w := c.windows[o]
	if g.Start == 0 && g.Stop == 0 {
		if w != nil {
			delete(c.windows, o)
			c.stats.WindowsClosed++
		}
		return
	}
	if g.Stop == 0 || g.Stop < g.Start {
		c.stats.InvalidWindow++
		return
	}
	sec := int64(time.Second)
	start := c.now + min(int64(g.Start)*sec, int64(MaxWindow))
	stop := c.now + min(int64(g.Stop)*sec, int64(MaxWindow))
	if w == nil {
		w = &window{origin: o, startAt: start, received: c.now}
		c.windows[o] = w
		c.stats.WindowsLearned++
	} else {
		c.stats.Refreshes++
		w.refreshes++
		if start < w.startAt {
			w.startAt = start
		}
	}
	w.ifx, w.from, w.stopAt, w.last = ev.If, ev.Src, stop, c.now
	w.sources = slices.Clone(g.Sources)
	if w.startAt <= c.now {
		if !w.opened {
			w.opened = true
			c.stats.WindowsOpened++
			w.relevant = c.relevant(w.sources)
			if !w.relevant {
				c.stats.NotRelevant++
			}
		} else {
			w.relevant = c.relevant(w.sources)
		}
	}
}

// forward floods an accepted PFM on (RFC 8364 §3.4.2): not with the N bit;
// the TLVs we do not understand and that are not transitive are removed
// (the T bit kept as it was); a PFM left empty is not forwarded.
func (c *Controller) forward(ev Received) {
	m := ev.Msg
	if m.NoForward {
		c.stats.NoForwardBit++
		return
	}
	out := &pimmsg.PFM{Originator: m.Originator}
	for _, t := range m.TLVs {
		if t.Transitive || t.Type == c.cfg.tlvType() {
			out.TLVs = append(out.TLVs, pimmsg.TLV{Transitive: t.Transitive, Type: t.Type, Value: slices.Clone(t.Value)})
		}
	}
	if len(out.TLVs) == 0 {
		c.stats.NothingToForward++
		return
	}
	c.stats.Forwarded++
	c.out = append(c.out, Send{In: ev.If, From: ev.Src, Msg: out, Forwarded: true})
}
