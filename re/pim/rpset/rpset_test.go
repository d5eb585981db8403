package rpset

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func a(s string) netip.Addr   { return netip.MustParseAddr(s) }
func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// cHash is the hash as C implementations compute it, in 32-bit unsigned
// arithmetic that wraps (RFC 7761 §4.7.2 defines the result mod 2^31).
func cHash(g, mask, c uint32) uint32 {
	return (1103515245*((1103515245*(g&mask)+12345)^c) + 12345) % 0x80000000
}

func u32(x netip.Addr) uint32 { b := x.As4(); return binary.BigEndian.Uint32(b[:]) }

func TestHashMatchesThe32BitReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		var gb, cb [4]byte
		binary.BigEndian.PutUint32(gb[:], 0xe0000000|r.Uint32()>>4)
		binary.BigEndian.PutUint32(cb[:], r.Uint32())
		ml := r.IntN(33)
		mask := uint32(0)
		if ml > 0 {
			mask = ^uint32(0) << (32 - ml)
		}
		g, c := netip.AddrFrom4(gb), netip.AddrFrom4(cb)
		require.Equal(t, cHash(u32(g), mask, u32(c)), Hash(g, ml, c), "G=%v M=/%d C=%v", g, ml, c)
	}
}

func TestHashMaskGroupsShareAnRP(t *testing.T) {
	// With mask /30, the four groups of a /30 block hash alike.
	c := a("10.0.0.1")
	h := Hash(a("239.1.1.4"), 30, c)
	for _, g := range []string{"239.1.1.5", "239.1.1.6", "239.1.1.7"} {
		require.Equal(t, h, Hash(a(g), 30, c))
	}
}

func TestHashIPv6DigestIsTheXorOfWords(t *testing.T) {
	g, c := a("ff0e::1:2"), a("2001:db8::1")
	gb, cb := g.As16(), c.As16()
	fold := func(b [16]byte) uint32 {
		return binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^ binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
	}
	require.Equal(t, cHash(fold(gb), ^uint32(0), fold(cb)), Hash(g, 128, c))
}

func TestLookupRules(t *testing.T) {
	var s Set
	s.SetConfigured([]Candidate{
		{RP: a("10.0.0.1"), Groups: p("224.0.0.0/4"), Priority: 0, Origin: OriginStatic},
	})
	s.SetBootstrap([]Candidate{
		{RP: a("10.0.0.2"), Groups: p("239.0.0.0/8"), Priority: 200, Origin: OriginBootstrap, Expires: Forever},
		{RP: a("10.0.0.3"), Groups: p("239.0.0.0/8"), Priority: 100, Origin: OriginBootstrap, Expires: Forever},
		{RP: a("10.0.0.4"), Groups: p("239.0.0.0/8"), Priority: 100, Origin: OriginBootstrap, Expires: Forever},
		{RP: a("10.0.0.5"), Groups: p("238.0.0.0/8"), Priority: 1, Origin: OriginBootstrap, Expires: 1000},
	})
	c, ok := s.Lookup(a("230.1.1.1"), 0)
	require.True(t, ok)
	require.Equal(t, a("10.0.0.1"), c.RP, "only the /4 matches")

	// 239/8: the longest range beats the static /4 with priority 0; among
	// the /8s the lower priority value (100) wins; 10.0.0.3 and 10.0.0.4
	// tie on priority: the higher hash wins.
	for _, gs := range []string{"239.1.1.1", "239.2.3.4", "239.200.0.8", "239.9.9.9"} {
		g := a(gs)
		c, _ := s.Lookup(g, 0)
		h3, h4 := Hash(g, DefaultHashMaskLen, a("10.0.0.3")), Hash(g, DefaultHashMaskLen, a("10.0.0.4"))
		want := a("10.0.0.3")
		if h4 > h3 {
			want = a("10.0.0.4")
		}
		require.Equal(t, want, c.RP, "group %v", g)
	}
	c, _ = s.Lookup(a("238.1.1.1"), 999)
	require.Equal(t, a("10.0.0.5"), c.RP)
	c, _ = s.Lookup(a("238.1.1.1"), 1000)
	require.Equal(t, a("10.0.0.1"), c.RP, "an expired entry is ignored")
	require.True(t, s.Expire(1000))
	require.Len(t, s.Bootstrap(), 3)
	_, ok = s.Lookup(a("ff0e::1"), 0)
	require.False(t, ok)
}

