package hal_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

var (
	routerAddr = netip.MustParseAddr("10.128.2.1")
	otherAddr  = netip.MustParseAddr("10.128.2.99")
)

// ipv4Frame builds a minimal Ethernet + IPv4 frame (no payload check).
func ipv4Frame(proto uint8, dst netip.Addr) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 28)
	ip[8] = 1
	ip[9] = proto
	copy(ip[12:16], []byte{10, 0, 0, 1})
	d := dst.As4()
	copy(ip[16:20], d[:])
	return f
}

// arpFrame builds an Ethernet/IPv4 ARP frame with operation op.
func arpFrame(op uint16, target netip.Addr) []byte {
	f := make([]byte, 14+28)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[14:18], []byte{10, 128, 2, 2})
	t := target.As4()
	copy(a[24:28], t[:])
	return f
}

func standardTraps() []hal.Trap {
	return []hal.Trap{
		{ID: 1, Kind: hal.TrapARP, Addr: routerAddr},
		{ID: 2, Kind: hal.TrapLocal, Addr: routerAddr},
		{ID: 3, Kind: hal.TrapProtocol, Proto: 103},
		{ID: 4, Kind: hal.TrapProtocol, Proto: 2},
		{ID: 5, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")},
	}
}

func TestTrapTableMatch(t *testing.T) {
	tab, err := hal.NewTrapTable(standardTraps())
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  hal.TrapID
	}{
		{"ARP request for the router", arpFrame(1, routerAddr), 1},
		{"ARP reply to the router", arpFrame(2, routerAddr), 1},
		{"ARP for another host is not trapped", arpFrame(1, otherAddr), 0},
		{"ARP with an unknown operation", arpFrame(3, routerAddr), 0},
		{"ARP truncated", arpFrame(1, routerAddr)[:41], 0},
		{"PIM hello to 224.0.0.13: protocol before group", ipv4Frame(103, netip.MustParseAddr("224.0.0.13")), 3},
		{"PIM register to the router: protocol before local", ipv4Frame(103, routerAddr), 3},
		{"IGMP report to a routed group", ipv4Frame(2, netip.MustParseAddr("232.1.1.1")), 4},
		{"TCP to the router: local", ipv4Frame(6, routerAddr), 2},
		{"ICMP to the router: local", ipv4Frame(1, routerAddr), 2},
		{"OSPF hello to 224.0.0.5: group", ipv4Frame(89, netip.MustParseAddr("224.0.0.5")), 5},
		{"mDNS to 224.0.0.251: group", ipv4Frame(17, netip.MustParseAddr("224.0.0.251")), 5},
		{"UDP to a routed group: not trapped", ipv4Frame(17, netip.MustParseAddr("232.0.7.1")), 0},
		{"UDP to 224.0.1.1: outside the group prefix", ipv4Frame(17, netip.MustParseAddr("224.0.1.1")), 0},
		{"TCP to another host: not trapped", ipv4Frame(6, otherAddr), 0},
		{"IPv6 ethertype", append(ipv4Frame(103, routerAddr)[:12], 0x86, 0xdd, 0x60), 0},
		{"short frame", []byte{1, 2, 3}, 0},
		{"IPv4 with a bad version", func() []byte { f := ipv4Frame(103, routerAddr); f[14] = 0x65; return f }(), 0},
		{"IPv4 total length beyond the frame", func() []byte { f := ipv4Frame(103, routerAddr); f[17] = 200; return f }(), 0},
		{"IPv4 IHL below 5", func() []byte { f := ipv4Frame(103, routerAddr); f[14] = 0x44; return f }(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := tab.Match(tc.frame)
			assert.Equal(t, tc.want, id)
			assert.Equal(t, tc.want != 0, ok)
		})
	}
}

