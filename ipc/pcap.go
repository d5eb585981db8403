package ipc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Bounds of the capture decoder, so that a hostile capture cannot make it
// hold unbounded memory: a stream buffers at most one frame in order
// (Limits) plus maxOutOfOrder bytes ahead of a gap, and at most maxStreams
// streams are tracked (a capture of one RE has one stream per FPC and
// direction; 4096 is far beyond any chassis).
const (
	maxOutOfOrder         = 1 << 20
	maxOutOfOrderSegments = 1024
	maxStreams            = 4096
)

// PcapMeta describes the captured packet that completed a frame (or that
// an error is about).
type PcapMeta struct {
	Index    int       // packet number in the capture, from 1
	Time     time.Time // capture timestamp
	Src, Dst netip.AddrPort
}

// String prints the packet like tcpdump: "17:09:14.564414 128.0.0.19.14340
// > 128.0.0.1.6234".
func (m PcapMeta) String() string {
	return m.Time.UTC().Format("15:04:05.000000") + " " + tcpdumpAddr(m.Src) + " > " + tcpdumpAddr(m.Dst)
}

func tcpdumpAddr(a netip.AddrPort) string {
	return a.Addr().String() + "." + strconv.Itoa(int(a.Port()))
}

type streamKey struct{ src, dst netip.AddrPort }

// tcpStream reassembles one direction of a TCP connection.
type tcpStream struct {
	key      streamKey
	started  bool
	next     uint32 // next expected sequence number
	buf      []byte // in-order bytes not yet decoded
	ooo      map[uint32][]byte
	oooBytes int
	lost     bool // after an error: the next in-order segment starts afresh
	quiet    bool // after an error: report nothing until a frame decodes
	last     PcapMeta
}

// pcapDecoder holds the state of one DecodePcap call.
type pcapDecoder struct {
	port    uint16
	lim     Limits
	fn      func(PcapMeta, []Message, error)
	streams map[streamKey]*tcpStream
	order   []*tcpStream // first-seen order, for deterministic end reports
}

// DecodePcap reads a capture (pcap or pcapng; Ethernet, Linux cooked, raw
// IP or loopback link types), reassembles each direction of every TCP
// connection to or from port (0: any port) by sequence number, and calls fn
// once per decoded frame with the packet that completed it. Frames may span
// segments and segments may hold several frames; retransmissions are
// dropped and out-of-order segments buffered. A malformed frame or a gap
// that never fills is reported through fn with a nil msgs and an error
// naming the packet and stream; decoding resumes at the next segment that
// starts a valid frame. DecodePcap returns an error only when the capture
// file itself cannot be read.
func DecodePcap(r io.Reader, port uint16, fn func(pkt PcapMeta, msgs []Message, err error)) error {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("ipc: pcap: reading file header: %w", err)
	}
	var (
		read     func() ([]byte, gopacket.CaptureInfo, error)
		linkType func(gopacket.CaptureInfo) layers.LinkType
	)
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fmt.Errorf("ipc: pcapng: %w", err)
		}
		read = ng.ReadPacketData
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return lt
				}
			}
			return ng.LinkType()
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("ipc: pcap: %w", err)
		}
		read = pr.ReadPacketData
		lt := pr.LinkType()
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}

	d := &pcapDecoder{port: port, lim: DefaultLimits(), fn: fn, streams: make(map[streamKey]*tcpStream)}
	for index := 1; ; index++ {
		data, ci, err := read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.finish()
			return fmt.Errorf("ipc: pcap: packet %d: %w", index, err)
		}
		d.packet(index, data, ci, linkType(ci))
	}
	d.finish()
	return nil
}

// packet feeds one captured packet.
func (d *pcapDecoder) packet(index int, data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return
	}
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return
	}
	if d.port != 0 && uint16(tcp.SrcPort) != d.port && uint16(tcp.DstPort) != d.port {
		return
	}
	key := streamKey{
		src: netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort)),
		dst: netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort)),
	}
	meta := PcapMeta{Index: index, Time: ci.Timestamp, Src: key.src, Dst: key.dst}
	s := d.streams[key]
	if s == nil {
		if len(d.streams) >= maxStreams {
			d.fn(meta, nil, malformedf(nil, "ipc: pcap: packet %d: more than %d TCP streams, ignoring %s > %s",
				index, maxStreams, key.src, key.dst))
			return
		}
		s = &tcpStream{key: key}
		d.streams[key] = s
		d.order = append(d.order, s)
	}
	s.last = meta
	switch {
	case tcp.SYN:
		if s.started && int32(s.next-(tcp.Seq+1)) >= 0 {
			return // a retransmitted SYN of the connection being decoded
		}
		s.reset()
		s.started, s.next = true, tcp.Seq+1
		return
	case tcp.RST || tcp.FIN:
		d.segment(s, meta, tcp.Seq, tcp.Payload)
		d.end(s)
		delete(d.streams, key)
		return
	}
	d.segment(s, meta, tcp.Seq, tcp.Payload)
}

