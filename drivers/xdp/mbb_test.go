package xdp

import (
	"testing"

	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
)

// TestMakeBeforeBreak: OIL, route and IFL changes under traffic lose no
// datagram for the receivers that stay in the OIL (porttest), and every
// change of the OIL went through a switch of the entry NH.
func TestMakeBeforeBreak(t *testing.T) {
	for _, m := range []Mode{ModeTC, ModeGeneric} {
		t.Run(string(m), func(t *testing.T) {
			porttest.TestMakeBeforeBreak(t, starter(m, nil), func(t *testing.T, hd hal.Driver, changes int) {
				s := hd.(*Driver).TableSummary()
				t.Logf("%d make-before-break switches, %d OIL variants in use, %d in quarantine", s.OILSwitches, s.OILVariants, s.OILQuarantined)
				if s.OILSwitches == 0 {
					t.Error("no OIL switch counted")
				}
			})
		})
	}
}
