package afpacket

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// TestRXFilterTraps runs the filter built from the conformance traps plus
// a protocol trap (OSPF) and a broadcast group trap in x/net/bpf's
// interpreter: what a trap wants passes, transit unicast still does not.
func TestRXFilterTraps(t *testing.T) {
	traps := append(haltest.Traps(),
		hal.Trap{ID: 8, Kind: hal.TrapProtocol, Proto: 89},
		hal.Trap{ID: 9, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("255.255.255.255/32")},
	)
	run := func(traps []hal.Trap, f []byte) bool {
		var raw []bpf.RawInstruction
		for _, ins := range rxFilter(traps) {
			raw = append(raw, bpf.RawInstruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K})
		}
		insns, ok := bpf.Disassemble(raw)
		require.True(t, ok)
		vm, err := bpf.NewVM(insns)
		require.NoError(t, err)
		n, err := vm.Run(f)
		require.NoError(t, err)
		return n > 0 && wanted(f)
	}
	mac := []byte{0x02, 0, 0, 0, 0, 1}
	uni := func(dst string, proto uint8) []byte {
		return haltest.BuildFrame(haltest.FrameSpec{Source: haltest.NeighborAddr, Group: netip.MustParseAddr(dst), DstMAC: mac, TTL: 64, Proto: proto, Payload: 20})
	}
	arp := haltest.ARPFrame(1, mac, haltest.NeighborAddr, haltest.RouterAddr)
	for _, c := range []struct {
		name      string
		frame     []byte
		with, nil bool
	}{
		{"ARP request", arp, true, false},
		{"ICMP to the router", uni(haltest.RouterAddr.String(), 1), true, false},
		{"TCP to the router", uni(haltest.RouterAddr.String(), 6), true, false},
		{"unicast OSPF", uni("10.128.1.9", 89), true, false},
		{"broadcast", uni("255.255.255.255", 17), true, false},
		{"transit unicast", uni("10.128.1.9", 17), false, false},
		{"unicast PIM", uni("10.128.1.9", haltest.ProtoPIM), true, true},
		{"multicast data", haltest.Frame(haltest.Source, haltest.Group, 64, 10, nil), true, true},
	} {
		assert.Equal(t, c.with, run(traps, c.frame), "%s with traps", c.name)
		assert.Equal(t, c.nil, run(nil, c.frame), "%s without traps", c.name)
	}
	// Too many addresses for the program: all IPv4 passes, ARP still
	// only with an ARP trap.
	var many []hal.Trap
	for i := range maxFilterTraps {
		many = append(many, hal.Trap{ID: hal.TrapID(i + 1), Kind: hal.TrapLocal, Addr: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})})
	}
	assert.True(t, run(many, uni("10.200.0.1", 17)))
	assert.False(t, run(many, arp))
	assert.LessOrEqual(t, len(rxFilter(many)), 255, "conditional jumps reach")
}

// TestLinkState checks that the kernel's operational state of a port
// reaches OnLinkState: the state when the IFL is bound, then each change
// of the veth's peer.
func TestLinkState(t *testing.T) {
	b := newBench(t)
	b.prefix = fmt.Sprintf("mxlc%d", os.Getpid())
	rtr, peer := b.ns("r"), b.ns("p")
	b.link(rtr, "p0", peer, "q0")
	rec := haltest.NewRecorder()
	d := startDriver(t, rtr, map[string]string{"xe-3/0/0": "p0"}, rec)
	const ifl hal.IFLIndex = 300
	apply(t, d, physIFL(ifl, "xe-3/0/0.0"))
	wait := func(want []hal.LinkState) {
		t.Helper()
		ok := rec.WaitFor(10*time.Second, func(r *haltest.Recorder) bool { return len(r.LinkStates()) >= len(want) })
		require.True(t, ok, "link states %v, want %v", rec.LinkStates(), want)
		assert.Equal(t, want, rec.LinkStates())
	}
	wait([]hal.LinkState{{IFL: ifl, Up: true}})
	up, known := d.LinkUp(ifl)
	assert.True(t, up && known)

	b.ip("-n", peer, "link", "set", "q0", "down")
	wait([]hal.LinkState{{IFL: ifl, Up: true}, {IFL: ifl, Up: false}})
	up, _ = d.LinkUp(ifl)
	assert.False(t, up)
	b.ip("-n", peer, "link", "set", "q0", "up")
	wait([]hal.LinkState{{IFL: ifl, Up: true}, {IFL: ifl, Up: false}, {IFL: ifl, Up: true}})
	_, known = d.LinkUp(4242)
	assert.False(t, known)
}
