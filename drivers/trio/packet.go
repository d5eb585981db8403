package trio

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mxfwd/mxfwd/hal"
)

// Packet path. Input runs on the caller's goroutine without taking any lock:
// the ingress IFL, the route and the composite are each read through one
// atomic pointer, and everything else the path needs hangs off immutable
// snapshots. Per-call working memory comes from a sync.Pool of scratch
// structs, so the steady state allocates nothing.
//
// Batching: Input first classifies every frame of the batch (parse,
// punt, lookup, RPF, upcalls); frames to forward are grouped by route,
// sublist, tree variant and ingress PFE. Each group then crosses the fabric
// once and every egress port gets the whole group in one Egress.Output
// call. Frames of one flow always share a group and keep their order;
// frames of different flows may leave in another order than they arrived,
// as on the hardware.

// maxGroups bounds the forwarding groups classified before they are sent.
// 16 keeps the linear group search short (most recent first, so a batch of
// one flow compares once per frame) and covers a 32-frame batch of
// interleaved flows with at most one early send per 16 flows.
const maxGroups = 16

// scratch is the working memory of one Input call.
type scratch struct {
	cls    []class  // frames classified for forwarding, in arrival order
	groups []group  // their groups
	bufs   [][]byte // rewritten frames, contiguous per group
	orig   [][]byte // the caller's frames, same layout (original source MAC)
	order  []uint16 // tree order L' (positions in the sublist's pfes)
	queue  []int32  // fabric queue (tree positions)
	seen   []bool   // per sublist position: got a fabric copy already
	now    int64
}

// class is one frame to forward.
type class struct {
	f   []byte
	g   uint32 // group address, for the destination MAC
	grp int32
}

// group is a set of frames forwarded the same way.
type group struct {
	re      *routeEntry
	comp    *compiled
	sub     int
	reverse bool
	root    hal.PFEID
	n       int    // frames
	bytes   uint64 // their bytes
	off     int    // first buffer in scratch.bufs
}

// pkt is what the parser extracts from a frame.
type pkt struct {
	s, g  uint32
	ttl   uint8
	proto uint8
}

const (
	ethHeaderLen = 14
	ipv4MinLen   = 20
)

// parse validates an untagged Ethernet+IPv4 frame. The IPv4 header checksum
// is verified, as the hardware does.
func parse(f []byte) (pkt, bool) {
	if len(f) < ethHeaderLen+ipv4MinLen || f[12] != 0x08 || f[13] != 0x00 {
		return pkt{}, false
	}
	ip := f[ethHeaderLen:]
	if ip[0]>>4 != 4 {
		return pkt{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < ipv4MinLen || len(ip) < ihl {
		return pkt{}, false
	}
	if tot := int(binary.BigEndian.Uint16(ip[2:4])); tot < ihl || tot > len(ip) {
		return pkt{}, false
	}
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		return pkt{}, false
	}
	return pkt{
		s:     binary.BigEndian.Uint32(ip[12:16]),
		g:     binary.BigEndian.Uint32(ip[16:20]),
		ttl:   ip[8],
		proto: ip[9],
	}, true
}

// Input processes a batch of frames received on ingress; see the package
// comment. It returns hal.ErrNotFound for an unknown ingress IFL and
// hal.ErrClosed after Close; per-packet outcomes are counted, not returned.
func (d *Driver) Input(ingress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return d.errClosed()
	}
	ie, ok := d.ifls.load(ingress)
	if !ok {
		return fmt.Errorf("ingress ifl %d: %w", ingress, hal.ErrNotFound)
	}
	ist := ie.st.Load()
	set := d.set.Load()
	traps := d.traps.Load()
	sc := d.scratch.Get().(*scratch)
	sc.now = 0
	var rxBytes uint64
	for _, f := range frames {
		rxBytes += uint64(len(f))
		d.classify(sc, set, traps, ie, ist, f)
	}
	d.send(sc, set)
	ie.ctr.rxPackets.Add(uint64(len(frames)))
	ie.ctr.rxBytes.Add(rxBytes)
	d.scratch.Put(sc)
	return nil
}

