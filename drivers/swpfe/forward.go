package swpfe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"github.com/mxfwd/mxfwd/hal"
)

// Frame layout constants (Ethernet II, IPv4: RFC 791 section 3.1).
const (
	ethLen    = 14 // destination, source, ethertype
	ipMinLen  = 20 // IPv4 header without options
	etherIPv4 = 0x0800
	etherARP  = 0x0806
)

// arenaSize is the scratch space for output copies of one flush. 256 KiB
// holds a whole batch of 32 frames replicated 64 times at 128 bytes, or 16
// times at 512 bytes; bigger products flush to tx more than once per
// batch, which is correct, only less batched. Any IPv4 frame
// (14 + 65535 bytes) fits.
const arenaSize = 256 << 10

// maxFrame is the longest frame the path copies: Ethernet header plus the
// largest IPv4 total length. Longer frames are truncated to their IPv4
// total length when forwarded.
const maxFrame = ethLen + 0xffff

// pending is the list of copies for one egress port in the current flush.
type pending struct {
	ifl    hal.IFLIndex
	ctr    *iflCounters
	frames [][]byte
	bytes  uint64
}

// scratch holds the buffers of one forwarding call. Everything is reused:
// after warm-up the packet path allocates nothing.
type scratch struct {
	arena []byte
	off   int
	pend  []pending
	npend int
	slot  []int32 // by iflCounters.id: 1 + index in pend, 0: none
	punt  []byte
}

// maxFreeScratch bounds the free list: one scratch per concurrently
// forwarding goroutine is kept (at most 64, i.e. 16 MiB of arenas); more
// concurrent callers than that allocate and drop theirs.
const maxFreeScratch = 64

// scratchPool is a bounded free list of scratch buffers. Unlike sync.Pool
// it is not emptied by the garbage collector, so a busy process does not
// reallocate 256 KiB arenas after every GC cycle.
type scratchPool struct {
	mu   sync.Mutex
	free []*scratch
}

func (p *scratchPool) get() *scratch {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return s
	}
	p.mu.Unlock()
	return newScratch()
}

func (p *scratchPool) put(s *scratch) {
	p.mu.Lock()
	if len(p.free) < maxFreeScratch {
		p.free = append(p.free, s)
	}
	p.mu.Unlock()
}

func newScratch() *scratch {
	return &scratch{arena: make([]byte, arenaSize), punt: make([]byte, 0, 2048)}
}

// alloc returns n bytes of arena or nil when it is full.
func (s *scratch) alloc(n int) []byte {
	if s.off+n > len(s.arena) {
		return nil
	}
	b := s.arena[s.off : s.off+n : s.off+n]
	s.off += n
	return b
}

// add queues b for p.
func (s *scratch) add(p *port, b []byte) {
	id := int(p.ctr.id)
	if id >= len(s.slot) {
		s.slot = append(s.slot, make([]int32, id+1-len(s.slot))...)
	}
	k := s.slot[id]
	// The counters pointer check covers an id reused by a new IFL while a
	// plan of the deleted one is still in use.
	if k == 0 || s.pend[k-1].ctr != p.ctr {
		if s.npend == len(s.pend) {
			s.pend = append(s.pend, pending{})
		}
		pe := &s.pend[s.npend]
		pe.ifl, pe.ctr, pe.frames, pe.bytes = p.ifl, p.ctr, pe.frames[:0], 0
		s.npend++
		k = int32(s.npend)
		s.slot[id] = k
	}
	pe := &s.pend[k-1]
	pe.frames = append(pe.frames, b)
	pe.bytes += uint64(len(b))
}

// flush hands every pending list to tx, counts Tx and frees the arena.
func (s *scratch) flush(tx TxFunc) {
	for i := 0; i < s.npend; i++ {
		pe := &s.pend[i]
		tx(pe.ifl, pe.frames)
		pe.ctr.txPackets.Add(uint64(len(pe.frames)))
		pe.ctr.txBytes.Add(pe.bytes)
		s.slot[pe.ctr.id] = 0
	}
	s.npend = 0
	s.off = 0
}

