package fpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// The host path: what the driver punts (hal.Upcalls.OnPunt) reaches the RE
// through a policer and bounded queues, like the modelled platform's DDoS
// protection. Every trap id (and TrapEncap) is a reason with its own queue
// and counters; a token bucket per class of trap (ARP, local, PIM, IGMP,
// other protocols, link-local groups, register encapsulation) bounds what
// each class may send, and a card-wide bucket and queue bound bound the
// sum, so that a flood of one kind (a data stream hitting pe-, an ARP
// storm) cannot starve the others or the card. Punts leave on the IPC
// session's control lane (ipc.Session.SendControl), ahead of bulk messages.
//
// OnPunt runs on the driver's packet path: it takes one mutex, polices,
// copies the frame into its reason's queue and wakes runHostPath. It never
// blocks; everything it refuses is counted by reason.

// PuntClass is the policer class of a trap.
type PuntClass uint8

// Punt classes.
const (
	ClassARP      PuntClass = iota // TrapARP
	ClassLocal                     // TrapLocal: ICMP, TCP (MSDP, BGP), ... to the router
	ClassPIM                       // TrapProtocol 103
	ClassIGMP                      // TrapProtocol 2
	ClassProtocol                  // other TrapProtocol (OSPF 89, ...)
	ClassGroup                     // TrapGroup (224.0.0.0/24)
	ClassEncap                     // hal.TrapEncap: data packets for register encapsulation
	numClasses
)

func (c PuntClass) String() string {
	return [...]string{"arp", "local", "pim", "igmp", "protocol", "group", "encap"}[c]
}

// PuntRate is a token bucket: Rate packets per second on average, Burst
// packets at once.
type PuntRate struct {
	Rate  float64 `json:"rate"`
	Burst float64 `json:"burst"`
}

// HostPathLimits are the host path's bounds.
type HostPathLimits struct {
	Class [numClasses]PuntRate
	// Card bounds the sum of every class.
	Card PuntRate
	// QueuePerTrap and QueueCard bound the frames waiting for the session
	// per reason and in total.
	QueuePerTrap, QueueCard int
}

// DefaultHostPathLimits are the defaults. The arithmetic behind them:
//
//   - PIM 4000/s: a Join/Prune refresh of 1M (S,G) every 60 s at ~100
//     entries per message is ~170 messages/s, hellos from 100 neighbours
//     3/s; 4000/s leaves 20x for triggered joins after a topology change
//     and bootstrap/assert bursts, and the RE's owner loop handles punts
//     at well over 100k/s (README, resolve figures).
//   - IGMP 4000/s: 10k receivers' reports per 125 s query interval are 80/s;
//     leaves and group-specific query answers come in bursts.
//   - ARP 1000/s: a /24 of hosts refreshing every minute is ~4/s; the
//     rate absorbs a subnet coming up at once.
//   - local 4000/s: ICMP and TCP sessions to the router (MSDP, BGP on the
//     host interfaces): a TCP session's ACK clock needs a few thousand/s
//     to carry an SA flood.
//   - other protocols and link-local groups 2000/s: OSPF, RIP, mDNS.
//   - encap 1000/s: data packets the DR encapsulates in Registers until the
//     RP answers with a Register-Stop or joins the SPT (RFC 7761 section
//     4.4); each costs the RE a packet to build and send, and a 10 Gb/s
//     stream must not reach it. Junos likewise rate-limits PIM register
//     traffic on the host path.
//   - card 10000/s: the sum the RE accepts from one card (12 cards: 120k/s,
//     below the owner loop's capacity); queues of 256 per trap and 1024 per
//     card hold 0.1 s at the card rate, and 1024 is the session's control
//     lane size.
//
// Bursts are one second's worth: a hello storm after a reboot passes.
func DefaultHostPathLimits() HostPathLimits {
	var l HostPathLimits
	set := func(c PuntClass, r float64) { l.Class[c] = PuntRate{Rate: r, Burst: r} }
	set(ClassARP, 1000)
	set(ClassLocal, 4000)
	set(ClassPIM, 4000)
	set(ClassIGMP, 4000)
	set(ClassProtocol, 2000)
	set(ClassGroup, 2000)
	set(ClassEncap, 1000)
	l.Card = PuntRate{Rate: 10000, Burst: 10000}
	l.QueuePerTrap, l.QueueCard = 256, 1024
	return l
}

