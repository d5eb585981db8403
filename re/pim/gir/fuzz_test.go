package gir

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

// FuzzController drives a controller with arbitrary event sequences (the
// PFMs' TLVs are arbitrary bytes, as a peer can send) and checks that it
// never panics, that every deadline lies ahead after Advance, and that the
// engine's window it announced is the one its windows say.
func FuzzController(f *testing.F) {
	f.Add([]byte{0, 10, 200, 1, 0, 3, 5, 0, 0, 0, 1, 0, 0, 0, 9, 2, 30, 3, 0})
	f.Add([]byte{2, 4, 1, 9, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 255, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		state := map[netip.Prefix]bool{}
		c := New(Config{Originator: me, Copies: 2, Interval: 20 * time.Second}, Options{HasState: func(p netip.Prefix) bool { return state[p] }}, t0)
		now := t0
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		for steps := 0; len(data) > 0 && steps < 200; steps++ {
			var acts []Action
			switch next() % 5 {
			case 0:
				acts, _ = c.Handle(now, Enable{Start: time.Duration(next()) * time.Second, Stop: time.Duration(next()) * time.Second})
			case 1:
				acts, _ = c.Handle(now, Disable{Stop: time.Duration(next()%4) * time.Second})
			case 2:
				m := &pimmsg.PFM{Originator: netip.AddrFrom4([4]byte{10, 255, 0, next() % 4}), NoForward: next()%2 == 0}
				for n := int(next() % 3); n > 0; n-- {
					typ := uint16(next())
					if typ%2 == 0 {
						typ = pimmsg.DefaultGIRType
					}
					v := make([]byte, int(next()%13))
					for i := range v {
						v[i] = next()
					}
					m.TLVs = append(m.TLVs, pimmsg.TLV{Transitive: next()%2 == 0, Type: typ, Value: v})
				}
				b := next()
				acts, _ = c.Handle(now, Received{If: pim.IfIndex(b%3 + 1), Src: nbr, Msg: m, FromNeighbor: b&4 == 0, ToAllPIMRouters: b&0x40 == 0,
					RPFIf: pim.IfIndex(b>>3%3 + 1), RPFNeighbor: nbr, Boundary: b&0x20 != 0 && b&0x10 != 0, Local: b&0x80 != 0})
			case 3:
				now = now.Add(time.Duration(next()) * 250 * time.Millisecond)
				acts = c.Advance(now)
				if d := c.NextDeadline(); !d.IsZero() && !d.After(now) {
					t.Fatalf("deadline %v not after now %v", d, now)
				}
			case 4:
				state[netip.MustParsePrefix("10.1.0.0/24")] = next()%2 == 0
			}
			for _, a := range acts {
				if s, ok := a.(Send); ok {
					if _, err := pimmsg.Marshal(s.Msg); err != nil {
						t.Fatalf("a PFM we send does not encode: %v", err)
					}
				}
			}
			n := now.UnixNano()
			want := (c.local.mode == ModeRemoval || c.local.mode == ModeInsertion) && c.local.opened && n < c.local.stopAt
			for _, w := range c.windows {
				want = want || w.opened && w.relevant && n < w.stopAt
			}
			if want != c.Active() {
				t.Fatalf("engine window %v, windows say %v", c.Active(), want)
			}
		}
	})
}