func TestTrapTableLowestIDWinsWithinKind(t *testing.T) {
	tab, err := hal.NewTrapTable([]hal.Trap{
		{ID: 9, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/4")},
		{ID: 7, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")},
		{ID: 8, Kind: hal.TrapLocal, Addr: routerAddr},
		{ID: 6, Kind: hal.TrapLocal, Addr: routerAddr},
		{ID: 11, Kind: hal.TrapProtocol, Proto: 103},
		{ID: 10, Kind: hal.TrapProtocol, Proto: 103},
		{ID: 13, Kind: hal.TrapARP, Addr: routerAddr},
		{ID: 12, Kind: hal.TrapARP, Addr: routerAddr},
	})
	require.NoError(t, err)
	check := func(f []byte, want hal.TrapID) {
		t.Helper()
		id, ok := tab.Match(f)
		assert.True(t, ok)
		assert.Equal(t, want, id)
	}
	check(ipv4Frame(17, netip.MustParseAddr("224.0.0.9")), 7)
	check(ipv4Frame(17, netip.MustParseAddr("239.1.1.1")), 9)
	check(ipv4Frame(6, routerAddr), 6)
	check(ipv4Frame(103, routerAddr), 10)
	check(arpFrame(1, routerAddr), 12)
}

func TestTrapTableSetDelete(t *testing.T) {
	var empty *hal.TrapTable
	_, ok := empty.Match(ipv4Frame(103, routerAddr))
	assert.False(t, ok, "a nil table traps nothing")
	assert.Zero(t, empty.Len())

	tab, err := empty.Set(hal.Trap{ID: 3, Kind: hal.TrapProtocol, Proto: 103})
	require.NoError(t, err)
	id, ok := tab.Match(ipv4Frame(103, routerAddr))
	require.True(t, ok)
	assert.Equal(t, hal.TrapID(3), id)

	// Replace: the same id now traps IGMP only.
	tab2, err := tab.Set(hal.Trap{ID: 3, Kind: hal.TrapProtocol, Proto: 2})
	require.NoError(t, err)
	_, ok = tab2.Match(ipv4Frame(103, routerAddr))
	assert.False(t, ok)
	_, ok = tab.Match(ipv4Frame(103, routerAddr))
	assert.True(t, ok, "the old table is unchanged")
	assert.Equal(t, 1, tab2.Len())
	got, ok := tab2.Get(3)
	require.True(t, ok)
	assert.Equal(t, uint8(2), got.Proto)

	_, err = tab2.Delete(4)
	assert.ErrorIs(t, err, hal.ErrNotFound)
	tab3, err := tab2.Delete(3)
	require.NoError(t, err)
	assert.Zero(t, tab3.Len())

	for _, bad := range []hal.Trap{
		{ID: 0, Kind: hal.TrapProtocol, Proto: 103},
		{ID: hal.TrapEncap, Kind: hal.TrapProtocol, Proto: 103},
		{ID: 1, Kind: 9},
		{ID: 1, Kind: hal.TrapARP},
		{ID: 1, Kind: hal.TrapLocal, Addr: netip.MustParseAddr("::1")},
		{ID: 1, Kind: hal.TrapGroup},
	} {
		_, err := tab.Set(bad)
		assert.ErrorIs(t, err, hal.ErrInvalid, "%+v", bad)
	}
	_, err = hal.NewTrapTable([]hal.Trap{{ID: 1, Kind: hal.TrapProtocol, Proto: 2}, {ID: 1, Kind: hal.TrapProtocol, Proto: 103}})
	assert.ErrorIs(t, err, hal.ErrInvalid, "duplicate id")
}

func TestTrapTableZeroAllocs(t *testing.T) {
	tab, err := hal.NewTrapTable(standardTraps())
	require.NoError(t, err)
	frames := [][]byte{arpFrame(1, routerAddr), ipv4Frame(103, routerAddr), ipv4Frame(17, netip.MustParseAddr("232.1.1.1")), ipv4Frame(6, routerAddr)}
	n := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			tab.Match(f)
		}
	})
	assert.Zero(t, n)
}