func (s *tcpStream) reset() {
	s.started, s.next, s.buf, s.ooo, s.oooBytes = false, 0, nil, nil, 0
	s.lost, s.quiet = false, false
}

// segment adds payload at seq to the stream and decodes what it completes.
func (d *pcapDecoder) segment(s *tcpStream, meta PcapMeta, seq uint32, payload []byte) {
	if len(payload) == 0 {
		return
	}
	if !s.started {
		// Capture started mid-connection: take the first segment as the
		// start of the stream.
		s.started, s.next = true, seq
	}
	if diff := int32(seq - s.next); diff > 0 {
		if _, dup := s.ooo[seq]; !dup {
			if s.ooo == nil {
				s.ooo = make(map[uint32][]byte)
			}
			s.ooo[seq] = append([]byte(nil), payload...)
			s.oooBytes += len(payload)
		}
		if s.oooBytes > maxOutOfOrder || len(s.ooo) > maxOutOfOrderSegments {
			d.skipGap(s, meta)
		}
		return
	}
	d.appendInOrder(s, meta, seq, payload)
	d.drain(s, meta)
}

// appendInOrder appends a segment that starts at or before s.next.
func (d *pcapDecoder) appendInOrder(s *tcpStream, meta PcapMeta, seq uint32, payload []byte) {
	overlap := int(s.next - seq)
	if overlap >= len(payload) {
		return // retransmission
	}
	payload = payload[overlap:]
	s.next += uint32(len(payload))
	if s.lost {
		// Try this segment as the start of a frame.
		s.buf, s.lost = s.buf[:0], false
	}
	s.buf = append(s.buf, payload...)
	d.decode(s, meta)
}

// drain appends buffered out-of-order segments that have become in order.
func (d *pcapDecoder) drain(s *tcpStream, meta PcapMeta) {
	for progress := true; progress && len(s.ooo) > 0; {
		progress = false
		for seq, p := range s.ooo {
			if int32(seq-s.next) <= 0 {
				delete(s.ooo, seq)
				s.oooBytes -= len(p)
				d.appendInOrder(s, meta, seq, p)
				progress = true
			}
		}
	}
}

// skipGap gives up on missing bytes: it reports the gap and resumes at the
// lowest buffered segment.
func (d *pcapDecoder) skipGap(s *tcpStream, meta PcapMeta) {
	first, ok := uint32(0), false
	for seq := range s.ooo {
		if !ok || int32(seq-first) < 0 {
			first, ok = seq, true
		}
	}
	if !s.quiet {
		d.fn(meta, nil, d.streamErr(s, meta, malformedf(nil, "%d bytes missing at sequence %d", first-s.next, s.next)))
	}
	s.next = first
	s.buf = s.buf[:0]
	s.lost, s.quiet = true, true
	d.drain(s, meta)
}

// decode reports every complete frame in s.buf.
func (d *pcapDecoder) decode(s *tcpStream, meta PcapMeta) {
	for len(s.buf) > 0 {
		msgs, rest, err := DecodeFrame(s.buf, d.lim)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return
		}
		if err != nil {
			if !s.quiet {
				d.fn(meta, nil, d.streamErr(s, meta, err))
			}
			s.buf = s.buf[:0]
			s.lost, s.quiet = true, true
			return
		}
		s.quiet = false
		d.fn(meta, msgs, nil)
		s.buf = append(s.buf[:0], rest...)
	}
}

// end reports what a stream that ends leaves undecoded.
func (d *pcapDecoder) end(s *tcpStream) {
	if len(s.ooo) > 0 {
		d.skipGap(s, s.last)
	}
	if len(s.buf) > 0 && !s.quiet {
		d.fn(s.last, nil, d.streamErr(s, s.last,
			malformedf([]error{io.ErrUnexpectedEOF}, "stream ends inside a frame, %d bytes left", len(s.buf))))
	}
	s.reset()
}

// finish ends every stream still open at the end of the capture.
func (d *pcapDecoder) finish() {
	for _, s := range d.order {
		if d.streams[s.key] == s {
			d.end(s)
		}
	}
}

func (d *pcapDecoder) streamErr(s *tcpStream, meta PcapMeta, err error) error {
	return withContext(fmt.Sprintf("pcap: packet %d, %s > %s", meta.Index, s.key.src, s.key.dst), err)
}
