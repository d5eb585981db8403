package linkmon

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/hal"
)

func TestOperUp(t *testing.T) {
	for _, c := range []struct {
		name  string
		attrs netlink.LinkAttrs
		up    bool
	}{
		{"operstate up", netlink.LinkAttrs{OperState: netlink.OperUp}, true},
		{"lower layer down (veth peer down)", netlink.LinkAttrs{OperState: netlink.OperLowerLayerDown, Flags: net.FlagUp}, false},
		{"down", netlink.LinkAttrs{OperState: netlink.OperDown}, false},
		{"unknown, up with carrier", netlink.LinkAttrs{OperState: netlink.OperUnknown, Flags: net.FlagUp, RawFlags: unix.IFF_UP | unix.IFF_RUNNING}, true},
		{"unknown, up without carrier", netlink.LinkAttrs{OperState: netlink.OperUnknown, Flags: net.FlagUp, RawFlags: unix.IFF_UP}, false},
		{"unknown, administratively down", netlink.LinkAttrs{OperState: netlink.OperUnknown, RawFlags: unix.IFF_RUNNING}, false},
	} {
		assert.Equal(t, c.up, operUp(&c.attrs), c.name)
	}
}

// TestReport: a port's state is reported once it is known and an IFL is
// bound, again only when the state or the IFL changes.
func TestReport(t *testing.T) {
	var got []hal.LinkState
	bound := hal.IFLIndex(0)
	m := &Monitor{cfg: Config{
		Bound:  func(int) hal.IFLIndex { return bound },
		Report: func(ls hal.LinkState) { got = append(got, ls) },
	}, up: map[int]bool{}, reported: map[int]hal.LinkState{}}
	m.Report(7)
	assert.Empty(t, got, "state unknown")
	m.up[7] = true
	m.Report(7)
	assert.Empty(t, got, "no IFL bound")
	bound = 300
	m.Report(7)
	m.Report(7)
	assert.Equal(t, []hal.LinkState{{IFL: 300, Up: true}}, got)
	m.up[7] = false
	m.Report(7)
	bound = 301
	m.Report(7)
	assert.Equal(t, []hal.LinkState{{IFL: 300, Up: true}, {IFL: 300, Up: false}, {IFL: 301, Up: false}}, got)
	up, known := m.Up(7)
	assert.False(t, up)
	assert.True(t, known)
	_, known = m.Up(8)
	assert.False(t, known)
}