func TestLookupHashSpreadsGroups(t *testing.T) {
	// Two equal candidates for 224/4 share the groups (about half each).
	var s Set
	s.SetBootstrap([]Candidate{
		{RP: a("10.0.0.3"), Groups: p("224.0.0.0/4"), Priority: 1, Expires: Forever},
		{RP: a("10.0.0.4"), Groups: p("224.0.0.0/4"), Priority: 1, Expires: Forever},
	})
	n := map[netip.Addr]int{}
	for i := 0; i < 1000; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 0xef000000|uint32(i)<<2)
		c, _ := s.Lookup(netip.AddrFrom4(b), 0)
		n[c.RP]++
	}
	require.InDelta(t, 500, n[a("10.0.0.3")], 100)
}

func TestMSDPServer(t *testing.T) {
	var s Set
	_, ok := s.MSDPServer(0)
	require.False(t, ok)
	s.SetBootstrap([]Candidate{
		{RP: a("10.0.0.1"), Groups: p("239.0.0.0/8"), Priority: 1, Expires: Forever},
		{RP: a("10.0.0.2"), Groups: p("224.0.0.0/4"), Priority: 255, SBit: true, Expires: Forever},
		{RP: a("10.0.0.3"), Groups: p("224.0.0.0/4"), Priority: 254, SBit: true, Expires: Forever},
	})
	c, ok := s.MSDPServer(0)
	require.True(t, ok)
	require.Equal(t, a("10.0.0.3"), c.RP, "the highest priority (lowest value) among S-bit RPs")
	s.SetBootstrap([]Candidate{
		{RP: a("10.0.0.2"), Groups: p("224.0.0.0/4"), Priority: 255, SBit: true, Expires: Forever},
		{RP: a("10.0.0.3"), Groups: p("224.0.0.0/4"), Priority: 255, SBit: true, Expires: Forever},
	})
	c, _ = s.MSDPServer(0)
	h2, h3 := Hash(MSDPServerGroup, DefaultHashMaskLen, a("10.0.0.2")), Hash(MSDPServerGroup, DefaultHashMaskLen, a("10.0.0.3"))
	want := a("10.0.0.2")
	if h3 > h2 {
		want = a("10.0.0.3")
	}
	require.Equal(t, want, c.RP, "a tie goes to the highest hash")
}

const sec = int64(time.Second)

func bsm(bsr string, prio uint8, tag uint16, rps ...BSMRP) Bootstrap {
	return Bootstrap{FragmentTag: tag, HashMaskLen: 30, Priority: prio, BSR: a(bsr),
		Groups: []BSMGroup{{Prefix: p("224.0.0.0/4"), RPCount: uint8(len(rps)), RPs: rps}}}
}

func rp(addr string, hold uint16) BSMRP { return BSMRP{Addr: a(addr), Holdtime: hold, Priority: 192} }

func candidate(t *testing.T, prio uint8) *BSR {
	b := &BSR{}
	b.Configure(BSRConfig{Candidate: true, Addr: a("10.0.0.5"), Priority: prio}, 100*sec)
	require.Equal(t, StatePending, b.State)
	require.Equal(t, 100*sec+130*sec, b.Timer, "C-BSR starts Pending with BS_Timeout")
	return b
}

