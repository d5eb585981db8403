package host

import (
	"time"

	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pim"
)

// Make-before-break at the end of a graceful RPF change (issue #16).
//
// The engine completes a graceful change when the first packet arrives on
// the new RPF interface (the kernel's wrong-interface event). That packet
// was dropped by the line card; when the new path is the faster one, its
// copy on the old path is still in flight and would be dropped too once
// the entry accepts only the new interface: one datagram lost per change,
// more if the old path lags by more than a packet interval. So the first
// Route after the switch goes to the kernel with AnyRPF (the cards accept
// the entry's packets on any interface) for GracefulSettle, while the old
// upstream is pruned; then the strict RPF check on the new interface
// returns. Packets of both paths are forwarded meanwhile: duplicates
// instead of loss, until the old upstream has processed the Prune.
//
// The Prune itself (with the other messages of the same step) waits
// GracefulPruneDelay: the line cards send what the RE injects ahead of the
// route downloads queued before it, so a Prune sent at once can reach the
// old upstream, which stops forwarding, before this router's own card
// accepts on the new interface - losing the packets in between.

// GracefulSettle is how long a switched entry accepts on any interface: it
// covers the old path's lag behind the new one (a few milliseconds between
// two routers; the lab measures it) and the old upstream's processing of
// the Prune, with a wide margin for a loaded machine.
const GracefulSettle = time.Second

// GracefulPruneDelay holds back the messages of the step that switches an
// entry (the Prune to the old upstream): the route download to this
// router's card takes a few milliseconds (the lab lost 2 datagrams at
// 1,000/s when the Prune went at once); 200 ms is a wide margin, well
// inside GracefulSettle, and costs about 200 ms of duplicates.
const GracefulPruneDelay = 200 * time.Millisecond

// heldMessage is a message action held back until at.
type heldMessage struct {
	a  pim.Action
	at time.Time
}

// holdMessage queues a message of a switching step.
func (h *Host) holdMessage(a pim.Action) {
	h.held = append(h.held, heldMessage{a: a, at: h.now().Add(GracefulPruneDelay)})
	h.stats.HeldMessages++
}

// sendHeld sends the held messages that are due, in order.
func (h *Host) sendHeld(now time.Time) {
	n := 0
	for n < len(h.held) && !now.Before(h.held[n].at) {
		h.send(h.held[n].a)
		n++
	}
	h.held = h.held[n:]
	if len(h.held) == 0 {
		h.held = nil
	}
}

// settlePeriod is an entry in its make-before-break period.
type settlePeriod struct {
	iif   pim.IfIndex
	until time.Time
}

// settleRoute decides whether r, PIM's new Route for its key, starts or
// continues a make-before-break period (given prev, the previous Route for
// the key, if any), and marks c accordingly.
// It reports whether r switches the entry (the step's messages are then
// held back).
func (h *Host) settleRoute(k pim.SG, prev pim.Route, had bool, r pim.Route, c *kernel.Contribution) bool {
	now := h.now()
	if s, ok := h.settling[k]; ok {
		if s.iif == r.IIF && now.Before(s.until) && r.GracefulNew == 0 {
			c.AnyRPF = c.RPF != ""
			return false
		}
		delete(h.settling, k)
	}
	if had && prev.GracefulNew != 0 && r.IIF == prev.GracefulNew && prev.IIF != r.IIF && r.GracefulNew == 0 && !r.Decap {
		h.settling[k] = settlePeriod{iif: r.IIF, until: now.Add(GracefulSettle)}
		h.stats.GracefulSettles++
		c.AnyRPF = c.RPF != ""
		return true
	}
	return false
}

// settleDeadline is the earliest end of a make-before-break period or
// held message (zero: none).
func (h *Host) settleDeadline() time.Time {
	var next time.Time
	if len(h.held) > 0 {
		next = h.held[0].at
	}
	for _, s := range h.settling {
		if next.IsZero() || s.until.Before(next) {
			next = s.until
		}
	}
	return next
}

// endSettles restores the strict RPF check of the entries whose period is
// over.
func (h *Host) endSettles(now time.Time) {
	h.sendHeld(now)
	var changes []kernel.Change
	for k, s := range h.settling {
		if now.Before(s.until) {
			continue
		}
		delete(h.settling, k)
		r, ok := h.routes[k]
		if !ok {
			continue
		}
		c := h.contribution(r)
		changes = append(changes, kernel.Change{Owner: kernel.OwnerPIM, Entry: entryOf(k), Contribution: &c})
	}
	if len(changes) > 0 {
		h.kernelUpdate(changes)
	}
}