// classify runs the checks of one frame, raises its upcalls and, when it is
// to be forwarded, files it under its group.
func (d *Driver) classify(sc *scratch, set *settings, traps *hal.TrapTable, ie *iflEntry, ist *iflState, f []byte) {
	p, ok := parse(f)
	h := flowHash(p.s, p.g)
	root := d.ingressPFE(ist, h)
	pc := &d.pfe[root]
	pc.ingress.Add(1)
	if !ok {
		if len(f) >= ethHeaderLen && f[12] == 0x08 && f[13] == 0x06 {
			d.arp(traps, ie, pc, f)
			return
		}
		d.drop(ie, pc, DropMalformed)
		return
	}
	// Host-path traps, classified on the ingress PFE (hal.TrapTable).
	if id, ok := traps.MatchIPv4(p.proto, p.g); ok {
		pc.punts.Add(1)
		d.up.OnPunt(ie.index, id, f)
		return
	}
	if !hal.IsMulticast4(p.g) {
		d.drop(ie, pc, DropNoRoute) // unicast no trap wants
		return
	}
	re := d.lookup(p.s, p.g)
	if re == nil {
		d.drop(ie, pc, DropNoRoute)
		return
	}
	rs := re.st.Load()
	if rpf := rs.route.RPF; rpf != 0 && rpf != ie.index && rpf != ist.parent {
		d.drop(ie, pc, DropRPF)
		d.up.OnWrongInterface(hal.WrongInterface{Ingress: ie.index, Expected: rpf, Source: u32Addr(p.s), Group: u32Addr(p.g)})
		return
	}
	ns := rs.nh.st.Load()
	if ns.nh.Type == hal.NHIndirect {
		ns = ns.target.st.Load()
	}
	switch {
	case ns.nh.Type == hal.NHResolve:
		d.hit(sc, re, 1, uint64(len(f)))
		d.drop(ie, pc, DropResolve)
		pc.resolves.Add(1)
		d.up.OnResolve(hal.ResolveRequest{NH: ns.nh.ID, Ingress: ie.index, Source: u32Addr(p.s), Group: u32Addr(p.g)})
		return
	case ns.comp == nil: // mdiscard 35, discard
		d.hit(sc, re, 1, uint64(len(f)))
		d.drop(ie, pc, DropDiscard)
		return
	case p.ttl <= 1:
		d.hit(sc, re, 1, uint64(len(f)))
		d.drop(ie, pc, DropTTL)
		return
	}
	comp := ns.comp
	if comp.encap != nil {
		// Register encapsulation at the DR: the ingress PFE sends the
		// packet as received to the host, once.
		pc.punts.Add(1)
		d.up.OnPunt(ie.index, hal.TrapEncap, f)
		comp.encap.ctr.txPackets.Add(1)
		comp.encap.ctr.txBytes.Add(uint64(len(f)))
	}
	sub := SublistIndex(h, len(comp.sublists))
	rev := TreeVariant(h) == 1
	gi := -1
	for k := len(sc.groups) - 1; k >= 0; k-- {
		if g := &sc.groups[k]; g.re == re && g.comp == comp && g.sub == sub && g.reverse == rev && g.root == root {
			gi = k
			break
		}
	}
	if gi < 0 {
		if len(sc.groups) == maxGroups {
			d.send(sc, set)
		}
		gi = len(sc.groups)
		sc.groups = append(sc.groups, group{re: re, comp: comp, sub: sub, reverse: rev, root: root})
	}
	g := &sc.groups[gi]
	g.n++
	g.bytes += uint64(len(f))
	sc.cls = append(sc.cls, class{f: f, g: p.g, grp: int32(gi)})
}

// send copies the classified frames into per-group buffers (rewritten for
// forwarding) and sends every group through the model.
func (d *Driver) send(sc *scratch, set *settings) {
	if len(sc.cls) == 0 {
		return
	}
	off := 0
	for k := range sc.groups {
		sc.groups[k].off = off
		off += sc.groups[k].n
		sc.groups[k].n = 0
	}
	for len(sc.bufs) < off {
		// 2048 bytes hold a 1500-byte-MTU frame with its Ethernet header;
		// a jumbo frame grows its buffer once and keeps it (pooled).
		sc.bufs = append(sc.bufs, make([]byte, 0, 2048))
		sc.orig = append(sc.orig, nil)
	}
	for _, c := range sc.cls {
		g := &sc.groups[c.grp]
		i := g.off + g.n
		g.n++
		sc.bufs[i] = rewrite(sc.bufs[i], c.f, c.g)
		sc.orig[i] = c.f
	}
	for k := range sc.groups {
		g := &sc.groups[k]
		d.flush(sc, set, g, sc.bufs[g.off:g.off+g.n], sc.orig[g.off:g.off+g.n])
	}
	clear(sc.orig[:off])
	clear(sc.cls)
	sc.cls = sc.cls[:0]
	clear(sc.groups)
	sc.groups = sc.groups[:0]
}