// TestCandidateBSR covers the candidate-BSR machine of RFC 5059 §3.1.1.
func TestCandidateBSR(t *testing.T) {
	t.Run("C-BSR: Bootstrap Timer expires in Pending -> Elected, originate BSM, BS Timer = BS_Period", func(t *testing.T) {
		b := candidate(t, 10)
		b.ReceiveCRPAdv(0, CRPAdv{RP: a("10.9.9.9")}) // not elected yet: ignored
		res := b.Expire(b.Timer, 7)
		require.Equal(t, StateElected, b.State)
		require.NotNil(t, res.Originate)
		require.Equal(t, a("10.0.0.5"), res.Originate.BSR)
		require.Equal(t, uint16(7), res.Originate.FragmentTag)
		require.True(t, res.BSRChanged)
		require.Equal(t, 230*sec+60*sec, b.Timer)
	})
	t.Run("C-BSR: Receive preferred BSM in Pending -> Candidate, forward, store RP-set, BS Timer = BS_Timeout", func(t *testing.T) {
		b := candidate(t, 10)
		res := b.Receive(110*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		require.Equal(t, StateCandidate, b.State)
		require.True(t, res.Forward)
		require.True(t, res.Changed)
		require.Equal(t, 240*sec, b.Timer)
		require.Len(t, b.RPSet(), 1)
	})
	t.Run("C-BSR: Receive non-preferred BSM in Pending -> Pending, not forwarded", func(t *testing.T) {
		b := candidate(t, 10)
		res := b.Receive(110*sec, bsm("10.0.0.9", 5, 1, rp("10.1.1.1", 150)), true, false)
		require.Equal(t, StatePending, b.State)
		require.False(t, res.Forward)
	})
	t.Run("C-BSR: Receive BSM from the elected BSR in Candidate -> Candidate, forward, BS Timer restarted", func(t *testing.T) {
		b := candidate(t, 10)
		b.Receive(110*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		res := b.Receive(170*sec, bsm("10.0.0.9", 20, 2, rp("10.1.1.2", 150)), true, false)
		require.True(t, res.Forward)
		require.Equal(t, 300*sec, b.Timer)
		require.Equal(t, a("10.1.1.2"), b.RPSet()[0].RP, "a new fragment tag replaces the RP-set")
	})
	t.Run("C-BSR: Receive non-preferred BSM from the elected BSR in Candidate -> Pending, BS Timer = rand_override", func(t *testing.T) {
		b := candidate(t, 10)
		b.Receive(110*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		res := b.Receive(120*sec, bsm("10.0.0.9", 1, 1, rp("10.1.1.1", 150)), true, false)
		require.Equal(t, StatePending, b.State)
		require.False(t, res.Forward)
		require.Equal(t, 120*sec+int64(RandOverride(10, a("10.0.0.5"), 1, a("10.0.0.9"))), b.Timer)
	})
	t.Run("C-BSR: Receive non-preferred BSM from another router in Candidate -> ignored", func(t *testing.T) {
		b := candidate(t, 10)
		b.Receive(110*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		res := b.Receive(120*sec, bsm("10.0.0.7", 15, 1), true, false)
		require.Equal(t, StateCandidate, b.State)
		require.False(t, res.Forward)
		require.Equal(t, a("10.0.0.9"), b.Elected)
	})
	t.Run("C-BSR: Bootstrap Timer expires in Candidate -> Pending, BS Timer = rand_override", func(t *testing.T) {
		b := candidate(t, 10)
		b.Receive(110*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		b.Expire(b.Timer, 1)
		require.Equal(t, StatePending, b.State)
	})
	t.Run("C-BSR: Receive preferred BSM in Elected -> Candidate", func(t *testing.T) {
		b := candidate(t, 10)
		b.Expire(b.Timer, 1)
		res := b.Receive(240*sec, bsm("10.0.0.9", 20, 1, rp("10.1.1.1", 150)), true, false)
		require.Equal(t, StateCandidate, b.State)
		require.True(t, res.Forward)
		require.True(t, res.BSRChanged)
	})
	t.Run("C-BSR: Receive non-preferred BSM in Elected -> Elected, originate a BSM at once", func(t *testing.T) {
		b := candidate(t, 10)
		b.Expire(b.Timer, 1)
		res := b.Receive(240*sec, bsm("10.0.0.9", 1, 1), true, false)
		require.Equal(t, StateElected, b.State)
		require.NotNil(t, res.Originate)
		require.Equal(t, 300*sec, b.Timer)
	})
	t.Run("C-BSR: Bootstrap Timer expires in Elected -> originate, BS_Period", func(t *testing.T) {
		b := candidate(t, 10)
		b.Expire(b.Timer, 1)
		res := b.Expire(b.Timer, 2)
		require.NotNil(t, res.Originate)
		require.Equal(t, StateElected, b.State)
	})
}

// TestNonCandidateBSR covers §3.1.2.
func TestNonCandidateBSR(t *testing.T) {
	t.Run("non-C-BSR: Receive BSM in NoInfo -> AcceptPreferred, forward, store", func(t *testing.T) {
		var b BSR
		res := b.Receive(0, bsm("10.0.0.9", 1, 1, rp("10.1.1.1", 150)), true, false)
		require.Equal(t, StateAcceptPreferred, b.State)
		require.True(t, res.Forward)
		require.True(t, res.Changed)
		require.Equal(t, 130*sec, b.Timer)
	})
	t.Run("non-C-BSR: Receive non-preferred BSM in AcceptPreferred -> ignored", func(t *testing.T) {
		var b BSR
		b.Receive(0, bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150)), true, false)
		res := b.Receive(sec, bsm("10.0.0.8", 10, 1, rp("10.1.1.2", 150)), true, false)
		require.False(t, res.Forward)
		require.Equal(t, a("10.0.0.9"), b.Elected)
	})
	t.Run("non-C-BSR: Receive preferred BSM in AcceptPreferred -> AcceptPreferred with the new BSR", func(t *testing.T) {
		var b BSR
		b.Receive(0, bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150)), true, false)
		res := b.Receive(sec, bsm("10.0.0.8", 11, 1, rp("10.1.1.2", 150)), true, false)
		require.True(t, res.Forward)
		require.True(t, res.BSRChanged)
		require.Equal(t, a("10.0.0.8"), b.Elected)
	})
	t.Run("non-C-BSR: Bootstrap Timer expires in AcceptPreferred -> AcceptAny, RP-set kept", func(t *testing.T) {
		var b BSR
		b.Receive(0, bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150)), true, false)
		b.Expire(130*sec, 1)
		require.Equal(t, StateAcceptAny, b.State)
		require.Len(t, b.RPSet(), 1)
		res := b.Receive(131*sec, bsm("10.0.0.1", 0, 1, rp("10.1.1.3", 150)), true, false)
		require.Equal(t, StateAcceptPreferred, b.State, "AcceptAny takes any BSM")
		require.True(t, res.Forward)
	})
	t.Run("non-C-BSR: a BSM failing the RPF check is dropped", func(t *testing.T) {
		var b BSR
		res := b.Receive(0, bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150)), false, false)
		require.Equal(t, StateNoInfo, b.State)
		require.False(t, res.Forward)
	})
	t.Run("non-C-BSR: a unicast BSM is accepted only while no BSR is known, and never forwarded", func(t *testing.T) {
		var b BSR
		res := b.Receive(0, bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150)), false, true)
		require.Equal(t, StateAcceptPreferred, b.State)
		require.False(t, res.Forward)
		res = b.Receive(sec, bsm("10.0.0.9", 10, 2, rp("10.1.1.2", 150)), false, true)
		require.False(t, res.Changed)
	})
	t.Run("non-C-BSR: the No-Forward bit stops forwarding", func(t *testing.T) {
		var b BSR
		m := bsm("10.0.0.9", 10, 1, rp("10.1.1.1", 150))
		m.NoForward = true
		res := b.Receive(0, m, true, false)
		require.False(t, res.Forward)
		require.True(t, res.Changed)
	})
}