// classOf returns the class of trap t (TrapEncap needs no Trap).
func classOf(id hal.TrapID, t hal.Trap, known bool) PuntClass {
	if id == hal.TrapEncap {
		return ClassEncap
	}
	if !known {
		return ClassGroup // a trap deleted while its packets were in flight
	}
	switch t.Kind {
	case hal.TrapARP:
		return ClassARP
	case hal.TrapLocal:
		return ClassLocal
	case hal.TrapProtocol:
		switch t.Proto {
		case 103:
			return ClassPIM
		case 2:
			return ClassIGMP
		}
		return ClassProtocol
	}
	return ClassGroup
}

// bucket is a token bucket on an injected clock.
type bucket struct {
	PuntRate
	tokens float64
	last   time.Time
}

func (b *bucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.Burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.Burst, b.tokens+d*b.Rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// HostPathStats are one reason's counters.
type HostPathStats struct {
	Received   uint64 `json:"received"`    // punted by the driver
	Sent       uint64 `json:"sent"`        // queued on the session's control lane
	Policed    uint64 `json:"policed"`     // over the class's rate
	CardLimit  uint64 `json:"card-limit"`  // over the card's rate
	QueueFull  uint64 `json:"queue-full"`  // the reason's or the card's queue was full
	LaneFull   uint64 `json:"lane-full"`   // the session's control lane was full
	NoSession  uint64 `json:"no-session"`  // no session with the RE
	Dropped    uint64 `json:"dropped"`     // the sum of the drops
	QueueDepth int    `json:"queue-depth"` // frames waiting now
}

func (s *HostPathStats) sumDrops() {
	s.Dropped = s.Policed + s.CardLimit + s.QueueFull + s.LaneFull + s.NoSession
}

// reason is one trap id's queue and counters.
type reason struct {
	id    hal.TrapID
	class PuntClass
	q     []*ipc.Punt // FIFO
	st    HostPathStats
}

// hostPath is the runtime's host path; guarded by mu.
type hostPath struct {
	now  func() time.Time
	lim  HostPathLimits
	wake chan struct{} // capacity 1
	// send hands punts to the session's control lane (never blocks).
	// While nothing is queued, punt calls it directly, on the packet
	// path's goroutine: one goroutine hop less between the port and the
	// RE. Queued punts (no session, lane full, a backlog) go through
	// runHostPath, in order.
	send func(msgs ...ipc.Message) error

	mu      sync.Mutex
	traps   map[hal.TrapID]hal.Trap
	reasons map[hal.TrapID]*reason
	order   []*reason // round-robin order of the sender
	next    int
	classes [numClasses]bucket
	card    bucket
	queued  int
}

func newHostPath(lim HostPathLimits, now func() time.Time, send func(...ipc.Message) error) *hostPath {
	h := &hostPath{now: now, lim: lim, send: send, wake: make(chan struct{}, 1), traps: map[hal.TrapID]hal.Trap{}, reasons: map[hal.TrapID]*reason{}}
	for c := range h.classes {
		h.classes[c].PuntRate = lim.Class[c]
	}
	h.card.PuntRate = lim.Card
	return h
}

// setTraps replaces what the host path knows of the programmed traps.
func (h *hostPath) setTraps(traps map[hal.TrapID]hal.Trap) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.traps = traps
	for id, r := range h.reasons {
		t, ok := traps[id]
		r.class = classOf(id, t, ok)
	}
}

func (h *hostPath) reasonLocked(id hal.TrapID) *reason {
	r := h.reasons[id]
	if r == nil {
		t, ok := h.traps[id]
		r = &reason{id: id, class: classOf(id, t, ok)}
		h.reasons[id] = r
		h.order = append(h.order, r)
	}
	return r
}

// punt polices and queues one punted frame; it copies frame.
func (h *hostPath) punt(ingress hal.IFLIndex, id hal.TrapID, frame []byte) {
	now := h.now()
	h.mu.Lock()
	r := h.reasonLocked(id)
	r.st.Received++
	switch {
	case !h.classes[r.class].allow(now):
		r.st.Policed++
	case len(r.q) >= h.lim.QueuePerTrap || h.queued >= h.lim.QueueCard:
		r.st.QueueFull++
	case !h.card.allow(now):
		r.st.CardLimit++
	default:
		m := &ipc.Punt{Ingress: ingress, Trap: id, Frame: slices.Clone(frame)}
		if h.queued == 0 && h.send != nil {
			h.mu.Unlock()
			err := h.send(m)
			h.mu.Lock()
			switch {
			case err == nil:
				r.st.Sent++
				h.mu.Unlock()
				return
			case !errors.Is(err, ipc.ErrControlFull):
				// No session: what the RE would get after a reconnect
				// would be stale (the platform drops host-bound
				// traffic while the RE is away).
				r.st.NoSession++
				h.mu.Unlock()
				return
			}
			// A full lane: queue it, runHostPath retries and counts.
			if len(r.q) >= h.lim.QueuePerTrap || h.queued >= h.lim.QueueCard {
				r.st.QueueFull++
				h.mu.Unlock()
				return
			}
		}
		r.q = append(r.q, m)
		h.queued++
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
		return
	}
	h.mu.Unlock()
}