// rewrite copies f into buf and rewrites it for forwarding: destination
// MAC 01:00:5e + low 23 bits of the group, TTL - 1 with an incremental
// checksum update (RFC 1624, eqn. 3). The source MAC is set per egress
// port.
func rewrite(buf, f []byte, g uint32) []byte {
	b := append(buf[:0], f...)
	b[0], b[1], b[2] = 0x01, 0x00, 0x5e
	b[3], b[4], b[5] = byte(g>>16)&0x7f, byte(g>>8), byte(g)
	ip := b[ethHeaderLen:]
	old := uint16(ip[8])<<8 | uint16(ip[9])
	ip[8]--
	nw := uint16(ip[8])<<8 | uint16(ip[9])
	hc := binary.BigEndian.Uint16(ip[10:12])
	sum := uint32(^hc) + uint32(^old) + uint32(nw)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:12], ^uint16(sum))
	return b
}

// ingressPFE is the root of the packet's tree: the PFE of the ingress IFL,
// or for an aggregate the PFE of the member the flow arrived on (the
// upstream router's hash is modelled by FlowHash mod #members).
func (d *Driver) ingressPFE(ist *iflState, h uint32) hal.PFEID {
	if ist.ifl.Kind != hal.IFLAggregate {
		return ist.ifl.PFE
	}
	ms := ist.ifl.Members
	if len(ms) == 0 {
		return 0
	}
	if me, ok := d.ifls.load(ms[h%uint32(len(ms))]); ok {
		return me.st.Load().ifl.PFE
	}
	return 0
}

func (d *Driver) drop(ie *iflEntry, pc *pfeCounters, r DropReason) {
	ie.ctr.drops[r].Add(1)
	pc.drops[r].Add(1)
}

// hit counts n packets of bytes on a route and stamps its last use.
func (d *Driver) hit(sc *scratch, re *routeEntry, n, bytes uint64) {
	if sc.now == 0 {
		sc.now = d.now().UnixNano()
	}
	re.pkts.Add(n)
	re.bytes.Add(bytes)
	re.last.Store(sc.now)
}

// flush sends one group through the model: the ingress PFE replicates to
// its local ports and sends copies into the fabric to its children; each
// PFE that receives a copy replicates locally and forwards to its own
// children, until the tree is covered.
func (d *Driver) flush(sc *scratch, set *settings, r *group, frames, orig [][]byte) {
	n, bytes := uint64(r.n), r.bytes
	d.hit(sc, r.re, n, bytes)
	sl := &r.comp.sublists[r.sub]
	rootPos := sl.pfeIndex(r.root)
	mode := set.modeFor(int(r.root) / PICsPerFPC)
	pos, _ := layout(sc.order, sl.pfes, rootPos, r.comp.id, r.reverse, set)
	sc.order = pos
	m := len(pos)

	for _, ae := range r.comp.dead {
		ae.ctr.drops[DropPortDown].Add(n)
		d.pfe[r.root].drops[DropPortDown].Add(n)
	}
	if rootPos >= 0 {
		d.replicateLocal(sl, rootPos, frames, orig, bytes)
	}
	if cap(sc.seen) < len(sl.pfes) {
		sc.seen = make([]bool, len(sl.pfes))
	}
	seen := sc.seen[:len(sl.pfes)]
	clear(seen)
	q := sc.queue[:0]
	q = d.sendChildren(q, mode, -1, m, r.root, n, bytes)
	for head := 0; head < len(q); head++ {
		i := int(q[head])
		at := pos[i]
		pc := &d.pfe[sl.pfes[at]]
		pc.fabricRx.Add(n)
		if seen[at] {
			pc.drops[DropFabricDup].Add(n)
			continue
		}
		seen[at] = true
		d.replicateLocal(sl, int(at), frames, orig, bytes)
		q = d.sendChildren(q, mode, i, m, sl.pfes[at], n, bytes)
	}
	sc.queue = q
}

