package xdp

import (
	"testing"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
)

// TestDelivery runs the shared real-traffic test (issue #12) in both skb
// modes: datagrams from an ordinary UDP socket with checksum offload on,
// counted by receiving sockets.
func TestDelivery(t *testing.T) {
	for _, m := range []Mode{ModeTC, ModeGeneric} {
		t.Run(string(m), func(t *testing.T) {
			var d *Driver
			porttest.TestDelivery(t, starter(m, &d))
			for _, p := range d.Ports() {
				if p.Mode != m {
					t.Errorf("port %s runs %s, want %s", p.Port, p.Mode, m)
				}
			}
		})
	}
}
