package haltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// IP protocol numbers used by the packet tests.
const (
	ProtoIGMP uint8 = 2   // RFC 2236
	ProtoUDP  uint8 = 17  // RFC 768
	ProtoPIM  uint8 = 103 // RFC 7761 section 4.9
)

// Header sizes of the frames built here: Ethernet II without VLAN tag,
// IPv4 without options, UDP.
const (
	EthHeaderLen  = 14
	IPv4HeaderLen = 20
	UDPHeaderLen  = 8
)

// defaultSrcMAC is the source MAC of frames built without one (a locally
// administered unicast address).
var defaultSrcMAC = [6]byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}

// FrameSpec describes an Ethernet II + IPv4 (+ UDP) frame. Zero fields take
// the defaults documented on each field, except TTL which is used as is (so
// that tests can build TTL 0 and 1 frames).
type FrameSpec struct {
	SrcMAC  net.HardwareAddr // default 02:00:5e:10:00:01
	DstMAC  net.HardwareAddr // default MulticastMAC(Group)
	Source  netip.Addr       // IPv4 source
	Group   netip.Addr       // IPv4 destination (a group)
	TTL     uint8            // used as is
	Proto   uint8            // default ProtoUDP
	ID      uint16           // IPv4 identification
	SrcPort uint16           // UDP, default 5000
	DstPort uint16           // UDP, default 5001
	// Payload is the number of payload bytes after the UDP header (or after
	// the IPv4 header when Proto is not UDP). They are filled with a
	// pattern derived from their offset so that corruption is visible.
	Payload int
}

// Frame builds a UDP multicast frame from source to group with the given
// TTL, UDP payload size and source MAC (nil for the default). The IPv4 and
// UDP checksums are correct.
func Frame(source, group netip.Addr, ttl uint8, payload int, srcMAC net.HardwareAddr) []byte {
	return BuildFrame(FrameSpec{Source: source, Group: group, TTL: ttl, Payload: payload, SrcMAC: srcMAC})
}

// FrameOfLen builds a UDP frame of exactly n bytes (n >= 42, the size of the
// headers alone), e.g. 64 for the minimum-size frames of the benchmarks.
func FrameOfLen(source, group netip.Addr, ttl uint8, n int) []byte {
	p := n - EthHeaderLen - IPv4HeaderLen - UDPHeaderLen
	if p < 0 {
		p = 0
	}
	return Frame(source, group, ttl, p, nil)
}

// BuildFrame builds the frame described by s.
func BuildFrame(s FrameSpec) []byte {
	proto := s.Proto
	if proto == 0 {
		proto = ProtoUDP
	}
	l4 := s.Payload
	if proto == ProtoUDP {
		l4 += UDPHeaderLen
	}
	b := make([]byte, EthHeaderLen+IPv4HeaderLen+l4)
	dst := s.DstMAC
	if len(dst) != 6 {
		dst = MulticastMAC(s.Group)
	}
	copy(b[0:6], dst)
	if len(s.SrcMAC) == 6 {
		copy(b[6:12], s.SrcMAC)
	} else {
		copy(b[6:12], defaultSrcMAC[:])
	}
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[EthHeaderLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(IPv4HeaderLen+l4))
	binary.BigEndian.PutUint16(ip[4:6], s.ID)
	ip[8] = s.TTL
	ip[9] = proto
	src4, grp4 := s.Source.As4(), s.Group.As4()
	copy(ip[12:16], src4[:])
	copy(ip[16:20], grp4[:])
	binary.BigEndian.PutUint16(ip[10:12], IPv4Checksum(ip[:IPv4HeaderLen]))
	pay := ip[IPv4HeaderLen:]
	if proto == ProtoUDP {
		sp, dp := s.SrcPort, s.DstPort
		if sp == 0 {
			sp = 5000
		}
		if dp == 0 {
			dp = 5001
		}
		binary.BigEndian.PutUint16(pay[0:2], sp)
		binary.BigEndian.PutUint16(pay[2:4], dp)
		binary.BigEndian.PutUint16(pay[4:6], uint16(l4))
		for i := range pay[UDPHeaderLen:] {
			pay[UDPHeaderLen+i] = byte(i*7 + 3)
		}
		binary.BigEndian.PutUint16(pay[6:8], udpChecksum(src4, grp4, pay))
	} else {
		for i := range pay {
			pay[i] = byte(i*7 + 3)
		}
	}
	return b
}

