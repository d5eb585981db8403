package rpset

import (
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"time"
)

// RFC 5059 §5 timer defaults.
const (
	// DefaultBSPeriod is BS_Period, the interval at which the elected BSR
	// originates bootstrap messages.
	DefaultBSPeriod = 60 * time.Second
	// DefaultBSTimeout is BS_Timeout (2 * BS_Period + 10 s).
	DefaultBSTimeout = 130 * time.Second
	// DefaultCRPAdvPeriod is C_RP_Adv_Period.
	DefaultCRPAdvPeriod = 60 * time.Second
	// DefaultCRPHoldtime is the holdtime a C-RP advertises (2.5 *
	// C_RP_Adv_Period); `show pim rps` shows 150 for bootstrap RPs.
	DefaultCRPHoldtime = 150
	// DefaultBSRPriority and DefaultCRPPriority: 64 and 192 are the values
	// RFC 5059 §3.1/§3.2 use as examples; the platform shows BSR priority 0
	// for a router that is not a candidate.
	DefaultCRPPriority = 192
)

// AllGroups is 224.0.0.0/4, the range of a C-RP-Adv with no group prefix
// (RFC 5059 §4.2).
var AllGroups = netip.MustParsePrefix("224.0.0.0/4")

// Bootstrap is what a decoded Bootstrap message carries (RFC 5059 §4.1,
// with seed 001 §3.2's S-bit per RP).
type Bootstrap struct {
	FragmentTag uint16     `json:"fragment_tag"`
	HashMaskLen uint8      `json:"hash_mask_len"`
	Priority    uint8      `json:"bsr_priority"`
	BSR         netip.Addr `json:"bsr"`
	// NoForward is the No-Forward bit (RFC 5059 §3.3): set on BSMs unicast
	// to a new neighbour; such a BSM is never forwarded.
	NoForward bool       `json:"no_forward,omitempty"`
	Groups    []BSMGroup `json:"groups,omitempty"`
}

// BSMGroup is one group range of a Bootstrap message: RPCount RPs in total
// (over all fragments), RPs those of this fragment.
type BSMGroup struct {
	Prefix  netip.Prefix `json:"prefix"`
	RPCount uint8        `json:"rp_count"`
	RPs     []BSMRP      `json:"rps,omitempty"`
}

// BSMRP is one RP of a group range in a Bootstrap message.
type BSMRP struct {
	Addr     netip.Addr `json:"addr"`
	Holdtime uint16     `json:"holdtime"`
	Priority uint8      `json:"priority"`
	SBit     bool       `json:"s_bit,omitempty"`
}

// CRPAdv is what a decoded Candidate-RP-Advertisement carries (RFC 5059
// §4.2, with seed 001 §3.1's S-bit). No group prefix means 224.0.0.0/4.
type CRPAdv struct {
	RP       netip.Addr     `json:"rp"`
	Priority uint8          `json:"priority"`
	Holdtime uint16         `json:"holdtime"`
	Groups   []netip.Prefix `json:"groups,omitempty"`
	SBit     bool           `json:"s_bit,omitempty"`
}

// BSRState is the state of the per-scope-zone bootstrap state machine
// (RFC 5059 §3.1.1 for candidate BSRs, §3.1.2 for the others).
type BSRState uint8

// Bootstrap states.
const (
	// StateNoInfo: not a candidate, no BSR known (non-C-BSR machine).
	StateNoInfo BSRState = iota
	// StateAcceptAny: not a candidate; the BSR timed out, any BSM is
	// accepted.
	StateAcceptAny
	// StateAcceptPreferred: not a candidate; only BSMs from the elected or
	// a preferred BSR are accepted.
	StateAcceptPreferred
	// StateCandidate: candidate, another router is the elected BSR.
	StateCandidate
	// StatePending: candidate, waiting to see whether this router should
	// become the BSR.
	StatePending
	// StateElected: this router is the elected BSR.
	StateElected
)

