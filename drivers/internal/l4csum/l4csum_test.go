package l4csum

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naive is the reference: RFC 1071 word by word over the pseudo-header
// and the segment with the checksum field at off zeroed.
func naive(ip []byte, off int) uint16 {
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

// partial builds a frame of protocol proto with l4 bytes of segment and
// pad bytes of Ethernet padding whose checksum field holds what a
// CHECKSUM_PARTIAL sender leaves there: the folded pseudo-header sum
// (~csum_tcpudp_magic(...), as udp4_hwcsum and __tcp_v4_send_check do).
func partial(r *rand.Rand, proto uint8, l4, pad int) (f []byte, off int) {
	f = make([]byte, 14+20+l4+pad)
	for i := range 12 {
		f[i] = byte(r.Uint32())
	}
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
	off = 16
	if proto == 17 {
		binary.BigEndian.PutUint16(seg[4:], uint16(l4))
		off = 6
	}
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(proto) + uint32(l4)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(seg[off:], uint16(sum))
	return f, off
}

func randomProto(r *rand.Rand, i int) (proto uint8, l4 int) {
	if i%3 == 0 {
		return 6, 20 + r.IntN(1461)
	}
	return 17, 8 + r.IntN(1473)
}

func TestCompleteMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		proto, l4 := randomProto(r, i)
		f, off := partial(r, proto, l4, r.IntN(3)*7)
		want := naive(f[14:], off)
		require.True(t, Complete(f), "frame %d", i)
		require.Equal(t, want, binary.BigEndian.Uint16(f[34+off:]), "frame %d: proto %d, %d bytes", i, proto, l4)
		require.True(t, Complete(f), "completing again")
		require.Equal(t, want, binary.BigEndian.Uint16(f[34+off:]))
	}
}

// TestCompletePartial: a partial frame is completed as Complete would; a
// complete frame, a frame with a corrupt checksum and a UDP datagram
// without a checksum are left alone.
func TestCompletePartial(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		proto, l4 := randomProto(r, i)
		f, off := partial(r, proto, l4, r.IntN(2)*5)
		want := naive(f[14:], off)
		require.True(t, CompletePartial(f), "frame %d: partial", i)
		require.Equal(t, want, binary.BigEndian.Uint16(f[34+off:]), "frame %d", i)
		before := bytes.Clone(f)
		require.False(t, CompletePartial(f), "frame %d: complete already", i)
		require.Equal(t, before, f)

		// Corrupt: another value in the field, neither the seed nor right.
		seed := binary.BigEndian.Uint16(before[34+off:])
		bad := uint16(r.Uint32())
		for bad == want || bad == seed || bad == 0 {
			bad++
		}
		binary.BigEndian.PutUint16(f[34+off:], bad)
		c := bytes.Clone(f)
		if p := naivePseudo(f[14:]); p == bad {
			continue // the one-in-65,536 case the package comment names
		}
		require.False(t, CompletePartial(f), "frame %d: corrupt checksum %#04x", i, bad)
		require.Equal(t, c, f)
	}
	f, _ := partial(r, 17, 50, 0)
	binary.BigEndian.PutUint16(f[34+6:], 0)
	assert.False(t, CompletePartial(f), "UDP without a checksum")
}

// naivePseudo is the folded pseudo-header sum (the partial seed).
func naivePseudo(ip []byte) uint16 {
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(ip[9]) + uint32(binary.BigEndian.Uint16(ip[2:4])-uint16(ip[0]&0xf)*4)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestLeavesOthersAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	udp := func() []byte { f, _ := partial(r, 17, 100, 0); return f }
	cases := map[string]func() []byte{
		"IGMP":          func() []byte { f := udp(); f[14+9] = 2; return f },
		"IPv6":          func() []byte { f := udp(); f[13] = 0xdd; f[12] = 0x86; return f },
		"fragment":      func() []byte { f := udp(); f[14+6] = 0x20; return f },
		"short":         func() []byte { return udp()[:30] },
		"total > frame": func() []byte { f := udp(); binary.BigEndian.PutUint16(f[16:], 2000); return f },
		"UDP length":    func() []byte { f := udp(); binary.BigEndian.PutUint16(f[34+4:], 99); return f },
		"IHL < 5":       func() []byte { f := udp(); f[14] = 0x44; return f },
		"short TCP":     func() []byte { f, _ := partial(r, 6, 19, 0); return f },
	}
	for name, mk := range cases {
		f := mk()
		c := bytes.Clone(f)
		assert.False(t, Complete(f), name)
		assert.False(t, CompletePartial(f), name)
		assert.Equal(t, c, f, name)
	}
}

// FuzzCompletePartial: no input panics either function, and a frame
// CompletePartial completed verifies: a second call leaves it alone and
// Complete writes the same checksum.
func FuzzCompletePartial(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, p := range []uint8{6, 17} {
		fr, _ := partial(r, p, 40, 3)
		f.Add(fr)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !CompletePartial(b) {
			return
		}
		c := bytes.Clone(b)
		require.False(t, CompletePartial(b), "completed twice")
		require.True(t, Complete(b))
		require.Equal(t, c, b, "Complete agrees")
	})
}

func BenchmarkCompletePartial(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{64, 1500} {
		f, off := partial(r, 17, n-34, 0)
		seed := bytes.Clone(f[34+off : 34+off+2])
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for range b.N {
				copy(f[34+off:], seed)
				if !CompletePartial(f) {
					b.Fatal("not completed")
				}
			}
		})
	}
}
