package pktio

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
)

// fakeTransport records injected frames.
type fakeTransport struct {
	mu     sync.Mutex
	ifs    map[string]Interface
	frames map[string][][]byte
	got    chan struct{}
}

func newFakeTransport(ifs ...Interface) *fakeTransport {
	t := &fakeTransport{ifs: map[string]Interface{}, frames: map[string][][]byte{}, got: make(chan struct{}, 1024)}
	for _, f := range ifs {
		t.ifs[f.Name] = f
	}
	return t
}

func (t *fakeTransport) Inject(ifl string, frame []byte) error {
	t.mu.Lock()
	t.frames[ifl] = append(t.frames[ifl], append([]byte(nil), frame...))
	t.mu.Unlock()
	select {
	case t.got <- struct{}{}:
	default:
	}
	return nil
}

func (t *fakeTransport) Interface(ifl string) (Interface, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.ifs[ifl]
	return f, ok
}

func (t *fakeTransport) take(ifl string) [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.frames[ifl]
	delete(t.frames, ifl)
	return f
}

var (
	ourMAC   = net.HardwareAddr{0x02, 0x05, 0x86, 0, 1, 0x4c}
	peerMAC  = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 2}
	ourAddr  = netip.MustParsePrefix("10.128.2.1/24")
	peerAddr = netip.MustParseAddr("10.128.2.2")
)

// ipv4 builds an IPv4 packet (header checksum included).
func ipv4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	p := make([]byte, 20, 20+len(payload))
	p[0], p[8], p[9] = 0x45, 1, proto
	binary.BigEndian.PutUint16(p[2:], uint16(20+len(payload)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	return append(p, payload...)
}

func ether(dst, src net.HardwareAddr, et uint16, payload []byte) []byte {
	f := append(append(append([]byte(nil), dst...), src...), byte(et>>8), byte(et))
	return append(f, payload...)
}

func TestDispatchAndLearn(t *testing.T) {
	tr := newFakeTransport(Interface{Name: "ae91.0", MAC: ourMAC, Addr: ourAddr, Up: true})
	d := NewDispatcher(tr, nil, nil)
	var got []*Packet
	d.Register(103, func(p *Packet) { got = append(got, p) })
	var fell []string
	d.Fallback = func(ifl string, frame []byte) { fell = append(fell, ifl) }

	hello := ether(net.HardwareAddr{1, 0, 0x5e, 0, 0, 13}, peerMAC, etherIPv4, ipv4(peerAddr, netip.MustParseAddr("224.0.0.13"), 103, []byte{0x20, 0, 0, 0}))
	d.Deliver(3, "ae91.0", 1, hello)
	require.Len(t, got, 1)
	p := got[0]
	assert.Equal(t, "ae91.0", p.Interface)
	assert.Equal(t, hal.Slot(3), p.Slot)
	assert.Equal(t, hal.TrapID(1), p.Trap)
	assert.Equal(t, peerAddr, p.Src)
	assert.Equal(t, uint8(103), p.Proto)
	assert.Equal(t, []byte{0x20, 0, 0, 0}, p.Payload)
	mac, ok := d.Neighbour("ae91.0", peerAddr)
	require.True(t, ok, "learned from the hello")
	assert.Equal(t, peerMAC, mac)

	// Not registered (ICMP) and not IP (ARP): to the fallback.
	d.Deliver(3, "ae91.0", 17, ether(ourMAC, peerMAC, etherIPv4, ipv4(peerAddr, ourAddr.Addr(), 1, []byte{8, 0})))
	d.Deliver(3, "ae91.0", 16, ether(ourMAC, peerMAC, etherARP, make([]byte, 28)))
	assert.Equal(t, []string{"ae91.0", "ae91.0"}, fell)
	// Garbage is counted, never delivered.
	d.Deliver(3, "ae91.0", 1, []byte{1, 2, 3})
	d.Deliver(3, "ae91.0", 1, ether(ourMAC, peerMAC, etherIPv4, []byte{0x45, 0, 0xff, 0xff}))
	st := d.Stats()
	assert.EqualValues(t, 2, st.Malformed)
	assert.EqualValues(t, 1, st.Delivered)
	assert.EqualValues(t, 2, st.Unclaimed)
}

func TestSendResolvesTheLinkLayer(t *testing.T) {
	tr := newFakeTransport(Interface{Name: "ae91.0", MAC: ourMAC, Addr: ourAddr, Up: true})
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	d := NewDispatcher(tr, nil, func() time.Time { return now })

	// Multicast: the group's MAC, at once.
	require.NoError(t, d.SendIP("ae91.0", ipv4(ourAddr.Addr(), netip.MustParseAddr("224.0.0.13"), 103, nil)))
	fs := tr.take("ae91.0")
	require.Len(t, fs, 1)
	assert.Equal(t, net.HardwareAddr{1, 0, 0x5e, 0, 0, 13}, net.HardwareAddr(fs[0][:6]))
	assert.Equal(t, ourMAC, net.HardwareAddr(fs[0][6:12]))

	// Unicast to an unknown neighbour: an ARP request, the packet waits.
	rp := netip.MustParseAddr("10.128.2.9")
	reg := ipv4(ourAddr.Addr(), rp, 103, []byte("register"))
	require.NoError(t, d.SendIP("ae91.0", reg))
	require.NoError(t, d.SendIP("ae91.0", reg), "a second packet waits too, no second request within a second")
	fs = tr.take("ae91.0")
	require.Len(t, fs, 1)
	arp := fs[0]
	assert.Equal(t, uint16(etherARP), binary.BigEndian.Uint16(arp[12:]))
	assert.Equal(t, uint16(1), binary.BigEndian.Uint16(arp[20:]), "request")
	assert.Equal(t, rp.As4(), [4]byte(arp[38:42]), "target")
	assert.Equal(t, ourAddr.Addr().As4(), [4]byte(arp[28:32]), "sender")

	// The reply arrives (punted): both packets leave, to its MAC.
	rpMAC := net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 9}
	reply := make([]byte, 28)
	copy(reply, []byte{0, 1, 8, 0, 6, 4, 0, 2})
	copy(reply[8:], rpMAC)
	a := rp.As4()
	copy(reply[14:], a[:])
	d.Deliver(3, "ae91.0", 16, ether(ourMAC, rpMAC, etherARP, reply))
	fs = tr.take("ae91.0")
	require.Len(t, fs, 2)
	for _, f := range fs {
		assert.Equal(t, rpMAC, net.HardwareAddr(f[:6]))
		assert.Equal(t, reg, f[14:])
	}
	// Known now: sent at once.
	require.NoError(t, d.SendIP("ae91.0", reg))
	require.Len(t, tr.take("ae91.0"), 1)

	// At most three packets wait for an unresolved neighbour.
	other := ipv4(ourAddr.Addr(), netip.MustParseAddr("10.128.2.77"), 103, nil)
	for range 5 {
		_ = d.SendIP("ae91.0", other)
	}
	assert.EqualValues(t, 2, d.Stats().PendingDrops)
	require.ErrorIs(t, d.SendIP("xe-9/9/9.0", other), ErrNoInterface)
}

func TestLinuxName(t *testing.T) {
	n, err := LinuxName("xe-3/1/0.0")
	require.NoError(t, err)
	assert.Equal(t, "xe-3-1-0.0", n)
	_, err = LinuxName("xe-11/3/47.32767")
	require.Error(t, err)
}