// String names the state as the State column of `show pim bootstrap`.
func (s BSRState) String() string {
	switch s {
	case StateNoInfo:
		return "NoInfo"
	case StateAcceptAny:
		return "AcceptAny"
	case StateAcceptPreferred:
		return "InEligible"
	case StateCandidate:
		return "Candidate"
	case StatePending:
		return "Pending"
	case StateElected:
		return "Elected"
	}
	return "Unknown"
}

// BSRConfig configures the bootstrap machine. Zero durations select the
// defaults.
type BSRConfig struct {
	// Candidate: this router is a candidate BSR (`… rp bootstrap
	// family inet priority N`).
	Candidate   bool
	Addr        netip.Addr
	Priority    uint8
	HashMaskLen uint8 // 0: DefaultHashMaskLen
	BSPeriod    time.Duration
	BSTimeout   time.Duration
}

func (c BSRConfig) period() int64 {
	if c.BSPeriod > 0 {
		return int64(c.BSPeriod)
	}
	return int64(DefaultBSPeriod)
}

func (c BSRConfig) timeout() int64 {
	if c.BSTimeout > 0 {
		return int64(c.BSTimeout)
	}
	return int64(DefaultBSTimeout)
}

func (c BSRConfig) hashMaskLen() uint8 {
	if c.HashMaskLen > 0 {
		return c.HashMaskLen
	}
	if c.Addr.Is6() {
		return DefaultHashMaskLenV6
	}
	return DefaultHashMaskLen
}

// rangeState is the stored RP-set of one group range.
type rangeState struct {
	Prefix   netip.Prefix `json:"prefix"`
	Expected uint8        `json:"expected"`
	RPs      []Candidate  `json:"rps"`
}

// BSR is the bootstrap state of one router for the global scope zone.
type BSR struct {
	cfg BSRConfig

	State BSRState `json:"state"`
	// Timer is the Bootstrap Timer deadline (ns; 0: not running).
	Timer int64 `json:"timer"`
	// Elected is the elected BSR's address and priority (invalid when none
	// is known).
	Elected         netip.Addr `json:"elected"`
	ElectedPriority uint8      `json:"elected_priority"`
	HashMaskLen     uint8      `json:"hash_mask_len"`
	// Tag is the fragment tag of the stored RP-set.
	Tag uint16 `json:"tag"`
	// Ranges is the RP-set learned from (or, at the elected BSR, built for)
	// the bootstrap messages, sorted by prefix.
	Ranges []rangeState `json:"ranges,omitempty"`
	// CRPs is the C-RP set at the elected BSR, built from C-RP-Advs
	// (RFC 5059 §3.2), sorted.
	CRPs []Candidate `json:"crps,omitempty"`
	// LastBSM is when the last accepted BSM arrived (ns).
	LastBSM int64 `json:"last_bsm"`
}

// Result says what the caller has to do after an event.
type Result struct {
	// Forward: forward the received BSM on every PIM interface except the
	// one it arrived on (unless its No-Forward bit is set).
	Forward bool
	// Originate: send this BSM on every PIM interface.
	Originate *Bootstrap
	// Changed: the learned RP-set changed (re-run RP(G) for every group).
	Changed bool
	// BSRChanged: the elected BSR changed; a C-RP advertises to the new one
	// at once (RFC 5059 §3.2).
	BSRChanged bool
	// Accepted: the BSM was accepted (its RP-set stored).
	Accepted bool
}

// Configure applies the configuration. A router that becomes a candidate
// starts in Pending with the Bootstrap Timer at BS_Timeout, so that it
// first hears any existing BSR; one that stops being a candidate falls back
// to Accept Any (keeping the RP-set until the RP holdtimes run out).
func (b *BSR) Configure(cfg BSRConfig, now int64) {
	was := b.cfg.Candidate
	b.cfg = cfg
	switch {
	case cfg.Candidate && !was:
		b.State = StatePending
		b.Timer = now + cfg.timeout()
	case !cfg.Candidate && was:
		if b.State == StateElected {
			b.Elected = netip.Addr{}
		}
		b.State = StateAcceptAny
		b.Timer = 0
	}
}