// sendChildren queues the fabric copies position i (at PFE from) sends.
func (d *Driver) sendChildren(q []int32, mode ReplicationMode, i, m int, from hal.PFEID, n, bytes uint64) []int32 {
	first, cnt := children(mode, i, m)
	if cnt == 0 {
		return q
	}
	for c := first; c < first+cnt; c++ {
		q = append(q, int32(c))
	}
	pc := &d.pfe[from]
	pc.fabricTx.Add(n * uint64(cnt))
	pc.fabricBytes.Add(bytes * uint64(cnt))
	return q
}

// replicateLocal writes the group to the sublist's egress ports on PFE
// position at.
func (d *Driver) replicateLocal(sl *sublist, at int, frames, orig [][]byte, bytes uint64) {
	n := uint64(len(frames))
	pc := &d.pfe[sl.pfes[at]]
	local := sl.local(at)
	copies := uint64(0)
	for k := range local {
		f := &local[k]
		if !f.up || f.down {
			pc.drops[DropPortDown].Add(n)
			f.ifl.ctr.drops[DropPortDown].Add(n)
			continue
		}
		for j, b := range frames {
			if f.hasMAC {
				copy(b[6:12], f.mac[:])
			} else {
				copy(b[6:12], orig[j][6:12])
			}
		}
		d.egress.Output(f.index, frames)
		f.ifl.ctr.txPackets.Add(n)
		f.ifl.ctr.txBytes.Add(bytes)
		copies += n
	}
	if copies > 0 {
		pc.localCopies.Add(copies)
	}
}

func u32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Transmit sends frames out of egress unchanged (control packets injected
// by the RE). For an aggregate the first member that is up is used. Frames
// to a port that is down are counted as PortDown drops.
func (d *Driver) Transmit(egress hal.IFLIndex, frames [][]byte) error {
	if d.closed.Load() {
		return d.errClosed()
	}
	e, ok := d.ifls.load(egress)
	if !ok {
		return fmt.Errorf("egress ifl %d: %w", egress, hal.ErrNotFound)
	}
	st := e.st.Load()
	if st.ifl.Kind == hal.IFLEncap || st.ifl.Kind == hal.IFLDecap {
		return fmt.Errorf("egress ifl %d (%s): no port: %w", egress, st.ifl.Kind, hal.ErrInvalid)
	}
	if st.ifl.Kind == hal.IFLAggregate {
		var pick *iflEntry
		for _, m := range st.ifl.Members {
			if me, ok := d.ifls.load(m); ok && me.st.Load().ifl.Up {
				pick = me
				break
			}
		}
		if pick == nil {
			e.ctr.drops[DropPortDown].Add(uint64(len(frames)))
			return nil
		}
		e, st = pick, pick.st.Load()
	}
	if !st.ifl.Up || st.operDown {
		e.ctr.drops[DropPortDown].Add(uint64(len(frames)))
		return nil
	}
	var bytes uint64
	for _, f := range frames {
		bytes += uint64(len(f))
	}
	d.egress.Output(e.index, frames)
	e.ctr.txPackets.Add(uint64(len(frames)))
	e.ctr.txBytes.Add(bytes)
	return nil
}

// arp handles an ARP frame on the ingress PFE: punted when an ARP trap
// wants its target, otherwise dropped (NoRoute: the PFE neither bridges nor
// answers ARP); Malformed when it is not Ethernet/IPv4 ARP.
func (d *Driver) arp(traps *hal.TrapTable, ie *iflEntry, pc *pfeCounters, f []byte) {
	target, ok := hal.ARPTarget(f)
	if !ok {
		d.drop(ie, pc, DropMalformed)
		return
	}
	id, ok := traps.MatchARP(target)
	if !ok {
		d.drop(ie, pc, DropNoRoute)
		return
	}
	pc.punts.Add(1)
	d.up.OnPunt(ie.index, id, f)
}
