package xdp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestBuildTrapMaps(t *testing.T) {
	a := netip.MustParseAddr
	traps := []hal.Trap{
		{ID: 9, Kind: hal.TrapProtocol, Proto: 103},
		{ID: 3, Kind: hal.TrapProtocol, Proto: 103}, // the lower id wins
		{ID: 4, Kind: hal.TrapLocal, Addr: a("10.0.0.1")},
		{ID: 2, Kind: hal.TrapLocal, Addr: a("10.0.0.1")},
		{ID: 5, Kind: hal.TrapARP, Addr: a("10.0.0.1")},
		{ID: 7, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/4")},
		{ID: 6, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.9/24")},
	}
	m, err := buildTrapMaps(traps, 16)
	require.NoError(t, err)
	assert.Equal(t, uint16(3), m.cfg.Proto[103])
	assert.Equal(t, map[trapAddrKey]uint32{
		{Addr: [4]byte{10, 0, 0, 1}, Kind: trapAddrLocal}: 2,
		{Addr: [4]byte{10, 0, 0, 1}, Kind: trapAddrARP}:   5,
	}, m.addrs)
	assert.Equal(t, trapFlagLocal, m.cfg.Flags, "no local trap on a group address")
	require.Equal(t, uint32(2), m.cfg.NGroups)
	assert.Equal(t, trapGroup{Addr: [4]byte{224, 0, 0, 0}, Mask: [4]byte{255, 255, 255, 0}, ID: 6}, m.cfg.Groups[0], "in id order, masked")
	assert.Equal(t, trapGroup{Addr: [4]byte{224, 0, 0, 0}, Mask: [4]byte{240, 0, 0, 0}, ID: 7}, m.cfg.Groups[1])

	m, err = buildTrapMaps([]hal.Trap{{ID: 1, Kind: hal.TrapLocal, Addr: a("224.0.0.9")}}, 16)
	require.NoError(t, err)
	assert.Equal(t, trapFlagLocalMcast, m.cfg.Flags)

	var many []hal.Trap
	for i := range maxGroupTraps + 1 {
		many = append(many, hal.Trap{ID: hal.TrapID(i + 1), Kind: hal.TrapGroup, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{239, byte(i), 0, 0}), 16)})
	}
	_, err = buildTrapMaps(many, 16)
	assert.ErrorIs(t, err, hal.ErrTableFull)
	_, err = buildTrapMaps(many[:maxGroupTraps], 16)
	assert.NoError(t, err)
	var addrs []hal.Trap
	for i := range 17 {
		addrs = append(addrs, hal.Trap{ID: hal.TrapID(i + 1), Kind: hal.TrapARP, Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})})
	}
	_, err = buildTrapMaps(addrs, 16)
	assert.ErrorIs(t, err, hal.ErrTableFull)
}

