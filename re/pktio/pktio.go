// Package pktio is the routing engine's packet I/O seam for control
// protocols: protocols register for an IP protocol (PIM 103, IGMP 2) and
// receive the packets the line cards trap, with their ingress interface;
// they send IP packets out of an interface, and the seam resolves the link
// layer (multicast MACs, ARP for unicast neighbours) and injects the frame
// through the card that hosts the interface.
//
// Two implementations share the Dispatcher: in-process (tests, no root:
// packets nobody registered for are counted and dropped) and host
// interfaces (HostInterfaces, root: every IFL is mirrored as a TAP device
// in the RE's network namespace; packets nobody registered for — ARP, ICMP,
// TCP to the router's addresses — are written to the TAP of their ingress
// interface, and whatever the host stack sends on a TAP is injected, so the
// RE host's IP stack owns the router's addresses).
//
// Concurrency: Deliver, Register, SendIP and the handlers run on the
// routing engine's owner loop. The Transport's Inject may be called from
// any goroutine (the TAP readers call it too).
package pktio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// ErrNoInterface is returned for an interface the RE does not know or
// that has no address.
var ErrNoInterface = errors.New("no such interface")

// ErrNoCard is wrapped by a send on an interface whose line card is not
// connected (yet): the packet went nowhere; a protocol that must be heard
// (a PIM Hello) sends again when the card comes (see pim/host).
var ErrNoCard = errors.New("line card not connected")

// Packet is a received IPv4 packet.
type Packet struct {
	// Interface is the ingress IFL (the aggregate for a LAG member).
	Interface string
	Slot      hal.Slot
	Trap      hal.TrapID
	// Frame is the whole Ethernet frame; IP the IPv4 packet in it and
	// Payload the IP payload. All alias one buffer owned by the Packet.
	Frame   []byte
	IP      []byte
	Payload []byte
	Src     netip.Addr
	Dst     netip.Addr
	Proto   uint8
	TTL     uint8
	SrcMAC  net.HardwareAddr
}

// Handler receives the packets of a registered protocol, on the loop.
type Handler func(p *Packet)

// Interface is what the seam needs of an IFL.
type Interface struct {
	Name string
	MAC  net.HardwareAddr
	Addr netip.Prefix // the router's address on it (invalid: none)
	Up   bool
}

// Transport delivers frames to the wire: the RE finds the card that hosts
// the interface (a member of an aggregate by the flow rule) and injects.
type Transport interface {
	// Inject sends frame out of the interface named ifl.
	Inject(ifl string, frame []byte) error
	// Interface describes ifl (ok false: unknown).
	Interface(ifl string) (Interface, bool)
}

// Stats are the seam's counters.
type Stats struct {
	Received     uint64 `json:"received"`
	Delivered    uint64 `json:"delivered"`
	Unclaimed    uint64 `json:"unclaimed"` // no handler: dropped (in-process) or to the host (TAP)
	Malformed    uint64 `json:"malformed"`
	Sent         uint64 `json:"sent"`
	SendErrors   uint64 `json:"send-errors"`
	ARPRequests  uint64 `json:"arp-requests"`
	ARPResolved  uint64 `json:"arp-resolved"`
	PendingDrops uint64 `json:"pending-drops"`
}

// Dispatcher is the in-process implementation and the core of
// HostInterfaces.
type Dispatcher struct {
	tr       Transport
	log      *slog.Logger
	now      func() time.Time
	handlers map[uint8]Handler
	traps    map[hal.TrapID]Handler
	// Fallback receives the packets (and non-IP frames such as ARP) no
	// handler claimed; nil drops them.
	Fallback func(ifl string, frame []byte)

	neigh map[neighKey]neighbour

	stats struct {
		received, delivered, unclaimed, malformed, sent, sendErrors,
		arpRequests, arpResolved, pendingDrops atomic.Uint64
	}
}

type neighKey struct {
	ifl  string
	addr netip.Addr
}

type neighbour struct {
	mac     net.HardwareAddr
	learned time.Time
	// pending holds IP packets waiting for the ARP reply (bounded).
	pending [][]byte
	asked   time.Time
}

// Neighbour table bounds: entries live 20 minutes unless seen again
// (Linux's gc_stale_time is 60 s, Junos keeps ARP 20 min); at most
// maxPending packets wait per unresolved neighbour (Linux: 3,
// unres_qlen_bytes), and a request is repeated at most once a second.
const (
	neighLifetime = 20 * time.Minute
	maxPending    = 3
	arpRetry      = time.Second
	maxNeighbours = 65536
)

