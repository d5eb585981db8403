package haltest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// fakeEvents are collected under the Fake's lock and delivered after it is
// released, so that upcall implementations may call back into the Fake.
type fakeEvents struct {
	outputs  []Output
	punts    []Punt
	resolves []hal.ResolveRequest
	wrongIfs []hal.WrongInterface
}

func (f *Fake) deliver(ev *fakeEvents) {
	up := f.cfg.Upcalls
	if up != nil {
		for _, p := range ev.punts {
			up.OnPunt(p.Ingress, p.Trap, p.Frame)
		}
		for _, r := range ev.resolves {
			up.OnResolve(r)
		}
		for _, w := range ev.wrongIfs {
			up.OnWrongInterface(w)
		}
	}
	if f.cfg.Egress != nil {
		// One Output call per run of frames to the same egress.
		for i := 0; i < len(ev.outputs); {
			j := i
			var frames [][]byte
			for j < len(ev.outputs) && ev.outputs[j].Egress == ev.outputs[i].Egress {
				frames = append(frames, ev.outputs[j].Frame)
				j++
			}
			f.cfg.Egress.Output(ev.outputs[i].Egress, frames)
			i = j
		}
	}
}

// Input implements hal.Driver with a naive packet path (see Fake).
func (f *Fake) Input(ingress hal.IFLIndex, frames [][]byte) error {
	var ev fakeEvents
	if err := f.inputLocked(ingress, frames, &ev); err != nil {
		return err
	}
	f.deliver(&ev)
	return nil
}

func (f *Fake) inputLocked(ingress hal.IFLIndex, frames [][]byte, ev *fakeEvents) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return hal.ErrClosed
	}
	if f.failIn != nil {
		return fmt.Errorf("input on %d: %w", ingress, f.failIn)
	}
	in, ok := f.ifls[ingress]
	if !ok {
		return fmt.Errorf("input on ifl %d: %w", ingress, hal.ErrNotFound)
	}
	now := f.cfg.Now()
	for _, fr := range frames {
		f.inputs = append(f.inputs, Punt{Ingress: ingress, Frame: slices.Clone(fr)})
		f.forwardLocked(in, fr, now, ev)
	}
	return nil
}

// parentAggLocked returns the aggregate IFL whose Members hold idx, or 0.
func (f *Fake) parentAggLocked(idx hal.IFLIndex) hal.IFLIndex {
	for _, ifl := range f.ifls {
		if ifl.Kind == hal.IFLAggregate && slices.Contains(ifl.Members, idx) {
			return ifl.Index
		}
	}
	return 0
}

