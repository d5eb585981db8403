package msdpmsg_test

import (
	"net/netip"
	"testing"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// saStream builds n SA TLVs of per entries each (distinct (S,G)s).
func saStream(tb testing.TB, n, per int) []byte {
	tb.Helper()
	var b []byte
	rp := netip.MustParseAddr("10.0.0.1")
	k := uint32(0)
	entries := make([]msdpmsg.Entry, per)
	for range n {
		for j := range entries {
			k++
			entries[j] = msdpmsg.Entry{
				Group:  netip.AddrFrom4([4]byte{239, byte(k >> 16), byte(k >> 8), byte(k)}),
				Source: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
			}
		}
		var err error
		if b, err = msdpmsg.AppendSA(b, msdpmsg.TypeSourceActive, rp, entries, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// BenchmarkDecodeStream decodes full SAs (255 entries, the most one TLV
// carries) fed in 64 KiB reads, as the transport's read loop does; the
// entries/s metric is the codec's share of the ≥ 500,000 SA entries/s goal.
func BenchmarkDecodeStream(b *testing.B) {
	for _, per := range []int{1, 255} {
		b.Run(map[int]string{1: "1-entry-SAs", 255: "255-entry-SAs"}[per], func(b *testing.B) {
			stream := saStream(b, 4096/per+1, per)
			const chunk = 64 << 10
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			var out []msdpmsg.Message
			entries := 0
			for b.Loop() {
				d := msdpmsg.NewDecoder()
				for off := 0; off < len(stream); off += chunk {
					var err error
					out, err = d.Decode(stream[off:min(off+chunk, len(stream))], out[:0])
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range out {
						entries += len(m.(*msdpmsg.SourceActive).Entries)
					}
				}
			}
			b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkEncodeSA encodes full 255-entry SAs (the flooding path).
func BenchmarkEncodeSA(b *testing.B) {
	entries := make([]msdpmsg.Entry, msdpmsg.MaxEntries)
	for i := range entries {
		entries[i] = msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}), Source: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}
	}
	rp := netip.MustParseAddr("10.0.0.1")
	buf := make([]byte, 0, msdpmsg.MaxTLVLen)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = msdpmsg.AppendSA(buf[:0], msdpmsg.TypeSourceActive, rp, entries, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*msdpmsg.MaxEntries)/b.Elapsed().Seconds(), "entries/s")
}
