package xdp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

// pimHello builds a PIMv2 Hello (RFC 7761 section 4.9.2) with a Holdtime
// option of 105 s, from src (MAC mac) to ALL-PIM-ROUTERS, TTL 1.
func pimHello(mac net.HardwareAddr, src netip.Addr) []byte {
	f := haltest.BuildFrame(haltest.FrameSpec{SrcMAC: mac, Source: src, Group: netip.MustParseAddr("224.0.0.13"), TTL: 1, Proto: haltest.ProtoPIM, Payload: 10})
	pim := f[haltest.EthHeaderLen+haltest.IPv4HeaderLen:]
	copy(pim, []byte{0x20, 0, 0, 0, 0, 1, 0, 2, 0, 105})
	var sum uint32
	for i := 0; i < len(pim); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pim[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(pim[2:4], ^uint16(sum))
	return f
}

// TestWireTshark checks the wire format of what the data path sends, as
// tshark dissects it from tcpdump captures on the veth peers: forwarded
// datagrams (the sender's stack completes its checksums, offload off)
// leave with the group's MAC, the egress port's source MAC, TTL - 1 and
// IP and UDP checksums that verify; a PIM Hello the RE injects with
// Transmit leaves the ingress port unchanged and verifies; a PIM Hello
// from the neighbour is punted with the PIM trap and its ingress IFL, byte
// for byte, and nothing of it reaches the other ports.
func TestWireTshark(t *testing.T) {
	for _, m := range []Mode{ModeTC, ModeGeneric} {
		t.Run(string(m), func(t *testing.T) { testWireTshark(t, m) })
	}
}

func testWireTshark(t *testing.T, mode Mode) {
	n := porttest.NewNet(t, 2)
	require.NoError(t, porttest.SetTxChecksum(n.SenderNS, "snd0", false))
	rec := haltest.NewRecorder()
	var d *Driver
	starter(mode, &d)(t, n.Router, n.Ports, rec)
	n.Program(t, d)
	_, err := d.Apply(t.Context(), haltest.TrapOps())
	require.NoError(t, err)
	n.WaitForwarding(t, 20*time.Second)
	inMAC, outMAC := d.byPhys["xe-3/0/0"].mac, d.byPhys["xe-3/1/0"].mac

	dir := t.TempDir()
	rcvPcap, sndPcap, rcv2Pcap := filepath.Join(dir, "rcv.pcap"), filepath.Join(dir, "snd.pcap"), filepath.Join(dir, "rcv2.pcap")
	stopRcv := porttest.Capture(t, n.Receivers[0].NS, "rcv0", rcvPcap, "ip")
	stopRcv2 := porttest.Capture(t, n.Receivers[1].NS, "rcv0", rcv2Pcap, "ip", "proto", "103")
	stopSnd := porttest.Capture(t, n.SenderNS, "snd0", sndPcap, "ip", "proto", "103")

	s := n.Sender(t, 12, 333, 1472)
	n.Expect(s)
	const count = 90
	require.NoError(t, s.Send(count))
	for end := time.Now().Add(10 * time.Second); n.Receivers[0].Got() < count && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, int64(count), n.Receivers[0].Got(), "receiver 1")

	rec.Reset()
	mine := pimHello(inMAC, haltest.RouterAddr)
	require.NoError(t, d.Transmit(porttest.IFLIn, [][]byte{mine}))
	theirs := pimHello(haltest.IFLMAC(999), haltest.NeighborAddr)
	inj := &porttest.Injector{}
	defer inj.Close()
	inj.Send(t, n.SenderNS, "snd0", [][]byte{theirs})
	require.True(t, rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool { return len(r.Punts()) > 0 }), "the neighbour's hello was not punted")
	p := rec.Punts()[0]
	assert.Equal(t, porttest.IFLIn, p.Ingress)
	assert.Equal(t, haltest.TrapPIM, p.Trap)
	assert.True(t, bytes.Equal(theirs, p.Frame), "punted as received")
	time.Sleep(200 * time.Millisecond) // the captures see the last frames
	require.Zero(t, stopRcv(), "tcpdump on receiver 1 dropped packets")
	require.Zero(t, stopSnd(), "tcpdump on the sender dropped packets")
	require.Zero(t, stopRcv2(), "tcpdump on receiver 2 dropped packets")

	lines := porttest.Tshark(t, rcvPcap, "udp.dstport == 5000", "eth.dst", "eth.src", "ip.src", "ip.dst", "ip.ttl", "ip.checksum.status", "udp.checksum.status")
	assert.Len(t, lines, count, "forwarded datagrams captured at receiver 1")
	want := "01:00:5e:00:07:01," + outMAC.String() + ",10.128.1.10,232.0.7.1,63,1,1"
	for _, l := range lines {
		if !assert.Equal(t, want, l, "group MAC, port MAC, source, group, TTL 64-1, IP and UDP checksums good") {
			break
		}
	}
	hello := []string{"eth.src", "ip.src", "ip.dst", "ip.ttl", "ip.checksum.status", "pim.version", "pim.type", "pim.holdtime", "pim.cksum.status"}
	lines = porttest.Tshark(t, sndPcap, "pim", hello...)
	assert.Equal(t, []string{
		inMAC.String() + ",10.128.1.1,224.0.0.13,1,1,2,0,105,1",
	}, filterPrefix(lines, inMAC.String()), "the RE's hello on the ingress port's wire")
	assert.Empty(t, porttest.Tshark(t, rcv2Pcap, "pim"), "no hello on another port")
	for _, f := range []string{rcvPcap, sndPcap} {
		assert.Empty(t, porttest.Tshark(t, f, "_ws.malformed || _ws.expert.severity == error"), "tshark finds nothing malformed in %s", filepath.Base(f))
	}
	for _, ps := range d.Ports() {
		if ps.Port == "xe-3/0/0" {
			assert.Equal(t, uint64(1), ps.Punted, "one frame punted on the ingress port")
		}
	}
}

// filterPrefix returns the lines that start with p.
func filterPrefix(lines []string, p string) []string {
	var out []string
	for _, l := range lines {
		if len(l) >= len(p) && l[:len(p)] == p {
			out = append(out, l)
		}
	}
	return out
}