// naiveMatch is the precedence of trap.go written as plainly as possible:
// the reference the table is checked against.
func naiveMatch(traps []hal.Trap, frame []byte) (hal.TrapID, bool) {
	best := func(kind hal.TrapKind, match func(hal.Trap) bool) hal.TrapID {
		var id hal.TrapID
		for _, tr := range traps {
			if tr.Kind == kind && match(tr) && (id == 0 || tr.ID < id) {
				id = tr.ID
			}
		}
		return id
	}
	if len(frame) < 14 {
		return 0, false
	}
	if target, ok := hal.ARPTarget(frame); ok {
		a := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, target)))
		id := best(hal.TrapARP, func(tr hal.Trap) bool { return tr.Addr == a })
		return id, id != 0
	}
	if frame[12] != 0x08 || frame[13] != 0 || len(frame) < 34 {
		return 0, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&15) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || tot < ihl || tot > len(ip) {
		return 0, false
	}
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	for _, k := range []struct {
		kind  hal.TrapKind
		match func(hal.Trap) bool
	}{
		{hal.TrapProtocol, func(tr hal.Trap) bool { return tr.Proto == ip[9] }},
		{hal.TrapLocal, func(tr hal.Trap) bool { return tr.Addr == dst }},
		{hal.TrapGroup, func(tr hal.Trap) bool { return tr.Prefix.Contains(dst) }},
	} {
		if id := best(k.kind, k.match); id != 0 {
			return id, true
		}
	}
	return 0, false
}

// randomTrap draws from a small space so that overlaps are common.
func randomTrap(r *rand.Rand, id hal.TrapID) hal.Trap {
	addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(4))})
	switch r.IntN(4) {
	case 0:
		return hal.Trap{ID: id, Kind: hal.TrapARP, Addr: addr}
	case 1:
		return hal.Trap{ID: id, Kind: hal.TrapLocal, Addr: addr}
	case 2:
		return hal.Trap{ID: id, Kind: hal.TrapProtocol, Proto: uint8(r.IntN(4))}
	}
	base := []netip.Addr{netip.MustParseAddr("224.0.0.0"), netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("0.0.0.0")}
	return hal.Trap{ID: id, Kind: hal.TrapGroup, Prefix: netip.PrefixFrom(base[r.IntN(3)], r.IntN(33))}
}

// TestTrapTableDifferential checks Match against naiveMatch over random
// tables and frames.
func TestTrapTableDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var traps []hal.Trap
		for i := range r.IntN(12) {
			traps = append(traps, randomTrap(r, hal.TrapID(1+i*3+r.IntN(3))))
		}
		tab, err := hal.NewTrapTable(traps)
		require.NoError(t, err)
		for range 50 {
			dst := netip.AddrFrom4([4]byte{[]byte{10, 224, 232}[r.IntN(3)], 0, 0, byte(r.IntN(5))})
			var f []byte
			if r.IntN(3) == 0 {
				f = arpFrame(uint16(1+r.IntN(2)), dst)
			} else {
				f = ipv4Frame(uint8(r.IntN(5)), dst)
			}
			gotID, gotOK := tab.Match(f)
			wantID, wantOK := naiveMatch(traps, f)
			require.Equal(t, wantOK, gotOK, "round %d traps %v frame %x", round, traps, f)
			require.Equal(t, wantID, gotID, "round %d traps %v frame %x", round, traps, f)
		}
	}
}

// FuzzTrapTableMatch feeds arbitrary frames to a table: no panic, and the
// same answer as the naive reference.
func FuzzTrapTableMatch(f *testing.F) {
	f.Add(arpFrame(1, routerAddr))
	f.Add(ipv4Frame(103, netip.MustParseAddr("224.0.0.13")))
	f.Add(ipv4Frame(6, routerAddr))
	f.Add([]byte{})
	traps := standardTraps()
	tab, err := hal.NewTrapTable(traps)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, frame []byte) {
		gotID, gotOK := tab.Match(frame)
		wantID, wantOK := naiveMatch(traps, frame)
		if gotID != wantID || gotOK != wantOK {
			t.Fatalf("Match = %d,%v; reference %d,%v", gotID, gotOK, wantID, wantOK)
		}
	})
}

func BenchmarkTrapTableMatch(b *testing.B) {
	tab, err := hal.NewTrapTable(standardTraps())
	require.NoError(b, err)
	f := ipv4Frame(17, netip.MustParseAddr("232.1.1.1"))
	for b.Loop() {
		tab.Match(f)
	}
}