func (f *Fake) forwardLocked(in hal.IFL, fr []byte, now time.Time, ev *fakeEvents) {
	c := f.counters[in.Index]
	c.RxPackets++
	c.RxBytes += uint64(len(fr))
	if len(fr) >= EthHeaderLen && binary.BigEndian.Uint16(fr[12:14]) == 0x0806 {
		target, ok := hal.ARPTarget(fr)
		if !ok {
			c.Malformed++
			return
		}
		if id, ok := f.traps.MatchARP(target); ok {
			ev.punts = append(ev.punts, Punt{Ingress: in.Index, Trap: id, Frame: slices.Clone(fr)})
			return
		}
		c.NoRoute++
		return
	}
	p, err := ParseFrame(fr)
	if err != nil {
		c.Malformed++
		return
	}
	g4 := p.Group.As4()
	if id, ok := f.traps.MatchIPv4(p.Proto, binary.BigEndian.Uint32(g4[:])); ok {
		ev.punts = append(ev.punts, Punt{Ingress: in.Index, Trap: id, Frame: slices.Clone(fr)})
		return
	}
	if !p.Group.IsMulticast() {
		c.NoRoute++
		return
	}
	r, ok := f.lookupLocked(p.Source, p.Group)
	if !ok {
		c.NoRoute++
		return
	}
	if r.RPF != 0 && r.RPF != in.Index && f.parentAggLocked(in.Index) != r.RPF {
		c.RPFFail++
		ev.wrongIfs = append(ev.wrongIfs, hal.WrongInterface{Ingress: in.Index, Expected: r.RPF, Source: p.Source, Group: p.Group})
		return
	}
	st := f.rstats[r.Key]
	st.Counters.Packets++
	st.Counters.Bytes += uint64(len(fr))
	st.LastUsed = now
	nh := f.nhs[r.NH]
	if nh.Type == hal.NHIndirect {
		nh = f.nhs[nh.Target]
	}
	switch nh.Type {
	case hal.NHResolve:
		c.Resolve++
		ev.resolves = append(ev.resolves, hal.ResolveRequest{NH: nh.ID, Ingress: in.Index, Source: p.Source, Group: p.Group})
		return
	case hal.NHMDiscard, hal.NHDiscard:
		c.Discard++
		return
	}
	if p.TTL <= 1 {
		c.TTLExpiry++
		return
	}
	legs := []hal.NextHop{nh}
	if nh.Type == hal.NHComposite {
		legs = legs[:0]
		for _, m := range nh.Members {
			legs = append(legs, f.nhs[m])
		}
	}
	// The Up members of every aggregate leg, then the number of sublists
	// of the nh-list (hal/flow.go), which every aggregate's choice uses.
	ups := make([][]hal.IFLIndex, len(legs))
	counts := make([]int, len(legs))
	for i, leg := range legs {
		if leg.Type != hal.NHAggregate {
			continue
		}
		for _, m := range leg.Members {
			if ifl := f.ifls[f.nhs[m].IFL]; ifl.Up && ifl.Kind == hal.IFLPhysical {
				ups[i] = append(ups[i], ifl.Index)
			}
		}
		counts[i] = len(ups[i])
	}
	sublists := hal.SublistCount(counts)
	encapped := false
	for i, leg := range legs {
		var port hal.IFLIndex
		switch leg.Type {
		case hal.NHUnicast:
			ifl := f.ifls[leg.IFL]
			switch {
			case !ifl.Up:
				f.counters[leg.IFL].PortDown++
			case ifl.Kind == hal.IFLEncap:
				// The DR's register encapsulation: the packet as
				// received goes to the host, once.
				if !encapped {
					encapped = true
					ev.punts = append(ev.punts, Punt{Ingress: in.Index, Trap: hal.TrapEncap, Frame: slices.Clone(fr)})
					oc := f.counters[leg.IFL]
					oc.TxPackets++
					oc.TxBytes += uint64(len(fr))
				}
			default:
				port = leg.IFL
			}
		case hal.NHAggregate:
			up := ups[i]
			if len(up) == 0 {
				f.counters[leg.IFL].PortDown++
				continue
			}
			if f.lagIndex != nil {
				port = up[f.lagIndex(p.Source, p.Group, len(up))]
			} else {
				port = up[hal.EgressMember(p.Source, p.Group, sublists, len(up))]
			}
		}
		if port == 0 {
			continue
		}
		if f.operDown[port] {
			f.counters[port].PortDown++
			continue
		}
		out := slices.Clone(fr)
		RewriteForEgress(out, p.Group, f.ifls[port].MAC)
		oc := f.counters[port]
		oc.TxPackets++
		oc.TxBytes += uint64(len(out))
		ev.outputs = append(ev.outputs, Output{Egress: port, Frame: out})
	}
}

// RewriteForEgress applies the forwarding rewrite to a well-formed frame in
// place the slow and obvious way: destination MAC from the group, source MAC
// (if srcMAC has 6 bytes), TTL minus one and a fully recomputed header
// checksum. It is the reference drivers' rewrites are compared against.
func RewriteForEgress(fr []byte, group netip.Addr, srcMAC []byte) {
	copy(fr[0:6], MulticastMAC(group))
	if len(srcMAC) == 6 {
		copy(fr[6:12], srcMAC)
	}
	ip := fr[EthHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	ip[8]--
	binary.BigEndian.PutUint16(ip[10:12], IPv4Checksum(ip[:ihl]))
}

// Transmit implements hal.Driver: frames go out unchanged; an aggregate
// sends through its first Up member; a down port counts PortDown.
func (f *Fake) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	var ev fakeEvents
	err := func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			return hal.ErrClosed
		}
		if f.failIn != nil {
			return fmt.Errorf("transmit on %d: %w", egress, f.failIn)
		}
		ifl, ok := f.ifls[egress]
		if !ok {
			return fmt.Errorf("transmit on ifl %d: %w", egress, hal.ErrNotFound)
		}
		if ifl.Kind == hal.IFLEncap || ifl.Kind == hal.IFLDecap {
			return fmt.Errorf("transmit on ifl %d (%s): no port: %w", egress, ifl.Kind, hal.ErrInvalid)
		}
		port := hal.IFLIndex(0)
		if ifl.Kind == hal.IFLPhysical && ifl.Up {
			port = egress
		}
		if ifl.Kind == hal.IFLAggregate {
			for _, m := range ifl.Members {
				if mi, ok := f.ifls[m]; ok && mi.Up && mi.Kind == hal.IFLPhysical {
					port = m
					break
				}
			}
		}
		if port == 0 {
			f.counters[egress].PortDown += uint64(len(frames))
			return nil
		}
		if f.operDown[port] {
			f.counters[port].PortDown += uint64(len(frames))
			return nil
		}
		oc := f.counters[port]
		for _, fr := range frames {
			oc.TxPackets++
			oc.TxBytes += uint64(len(fr))
			ev.outputs = append(ev.outputs, Output{Egress: port, Frame: slices.Clone(fr)})
		}
		return nil
	}()
	if err != nil {
		return err
	}
	f.deliver(&ev)
	return nil
}
