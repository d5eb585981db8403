package xdp

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

func TestDecodeEvent(t *testing.T) {
	src, grp := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("232.1.1.1")
	frame := haltest.Frame(src, netip.MustParseAddr("224.0.0.13"), 1, 30, nil)
	cases := []event{
		{kind: evResolve, ifl: 331, arg: uint32(hal.NHResolveID), source: src, group: grp},
		{kind: evWrongIf, ifl: 332, arg: 331, source: src, group: grp},
		{kind: evPunt, ifl: 331, arg: 3, source: netip.AddrFrom4([4]byte{}), group: netip.AddrFrom4([4]byte{}), frame: frame},
		{kind: evPunt, ifl: 500, arg: uint32(hal.TrapEncap), source: netip.AddrFrom4([4]byte{}), group: netip.AddrFrom4([4]byte{}), frame: frame},
	}
	for _, c := range cases {
		got, err := decodeEvent(c.encode())
		require.NoError(t, err)
		assert.Equal(t, c, got)
	}
	bad := map[string][]byte{
		"short header": make([]byte, eventHdrLen-1),
		"unknown kind": (&event{kind: 9, source: src, group: grp}).encode(),
	}
	bad["punt without a trap"] = (&event{kind: evPunt, source: src, group: grp, frame: frame}).encode()
	bad["punt with a trap id beyond 16 bits"] = (&event{kind: evPunt, arg: 1 << 16, source: src, group: grp, frame: frame}).encode()
	trunc := (&event{kind: evPunt, arg: 3, source: src, group: grp, frame: frame}).encode()
	trunc = trunc[:len(trunc)-1]
	bad["punt longer than the record"] = trunc
	for name, b := range bad {
		_, err := decodeEvent(b)
		assert.Error(t, err, name)
	}
}

// FuzzDecodeEvent: any record decodes or fails without panicking, and a
// decoded record encodes back to one that decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	src, grp := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("232.1.1.1")
	f.Add((&event{kind: evResolve, ifl: 1, arg: 983, source: src, group: grp}).encode())
	f.Add((&event{kind: evPunt, ifl: 1, arg: 5, source: src, group: grp, frame: []byte{1, 2, 3}}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEvent(b)
		if err != nil {
			return
		}
		e2, err := decodeEvent(e.encode())
		require.NoError(t, err)
		assert.Equal(t, e, e2)
	})
}
