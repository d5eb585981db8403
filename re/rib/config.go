package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/mxfwd/mxfwd/re/config"
)

// ApplyConfig makes the RIB's interfaces and static routes those of cfg:
// every logical unit of a port or aggregate (members of an aggregate
// excluded) with its address, and every static route. Interfaces no longer
// configured are removed; the link state of the others is kept (new ones
// are up). All changes come in one list. Imported kernel routes are untouched: starting or stopping the
// Follower for cfg.RIBImport is the caller's.
func (r *RIB) ApplyConfig(cfg *config.Config, now time.Time) ([]Change, error) {
	want := map[string]netip.Prefix{}
	for name, i := range cfg.Interfaces {
		if i.LAG != "" {
			continue
		}
		for un, u := range i.Units {
			want[fmt.Sprintf("%s.%d", name, un)] = u.Address
		}
	}
	err := r.applyConfig(cfg, want, now)
	return r.flush(), err
}

func (r *RIB) applyConfig(cfg *config.Config, want map[string]netip.Prefix, now time.Time) error {
	for _, name := range sortedKeys(r.ifaces) {
		if _, ok := want[name]; !ok {
			if err := r.removeInterface(name, now); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(want) {
		if err := r.setInterface(name, want[name], now); err != nil {
			return err
		}
	}
	statics := make([]StaticRoute, 0, len(cfg.StaticRoutes))
	for _, s := range cfg.StaticRoutes {
		statics = append(statics, StaticRoute{
			Prefix: s.Prefix, NextHops: slices.Clone(s.NextHops), Preference: s.Preference, Metric: s.Metric,
		})
	}
	return r.setStatic(statics, now)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
