package ipc_test

import (
	"bytes"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

var update = flag.Bool("update", false, "rewrite testdata/resolve.pcap")

var (
	fpcEnd = netip.AddrPortFrom(ipc.FPCAddr(3).IP(), 14340)
	reEnd  = netip.AddrPortFrom(ipc.TNPMaster.IP(), 6234)
	start  = time.Date(2012, 12, 3, 17, 9, 14, 564414000, time.UTC)
)

// segment is one TCP segment of the capture; off is its offset in its
// direction's byte stream (the sequence number minus the ISN minus 1).
type segment struct {
	fromFPC bool
	off     int
	payload []byte
	syn     bool
	fin     bool
}

// capture is the exchange of an FPC and the RE around seed 003's resolve
// request: registration, a download, keepalives, the resolve request split
// over three segments (out of order and with a retransmission), the RE's
// answer, two frames in one segment.
type capture struct {
	segments []segment
	// want lists the decoded frames in the order DecodePcap reports them.
	want []pcapFrame
}

type pcapFrame struct {
	src  netip.AddrPort
	msgs []ipc.Message
}

func frameOf(t testing.TB, msgs ...ipc.Message) []byte {
	b, err := ipc.AppendFrame(nil, msgs...)
	require.NoError(t, err)
	return b
}

func buildCapture(t testing.TB) capture {
	var c capture
	var offFPC, offRE int
	send := func(fromFPC bool, payload []byte) {
		off := &offRE
		if fromFPC {
			off = &offFPC
		}
		c.segments = append(c.segments, segment{fromFPC: fromFPC, off: *off, payload: payload})
		*off += len(payload)
	}
	expect := func(fromFPC bool, msgs ...ipc.Message) {
		src := reEnd
		if fromFPC {
			src = fpcEnd
		}
		c.want = append(c.want, pcapFrame{src: src, msgs: msgs})
	}
	sg := hal.SG(source, group)
	discarded := hal.SG(source, netip.MustParseAddr("232.0.8.1"))

	c.segments = append(c.segments, segment{fromFPC: true, syn: true}, segment{fromFPC: false, syn: true})

	reg := []ipc.Message{&ipc.Register{Slot: 3, Addr: ipc.FPCAddr(3), Driver: "trio", PFEs: []hal.PFEID{12, 13, 14, 15},
		Ports: []ipc.Port{{IFL: "xe-3/1/0", Resource: "veth31"}, {IFL: "xe-3/3/1", Resource: "veth33"}}}}
	send(true, frameOf(t, reg...))
	expect(true, reg...)

	ack := []ipc.Message{&ipc.RegisterAck{Master: ipc.TNPMaster, Keepalive: time.Second}}
	download := []ipc.Message{
		&ipc.ResyncBegin{Generation: 1},
		&ipc.ConfigSet{Key: "resolve-rate", Value: "66"},
		&ipc.IFLAdd{IFL: hal.IFL{Index: 331, Name: "ae90.0", Kind: hal.IFLAggregate, Members: []hal.IFLIndex{340}, MTU: 1500,
			Addr: netip.MustParsePrefix("10.128.1.1/24"), Up: true}},
		&ipc.IFLAdd{IFL: hal.IFL{Index: 340, Name: "xe-3/1/0.0", Kind: hal.IFLPhysical, PFE: 13, MTU: 1514, Up: true,
			MAC: net.HardwareAddr{0, 0x1f, 0x12, 0xab, 0xcd, 0xef}}},
		&ipc.NHAdd{NH: hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}},
		&ipc.NHAdd{NH: hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}},
		&ipc.RouteAdd{Route: hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID,
			Flags: hal.RouteFlagsResolve}},
		&ipc.ResyncEnd{Generation: 1},
	}
	both := append(frameOf(t, ack...), frameOf(t, download...)...)
	send(false, both[:50]) // the second frame spans two segments
	send(false, both[50:])
	expect(false, ack...)
	expect(false, download...)

	send(true, frameOf(t, &ipc.Keepalive{Seq: 1, Sent: start.UnixNano()}))
	expect(true, &ipc.Keepalive{Seq: 1, Sent: start.UnixNano()})
	send(false, frameOf(t, &ipc.Keepalive{Seq: 1, Sent: start.UnixNano(), Reply: true}))
	expect(false, &ipc.Keepalive{Seq: 1, Sent: start.UnixNano(), Reply: true})

	// The seed's resolve request in three segments: the third arrives
	// before the second, and the first is retransmitted.
	seed := seedFrame()
	first := len(c.segments)
	send(true, seed[:5])
	send(true, seed[5:20])
	send(true, seed[20:])
	c.segments[first+1], c.segments[first+2] = c.segments[first+2], c.segments[first+1]
	c.segments = append(c.segments[:first+1], append([]segment{c.segments[first]}, c.segments[first+1:]...)...)
	expect(true, seedResolve())

	answer := []ipc.Message{
		&ipc.NHAdd{NH: hal.NextHop{ID: 1174, Type: hal.NHComposite, Members: []hal.NHID{1179}}},
		&ipc.NHAdd{NH: hal.NextHop{ID: 1048584, Type: hal.NHIndirect, Target: 1174}},
		&ipc.RouteAdd{Route: hal.Route{Key: sg, NH: 1048584, RPF: 331, Flags: hal.RouteFlagsSG}},
	}
	send(false, frameOf(t, answer...))
	expect(false, answer...)

	// Two frames in one segment.
	resolve2 := &ipc.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, PrefixLen: 64, Token: 0x02f0,
		Group: discarded.Group, Source: source}
	stats := []ipc.Message{
		&ipc.RouteHits{Key: sg, Packets: 9156666, Bytes: 11964471 << 10},
		&ipc.IFLCounters{IFL: 331, RxPackets: 9156666, RxBytes: 11964471 << 10},
		&ipc.Punt{Ingress: 331, Frame: []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x0d}},
	}
	send(true, append(frameOf(t, resolve2), frameOf(t, stats...)...))
	expect(true, resolve2)
	expect(true, stats...)

	mdiscard := []ipc.Message{&ipc.RouteAdd{Route: hal.Route{Key: discarded, NH: hal.NHMDiscardID, RPF: 331,
		Flags: hal.RouteFlagsMDiscard}}}
	send(false, frameOf(t, mdiscard...))
	expect(false, mdiscard...)

	c.segments = append(c.segments, segment{fromFPC: true, off: offFPC, fin: true}, segment{fromFPC: false, off: offRE, fin: true})
	return c
}

