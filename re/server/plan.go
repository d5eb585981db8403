package server

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
	msdphost "github.com/mxfwd/mxfwd/re/msdp/host"
	"github.com/mxfwd/mxfwd/re/pim/host"
	"github.com/mxfwd/mxfwd/re/rib"
)

// Plan is a configuration checked against everything that can make it fail
// to apply, ready to be committed. Check builds it; `re config check`,
// New and Reload all go through Check, so that they agree.
type Plan struct {
	Config       *config.Config
	Interfaces   []kernel.Interface
	Static       map[kernel.Entry]kernel.Contribution
	CacheTimeout time.Duration
	Options      [][2]string
}

// Check validates c as the RE would apply it: the interface table and the
// static joins are applied to a scratch kernel, so that a file that passes
// Check does not fail half-way through a commit. Errors name the file (when
// c came from one), the line and the reason.
func Check(c *config.Config) (*Plan, error) {
	where := func(line int) string {
		if c.Source != "" {
			return fmt.Sprintf("%s:%d", c.Source, line)
		}
		return fmt.Sprintf("line %d", line)
	}
	p := &Plan{Config: c, Interfaces: interfacesFromConfig(c), CacheTimeout: c.CacheTimeout, Options: cardOptions(c)}
	scratch := kernel.New(kernel.Config{})
	if _, err := scratch.SetInterfaces(p.Interfaces); err != nil {
		return nil, fmt.Errorf("%s: interfaces: %w", c.Source, err)
	}
	if err := scratch.SetCacheTimeout(c.CacheTimeout); err != nil {
		return nil, fmt.Errorf("%s: forwarding-cache timeout: %w", c.Source, err)
	}
	// The static joins' upstream comes from the unicast RIB (connected
	// subnets and static routes of this configuration).
	r := rib.New(rib.Options{LocalAS: c.AutonomousSystem})
	if _, err := r.ApplyConfig(c, time.Time{}); err != nil {
		return nil, fmt.Errorf("%s: routing-options: %w", c.Source, err)
	}
	if err := checkStatics(c, r, where); err != nil {
		return nil, err
	}
	if c.MSDP.Enabled() {
		if _, err := msdphost.Config(c); err != nil {
			return nil, fmt.Errorf("%s: msdp: %w", c.Source, err)
		}
	}
	static, _ := staticContributions(c.IGMP.Static, r)
	p.Static = static
	for _, j := range c.IGMP.Static {
		e := kernel.SGEntry(j.Source, j.Group)
		if !j.Source.IsValid() {
			e = kernel.StarG(j.Group)
		}
		if err := scratch.SetContribution(kernel.OwnerStatic, e, static[e]); err != nil {
			return nil, fmt.Errorf("%s: static join (%s,%s) on %s: %w", where(j.Line), j.Source, j.Group, j.Interface, err)
		}
	}
	return p, nil
}

// interfacesFromConfig turns the configuration's interfaces into kernel
// interfaces: every unit of a port that is not a LAG member, every unit of
// an aggregate, and unit 0 of each LAG member (the forwarding NHs).
func interfacesFromConfig(c *config.Config) (out []kernel.Interface) {
	names := make([]string, 0, len(c.Interfaces))
	for n := range c.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	add := func(dev string, u *config.Unit, lag string) {
		ki := kernel.Interface{Name: fmt.Sprintf("%s.%d", dev, u.Number), LAG: lag}
		ki.Index = hal.IFLIndex(u.Index)
		ki.NH = hal.NHID(u.NHIndex)
		ki.Addr = u.Address
		if m := c.Interfaces[dev].MTU; m > 0 {
			ki.MTU = uint16(m)
		}
		out = append(out, ki)
	}
	// Aggregates first, so members can reference them.
	for _, n := range names {
		i := c.Interfaces[n]
		if i.LAG != "" || len(i.Units) == 0 || n == "lo0" {
			continue
		}
		if _, _, _, ok := config.ParsePort(n); ok {
			continue
		}
		for _, u := range sortedUnits(i) {
			add(n, u, "")
		}
	}
	defer func() {
		if c.PIM.Enabled() {
			// The register interfaces (every card has them).
			out = append(out, kernel.Interface{Name: host.EncapInterface}, kernel.Interface{Name: host.DecapInterface})
		}
	}()
	for _, n := range names {
		i := c.Interfaces[n]
		if _, _, _, ok := config.ParsePort(n); !ok {
			continue
		}
		if i.LAG != "" {
			u := i.Units[0]
			if u == nil {
				u = &config.Unit{Number: 0}
			}
			add(n, u, i.LAG+".0")
			continue
		}
		for _, u := range sortedUnits(i) {
			add(n, u, "")
		}
	}
	return out
}

func sortedUnits(i *config.Interface) []*config.Unit {
	us := make([]*config.Unit, 0, len(i.Units))
	for _, u := range i.Units {
		us = append(us, u)
	}
	sort.Slice(us, func(a, b int) bool { return us[a].Number < us[b].Number })
	return us
}

// cardOptions are the settings pushed to every FPC (hal.Tunable keys).
func cardOptions(c *config.Config) [][2]string {
	rate := c.ResolveRate
	if rate <= 0 {
		rate = config.DefaultResolveRate
	}
	opts := [][2]string{
		{"host-name", c.HostName},
		{"resolve-rate", strconv.Itoa(rate)},
		{"network-services", c.Chassis.NetworkServices},
		{"multicast-replication", c.Replication},
	}
	slots := make([]int, 0, len(c.Chassis.FPCs))
	for n := range c.Chassis.FPCs {
		slots = append(slots, n)
	}
	sort.Ints(slots)
	for _, n := range slots {
		f := c.Chassis.FPCs[n]
		if f.Type != "" {
			opts = append(opts, [2]string{fmt.Sprintf("fpc.%d.type", n), f.Type})
		}
		for pic := 0; pic < 4; pic++ {
			if f.NoMcastReplication[pic] {
				opts = append(opts, [2]string{fmt.Sprintf("fpc.%d.pic.%d.no-mcast-replication", n, pic), "true"})
			}
		}
	}
	return opts
}

func optionMessages(opts [][2]string) []ipc.Message {
	msgs := make([]ipc.Message, 0, len(opts))
	for _, o := range opts {
		msgs = append(msgs, &ipc.ConfigSet{Key: o[0], Value: o[1]})
	}
	return msgs
}

// staticEntries lists a plan's static entries in a stable order (logs).
func staticEntries(m map[kernel.Entry]kernel.Contribution) []kernel.Entry {
	out := make([]kernel.Entry, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Group.Compare(out[j].Group); c != 0 {
			return c < 0
		}
		return out[i].Source.Compare(out[j].Source) < 0
	})
	return out
}