// take moves up to n queued punts into batch, one per reason in turn, so
// that a reason with a long queue does not delay the others.
func (h *hostPath) take(batch []ipc.Message, n int) []ipc.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(batch) < n && h.queued > 0 {
		for range h.order {
			r := h.order[h.next%len(h.order)]
			h.next++
			if len(r.q) == 0 {
				continue
			}
			batch = append(batch, r.q[0])
			r.q[0] = nil
			r.q = r.q[1:]
			h.queued--
			break
		}
	}
	return batch
}

// account counts the outcome of sending batch.
func (h *hostPath) account(batch []ipc.Message, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range batch {
		r := h.reasonLocked(m.(*ipc.Punt).Trap)
		switch {
		case err == nil:
			r.st.Sent++
		case errors.Is(err, ipc.ErrControlFull):
			r.st.LaneFull++
		default:
			r.st.NoSession++
		}
	}
}

// hostPathBatch is the most punts sent in one SendControl call: one frame
// on the wire for up to 64 packets, small enough that the first waits
// little for the last.
const hostPathBatch = 64

// runHostPath sends queued punts to the RE until ctx is done.
func (r *Runtime) runHostPath(ctx context.Context) {
	h := r.host
	batch := make([]ipc.Message, 0, hostPathBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		for {
			batch = h.take(batch[:0], hostPathBatch)
			if len(batch) == 0 {
				break
			}
			err := errNoSession
			if h.send != nil {
				err = h.send(batch...)
			}
			h.account(batch, err)
			clear(batch)
		}
	}
}

var errNoSession = errors.New("no session with the RE")

// sendControl sends msgs on the current session's control lane.
func (r *Runtime) sendControl(msgs ...ipc.Message) error {
	s := r.sess.Load()
	if s == nil {
		return errNoSession
	}
	return s.SendControl(context.Background(), msgs...)
}

// HostPathRow is one reason of `show host-path statistics`.
type HostPathRow struct {
	Trap  hal.TrapID `json:"trap"`
	Class string     `json:"class"`
	Match string     `json:"match"`
	PuntRate
	HostPathStats
}

// HostPathReport is `show host-path statistics` as data.
type HostPathReport struct {
	Traps []HostPathRow `json:"traps"`
	Total HostPathStats `json:"total"`
	Card  PuntRate      `json:"card"`
	Queue int           `json:"queued"`
}

// HostPath returns the host path's counters per reason (traps programmed
// or seen), sorted by trap id, with their totals.
func (r *Runtime) HostPath() HostPathReport {
	h := r.host
	h.mu.Lock()
	defer h.mu.Unlock()
	rep := HostPathReport{Card: h.lim.Card, Queue: h.queued}
	ids := map[hal.TrapID]bool{}
	for id := range h.traps {
		ids[id] = true
	}
	for id := range h.reasons {
		ids[id] = true
	}
	for _, id := range slices.Sorted(func(yield func(hal.TrapID) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	}) {
		t, known := h.traps[id]
		row := HostPathRow{Trap: id, Class: classOf(id, t, known).String(), Match: describeTrap(id, t, known)}
		row.PuntRate = h.lim.Class[classOf(id, t, known)]
		if rs := h.reasons[id]; rs != nil {
			row.HostPathStats = rs.st
			row.QueueDepth = len(rs.q)
		}
		row.sumDrops()
		tot := &rep.Total
		tot.Received += row.Received
		tot.Sent += row.Sent
		tot.Policed += row.Policed
		tot.CardLimit += row.CardLimit
		tot.QueueFull += row.QueueFull
		tot.LaneFull += row.LaneFull
		tot.NoSession += row.NoSession
		rep.Traps = append(rep.Traps, row)
	}
	rep.Total.sumDrops()
	rep.Total.QueueDepth = h.queued
	return rep
}

func describeTrap(id hal.TrapID, t hal.Trap, known bool) string {
	switch {
	case id == hal.TrapEncap:
		return "register encapsulation (pe-)"
	case !known:
		return "(deleted)"
	}
	switch t.Kind {
	case hal.TrapARP:
		return "arp " + t.Addr.String()
	case hal.TrapLocal:
		return "to " + t.Addr.String()
	case hal.TrapProtocol:
		return fmt.Sprintf("protocol %d", t.Proto)
	case hal.TrapGroup:
		return "to " + t.Prefix.String()
	}
	return t.Kind.String()
}