// Restore sets the configuration without any transition (after the state
// was restored from a snapshot taken under the same configuration).
func (b *BSR) Restore(cfg BSRConfig) { b.cfg = cfg }

// Config returns the configuration.
func (b *BSR) Config() BSRConfig { return b.cfg }

// preferred reports whether a BSM from (addr, prio) is preferred over
// (cur, curPrio): higher priority, then higher address (RFC 5059 §3.1).
func preferred(prio uint8, addr netip.Addr, curPrio uint8, cur netip.Addr) bool {
	if !cur.IsValid() {
		return true
	}
	if prio != curPrio {
		return prio > curPrio
	}
	return addr.Compare(cur) > 0
}

// RandOverride is the Pending-BSR delay of RFC 5059 §3.1.1 (BS_Rand_Override):
//
//	Delay = 5 + 2*log2(1 + bestPriority - myPriority) + AddrDelay
//
// where AddrDelay is log2(bestAddr - myAddr)/16 (IPv4; /64 for IPv6) when the
// priorities are equal and 2 - myAddr/2^31 (2^127 for IPv6) otherwise. It is
// deterministic: the candidate that should win waits least.
func RandOverride(myPrio uint8, my netip.Addr, bestPrio uint8, best netip.Addr) time.Duration {
	if bestPrio < myPrio || !best.IsValid() {
		bestPrio = myPrio
		best = my
	}
	myF, bestF := addrFloat(my), addrFloat(best)
	bitsLen := float64(my.BitLen())
	var addrDelay float64
	if bestPrio == myPrio {
		diff := bestF - myF
		if diff < 1 {
			diff = 1
		}
		addrDelay = math.Log2(diff) / (bitsLen / 2)
	} else {
		addrDelay = 2 - myF/math.Pow(2, bitsLen-1)
	}
	d := 5 + 2*math.Log2(1+float64(bestPrio-myPrio)) + addrDelay
	return time.Duration(d * float64(time.Second))
}

func addrFloat(a netip.Addr) float64 {
	var f float64
	for _, x := range a.AsSlice() {
		f = f*256 + float64(x)
	}
	return f
}

// Receive handles a Bootstrap message. rpfOK is the caller's verdict of the
// RFC 5059 §3.1.3 checks for a multicast BSM (it came from the RPF neighbour
// towards the BSR address, on the RPF interface); unicast says the BSM was
// unicast to this router, which is accepted only while no BSR is known
// (a new neighbour's DR sending us its RP-set).
func (b *BSR) Receive(now int64, m Bootstrap, rpfOK, unicast bool) Result {
	if !m.BSR.IsValid() || m.BSR == b.cfg.Addr && b.cfg.Candidate {
		return Result{}
	}
	if unicast {
		if b.Elected.IsValid() && b.State != StateAcceptAny && b.State != StateNoInfo {
			return Result{}
		}
	} else if !rpfOK {
		return Result{}
	}
	fromElected := b.Elected.IsValid() && m.BSR == b.Elected
	var res Result
	switch b.State {
	case StateNoInfo, StateAcceptAny:
		res = b.accept(now, m, StateAcceptPreferred)
	case StateAcceptPreferred:
		if fromElected || preferred(m.Priority, m.BSR, b.ElectedPriority, b.Elected) {
			res = b.accept(now, m, StateAcceptPreferred)
		}
	case StatePending:
		if preferred(m.Priority, m.BSR, b.cfg.Priority, b.cfg.Addr) {
			res = b.accept(now, m, StateCandidate)
		}
	case StateCandidate:
		switch {
		case fromElected && !preferred(m.Priority, m.BSR, b.cfg.Priority, b.cfg.Addr):
			// Receive non-preferred BSM from the elected BSR: -> P-BSR, BS
			// Timer to rand_override.
			b.State = StatePending
			b.ElectedPriority = m.Priority
			b.Timer = now + int64(RandOverride(b.cfg.Priority, b.cfg.Addr, m.Priority, m.BSR))
		case fromElected || preferred(m.Priority, m.BSR, b.ElectedPriority, b.Elected):
			res = b.accept(now, m, StateCandidate)
		}
	case StateElected:
		if preferred(m.Priority, m.BSR, b.cfg.Priority, b.cfg.Addr) {
			res = b.accept(now, m, StateCandidate)
		} else {
			// Receive non-preferred BSM: originate a BSM at once, BS Timer
			// to BS_Period.
			o := b.originate(now, b.Tag+1)
			res.Originate = &o
			b.Timer = now + b.cfg.period()
		}
	}
	if unicast {
		res.Forward = false
	}
	if m.NoForward {
		res.Forward = false
	}
	return res
}

