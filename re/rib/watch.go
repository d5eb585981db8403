package rib

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrUnknownWatcher: the watcher id was never returned by NewWatcher or has
// been removed.
var ErrUnknownWatcher = errors.New("unknown watcher")

// WatcherID identifies a subscriber to change notifications (PIM for its
// RPF neighbours, MSDP for peer-RPF, GIR for metric changes, ...).
type WatcherID uint32

// Change is one notification, returned by the mutating method that caused
// it. There are two kinds:
//
//   - an address change (Addr valid): RPF(Addr) now answers New instead of
//     Old (interface, neighbour, metric, preference, protocol, matching
//     prefix or ECMP set changed; Found() false on either side when the
//     address became or stopped being reachable);
//   - a route change (Addr invalid): the active route of destination Prefix
//     changed from Old to New (route-level Results: Neighbor is zero for a
//     connected route).
//
// Changes of one call come route changes first (by prefix), then address
// changes (by address, then watcher).
type Change struct {
	Watcher WatcherID    `json:"watcher"`
	Addr    netip.Addr   `json:"address,omitzero"`
	Prefix  netip.Prefix `json:"prefix,omitzero"`
	Old     Result       `json:"old"`
	New     Result       `json:"new"`
}

type watcher struct {
	name   string
	addrs  map[netip.Addr]struct{}
	routes []netip.Prefix
}

type routeWatch struct {
	id     WatcherID
	prefix netip.Prefix
}

// watchEntry is one watched address with the last result its watchers were
// told about.
type watchEntry struct {
	addr     netip.Addr
	last     Result
	watchers []WatcherID // sorted
	gen      uint64      // flush generation that last visited it
}

type watchState struct {
	next     WatcherID
	watchers map[WatcherID]*watcher
	routes   []routeWatch // sorted by id, then prefix
	addrs    trie[*watchEntry]
	// dirty holds, for every destination touched since the last flush, its
	// route-level result before the first touch. It is nil while nobody
	// watches, so that bulk loads without subscribers cost nothing extra.
	// Keyed by prefixKey.
	dirty map[uint64]Result
	gen   uint64
}

func newWatchState() watchState {
	return watchState{watchers: map[WatcherID]*watcher{}}
}

// NewWatcher registers a subscriber; name is for logs and `show`.
func (r *RIB) NewWatcher(name string) WatcherID {
	r.w.next++
	id := r.w.next
	r.w.watchers[id] = &watcher{name: name, addrs: map[netip.Addr]struct{}{}}
	if r.w.dirty == nil {
		r.w.dirty = map[uint64]Result{}
	}
	return id
}

// RemoveWatcher drops a subscriber and all its watches.
func (r *RIB) RemoveWatcher(id WatcherID) error {
	w := r.w.watchers[id]
	if w == nil {
		return fmt.Errorf("rib: watcher %d: %w", id, ErrUnknownWatcher)
	}
	for a := range w.addrs {
		r.unwatch(id, a)
	}
	r.w.routes = slices.DeleteFunc(r.w.routes, func(x routeWatch) bool { return x.id == id })
	delete(r.w.watchers, id)
	if len(r.w.watchers) == 0 {
		r.w.dirty = nil
	}
	return nil
}

// WatchRoutes subscribes id to route changes of every destination inside p
// (0.0.0.0/0: every change of the table).
func (r *RIB) WatchRoutes(id WatcherID, p netip.Prefix) error {
	w := r.w.watchers[id]
	if w == nil {
		return fmt.Errorf("rib: watcher %d: %w", id, ErrUnknownWatcher)
	}
	if !p.IsValid() || !p.Addr().Is4() {
		return fmt.Errorf("rib: watch routes %s: %w: not an IPv4 prefix", p, ErrInvalid)
	}
	p = p.Masked()
	if slices.Contains(w.routes, p) {
		return nil
	}
	w.routes = append(w.routes, p)
	r.w.routes = append(r.w.routes, routeWatch{id: id, prefix: p})
	slices.SortFunc(r.w.routes, func(a, b routeWatch) int {
		return cmp.Or(cmp.Compare(a.id, b.id), comparePrefix(a.prefix, b.prefix))
	})
	return nil
}