const isnFPC, isnRE = 0xfffffff0, 82495 // the FPC's sequence numbers wrap

// packets serialises the segments as Ethernet/IPv4/TCP packets.
func (c capture) packets(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range c.segments {
		src, dst, isn, peerISN := fpcEnd, reEnd, uint32(isnFPC), uint32(isnRE)
		srcMAC, dstMAC := ipc.FPCAddr(3).MAC(), ipc.TNPMaster.MAC()
		if !s.fromFPC {
			src, dst, isn, peerISN = reEnd, fpcEnd, isnRE, isnFPC
			srcMAC, dstMAC = dstMAC, srcMAC
		}
		eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 255, Protocol: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
			Seq: isn + 1 + uint32(s.off), Ack: peerISN + 1, ACK: true, PSH: len(s.payload) > 0, Window: 65535,
			SYN: s.syn, FIN: s.fin}
		if s.syn {
			tcp.Seq = isn
			tcp.ACK = !s.fromFPC
		}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(s.payload)))
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	return out
}

func (c capture) pcap(t testing.TB) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	for i, p := range c.packets(t) {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		require.NoError(t, w.WritePacket(ci, p))
	}
	return b.Bytes()
}

func (c capture) pcapng(t testing.TB) []byte {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for i, p := range c.packets(t) {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		require.NoError(t, w.WritePacket(ci, p))
	}
	require.NoError(t, w.Flush())
	return b.Bytes()
}

type pcapResult struct {
	meta ipc.PcapMeta
	msgs []ipc.Message
	err  error
}

func decodePcap(t testing.TB, b []byte, port uint16) []pcapResult {
	var out []pcapResult
	require.NoError(t, ipc.DecodePcap(bytes.NewReader(b), port, func(m ipc.PcapMeta, msgs []ipc.Message, err error) {
		out = append(out, pcapResult{m, msgs, err})
	}))
	return out
}

func TestDecodePcap(t *testing.T) {
	c := buildCapture(t)
	for name, file := range map[string][]byte{"pcap": c.pcap(t), "pcapng": c.pcapng(t)} {
		t.Run(name, func(t *testing.T) {
			got := decodePcap(t, file, 6234)
			require.Len(t, got, len(c.want))
			for i, w := range c.want {
				require.NoError(t, got[i].err, "frame %d", i)
				assert.Equal(t, w.src, got[i].meta.Src, "frame %d", i)
				assert.Equal(t, w.msgs, got[i].msgs, "frame %d", i)
			}
			// The resolve request completes with its delayed middle segment
			// (SYNs 1-2, register 3, ack and download 4-5, keepalives 6-7,
			// then the head 8, its retransmission 9, the tail 10 and the
			// middle 11).
			resolve := got[5]
			assert.Equal(t, 11, resolve.meta.Index)
			assert.Equal(t, "17:09:14.574414 128.0.0.19.14340 > 128.0.0.1.6234", resolve.meta.String())
			assert.Equal(t, fpcEnd, resolve.meta.Src)
			assert.Equal(t, reEnd, resolve.meta.Dst)

			assert.Len(t, decodePcap(t, file, 0), len(c.want), "port 0: any")
			assert.Empty(t, decodePcap(t, file, 639), "other port")
		})
	}
}