// NewDispatcher returns the in-process seam.
func NewDispatcher(tr Transport, log *slog.Logger, now func() time.Time) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Dispatcher{tr: tr, log: log, now: now, handlers: map[uint8]Handler{}, traps: map[hal.TrapID]Handler{}, neigh: map[neighKey]neighbour{}}
}

// RegisterTrap routes the IPv4 packets a trap sent (whatever their
// protocol) to h: hal.TrapEncap, the data packets the DR encapsulates in
// PIM Registers.
func (d *Dispatcher) RegisterTrap(trap hal.TrapID, h Handler) { d.traps[trap] = h }

// Register routes received packets of IP protocol proto to h (replacing a
// previous handler).
func (d *Dispatcher) Register(proto uint8, h Handler) { d.handlers[proto] = h }

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Received: d.stats.received.Load(), Delivered: d.stats.delivered.Load(), Unclaimed: d.stats.unclaimed.Load(),
		Malformed: d.stats.malformed.Load(), Sent: d.stats.sent.Load(), SendErrors: d.stats.sendErrors.Load(),
		ARPRequests: d.stats.arpRequests.Load(), ARPResolved: d.stats.arpResolved.Load(), PendingDrops: d.stats.pendingDrops.Load(),
	}
}

const (
	etherIPv4 = 0x0800
	etherARP  = 0x0806
	etherVLAN = 0x8100
)

// Deliver handles one punted frame: it learns the sender's MAC, hands an
// IPv4 packet of a registered protocol to its handler, answers nothing
// itself, and gives the rest to Fallback.
func (d *Dispatcher) Deliver(slot hal.Slot, ifl string, trap hal.TrapID, frame []byte) {
	d.stats.received.Add(1)
	if len(frame) < 14 {
		d.stats.malformed.Add(1)
		return
	}
	et := binary.BigEndian.Uint16(frame[12:])
	switch et {
	case etherARP:
		d.learnARP(ifl, frame[14:])
		d.unclaimed(ifl, frame)
		return
	case etherIPv4:
	default:
		d.unclaimed(ifl, frame)
		return
	}
	p, ok := parseIPv4(frame)
	if !ok {
		d.stats.malformed.Add(1)
		return
	}
	p.Interface, p.Slot, p.Trap = ifl, slot, trap
	if p.Src.IsValid() && !p.Src.IsMulticast() && !p.Src.IsUnspecified() {
		d.learn(ifl, p.Src, p.SrcMAC)
	}
	if h := d.traps[trap]; h != nil {
		d.stats.delivered.Add(1)
		h(&p)
		return
	}
	if h := d.handlers[p.Proto]; h != nil {
		d.stats.delivered.Add(1)
		h(&p)
		return
	}
	d.unclaimed(ifl, frame)
}

func (d *Dispatcher) unclaimed(ifl string, frame []byte) {
	d.stats.unclaimed.Add(1)
	if d.Fallback != nil {
		d.Fallback(ifl, frame)
	}
}