// accept stores the RP-set of m, makes its sender the elected BSR, restarts
// the Bootstrap Timer at BS_Timeout and moves to next.
func (b *BSR) accept(now int64, m Bootstrap, next BSRState) Result {
	res := Result{Forward: true, Accepted: true}
	if m.BSR != b.Elected {
		res.BSRChanged = true
	}
	if b.State == StateElected {
		b.CRPs = nil
	}
	b.State = next
	newBSR := m.BSR != b.Elected
	b.Elected, b.ElectedPriority = m.BSR, m.Priority
	b.HashMaskLen = m.HashMaskLen
	b.Timer = now + b.cfg.timeout()
	b.LastBSM = now
	res.Changed = b.store(now, m, newBSR || m.FragmentTag != b.Tag)
	return res
}

// store merges the group ranges of m into the stored RP-set. A new BSR or a
// new fragment tag replaces the set (RFC 5059 §3.1.3: "the RP-Set is
// replaced by the contents of the first fragment; later fragments with the
// same tag are merged").
func (b *BSR) store(now int64, m Bootstrap, replace bool) bool {
	old := b.rpSet()
	if replace {
		b.Ranges = nil
		b.Tag = m.FragmentTag
	}
	for _, g := range m.Groups {
		if !g.Prefix.IsValid() {
			continue
		}
		p := g.Prefix.Masked()
		i, ok := slices.BinarySearchFunc(b.Ranges, p, func(r rangeState, p netip.Prefix) int { return comparePrefix(r.Prefix, p) })
		if !ok {
			b.Ranges = slices.Insert(b.Ranges, i, rangeState{Prefix: p})
		}
		r := &b.Ranges[i]
		r.Expected = g.RPCount
		for _, rp := range g.RPs {
			c := Candidate{RP: rp.Addr, Groups: p, Priority: rp.Priority, Origin: OriginBootstrap,
				SBit: rp.SBit, Holdtime: rp.Holdtime, Expires: holdDeadline(now, rp.Holdtime), Learned: now}
			j := slices.IndexFunc(r.RPs, func(x Candidate) bool { return x.RP == rp.Addr })
			switch {
			case rp.Holdtime == 0 && j >= 0:
				r.RPs = slices.Delete(r.RPs, j, j+1)
			case rp.Holdtime == 0:
			case j >= 0:
				c.Learned = r.RPs[j].Learned
				r.RPs[j] = c
			default:
				r.RPs = append(r.RPs, c)
			}
		}
		sortCands(r.RPs)
	}
	b.Ranges = slices.DeleteFunc(b.Ranges, func(r rangeState) bool { return len(r.RPs) == 0 })
	return !slices.Equal(old, b.rpSet())
}

func holdDeadline(now int64, hold uint16) int64 {
	if hold == 0xffff {
		return Forever
	}
	return now + int64(hold)*int64(time.Second)
}