func TestBSRFragmentsAndHoldtimes(t *testing.T) {
	var b BSR
	m1 := Bootstrap{FragmentTag: 5, Priority: 1, BSR: a("10.0.0.9"), HashMaskLen: 30,
		Groups: []BSMGroup{{Prefix: p("239.0.0.0/8"), RPCount: 2, RPs: []BSMRP{rp("10.1.1.1", 150)}}}}
	m2 := m1
	m2.Groups = []BSMGroup{{Prefix: p("239.0.0.0/8"), RPCount: 2, RPs: []BSMRP{rp("10.1.1.2", 30)}},
		{Prefix: p("238.0.0.0/8"), RPCount: 1, RPs: []BSMRP{{Addr: a("10.1.1.3"), Holdtime: 150, SBit: true}}}}
	b.Receive(0, m1, true, false)
	b.Receive(0, m2, true, false)
	require.Len(t, b.RPSet(), 3, "fragments with the same tag merge")
	res := b.Expire(30*sec, 0)
	require.True(t, res.Changed)
	require.Len(t, b.RPSet(), 2, "the RP with holdtime 30 expired")
	m3 := m1
	m3.FragmentTag = 6
	b.Receive(40*sec, m3, true, false)
	require.Len(t, b.RPSet(), 1, "a new tag replaces the set")
	cur, ok := b.Current()
	require.True(t, ok)
	require.Equal(t, a("10.0.0.9"), cur.BSR)
}

