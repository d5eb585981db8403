package igmp

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Router holds the IGMP state of every interface of one routing instance,
// so that an owner loop has one NextDeadline to wait for and one Tick to
// step.
type Router struct {
	ifaces map[hal.IFLIndex]*Interface
}

// NewRouter returns a Router without interfaces.
func NewRouter() *Router { return &Router{ifaces: map[hal.IFLIndex]*Interface{}} }

// Add creates the state of an interface from cfg (not started).
func (r *Router) Add(cfg Config) (*Interface, error) {
	if _, ok := r.ifaces[cfg.Iface]; ok {
		return nil, fmt.Errorf("igmp: interface %d: %w", cfg.Iface, ErrExists)
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.ifaces[cfg.Iface] = s
	return s, nil
}

// Remove stops an interface and forgets it; the actions withdraw its
// memberships.
func (r *Router) Remove(now time.Time, iface hal.IFLIndex) ([]Action, error) {
	s, ok := r.ifaces[iface]
	if !ok {
		return nil, fmt.Errorf("igmp: interface %d: %w", iface, ErrNotFound)
	}
	out := s.Step(now, Stop{})
	delete(r.ifaces, iface)
	return out, nil
}

// Interface returns the state of iface, or nil.
func (r *Router) Interface(iface hal.IFLIndex) *Interface { return r.ifaces[iface] }

// Interfaces lists the interface indexes in order.
func (r *Router) Interfaces() []hal.IFLIndex {
	out := make([]hal.IFLIndex, 0, len(r.ifaces))
	for i := range r.ifaces {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// Step applies ev to interface iface.
func (r *Router) Step(now time.Time, iface hal.IFLIndex, ev Event) ([]Action, error) {
	s, ok := r.ifaces[iface]
	if !ok {
		return nil, fmt.Errorf("igmp: interface %d: %w", iface, ErrNotFound)
	}
	return s.Step(now, ev), nil
}

// Tick fires the timers due at now on every interface, in interface order.
func (r *Router) Tick(now time.Time) []Action {
	var out []Action
	for _, i := range r.Interfaces() {
		s := r.ifaces[i]
		if next, ok := s.NextDeadline(); ok && !next.After(now) {
			out = append(out, s.Step(now, Tick{})...)
		}
	}
	return out
}

// NextDeadline is the earliest deadline of all interfaces.
func (r *Router) NextDeadline() (next time.Time, ok bool) {
	for _, s := range r.ifaces {
		if t, k := s.NextDeadline(); k && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	return next, ok
}

// Memberships lists every interface's memberships, by interface then
// group, as MembershipChanged values for a full resync of a consumer.
func (r *Router) Memberships() []MembershipChanged {
	var out []MembershipChanged
	for _, i := range r.Interfaces() {
		for _, m := range r.ifaces[i].Memberships() {
			out = append(out, MembershipChanged{Iface: i, Membership: m})
		}
	}
	slices.SortStableFunc(out, func(a, b MembershipChanged) int { return cmp.Compare(a.Iface, b.Iface) })
	return out
}