func comparePrefix(a, b netip.Prefix) int {
	if r := a.Addr().Compare(b.Addr()); r != 0 {
		return r
	}
	return a.Bits() - b.Bits()
}

// rpSet flattens the stored ranges (without Learned, which does not make a
// change).
func (b *BSR) rpSet() []Candidate {
	var out []Candidate
	for _, r := range b.Ranges {
		for _, c := range r.RPs {
			c.Learned = 0
			c.Expires = 0
			out = append(out, c)
		}
	}
	return out
}

// RPSet returns the bootstrap-learned RP-set (for Set.SetBootstrap).
func (b *BSR) RPSet() []Candidate {
	var out []Candidate
	for _, r := range b.Ranges {
		out = append(out, r.RPs...)
	}
	return out
}

// Expire runs the Bootstrap Timer and the RP holdtimes. newTag is the
// fragment tag to use if a BSM is originated (the caller's random source).
func (b *BSR) Expire(now int64, newTag uint16) Result {
	var res Result
	// RP holdtimes (learned set) and C-RP holdtimes (at the BSR).
	for i := range b.Ranges {
		r := &b.Ranges[i]
		n := len(r.RPs)
		r.RPs = slices.DeleteFunc(r.RPs, func(c Candidate) bool { return c.Expires != Forever && c.Expires <= now })
		if len(r.RPs) != n {
			res.Changed = true
		}
	}
	b.Ranges = slices.DeleteFunc(b.Ranges, func(r rangeState) bool { return len(r.RPs) == 0 })
	n := len(b.CRPs)
	b.CRPs = slices.DeleteFunc(b.CRPs, func(c Candidate) bool { return c.Expires != Forever && c.Expires <= now })
	if len(b.CRPs) != n && b.State == StateElected {
		if b.useCRPs(now) {
			res.Changed = true
		}
	}
	if b.Timer == 0 || b.Timer > now {
		return res
	}
	switch b.State {
	case StateCandidate:
		// The elected BSR timed out: -> P-BSR, BS Timer to rand_override.
		b.State = StatePending
		b.Timer = now + int64(RandOverride(b.cfg.Priority, b.cfg.Addr, b.ElectedPriority, b.Elected))
	case StatePending:
		// -> E-BSR: store the RP-set from the C-RP set, originate a BSM, BS
		// Timer to BS_Period.
		b.State = StateElected
		if b.Elected != b.cfg.Addr {
			res.BSRChanged = true
		}
		b.Elected, b.ElectedPriority = b.cfg.Addr, b.cfg.Priority
		b.HashMaskLen = b.cfg.hashMaskLen()
		if b.useCRPs(now) {
			res.Changed = true
		}
		o := b.originate(now, newTag)
		res.Originate = &o
		b.Timer = now + b.cfg.period()
	case StateElected:
		if b.useCRPs(now) {
			res.Changed = true
		}
		o := b.originate(now, newTag)
		res.Originate = &o
		b.Timer = now + b.cfg.period()
	case StateAcceptPreferred:
		// The BSR timed out: -> Accept Any (the RP-set stays until the RP
		// holdtimes run out).
		b.State = StateAcceptAny
		b.Timer = 0
	default:
		b.Timer = 0
	}
	return res
}

// useCRPs makes the C-RP set the stored RP-set (at the elected BSR).
func (b *BSR) useCRPs(now int64) bool {
	old := b.rpSet()
	b.Ranges = nil
	for _, c := range b.CRPs {
		p := c.Groups
		i, ok := slices.BinarySearchFunc(b.Ranges, p, func(r rangeState, p netip.Prefix) int { return comparePrefix(r.Prefix, p) })
		if !ok {
			b.Ranges = slices.Insert(b.Ranges, i, rangeState{Prefix: p})
		}
		b.Ranges[i].RPs = append(b.Ranges[i].RPs, c)
	}
	for i := range b.Ranges {
		sortCands(b.Ranges[i].RPs)
		b.Ranges[i].Expected = uint8(min(len(b.Ranges[i].RPs), 255))
	}
	return !slices.Equal(old, b.rpSet())
}