// csumAdjust updates a ones-complement checksum hc for a 16-bit word
// changing from old to new: RFC 1624 equation 3, HC' = ~(~HC + ~m + m').
func csumAdjust(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// dropCounts are the per-batch drop counts, added to the ingress IFL once.
type dropCounts struct {
	malformed, noRoute, rpfFail, resolve, discard, ttl, portDown uint64
}

// forward is the packet path; see Core.Forward.
func (c *Core) forward(s *scratch, ingress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	if c.closed.Load() {
		return hal.ErrClosed
	}
	in := c.ifls.Load().get(ingress)
	if in == nil {
		return fmt.Errorf("forward on ifl %d: %w", ingress, hal.ErrNotFound)
	}
	// The coarse clock: one read per batch stamps every route hit in it.
	now := c.now().UnixNano()
	traps := c.traps.Load()
	var (
		trapKey uint64 // proto<<32|destination of the last classification, +1<<40
		trapID  hal.TrapID
		d       dropCounts
		rxBytes uint64
		lastKey uint64
		lastE   *routeEntry
		looked  bool
		runE    *routeEntry // route whose hits are being summed
		runP    uint64
		runB    uint64
	)
	for _, fr := range frames {
		n := len(fr)
		rxBytes += uint64(n)
		if n < ethLen+ipMinLen || binary.BigEndian.Uint16(fr[12:14]) != etherIPv4 {
			if n >= ethLen && binary.BigEndian.Uint16(fr[12:14]) == etherARP {
				switch c.arp(s, ingress, traps, fr) {
				case arpMalformed:
					d.malformed++
				case arpNotTrapped:
					d.noRoute++
				}
				continue
			}
			d.malformed++
			continue
		}
		ip := fr[ethLen:]
		vihl := ip[0]
		ihl := int(vihl&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:4]))
		if vihl>>4 != 4 || ihl < ipMinLen || tot < ihl || tot > len(ip) {
			d.malformed++
			continue
		}
		proto := ip[9]
		src := binary.BigEndian.Uint32(ip[12:16])
		grp := binary.BigEndian.Uint32(ip[16:20])
		// Host-path traps (hal.TrapTable): consecutive frames of a batch
		// mostly share protocol and destination, so the last answer is
		// kept.
		if traps != nil {
			if k := 1<<40 | uint64(proto)<<32 | uint64(grp); k != trapKey {
				trapKey = k
				trapID, _ = traps.MatchIPv4(proto, grp)
			}
			if trapID != hal.TrapNone {
				s.punt = append(s.punt[:0], fr...)
				c.upcalls.OnPunt(ingress, trapID, s.punt)
				continue
			}
		}
		if !hal.IsMulticast4(grp) {
			d.noRoute++ // unicast no trap wants
			continue
		}
		// Consecutive frames of a batch are mostly of the same flow:
		// remember the last lookup.
		key := uint64(grp)<<32 | uint64(src)
		if !looked || key != lastKey {
			lastE, lastKey, looked = c.lookup(src, grp), key, true
		}
		e := lastE
		if e == nil {
			d.noRoute++
			continue
		}
		if rpf := hal.IFLIndex(e.rpf.Load()); rpf != 0 && rpf != ingress && rpf != in.parent {
			d.rpfFail++
			c.upcalls.OnWrongInterface(hal.WrongInterface{
				Ingress: ingress, Expected: rpf,
				Source: netip.AddrFrom4([4]byte(ip[12:16])), Group: netip.AddrFrom4([4]byte(ip[16:20])),
			})
			continue
		}
		if e != runE {
			if runE != nil {
				runE.hit(runP, runB, now)
			}
			runE, runP, runB = e, 0, 0
		}
		runP++
		runB += uint64(n)
		var p *plan
		if sl := e.slot.Load(); sl != nil {
			p = sl.plan.Load()
		}
		if p == nil || p.act < actForward {
			if p == nil || p.act == actDiscard {
				d.discard++
				continue
			}
			d.resolve++
			c.upcalls.OnResolve(hal.ResolveRequest{
				NH: p.nh, Ingress: ingress,
				Source: netip.AddrFrom4([4]byte(ip[12:16])), Group: netip.AddrFrom4([4]byte(ip[16:20])),
			})
			continue
		}
		ttl := ip[8]
		if ttl <= 1 {
			d.ttl++
			continue
		}
		if n > maxFrame {
			n = ethLen + tot
		}
		if p.encap != nil {
			// Register encapsulation at the DR: the packet as received.
			s.punt = append(s.punt[:0], fr...)
			c.upcalls.OnPunt(ingress, hal.TrapEncap, s.punt)
			p.encap.txPackets.Add(1)
			p.encap.txBytes.Add(uint64(len(fr)))
		}
		// The rewrite is the same for every copy but the source MAC.
		oldWord := uint16(ttl)<<8 | uint16(proto)
		csum := csumAdjust(binary.BigEndian.Uint16(ip[10:12]), oldWord, oldWord-0x100)
		// The flow's sublist (hal/flow.go): only an OIL with an aggregate
		// of two or more Up members has more than one.
		j := 0
		if p.sublists > 1 {
			j = hal.SublistIndex(hal.FlowHash4(src, grp), p.sublists)
		}
		for li := range p.legs {
			l := &p.legs[li]
			var pt *port
			switch n := len(l.ports); n {
			case 0:
				l.down.portDown.Add(1)
				continue
			case 1:
				pt = &l.ports[0]
			default:
				pt = &l.ports[hal.MemberIndex(j, n)]
				if pt.down {
					pt.ctr.portDown.Add(1)
					continue
				}
			}
			b := s.alloc(n)
			if b == nil {
				s.flush(tx)
				b = s.alloc(n)
			}
			copy(b, fr[:n])
			// 01:00:5e + low 23 bits of the group (RFC 1112 section 6.4).
			b[0], b[1], b[2], b[3], b[4], b[5] = 0x01, 0x00, 0x5e, byte(grp>>16)&0x7f, byte(grp>>8), byte(grp)
			if pt.hasMAC {
				copy(b[6:12], pt.mac[:])
			}
			b[ethLen+8] = ttl - 1
			binary.BigEndian.PutUint16(b[ethLen+10:ethLen+12], csum)
			s.add(pt, b)
		}
	}
	if runE != nil {
		runE.hit(runP, runB, now)
	}
	s.flush(tx)
	ctr := in.ctr
	ctr.rxPackets.Add(uint64(len(frames)))
	ctr.rxBytes.Add(rxBytes)
	d.addTo(ctr)
	return nil
}