// parseIPv4 checks an Ethernet+IPv4 frame enough to dispatch it.
func parseIPv4(frame []byte) (Packet, bool) {
	ip := frame[14:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return Packet{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || total > len(ip) {
		return Packet{}, false
	}
	ip = ip[:total]
	return Packet{
		Frame: frame, IP: ip, Payload: ip[ihl:],
		Src:    netip.AddrFrom4([4]byte(ip[12:16])),
		Dst:    netip.AddrFrom4([4]byte(ip[16:20])),
		Proto:  ip[9],
		TTL:    ip[8],
		SrcMAC: net.HardwareAddr(frame[6:12]),
	}, true
}

// learn records addr's MAC on ifl and sends what was waiting for it.
func (d *Dispatcher) learn(ifl string, addr netip.Addr, mac net.HardwareAddr) {
	k := neighKey{ifl, addr}
	n, had := d.neigh[k]
	if !had && len(d.neigh) >= maxNeighbours {
		d.expire()
		if len(d.neigh) >= maxNeighbours {
			return
		}
	}
	n.mac = append(n.mac[:0:0], mac...)
	n.learned = d.now()
	pending := n.pending
	n.pending = nil
	d.neigh[k] = n
	if len(pending) > 0 {
		d.stats.arpResolved.Add(1)
	}
	for _, pkt := range pending {
		_ = d.sendFrame(ifl, n.mac, pkt)
	}
}

func (d *Dispatcher) expire() {
	now := d.now()
	for k, n := range d.neigh {
		if n.mac != nil && now.Sub(n.learned) > neighLifetime {
			delete(d.neigh, k)
		}
	}
}

// learnARP learns from an ARP request or reply (sender address and MAC).
func (d *Dispatcher) learnARP(ifl string, arp []byte) {
	if len(arp) < 28 || binary.BigEndian.Uint16(arp[0:]) != 1 || binary.BigEndian.Uint16(arp[2:]) != etherIPv4 || arp[4] != 6 || arp[5] != 4 {
		return
	}
	spa := netip.AddrFrom4([4]byte(arp[14:18]))
	if spa.IsUnspecified() {
		return
	}
	d.learn(ifl, spa, net.HardwareAddr(arp[8:14]))
}

// Neighbour returns the MAC learned for addr on ifl.
func (d *Dispatcher) Neighbour(ifl string, addr netip.Addr) (net.HardwareAddr, bool) {
	n, ok := d.neigh[neighKey{ifl, addr}]
	return n.mac, ok && n.mac != nil
}

// SendIP sends an IPv4 packet (header included) out of ifl: to a
// multicast destination at once; to a unicast one once its MAC is known
// (learned from its traffic or asked with ARP; up to 3 packets wait).
func (d *Dispatcher) SendIP(ifl string, pkt []byte) error {
	if len(pkt) < 20 {
		return fmt.Errorf("send on %s: IP packet of %d bytes", ifl, len(pkt))
	}
	return d.SendIPVia(ifl, netip.AddrFrom4([4]byte(pkt[16:20])), pkt)
}

// SendIPVia sends an IPv4 packet out of ifl to the link-layer address of
// next hop nh (the packet's destination when it is on the link):
// multicast and broadcast at once, unicast once nh's MAC is known.
func (d *Dispatcher) SendIPVia(ifl string, nh netip.Addr, pkt []byte) error {
	if len(pkt) < 20 {
		return fmt.Errorf("send on %s: IP packet of %d bytes", ifl, len(pkt))
	}
	dst := nh
	if dst.IsMulticast() {
		a := dst.As4()
		return d.sendFrame(ifl, net.HardwareAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}, pkt)
	}
	if dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return d.sendFrame(ifl, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, pkt)
	}
	k := neighKey{ifl, dst}
	n := d.neigh[k]
	if n.mac != nil {
		return d.sendFrame(ifl, n.mac, pkt)
	}
	if len(n.pending) >= maxPending {
		d.stats.pendingDrops.Add(1)
		n.pending = n.pending[1:]
	}
	n.pending = append(n.pending, append([]byte(nil), pkt...))
	now := d.now()
	var err error
	if now.Sub(n.asked) >= arpRetry {
		n.asked = now
		err = d.arpRequest(ifl, dst)
	}
	if len(d.neigh) < maxNeighbours || d.neigh[k].pending != nil {
		d.neigh[k] = n
	}
	return err
}

func (d *Dispatcher) arpRequest(ifl string, target netip.Addr) error {
	f, ok := d.tr.Interface(ifl)
	if !ok || !f.Addr.IsValid() {
		return fmt.Errorf("arp for %s on %s: %w", target, ifl, ErrNoInterface)
	}
	d.stats.arpRequests.Add(1)
	fr := make([]byte, 0, 42)
	fr = append(fr, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	fr = append(fr, f.MAC...)
	fr = binary.BigEndian.AppendUint16(fr, etherARP)
	fr = append(fr, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	fr = append(fr, f.MAC...)
	src := f.Addr.Addr().As4()
	fr = append(fr, src[:]...)
	fr = append(fr, 0, 0, 0, 0, 0, 0)
	t := target.As4()
	fr = append(fr, t[:]...)
	return d.inject(ifl, fr)
}

func (d *Dispatcher) sendFrame(ifl string, dst net.HardwareAddr, pkt []byte) error {
	f, ok := d.tr.Interface(ifl)
	if !ok {
		d.stats.sendErrors.Add(1)
		return fmt.Errorf("send on %s: %w", ifl, ErrNoInterface)
	}
	fr := make([]byte, 0, 14+len(pkt))
	fr = append(fr, dst...)
	fr = append(fr, f.MAC...)
	fr = binary.BigEndian.AppendUint16(fr, etherIPv4)
	fr = append(fr, pkt...)
	return d.inject(ifl, fr)
}

func (d *Dispatcher) inject(ifl string, frame []byte) error {
	if err := d.tr.Inject(ifl, frame); err != nil {
		d.stats.sendErrors.Add(1)
		return err
	}
	d.stats.sent.Add(1)
	return nil
}