// originate builds the BSM the elected BSR sends (one fragment; RP
// holdtimes are the advertised ones).
func (b *BSR) originate(now int64, tag uint16) Bootstrap {
	b.Tag = tag
	m := Bootstrap{FragmentTag: tag, HashMaskLen: b.cfg.hashMaskLen(), Priority: b.cfg.Priority, BSR: b.cfg.Addr}
	for _, r := range b.Ranges {
		g := BSMGroup{Prefix: r.Prefix, RPCount: uint8(min(len(r.RPs), 255))}
		for _, c := range r.RPs {
			g.RPs = append(g.RPs, BSMRP{Addr: c.RP, Holdtime: c.Holdtime, Priority: c.Priority, SBit: c.SBit})
		}
		m.Groups = append(m.Groups, g)
	}
	b.LastBSM = now
	return m
}

// Current returns the BSM this router would send now as the elected BSR, or
// the stored RP-set as a BSM from the elected BSR (what a DR unicasts to a
// new neighbour, RFC 5059 §3.3), and false when it has none.
func (b *BSR) Current() (Bootstrap, bool) {
	if !b.Elected.IsValid() || len(b.Ranges) == 0 {
		return Bootstrap{}, false
	}
	m := Bootstrap{FragmentTag: b.Tag, HashMaskLen: b.HashMaskLen, Priority: b.ElectedPriority, BSR: b.Elected}
	for _, r := range b.Ranges {
		g := BSMGroup{Prefix: r.Prefix, RPCount: r.Expected}
		for _, c := range r.RPs {
			g.RPs = append(g.RPs, BSMRP{Addr: c.RP, Holdtime: c.Holdtime, Priority: c.Priority, SBit: c.SBit})
		}
		m.Groups = append(m.Groups, g)
	}
	return m, true
}

// ReceiveCRPAdv handles a C-RP-Adv (RFC 5059 §3.2). Only the elected BSR
// keeps a C-RP set; it reports false ("Rx CRP not BSR") otherwise. A
// holdtime of 0 withdraws the RP. The RP-set changes at the next BSM.
func (b *BSR) ReceiveCRPAdv(now int64, a CRPAdv) bool {
	if b.State != StateElected {
		return false
	}
	learned := now
	for _, c := range b.CRPs {
		if c.RP == a.RP {
			learned = c.Learned
			break
		}
	}
	b.CRPs = slices.DeleteFunc(b.CRPs, func(c Candidate) bool { return c.RP == a.RP })
	if a.Holdtime != 0 {
		groups := a.Groups
		if len(groups) == 0 {
			groups = []netip.Prefix{AllGroups}
		}
		for _, p := range groups {
			if !p.IsValid() || !p.Addr().IsMulticast() {
				continue
			}
			b.CRPs = append(b.CRPs, Candidate{RP: a.RP, Groups: p.Masked(), Priority: a.Priority,
				Origin: OriginBootstrap, SBit: a.SBit, Holdtime: a.Holdtime,
				Expires: holdDeadline(now, a.Holdtime), Learned: learned})
		}
	}
	sortCands(b.CRPs)
	return true
}

// NextDeadline is the earliest deadline of the machine (0: none).
func (b *BSR) NextDeadline() int64 {
	d := b.Timer
	upd := func(t int64) {
		if t != 0 && t != Forever && (d == 0 || t < d) {
			d = t
		}
	}
	for _, r := range b.Ranges {
		for _, c := range r.RPs {
			upd(c.Expires)
		}
	}
	for _, c := range b.CRPs {
		upd(c.Expires)
	}
	return d
}

// NewTag folds a random value into a fragment tag (kept here so that the
// caller's random source is the only randomness).
func NewTag(r uint64) uint16 { return uint16(r ^ r>>16 ^ r>>32 ^ bits.RotateLeft64(r, 7)) }
