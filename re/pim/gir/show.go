package gir

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/pim"
)

// Status is the data of `show pim maintenance`: our announcement and the
// windows learned from others, with absolute times (the renderer counts
// down from the time of the snapshot, Now).
type Status struct {
	Now        time.Time  `json:"now"`
	TLVType    uint16     `json:"tlv-type"`
	Originator netip.Addr `json:"originator,omitzero"`
	Interval   float64    `json:"announce-interval-seconds"`
	Copies     int        `json:"announce-copies"`
	Local      Local      `json:"local"`
	Learned    []Learned  `json:"learned"`
	// Graceful: the PIM engine's graceful-RPF-change window is open.
	Graceful bool  `json:"graceful-rpf-change"`
	Stats    Stats `json:"statistics"`
}

// Local is our own announcement.
type Local struct {
	Mode string `json:"mode"`
	// WindowStart, WindowStop: the window we announced (removal or
	// insertion); zero outside one.
	WindowStart time.Time `json:"window-start,omitzero"`
	WindowStop  time.Time `json:"window-stop,omitzero"`
	Open        bool      `json:"open"`
	// NextAnnouncement: when the next copy goes out (zero: none).
	NextAnnouncement time.Time      `json:"next-announcement,omitzero"`
	Announcements    uint64         `json:"announcements"`
	Sources          []netip.Prefix `json:"sources,omitempty"`
}

// Learned is a window announced by another router.
type Learned struct {
	Originator netip.Addr  `json:"originator"`
	If         pim.IfIndex `json:"ifindex"`
	// Interface is filled by the caller (the controller knows indexes).
	Interface string     `json:"interface,omitempty"`
	Neighbor  netip.Addr `json:"neighbor"`
	Start     time.Time  `json:"start"`
	Stop      time.Time  `json:"stop"`
	Open      bool       `json:"open"`
	// Relevant: with source prefixes, this router has state for one of
	// them (evaluated when accepted and when the window opened).
	Relevant    bool           `json:"relevant"`
	Sources     []netip.Prefix `json:"sources,omitempty"`
	FirstHeard  time.Time      `json:"first-heard"`
	LastHeard   time.Time      `json:"last-heard"`
	Refreshes   uint64         `json:"refreshes"`
	StartsInSec float64        `json:"starts-in-seconds"`
	StopsInSec  float64        `json:"stops-in-seconds"`
}

func at(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// Status returns the show data at now (read-only: timers due are not
// fired).
func (c *Controller) Status(now time.Time) Status {
	n := now.UnixNano()
	l := &c.local
	st := Status{
		Now: now.UTC(), TLVType: c.cfg.tlvType(), Originator: c.cfg.Originator,
		Interval: time.Duration(c.cfg.interval()).Seconds(), Copies: c.cfg.copies(),
		Graceful: c.active, Stats: c.stats, Learned: []Learned{},
		Local: Local{Mode: l.mode.String(), NextAnnouncement: at(l.next), Announcements: l.sent, Sources: slices.Clone(l.sources)},
	}
	if l.mode == ModeRemoval || l.mode == ModeInsertion {
		st.Local.WindowStart, st.Local.WindowStop = at(l.startAt), at(l.stopAt)
		st.Local.Open = l.startAt <= n && n < l.stopAt
	}
	for _, w := range c.windows {
		st.Learned = append(st.Learned, Learned{
			Originator: w.origin, If: w.ifx, Neighbor: w.from, Start: at(w.startAt), Stop: at(w.stopAt),
			Open: w.startAt <= n && n < w.stopAt, Relevant: w.relevant || !w.opened && c.relevant(w.sources),
			Sources: slices.Clone(w.sources), FirstHeard: at(w.received), LastHeard: at(w.last), Refreshes: w.refreshes,
			StartsInSec: max(0, time.Duration(w.startAt-n).Seconds()), StopsInSec: max(0, time.Duration(w.stopAt-n).Seconds()),
		})
	}
	slices.SortFunc(st.Learned, func(a, b Learned) int { return a.Originator.Compare(b.Originator) })
	return st
}
