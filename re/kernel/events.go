package kernel

import "github.com/mxfwd/mxfwd/hal"

// EventKind is the kind of a kernel event.
type EventKind uint8

// Kernel events, delivered to the protocols by the owner of the kernel
// (re/engine) after each operation.
const (
	// EventNewSource: a resolve request created a cache entry for an (S,G):
	// its first packet arrived on Interface. Action says whether join
	// state installed a forwarding entry or mdiscard was installed. The DR
	// uses it to start PIM Registers, the last-hop router to switch to the
	// SPT, and seed 003's "no PIM entry" rule to prune upstream.
	EventNewSource EventKind = iota + 1
	// EventWrongInterface: a packet of an installed (S,G) arrived on
	// Interface rather than the route's RPF interface Expected (PIM
	// asserts; GIR's "traffic arrived on the new path").
	EventWrongInterface
	// EventActivity: the line cards reported Packets/Bytes for an (S,G)
	// since their previous report (PIM keepalive timers, MSDP SA
	// origination).
	EventActivity
	// EventExpired: a cache entry's lifetime ran out (Discard: it was an
	// mdiscard entry).
	EventExpired
	// EventInterface: Interface went up or down (Up).
	EventInterface
)

func (k EventKind) String() string {
	switch k {
	case EventNewSource:
		return "new-source"
	case EventWrongInterface:
		return "wrong-interface"
	case EventActivity:
		return "activity"
	case EventExpired:
		return "expired"
	case EventInterface:
		return "interface"
	}
	return "unknown"
}

// Event is one kernel event. Only the fields of its Kind are set.
type Event struct {
	Kind      EventKind
	Entry     Entry
	Interface string // ingress interface, or the interface whose state changed
	Expected  string // EventWrongInterface: the route's RPF interface
	Slot      hal.Slot
	Action    ResolveAction // EventNewSource
	Packets   uint64        // EventActivity
	Bytes     uint64        // EventActivity
	Discard   bool          // EventExpired
	Up        bool          // EventInterface
}

// DefaultEventQueue bounds the events waiting for TakeEvents. The owner
// drains the queue after every operation, and one operation raises at most
// one event per (S,G) it touches; 65536 covers the largest single
// operation we run (a cache expiry of every entry of a 64k-route second,
// or a hit report of 64k routes) at ~100 bytes per event (6 MiB).
const DefaultEventQueue = 1 << 16

// eventLocked queues ev, or counts it dropped when the queue is full.
func (k *Kernel) eventLocked(ev Event) {
	if len(k.events) >= k.eventCap {
		k.eventsDropped++
		return
	}
	k.events = append(k.events, ev)
}

// TakeEvents appends the queued events to dst and empties the queue. The
// kernel's owner calls it after each operation and hands the events to the
// protocols.
func (k *Kernel) TakeEvents(dst []Event) []Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	dst = append(dst, k.events...)
	clear(k.events)
	k.events = k.events[:0]
	return dst
}