// TestTrapsMatchTrapTable is a differential test of the programs'
// classifier against hal.TrapTable: random sets of traps of every kind,
// with overlapping prefixes, duplicate addresses and local traps on group
// addresses, are programmed one after the other (each replacing the last:
// the maps switch configurations and delete addresses), and frames of
// random protocols to random destinations, and ARP for random targets,
// run through the tc program with Input. Every frame the table traps must
// be punted with the table's trap id, as received; no other frame may be
// punted. Too many group traps or addresses fail with hal.ErrTableFull
// and leave the traps as they were.
func TestTrapsMatchTrapTable(t *testing.T) {
	lab := porttest.NewLab(t)
	rtr, peer := lab.NS("r"), lab.NS("p")
	lab.Veth(rtr, "p0", peer, "q0")
	rec := haltest.NewRecorder()
	var d *Driver
	starter(ModeTC, &d, "trap-addrs", "24")(t, rtr, map[string]string{"xe-3/0/0": "p0"}, rec)
	const ifl hal.IFLIndex = 300
	_, err := d.Apply(t.Context(), []hal.Op{{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ifl, Name: "xe-3/0/0.0", Kind: hal.IFLPhysical, MTU: 1500, Up: true}}})
	require.NoError(t, err)

	a := netip.MustParseAddr
	addrs := []netip.Addr{a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3"), a("10.1.2.3"), a("224.0.0.9"), a("224.0.1.5"), a("239.1.1.1"), a("255.255.255.255")}
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("224.0.0.0/24"), netip.MustParsePrefix("224.0.0.0/16"), netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("239.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/30"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("224.0.1.5/32"),
	}
	protos := []uint8{1, 2, 6, 17, 89, 103}
	rng := rand.New(rand.NewPCG(12, 2026))
	var programmed []hal.Trap
	sent, trapped := 0, 0
	for round := range 30 {
		var traps []hal.Trap
		ids := rng.Perm(200)
		for i := range 2 + rng.IntN(14) {
			tr := hal.Trap{ID: hal.TrapID(ids[i] + 1)}
			switch rng.IntN(4) {
			case 0:
				tr.Kind, tr.Addr = hal.TrapARP, addrs[rng.IntN(len(addrs))]
			case 1:
				tr.Kind, tr.Addr = hal.TrapLocal, addrs[rng.IntN(len(addrs))]
			case 2:
				tr.Kind, tr.Proto = hal.TrapProtocol, protos[rng.IntN(len(protos))]
			case 3:
				tr.Kind, tr.Prefix = hal.TrapGroup, prefixes[rng.IntN(len(prefixes))]
			}
			traps = append(traps, tr)
		}
		var ops []hal.Op
		for _, tr := range programmed {
			ops = append(ops, hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: tr.ID}})
		}
		for _, tr := range traps {
			ops = append(ops, hal.Op{Kind: hal.OpSetTrap, Trap: tr})
		}
		k, err := d.Apply(t.Context(), ops)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, len(ops), k)
		programmed = traps
		table, err := hal.NewTrapTable(traps)
		require.NoError(t, err)

		rec.Reset()
		var frames [][]byte
		want := map[int]hal.TrapID{}
		for i := range 40 {
			var f []byte
			if rng.IntN(5) == 0 {
				f = haltest.ARPFrame(uint16(1+rng.IntN(2)), haltest.IFLMAC(999), netip.AddrFrom4([4]byte{10, 128, byte(round), byte(i)}), addrs[rng.IntN(len(addrs))])
			} else {
				dst := addrs[rng.IntN(len(addrs))]
				if rng.IntN(4) == 0 {
					dst = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), 0, 1})
				}
				f = haltest.BuildFrame(haltest.FrameSpec{Source: netip.AddrFrom4([4]byte{10, 128, byte(round), byte(i)}), Group: dst, TTL: 1 + uint8(rng.IntN(64)),
					Proto: protos[rng.IntN(len(protos))], ID: uint16(round<<8 | i), Payload: 24})
			}
			if id, ok := table.Match(f); ok {
				want[i] = id
			}
			frames = append(frames, f)
		}
		require.NoError(t, d.Input(ifl, frames))
		require.True(t, rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool { return len(r.Punts()) >= len(want) }),
			"round %d: %d punts, want %d", round, len(rec.Punts()), len(want))
		time.Sleep(20 * time.Millisecond)
		got := map[int]hal.TrapID{}
		for _, p := range rec.Punts() {
			i := slices.IndexFunc(frames, func(f []byte) bool { return bytes.Equal(f, p.Frame) })
			require.GreaterOrEqual(t, i, 0, "round %d: a punt of a frame never sent", round)
			assert.Equal(t, ifl, p.Ingress)
			got[i] = p.Trap
		}
		if !assert.Equal(t, want, got, "round %d: traps %v", round, traps) {
			for i := range frames {
				if want[i] != got[i] {
					t.Logf("frame %d: want trap %d, got %d: % x", i, want[i], got[i], frames[i][:42])
				}
			}
		}
		sent += len(frames)
		trapped += len(want)
	}
	t.Logf("%d frames, %d trapped", sent, trapped)
	assert.Greater(t, trapped, sent/4)
	assert.Less(t, trapped, sent*3/4)

	// Beyond the maps' capacity: refused, the traps stay as they were.
	var ops []hal.Op
	for i := range maxGroupTraps + 1 {
		ops = append(ops, hal.Op{Kind: hal.OpSetTrap, Trap: hal.Trap{ID: hal.TrapID(1000 + i), Kind: hal.TrapGroup, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{239, byte(i), 0, 0}), 16)}})
	}
	for i := range 25 {
		ops = append(ops, hal.Op{Kind: hal.OpSetTrap, Trap: hal.Trap{ID: hal.TrapID(2000 + i), Kind: hal.TrapARP, Addr: netip.AddrFrom4([4]byte{10, 77, 0, byte(i)})}})
	}
	k, err := d.Apply(t.Context(), ops)
	assert.ErrorIs(t, err, hal.ErrTableFull)
	assert.Less(t, k, len(ops))
	have := d.core.Traps()
	assert.Len(t, have, len(programmed)+k, "the refused traps are not kept")
	_, err = buildTrapMaps(have, 24)
	assert.NoError(t, err)
}

// TestLinkState: the kernel's operational state of a port reaches
// OnLinkState (the state when the IFL is bound, then each change of the
// veth's peer), as with afpacket.
func TestLinkState(t *testing.T) {
	lab := porttest.NewLab(t)
	rtr, peer := lab.NS("r"), lab.NS("p")
	lab.Veth(rtr, "p0", peer, "q0")
	rec := haltest.NewRecorder()
	var d *Driver
	starter(ModeTC, &d)(t, rtr, map[string]string{"xe-3/0/0": "p0"}, rec)
	const ifl hal.IFLIndex = 300
	_, err := d.Apply(t.Context(), []hal.Op{{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: ifl, Name: "xe-3/0/0.0", Kind: hal.IFLPhysical, MTU: 1500, Up: true}}})
	require.NoError(t, err)
	wait := func(want []hal.LinkState) {
		t.Helper()
		ok := rec.WaitFor(10*time.Second, func(r *haltest.Recorder) bool { return len(r.LinkStates()) >= len(want) })
		require.True(t, ok, "link states %v, want %v", rec.LinkStates(), want)
		assert.Equal(t, want, rec.LinkStates())
	}
	wait([]hal.LinkState{{IFL: ifl, Up: true}})
	up, known := d.LinkUp(ifl)
	assert.True(t, up && known)
	lab.IP("-n", peer, "link", "set", "q0", "down")
	wait([]hal.LinkState{{IFL: ifl, Up: true}, {IFL: ifl, Up: false}})
	up, _ = d.LinkUp(ifl)
	assert.False(t, up)
	lab.IP("-n", peer, "link", "set", "q0", "up")
	wait([]hal.LinkState{{IFL: ifl, Up: true}, {IFL: ifl, Up: false}, {IFL: ifl, Up: true}})
	_, known = d.LinkUp(4242)
	assert.False(t, known)
}
