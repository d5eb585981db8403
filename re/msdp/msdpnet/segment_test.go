package msdpnet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

func entries(n int) []msdpmsg.Entry {
	es := make([]msdpmsg.Entry, n)
	for i := range es {
		es[i] = msdpmsg.Entry{Group: netip.AddrFrom4([4]byte{239, 0, byte(i >> 8), byte(i)}), Source: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}
	}
	return es
}

// TestSplitTLVs: every chunk is whole TLVs within the MSS, and the
// chunks decode to the same (S,G)s in the same order.
func TestSplitTLVs(t *testing.T) {
	rp := netip.MustParseAddr("10.0.0.1")
	var data []byte
	for _, n := range []int{1, 255, 3, 120, 121, 0} {
		data, _ = msdpmsg.AppendSA(data, msdpmsg.TypeSourceActive, rp, entries(n), nil)
		data = append(data, msdpmsg.KeepAliveBytes...)
	}
	data, _ = msdpmsg.AppendSA(data, msdpmsg.TypeSAResponse, rp, entries(200), nil)
	withData, _ := msdpmsg.AppendSA(nil, msdpmsg.TypeSourceActive, rp, entries(200), make([]byte, 100))
	data = append(data, withData...)
	flatten := func(msgs []msdpmsg.Message) (es []msdpmsg.Entry, types []msdpmsg.Type) {
		for _, m := range msgs {
			switch m := m.(type) {
			case *msdpmsg.SourceActive:
				es = append(es, m.Entries...)
			case *msdpmsg.SAResponse:
				es = append(es, m.Entries...)
			}
			types = append(types, m.Type())
		}
		return es, types
	}
	want, err := msdpmsg.DecodeAll(data)
	require.NoError(t, err)
	wantEntries, _ := flatten(want)
	for _, mss := range []int{1448, 1428, 536, 100, 65483} {
		chunks := splitTLVs(data, mss, nil)
		var joined []byte
		var got []msdpmsg.Message
		for _, c := range chunks {
			msgs, err := msdpmsg.DecodeAll(c)
			require.NoError(t, err, "mss %d: chunk of %d is not whole TLVs", mss, len(c))
			if !bytes.Equal(c, withData) {
				require.LessOrEqual(t, len(c), mss, "mss %d", mss)
			}
			got = append(got, msgs...)
			joined = append(joined, c...)
		}
		gotEntries, _ := flatten(got)
		require.Equal(t, wantEntries, gotEntries, "mss %d", mss)
		if mss >= 3068+3 {
			require.Equal(t, data, joined)
		}
	}
}

// FuzzSplitTLVs: on any input, splitting never panics; when the input is
// whole valid TLVs, every chunk is whole TLVs and they carry the same
// messages' (S,G)s in order.
func FuzzSplitTLVs(f *testing.F) {
	rp := netip.MustParseAddr("10.0.0.1")
	d, _ := msdpmsg.AppendSA(nil, msdpmsg.TypeSourceActive, rp, entries(255), nil)
	f.Add(d, uint16(1448))
	f.Add(append(d, 4, 0, 3, 1, 0), uint16(200))
	f.Fuzz(func(t *testing.T, data []byte, mss uint16) {
		if mss < 20 {
			return
		}
		chunks := splitTLVs(data, int(mss), nil)
		want, err := msdpmsg.DecodeAll(data)
		if err != nil {
			return
		}
		var got []msdpmsg.Message
		for _, c := range chunks {
			msgs, err := msdpmsg.DecodeAll(c)
			require.NoError(t, err)
			got = append(got, msgs...)
		}
		key := func(msgs []msdpmsg.Message) (out []string) {
			for _, m := range msgs {
				switch m := m.(type) {
				case *msdpmsg.SourceActive:
					for _, e := range m.Entries {
						out = append(out, m.RP.String()+e.Source.String()+e.Group.String())
					}
				case *msdpmsg.SAResponse:
					for _, e := range m.Entries {
						out = append(out, "r"+m.RP.String()+e.Source.String()+e.Group.String())
					}
				default:
					out = append(out, m.Type().String())
				}
			}
			return out
		}
		require.Equal(t, key(want), key(got))
	})
}
