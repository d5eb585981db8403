package afpacket

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal/haltest"
)

// naiveL4Checksum is the reference: RFC 1071 word by word over the
// pseudo-header and the segment with the checksum field at off zeroed.
func naiveL4Checksum(ip []byte, off int) uint16 {
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	seg := bytes.Clone(ip[ihl:total])
	seg[off], seg[off+1] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(ip[12:20])
	sum += uint32(ip[9]) + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 && ip[9] == 17 {
		c = 0xffff
	}
	return c
}

// partialFrame builds a frame of the given protocol and L4 length whose
// checksum field holds what a CHECKSUM_PARTIAL sender leaves there (the
// folded pseudo-header sum) and, with pad, Ethernet padding after the IP
// packet.
func partialFrame(r *rand.Rand, proto uint8, l4 int, pad int) []byte {
	f := make([]byte, 14+20+l4+pad)
	copy(f[0:6], haltest.MulticastMAC(netip.MustParseAddr("232.0.7.1")))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4))
	ip[8], ip[9] = 64, proto
	for i := 12; i < 20; i++ {
		ip[i] = byte(r.Uint32())
	}
	seg := ip[20 : 20+l4]
	for i := range seg {
		seg[i] = byte(r.Uint32())
	}
	for i := range f[14+20+l4:] {
		f[14+20+l4+i] = 0xee // padding must not enter the sum
	}
	off := 16
	if proto == 17 {
		binary.BigEndian.PutUint16(seg[4:], uint16(l4))
		off = 6
	}
	// The seed: ~csum_tcpudp_magic(...) as udp4_hwcsum leaves it.
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(proto) + uint32(l4)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(seg[off:], uint16(sum))
	return f
}

func TestCompleteChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		proto, off, min := uint8(17), 6, 8
		if i%3 == 0 {
			proto, off, min = 6, 16, 20
		}
		l4 := min + r.IntN(1481)
		f := partialFrame(r, proto, l4, r.IntN(3)*7)
		want := naiveL4Checksum(f[14:], off)
		require.True(t, completeChecksum(f), "frame %d", i)
		got := binary.BigEndian.Uint16(f[14+20+off:])
		require.Equal(t, want, got, "frame %d: proto %d, l4 %d bytes", i, proto, l4)
		// Completing a complete checksum again changes nothing.
		require.True(t, completeChecksum(f))
		require.Equal(t, want, binary.BigEndian.Uint16(f[14+20+off:]))
	}
}

func TestCompleteChecksumLeavesOthersAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	udp := func() []byte { return partialFrame(r, 17, 100, 0) }
	cases := map[string]func() []byte{
		"IGMP": func() []byte {
			return haltest.BuildFrame(haltest.FrameSpec{Source: srcAddr, Group: groupSG, TTL: 1, Proto: haltest.ProtoIGMP, Payload: 8})
		},
		"a fragment (MF)":  func() []byte { f := udp(); f[14+6] = 0x20; return f },
		"a later fragment": func() []byte { f := udp(); f[14+7] = 0x10; return f },
		"UDP length disagrees with the IP length": func() []byte {
			f := udp()
			binary.BigEndian.PutUint16(f[14+20+4:], 99)
			return f
		},
		"IP total length past the frame": func() []byte { f := udp(); return f[:len(f)-1] },
		"ARP":                            func() []byte { f := udp(); f[12], f[13] = 0x08, 0x06; return f },
		"IPv6 version nibble":            func() []byte { f := udp(); f[14] = 0x65; return f },
		"runt":                           func() []byte { return udp()[:30] },
		"TCP shorter than its header":    func() []byte { return partialFrame(r, 6, 20, 0)[:14+20+19] },
	}
	for name, build := range cases {
		f := build()
		before := bytes.Clone(f)
		assert.False(t, completeChecksum(f), name)
		assert.Equal(t, before, f, "%s: frame modified", name)
	}
}

func TestCompleteChecksumZeroIsAllOnes(t *testing.T) {
	// Find a UDP segment whose checksum computes to zero by solving for the
	// last payload word: RFC 768 sends it as 0xffff.
	r := rand.New(rand.NewPCG(5, 6))
	f := partialFrame(r, 17, 10, 0)
	seg := f[14+20:]
	seg[8], seg[9] = 0, 0
	c := naiveL4Checksum(f[14:], 6) // with the last word zero
	binary.BigEndian.PutUint16(seg[8:], c)
	require.True(t, completeChecksum(f))
	assert.Equal(t, uint16(0xffff), binary.BigEndian.Uint16(seg[6:]))
}

// TestBlockPacketsCompletesChecksums: a frame marked CSUMNOTREADY comes out
// of the block with a correct checksum, an unmarked one untouched.
func TestBlockPacketsCompletesChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	partial := partialFrame(r, 17, 200, 0)
	want := naiveL4Checksum(partial[14:], 6)
	other := partialFrame(r, 17, 60, 0)
	b := block(8192, partial, other)
	binary.NativeEndian.PutUint32(b[48+p3StatusOff:], unix.TP_STATUS_USER|unix.TP_STATUS_CSUMNOTREADY)
	otherBefore := bytes.Clone(other)
	got, st := blockPackets(b, nil)
	require.Len(t, got, 2)
	assert.Equal(t, 1, st.completed)
	assert.Equal(t, want, binary.BigEndian.Uint16(got[0][14+20+6:]))
	assert.Equal(t, otherBefore, got[1], "a frame not marked CSUMNOTREADY is forwarded as received")
}

// FuzzCompleteChecksum: any bytes, no panic, nothing written outside the
// frame, and a frame it completes verifies (sum over pseudo-header and
// segment is all ones).
func FuzzCompleteChecksum(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	f.Add(partialFrame(r, 17, 8, 0))
	f.Add(partialFrame(r, 17, 33, 5))
	f.Add(partialFrame(r, 6, 40, 0))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		buf := append(bytes.Clone(b), 0xaa, 0xbb)
		fr := buf[:len(b)]
		if !completeChecksum(fr) {
			require.Equal(t, b, fr, "frame modified although not completed")
			return
		}
		require.Equal(t, []byte{0xaa, 0xbb}, buf[len(b):], "wrote past the frame")
		ip := fr[14:]
		off := 16
		if ip[9] == 17 {
			off = 6
		}
		require.Equal(t, naiveL4Checksum(ip, off), binary.BigEndian.Uint16(ip[int(ip[0]&0xf)*4+off:]))
	})
}

// BenchmarkCompleteChecksum: the per-frame cost the driver adds for frames
// that arrive CSUMNOTREADY, next to a plain copy of the same frame (the
// core copies every frame once per egress port anyway).
func BenchmarkCompleteChecksum(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, size := range []int{60, 1514} {
		f := partialFrame(r, 17, size-34, 0)
		dst := make([]byte, len(f))
		b.Run("complete/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				completeChecksum(f)
			}
		})
		b.Run("copy/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				copy(dst, f)
			}
		})
	}
}