// TestResolvePcapFile keeps testdata/resolve.pcap (used by `re ipc decode
// -r`) in step with the generator; run with -update to rewrite it.
func TestResolvePcapFile(t *testing.T) {
	path := filepath.Join("testdata", "resolve.pcap")
	want := buildCapture(t).pcap(t)
	if *update {
		require.NoError(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, got, "testdata/resolve.pcap is stale: go test ./ipc -run TestResolvePcapFile -update")

	var out strings.Builder
	require.NoError(t, ipc.DecodePcap(bytes.NewReader(got), 6234, func(m ipc.PcapMeta, msgs []ipc.Message, err error) {
		require.NoError(t, err)
		out.WriteString(m.String() + "\n")
		ipc.FormatFrame(&out, msgs)
	}))
	assert.Contains(t, out.String(), "17:09:14.574414 128.0.0.19.14340 > 128.0.0.1.6234\n"+
		ipc.FormatBanner+"\n"+
		"Packet 1:\n"+
		"\ttype: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,\n"+
		"\t\tNH 983, IFL 331, /64, group 232.0.7.1, source 10.128.1.10, token 0x02ef\n")
}

func TestDecodePcapErrors(t *testing.T) {
	one := func(t *testing.T, segs ...segment) []pcapResult {
		c := capture{segments: append([]segment{{fromFPC: true, syn: true}}, segs...)}
		return decodePcap(t, c.pcap(t), 6234)
	}
	seed := seedFrame()

	t.Run("malformed frame, then resync at a segment", func(t *testing.T) {
		bad := append([]byte(nil), seed...)
		bad[8] = 42 // unknown type
		got := one(t,
			segment{fromFPC: true, off: 0, payload: bad},
			segment{fromFPC: true, off: 36, payload: seed[:10]}, // a frame starts here
			segment{fromFPC: true, off: 46, payload: seed[10:]},
		)
		require.Len(t, got, 2)
		require.ErrorIs(t, got[0].err, ipc.ErrMalformed)
		require.ErrorIs(t, got[0].err, ipc.ErrUnknownType)
		assert.EqualError(t, got[0].err, "ipc: pcap: packet 2, 128.0.0.19:14340 > 128.0.0.1:6234: message 1: type 42 subtype 14: unknown message type")
		require.NoError(t, got[1].err)
		assert.Equal(t, []ipc.Message{seedResolve()}, got[1].msgs)
	})
	t.Run("gap never filled", func(t *testing.T) {
		got := one(t,
			segment{fromFPC: true, off: 0, payload: seed[:10]},
			segment{fromFPC: true, off: 20, payload: seed[20:]},
		)
		require.Len(t, got, 1)
		require.ErrorIs(t, got[0].err, ipc.ErrMalformed)
		assert.EqualError(t, got[0].err, "ipc: pcap: packet 3, 128.0.0.19:14340 > 128.0.0.1:6234: 10 bytes missing at sequence 4294967291")
	})
	t.Run("capture ends inside a frame", func(t *testing.T) {
		got := one(t, segment{fromFPC: true, off: 0, payload: seed[:30]})
		require.Len(t, got, 1)
		assert.EqualError(t, got[0].err, "ipc: pcap: packet 2, 128.0.0.19:14340 > 128.0.0.1:6234: stream ends inside a frame, 30 bytes left")
	})
	t.Run("capture starts mid-connection", func(t *testing.T) {
		c := capture{segments: []segment{{fromFPC: true, off: 500, payload: seed}, {fromFPC: true, off: 536, payload: seed}}}
		got := decodePcap(t, c.pcap(t), 6234)
		require.Len(t, got, 2)
		assert.Equal(t, []ipc.Message{seedResolve()}, got[1].msgs)
	})
	t.Run("not a capture", func(t *testing.T) {
		err := ipc.DecodePcap(strings.NewReader("hello, world"), 6234, func(ipc.PcapMeta, []ipc.Message, error) {})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ipc: pcap: ")
	})
}