func TestCRPAdvAtTheBSR(t *testing.T) {
	b := candidate(t, 10)
	require.False(t, b.ReceiveCRPAdv(0, CRPAdv{RP: a("10.2.2.2"), Holdtime: 150}), "not the BSR")
	b.Expire(b.Timer, 1)
	now := b.Timer
	require.True(t, b.ReceiveCRPAdv(now, CRPAdv{RP: a("10.2.2.2"), Priority: 5, Holdtime: 150, SBit: true}))
	require.True(t, b.ReceiveCRPAdv(now, CRPAdv{RP: a("10.2.2.3"), Priority: 9, Holdtime: 150,
		Groups: []netip.Prefix{p("239.0.0.0/8"), p("238.0.0.0/8")}}))
	res := b.Expire(b.Timer, 2)
	require.NotNil(t, res.Originate)
	require.True(t, res.Changed)
	require.Len(t, res.Originate.Groups, 3)
	var sbit bool
	for _, g := range res.Originate.Groups {
		for _, r := range g.RPs {
			if r.Addr == a("10.2.2.2") {
				sbit = r.SBit
				require.Equal(t, AllGroups, g.Prefix, "no group prefix: 224/4")
			}
		}
	}
	require.True(t, sbit, "the S-bit is carried from the C-RP-Adv into the BSM (seed 001)")
	// Holdtime 0 withdraws.
	b.ReceiveCRPAdv(b.Timer, CRPAdv{RP: a("10.2.2.3"), Holdtime: 0})
	res = b.Expire(b.Timer, 3)
	require.Len(t, res.Originate.Groups, 1)
}

func TestRandOverride(t *testing.T) {
	better := RandOverride(10, a("10.0.0.9"), 10, a("10.0.0.9"))
	worse := RandOverride(10, a("10.0.0.1"), 10, a("10.0.0.9"))
	require.Less(t, better, worse, "at equal priority the higher address waits less")
	require.Equal(t, 5*time.Second, better)
	lowPrio := RandOverride(1, a("10.0.0.9"), 100, a("10.0.0.1"))
	require.Greater(t, lowPrio, 15*time.Second, "a much lower priority waits much longer")
}
