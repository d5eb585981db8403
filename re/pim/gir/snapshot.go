package gir

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim"
)

// Snapshot is a controller's whole state with absolute times, for
// non-stop routing (issue #17): Import of it into a controller with the
// same configuration behaves identically from then on.
type Snapshot struct {
	Started time.Time        `json:"started"`
	Local   LocalSnapshot    `json:"local"`
	Windows []WindowSnapshot `json:"windows,omitempty"`
	Seen    []SeenSnapshot   `json:"seen,omitempty"`
	SentAt  []time.Time      `json:"sent-at,omitempty"`
	Active  bool             `json:"active,omitempty"`
	Stats   Stats            `json:"stats"`
}

// LocalSnapshot is our own announcement.
type LocalSnapshot struct {
	Mode    Mode           `json:"mode"`
	Start   time.Time      `json:"start,omitzero"`
	Stop    time.Time      `json:"stop,omitzero"`
	Opened  bool           `json:"opened,omitempty"`
	Sources []netip.Prefix `json:"sources,omitempty"`
	Next    time.Time      `json:"next,omitzero"`
	Burst   int            `json:"burst,omitempty"`
	First   time.Time      `json:"first,omitzero"`
	OpLeft  int            `json:"op-left,omitempty"`
	Sent    uint64         `json:"sent,omitempty"`
}

// WindowSnapshot is a learned window.
type WindowSnapshot struct {
	Originator netip.Addr     `json:"originator"`
	If         pim.IfIndex    `json:"if"`
	From       netip.Addr     `json:"from"`
	Start      time.Time      `json:"start"`
	Stop       time.Time      `json:"stop"`
	Opened     bool           `json:"opened,omitempty"`
	Relevant   bool           `json:"relevant,omitempty"`
	Sources    []netip.Prefix `json:"sources,omitempty"`
	Received   time.Time      `json:"received"`
	Last       time.Time      `json:"last"`
	Refreshes  uint64         `json:"refreshes,omitempty"`
}

// SeenSnapshot is the duplicate-suppression memory of one originator.
type SeenSnapshot struct {
	Originator netip.Addr `json:"originator"`
	Content    []byte     `json:"content"`
	At         time.Time  `json:"at"`
}

func ts(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Export returns the controller's state.
func (c *Controller) Export() *Snapshot {
	l := &c.local
	sn := &Snapshot{Started: ts(c.started), Active: c.active, Stats: c.stats,
		Local: LocalSnapshot{Mode: l.mode, Start: ts(l.startAt), Stop: ts(l.stopAt), Opened: l.opened,
			Sources: slices.Clone(l.sources), Next: ts(l.next), Burst: l.burst, First: ts(l.first), OpLeft: l.opLeft, Sent: l.sent}}
	for _, w := range c.windows {
		sn.Windows = append(sn.Windows, WindowSnapshot{Originator: w.origin, If: w.ifx, From: w.from, Start: ts(w.startAt),
			Stop: ts(w.stopAt), Opened: w.opened, Relevant: w.relevant, Sources: slices.Clone(w.sources),
			Received: ts(w.received), Last: ts(w.last), Refreshes: w.refreshes})
	}
	slices.SortFunc(sn.Windows, func(a, b WindowSnapshot) int { return a.Originator.Compare(b.Originator) })
	for o, s := range c.seen {
		sn.Seen = append(sn.Seen, SeenSnapshot{Originator: o, Content: []byte(s.content), At: ts(s.at)})
	}
	slices.SortFunc(sn.Seen, func(a, b SeenSnapshot) int { return a.Originator.Compare(b.Originator) })
	for _, t := range c.sentAt {
		sn.SentAt = append(sn.SentAt, ts(t))
	}
	return sn
}

// ErrSnapshot: a snapshot that does not describe a controller.
var ErrSnapshot = errors.New("invalid gir snapshot")

// Import replaces the controller's state with sn's (its configuration is
// kept).
func (c *Controller) Import(sn *Snapshot) error {
	if sn == nil {
		return fmt.Errorf("%w: none", ErrSnapshot)
	}
	if sn.Local.Mode > ModeInsertion {
		return fmt.Errorf("%w: local mode %d", ErrSnapshot, sn.Local.Mode)
	}
	windows := map[netip.Addr]*window{}
	for _, w := range sn.Windows {
		if !w.Originator.IsValid() || windows[w.Originator] != nil {
			return fmt.Errorf("%w: window of originator %v", ErrSnapshot, w.Originator)
		}
		windows[w.Originator] = &window{origin: w.Originator, ifx: w.If, from: w.From, startAt: ns(w.Start), stopAt: ns(w.Stop),
			opened: w.Opened, relevant: w.Relevant, sources: slices.Clone(w.Sources), received: ns(w.Received),
			last: ns(w.Last), refreshes: w.Refreshes}
	}
	seen := map[netip.Addr]seen{}
	for _, s := range sn.Seen {
		seen[s.Originator] = seen2(s)
	}
	l := sn.Local
	c.local = local{mode: l.Mode, startAt: ns(l.Start), stopAt: ns(l.Stop), opened: l.Opened, sources: slices.Clone(l.Sources),
		next: ns(l.Next), burst: l.Burst, first: ns(l.First), opLeft: l.OpLeft, sent: l.Sent}
	c.windows, c.seen = windows, seen
	c.sentAt = c.sentAt[:0]
	for _, t := range sn.SentAt {
		c.sentAt = append(c.sentAt, ns(t))
	}
	c.active, c.stats, c.started = sn.Active, sn.Stats, ns(sn.Started)
	return nil
}

func seen2(s SeenSnapshot) seen { return seen{content: string(s.Content), at: ns(s.At)} }