func (d *dropCounts) addTo(c *iflCounters) {
	if d.malformed != 0 {
		c.malformed.Add(d.malformed)
	}
	if d.noRoute != 0 {
		c.noRoute.Add(d.noRoute)
	}
	if d.rpfFail != 0 {
		c.rpfFail.Add(d.rpfFail)
	}
	if d.resolve != 0 {
		c.resolve.Add(d.resolve)
	}
	if d.discard != 0 {
		c.discard.Add(d.discard)
	}
	if d.ttl != 0 {
		c.ttlExpiry.Add(d.ttl)
	}
}

// hit adds a run of packets to the route's counters and stamps LastUsed.
func (e *routeEntry) hit(pkts, bytes uint64, now int64) {
	e.pkts.Add(pkts)
	e.bytes.Add(bytes)
	if e.last.Load() != now {
		e.last.Store(now)
	}
}

// send is Core.Send.
func (c *Core) send(s *scratch, egress hal.IFLIndex, frames [][]byte, tx TxFunc) error {
	if c.closed.Load() {
		return hal.ErrClosed
	}
	m := c.ifls.Load()
	v := m.get(egress)
	if v == nil {
		return fmt.Errorf("transmit on ifl %d: %w", egress, hal.ErrNotFound)
	}
	out := v
	switch {
	case v.ifl.Kind == hal.IFLEncap || v.ifl.Kind == hal.IFLDecap:
		return fmt.Errorf("transmit on ifl %d (%s): no port: %w", egress, v.ifl.Kind, hal.ErrInvalid)
	case v.ifl.Kind == hal.IFLAggregate:
		out = nil
		for _, mem := range v.ifl.Members {
			if mv := m.get(mem); mv != nil && mv.ifl.Kind == hal.IFLPhysical && mv.ifl.Up {
				out = mv
				break
			}
		}
	case !v.ifl.Up:
		out = nil
	}
	if out == nil {
		v.ctr.portDown.Add(uint64(len(frames)))
		return nil
	}
	if out.operDown {
		out.ctr.portDown.Add(uint64(len(frames)))
		return nil
	}
	pt := port{ifl: out.ifl.Index, ctr: out.ctr}
	var tooLong int
	for _, fr := range frames {
		if len(fr) > maxFrame {
			tooLong++
			continue
		}
		b := s.alloc(len(fr))
		if b == nil {
			s.flush(tx)
			b = s.alloc(len(fr))
		}
		copy(b, fr)
		s.add(&pt, b)
	}
	s.flush(tx)
	if tooLong > 0 {
		return fmt.Errorf("transmit on ifl %d: %d frames longer than %d bytes: %w", egress, tooLong, maxFrame, hal.ErrInvalid)
	}
	return nil
}

// arp outcomes.
const (
	arpPunted = iota
	arpNotTrapped
	arpMalformed
)

// arp handles an ARP frame: punted when an ARP trap wants its target,
// otherwise dropped (NoRoute: the PFE neither bridges nor answers ARP);
// Malformed when it is not Ethernet/IPv4 ARP. It returns which (the
// caller counts; the drop counters stay in its registers).
func (c *Core) arp(s *scratch, ingress hal.IFLIndex, traps *hal.TrapTable, fr []byte) int {
	target, ok := hal.ARPTarget(fr)
	if !ok {
		return arpMalformed
	}
	id, ok := traps.MatchARP(target)
	if !ok {
		return arpNotTrapped
	}
	s.punt = append(s.punt[:0], fr...)
	c.upcalls.OnPunt(ingress, id, s.punt)
	return arpPunted
}
