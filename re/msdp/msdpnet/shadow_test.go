package msdpnet

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// feedStream is a stream of numbered Source-Actives (source 10.0.x.y,
// x.y the number, 1 to 9 entries each) and KeepAlives.
func feedStream(n int) ([]byte, int) {
	var b []byte
	k := 0
	for i := range n {
		if i%5 == 4 {
			b = append(b, msdpmsg.KeepAliveBytes...)
			continue
		}
		es := make([]msdpmsg.Entry, 1+i%9)
		for j := range es {
			es[j] = msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, 0, byte(k >> 8), byte(k)}), Source: netip.AddrFrom4([4]byte{10, 0, byte(k >> 8), byte(k)})}
			k++
		}
		b, _ = msdpmsg.AppendSA(b, msdpmsg.TypeSourceActive, netip.MustParseAddr("192.0.2.1"), es, nil)
	}
	return b, k
}

// FuzzFeedIn feeds a stream in records cut and placed by the fuzzer:
// each pair of input octets makes one record that starts up to 255
// octets before the next expected offset (a re-sent record) or, rarely,
// after it (a lost record), and is up to 1,023 octets long. Whatever the
// records, the shadow never panics and never delivers an SA entry twice
// or out of order; without a lost record, it delivers every entry.
func FuzzFeedIn(f *testing.F) {
	f.Add([]byte{0, 10, 0, 200, 3, 255})
	f.Add([]byte{255, 255, 0, 1, 0, 1, 128, 0})
	f.Add([]byte{7, 3})
	stream, total := feedStream(400)
	f.Fuzz(func(t *testing.T, ops []byte) {
		in := inFeed{dec: msdpmsg.NewDecoder()}
		var got []int
		gap := false
		for i := 0; in.next < uint64(len(stream)); i++ {
			var back, length int
			forward := false
			if 2*i+1 < len(ops) {
				op := binary.BigEndian.Uint16(ops[2*i:])
				back = int(op>>10) * 4              // 0..252 octets back
				length = 1 + int(op&0x3ff)          // 1..1024
				forward = op>>10 == 63 && op&1 == 1 // a lost record
			} else {
				length = 1 + i*37%700
			}
			start := int(in.next) - back
			if forward {
				start = int(in.next) + 1
			}
			start = max(0, min(start, len(stream)-1))
			end := min(len(stream), start+length)
			msgs, derr, ferr := in.feed(uint64(start), stream[start:end], nil)
			require.NoError(t, derr, "the stream is well formed")
			if ferr != nil {
				gap = true
				require.ErrorIs(t, ferr, ErrOutOfSync)
				break
			}
			for _, m := range msgs {
				if sa, ok := m.(*msdpmsg.SourceActive); ok {
					for _, e := range sa.Entries {
						s := e.Source.As4()
						got = append(got, int(s[2])<<8|int(s[3]))
					}
				}
			}
			require.LessOrEqual(t, len(in.tail), tailMax)
			require.Equal(t, stream[int(in.next)-len(in.tail):in.next], in.tail, "the tail is the last bytes fed")
		}
		for i, k := range got {
			require.Equal(t, i, k, "entry delivered twice, lost or out of order")
		}
		if !gap {
			require.Len(t, got, total)
		}
	})
}

// TestOutCompletion: the bytes that complete a TLV the master stopped
// writing inside, from the last mirrored batch.
func TestOutCompletion(t *testing.T) {
	sa, _ := msdpmsg.AppendSA(nil, msdpmsg.TypeSourceActive, netip.MustParseAddr("192.0.2.1"),
		[]msdpmsg.Entry{{Group: netip.MustParseAddr("239.1.1.1"), Source: netip.MustParseAddr("10.1.1.1")}}, nil)
	rec := append(append(append([]byte(nil), msdpmsg.KeepAliveBytes...), sa...), msdpmsg.KeepAliveBytes...)
	o := outFeed{}
	require.NoError(t, o.feed(1000, rec))
	for _, tc := range []struct {
		name string
		w    uint64
		want []byte
		err  bool
	}{
		{"at the batch start", 1000, nil, false},
		{"inside the first KeepAlive", 1001, msdpmsg.KeepAliveBytes[1:], false},
		{"between TLVs", 1003, nil, false},
		{"inside the SA", 1010, sa[7:], false},
		{"inside the last KeepAlive", 1003 + uint64(len(sa)) + 2, msdpmsg.KeepAliveBytes[2:], false},
		{"at the batch end", 1000 + uint64(len(rec)), nil, false},
		{"before the batch: unknown", 999, nil, true},
		{"after the batch: unknown", 1001 + uint64(len(rec)), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.completion(tc.w)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.NoError(t, o.feed(500, []byte{1, 2, 3}), "an older batch is ignored")
	require.Equal(t, uint64(1000), o.off)
	require.Error(t, o.feed(2000, make([]byte, maxOutRecord+1)))
}