// MulticastMAC returns the Ethernet address of an IPv4 group (RFC 1112
// section 6.4): 01:00:5e followed by the low 23 bits of the group.
func MulticastMAC(group netip.Addr) net.HardwareAddr {
	g := group.As4()
	return net.HardwareAddr{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]}
}

// IPv4Checksum computes the header checksum of hdr (RFC 791) treating the
// checksum field as zero.
func IPv4Checksum(hdr []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(hdr); i += 2 {
		if i == 10 {
			continue
		}
		sum += uint32(hdr[i])<<8 | uint32(hdr[i+1])
	}
	if len(hdr)%2 == 1 {
		sum += uint32(hdr[len(hdr)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func udpChecksum(src, dst [4]byte, udp []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += uint32(ProtoUDP) + uint32(len(udp))
	// The checksum field is zero while computing.
	add(udp[:6])
	add(udp[8:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	return c
}

// Parsed is a decoded Ethernet II + IPv4 frame.
type Parsed struct {
	DstMAC, SrcMAC net.HardwareAddr
	EtherType      uint16
	IHL            int // header length in bytes
	TotalLen       int
	TTL            uint8
	Proto          uint8
	Checksum       uint16 // as found in the header
	ChecksumOK     bool   // Checksum equals a full recomputation
	Source, Group  netip.Addr
	// L4 is everything after the IPv4 header up to TotalLen.
	L4 []byte
}

// ErrShortFrame and friends are returned by ParseFrame.
var (
	ErrShortFrame = errors.New("frame too short")
	ErrNotIPv4    = errors.New("not an IPv4 frame")
)

// ParseFrame decodes an Ethernet II + IPv4 frame. The returned slices alias b.
func ParseFrame(b []byte) (Parsed, error) {
	var p Parsed
	if len(b) < EthHeaderLen+IPv4HeaderLen {
		return p, fmt.Errorf("%d bytes: %w", len(b), ErrShortFrame)
	}
	p.DstMAC = net.HardwareAddr(b[0:6])
	p.SrcMAC = net.HardwareAddr(b[6:12])
	p.EtherType = binary.BigEndian.Uint16(b[12:14])
	if p.EtherType != 0x0800 {
		return p, fmt.Errorf("ethertype %#04x: %w", p.EtherType, ErrNotIPv4)
	}
	ip := b[EthHeaderLen:]
	if ip[0]>>4 != 4 {
		return p, fmt.Errorf("version %d: %w", ip[0]>>4, ErrNotIPv4)
	}
	p.IHL = int(ip[0]&0x0f) * 4
	p.TotalLen = int(binary.BigEndian.Uint16(ip[2:4]))
	if p.IHL < IPv4HeaderLen || p.TotalLen < p.IHL || p.TotalLen > len(ip) {
		return p, fmt.Errorf("ihl %d total length %d in %d bytes: %w", p.IHL, p.TotalLen, len(ip), ErrShortFrame)
	}
	p.TTL = ip[8]
	p.Proto = ip[9]
	p.Checksum = binary.BigEndian.Uint16(ip[10:12])
	p.ChecksumOK = p.Checksum == IPv4Checksum(ip[:p.IHL])
	p.Source = netip.AddrFrom4([4]byte(ip[12:16]))
	p.Group = netip.AddrFrom4([4]byte(ip[16:20]))
	p.L4 = ip[p.IHL:p.TotalLen]
	return p, nil
}

// MustParse is ParseFrame for frames a test expects to be well formed; it
// panics otherwise, which fails the calling test.
func MustParse(b []byte) Parsed {
	p, err := ParseFrame(b)
	if err != nil {
		panic(err)
	}
	return p
}

// ARPFrame builds an Ethernet II frame carrying an Ethernet/IPv4 ARP
// message (RFC 826) with operation op (1 request, 2 reply) from
// senderMAC/sender asking for (or answering about) target: broadcast for a
// request, to the sender itself for a reply (a test needs no real peer).
func ARPFrame(op uint16, senderMAC net.HardwareAddr, sender, target netip.Addr) []byte {
	b := make([]byte, EthHeaderLen+28)
	if op == 1 {
		copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	} else {
		copy(b[0:6], senderMAC)
	}
	copy(b[6:12], senderMAC)
	binary.BigEndian.PutUint16(b[12:14], 0x0806)
	a := b[EthHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], senderMAC)
	s, t := sender.As4(), target.As4()
	copy(a[14:18], s[:])
	copy(a[24:28], t[:])
	return b
}