// Watch subscribes id to changes of RPF(a) and returns its current answer
// (what later changes are relative to).
func (r *RIB) Watch(id WatcherID, a netip.Addr) (Result, bool, error) {
	w := r.w.watchers[id]
	if w == nil {
		return Result{}, false, fmt.Errorf("rib: watcher %d: %w", id, ErrUnknownWatcher)
	}
	if !a.Is4() {
		return Result{}, false, fmt.Errorf("rib: watch %s: %w: not IPv4", a, ErrInvalid)
	}
	res, ok := r.RPF(a)
	if _, dup := w.addrs[a]; dup {
		return res, ok, nil
	}
	w.addrs[a] = struct{}{}
	k := addr4(a)
	e, found := r.w.addrs.Get(k, 32)
	if !found {
		e = &watchEntry{addr: a}
		r.w.addrs.Insert(k, 32, e)
	}
	e.last = res
	i, _ := slices.BinarySearch(e.watchers, id)
	e.watchers = slices.Insert(e.watchers, i, id)
	return res, ok, nil
}

// Unwatch ends id's watch of a.
func (r *RIB) Unwatch(id WatcherID, a netip.Addr) error {
	w := r.w.watchers[id]
	if w == nil {
		return fmt.Errorf("rib: watcher %d: %w", id, ErrUnknownWatcher)
	}
	if _, ok := w.addrs[a]; !ok {
		return nil
	}
	r.unwatch(id, a)
	return nil
}

func (r *RIB) unwatch(id WatcherID, a netip.Addr) {
	delete(r.w.watchers[id].addrs, a)
	k := addr4(a)
	e, ok := r.w.addrs.Get(k, 32)
	if !ok {
		return
	}
	e.watchers = slices.DeleteFunc(e.watchers, func(x WatcherID) bool { return x == id })
	if len(e.watchers) == 0 {
		r.w.addrs.Delete(k, 32)
	}
}

// markDirty records d's route-level result before its first change in
// this call.
func (r *RIB) markDirty(d *dest) {
	if r.w.dirty == nil {
		return
	}
	pk := prefixKey(d.key, d.bits)
	if _, seen := r.w.dirty[pk]; seen {
		return
	}
	var res Result
	if d.active != nil {
		res = d.result(netip.Addr{})
	}
	r.w.dirty[pk] = res
}

// prefixKey packs a prefix into one integer whose order is Walk's: by
// address, then shorter before longer.
func prefixKey(k uint32, b uint8) uint64 { return uint64(k)<<8 | uint64(b) }

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// flush turns the destinations touched by the current call into
// notifications. Only addresses inside a destination whose active route
// changed can have a new RPF answer, so only those are looked up again.
func (r *RIB) flush() []Change {
	w := &r.w
	if len(w.dirty) == 0 {
		return nil
	}
	keys := make([]uint64, 0, len(w.dirty))
	for pk := range w.dirty {
		keys = append(keys, pk)
	}
	slices.Sort(keys)
	w.gen++
	var routeCh, addrCh []Change
	for _, pk := range keys {
		old := w.dirty[pk]
		k, b := uint32(pk>>8), uint8(pk)
		p := prefixOf(k, b)
		var cur Result
		if d, ok := r.table.Get(k, b); ok && d.active != nil {
			cur = d.result(netip.Addr{})
		}
		if old.Equal(cur) {
			continue
		}
		for _, rw := range w.routes {
			if rw.prefix.Bits() <= p.Bits() && rw.prefix.Contains(p.Addr()) {
				routeCh = append(routeCh, Change{Watcher: rw.id, Prefix: p, Old: old, New: cur})
			}
		}
		w.addrs.WalkUnder(k, b, func(_ uint32, _ uint8, e *watchEntry) bool {
			if e.gen == w.gen {
				return true
			}
			e.gen = w.gen
			res, _ := r.RPF(e.addr)
			if res.Equal(e.last) {
				return true
			}
			for _, id := range e.watchers {
				addrCh = append(addrCh, Change{Watcher: id, Addr: e.addr, Old: e.last, New: res})
			}
			e.last = res
			return true
		})
	}
	clear(w.dirty)
	slices.SortStableFunc(addrCh, func(a, b Change) int { return a.Addr.Compare(b.Addr) })
	return append(routeCh, addrCh...)
}
