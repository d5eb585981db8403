package xdp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/drivers/internal/l4csum"
)

// gsoFrame builds an Ethernet + IPv4 (DF) + TCP packet with 12 bytes of
// options (NOP, NOP, timestamps) and n payload bytes, flags as given, its
// TCP checksum left partial as a TSO sender leaves it.
func gsoFrame(r *rand.Rand, n int, flags byte) []byte {
	f := make([]byte, 14+20+32+n)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+32+n))
	binary.BigEndian.PutUint16(ip[4:], 0xfffe) // wraps during the cut
	ip[6] = 0x40                               // DF
	ip[8], ip[9] = 64, 6
	copy(ip[12:20], []byte{10, 1, 0, 2, 10, 1, 0, 1})
	binary.BigEndian.PutUint16(ip[10:], ipv4Checksum(ip[:20]))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 52536)
	binary.BigEndian.PutUint16(tcp[2:], 639)
	binary.BigEndian.PutUint32(tcp[4:], 0xfffff000) // wraps too
	binary.BigEndian.PutUint32(tcp[8:], 12345)
	tcp[12] = 8 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 502)
	copy(tcp[20:32], []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8})
	for i := range f[66:] {
		f[66+i] = byte(r.Uint32())
	}
	return f
}

func TestSegmentTCP(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	const mss = 1448
	const ack, psh, fin, cwr = 0x10, 0x08, 0x01, 0x80
	for _, n := range []int{mss + 1, 10000, 65536 - 14 - 52 - 20} {
		f := gsoFrame(r, n, ack|psh|fin|cwr)
		orig := bytes.Clone(f)
		var segs [][]byte
		require.True(t, segmentTCP(f, mss, nil, func(s []byte) { segs = append(segs, bytes.Clone(s)) }), "%d bytes", n)
		assert.Equal(t, orig, f, "the packet itself is not changed")
		require.Len(t, segs, (n+mss-1)/mss)
		var payload []byte
		for i, s := range segs {
			ip := s[14:]
			pl := len(s) - 66
			if i < len(segs)-1 {
				require.Equal(t, mss, pl, "segment %d", i)
			}
			assert.Equal(t, uint16(20+32+pl), binary.BigEndian.Uint16(ip[2:]), "segment %d: total length", i)
			assert.Equal(t, uint16(0xfffe)+uint16(i), binary.BigEndian.Uint16(ip[4:]), "segment %d: identification", i)
			assert.Zero(t, ipv4Checksum(ip[:20]), "segment %d: IPv4 checksum verifies", i)
			c := bytes.Clone(s)
			require.True(t, l4csum.Complete(c))
			assert.Equal(t, c, s, "segment %d: TCP checksum complete", i)
			assert.Equal(t, uint32(0xfffff000)+uint32(i*mss), binary.BigEndian.Uint32(ip[24:]), "segment %d: sequence number", i)
			assert.Equal(t, orig[:14], s[:14], "Ethernet header")
			assert.Equal(t, orig[14+20:14+20+4], s[14+20:14+20+4], "ports")
			assert.Equal(t, orig[14+28:14+33], s[14+28:14+33], "ack, offset")
			assert.Equal(t, orig[14+40:14+52], s[14+40:14+52], "options")
			var want byte = ack
			if i == 0 {
				want |= cwr
			}
			if i == len(segs)-1 {
				want |= psh | fin
			}
			assert.Equal(t, want, ip[33], "segment %d: flags", i)
			payload = append(payload, s[66:]...)
		}
		assert.Equal(t, orig[66:], payload, "the payload, in order")
	}

	for name, f := range map[string][]byte{
		"one segment": gsoFrame(r, mss, ack),
		"UDP":         func() []byte { f := gsoFrame(r, 5000, ack); f[14+9] = 17; return f }(),
		"fragment":    func() []byte { f := gsoFrame(r, 5000, ack); f[14+7] = 1; return f }(),
		"IPv6":        func() []byte { f := gsoFrame(r, 5000, ack); f[12] = 0x86; f[13] = 0xdd; return f }(),
		"bad TCP offset": func() []byte {
			f := gsoFrame(r, 5000, ack)
			f[14+32] = 4 << 4
			return f
		}(),
		"total beyond the frame": func() []byte { f := gsoFrame(r, 5000, ack); return f[:3000] }(),
		"short":                  gsoFrame(r, 5000, ack)[:40],
	} {
		called := false
		assert.False(t, segmentTCP(f, mss, nil, func([]byte) { called = true }), name)
		assert.False(t, called, name)
	}
	assert.False(t, segmentTCP(gsoFrame(r, 5000, ack), 0, nil, func([]byte) {}), "mss 0")
}

// FuzzSegmentTCP: no input panics the cut; what it emits are frames of at
// most the headers and mss payload bytes whose payloads add up to the
// packet's.
func FuzzSegmentTCP(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	f.Add(gsoFrame(r, 3000, 0x18), uint16(1448))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, mss uint16) {
		total := 0
		ok := segmentTCP(b, int(mss), nil, func(s []byte) {
			ip := s[14:]
			hdr := int(ip[0]&0x0f)*4 + int(ip[int(ip[0]&0x0f)*4+12]>>4)*4
			require.LessOrEqual(t, len(ip)-hdr, int(mss))
			total += len(ip) - hdr
		})
		if ok {
			ip := b[14:]
			hdr := int(ip[0]&0x0f)*4 + int(ip[int(ip[0]&0x0f)*4+12]>>4)*4
			require.Equal(t, int(binary.BigEndian.Uint16(ip[2:]))-hdr, total)
		}
	})
}
