package trio

import (
	"fmt"
	"sync/atomic"

	"github.com/mxfwd/mxfwd/hal"
)

// iflCounters are the per-interface counters (hal.IFLCounters), updated
// atomically by the packet path.
type iflCounters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	drops              [numDrops]atomic.Uint64
}

func (c *iflCounters) snapshot() hal.IFLCounters {
	return hal.IFLCounters{
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		RPFFail:   c.drops[DropRPF].Load(),
		TTLExpiry: c.drops[DropTTL].Load(),
		NoRoute:   c.drops[DropNoRoute].Load(),
		Discard:   c.drops[DropDiscard].Load(),
		Resolve:   c.drops[DropResolve].Load(),
		Malformed: c.drops[DropMalformed].Load(),
		PortDown:  c.drops[DropPortDown].Load(),
	}
}

// DropReason says why the model dropped a packet (or a copy of it).
type DropReason uint8

// Drop reasons, one counter each.
const (
	// DropRPF: arrived on an interface other than the route's RPF IFL.
	DropRPF DropReason = iota
	// DropTTL: TTL <= 1 on arrival.
	DropTTL
	// DropNoRoute: no route at all (not even 224/4).
	DropNoRoute
	// DropDiscard: hit mdiscard 35 or a discard NH (silently).
	DropDiscard
	// DropResolve: hit the Resolve NH; punted to the RE as a resolve
	// request and not forwarded.
	DropResolve
	// DropMalformed: not Ethernet+IPv4, or a bad IPv4 header.
	DropMalformed
	// DropPortDown: a copy for an egress port that is down (counted on the
	// egress PFE and IFL).
	DropPortDown
	// DropFabricDup: a PFE got a second fabric copy of one packet; the
	// tree layout makes this impossible, the counter proves it.
	DropFabricDup
	numDrops
)

func (r DropReason) String() string {
	switch r {
	case DropRPF:
		return "rpf-fail"
	case DropTTL:
		return "ttl"
	case DropNoRoute:
		return "no-route"
	case DropDiscard:
		return "discard"
	case DropResolve:
		return "resolve"
	case DropMalformed:
		return "malformed"
	case DropPortDown:
		return "port-down"
	case DropFabricDup:
		return "fabric-dup"
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// pfeCounters are the counters of one PFE of the model. Padded to a cache
// line multiple so that neighbouring PFEs updated from different cores do
// not share lines.
type pfeCounters struct {
	localCopies atomic.Uint64 // copies written to local ports
	fabricTx    atomic.Uint64 // copies sent into the fabric
	fabricRx    atomic.Uint64 // copies received from the fabric
	fabricBytes atomic.Uint64 // bytes sent into the fabric
	ingress     atomic.Uint64 // packets received on local ports
	punts       atomic.Uint64 // host-inbound packets punted
	resolves    atomic.Uint64 // resolve requests raised
	drops       [numDrops]atomic.Uint64
	_           [8]byte
}

// PFEStats is a snapshot of one PFE's counters.
type PFEStats struct {
	PFE         hal.PFEID
	Ingress     uint64 // packets received on the PFE's ports
	LocalCopies uint64 // copies replicated to the PFE's own ports
	FabricTx    uint64 // copies sent to other PFEs over the fabric
	FabricRx    uint64 // copies received from the fabric
	FabricBytes uint64 // bytes sent over the fabric
	Punts       uint64 // host-inbound packets punted to the RE
	Resolves    uint64 // resolve requests raised (Upcalls.OnResolve)
	Drops       [numDrops]uint64
}

// Total returns the sum of all drops.
func (s PFEStats) Total() uint64 {
	var n uint64
	for _, v := range s.Drops {
		n += v
	}
	return n
}

func (s PFEStats) zero() bool {
	return s.Ingress == 0 && s.LocalCopies == 0 && s.FabricTx == 0 && s.FabricRx == 0 && s.Punts == 0 && s.Resolves == 0 && s.Total() == 0
}

func (c *pfeCounters) snapshot(p hal.PFEID) PFEStats {
	s := PFEStats{
		PFE: p, Ingress: c.ingress.Load(), LocalCopies: c.localCopies.Load(),
		FabricTx: c.fabricTx.Load(), FabricRx: c.fabricRx.Load(), FabricBytes: c.fabricBytes.Load(),
		Punts: c.punts.Load(), Resolves: c.resolves.Load(),
	}
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}

func (c *pfeCounters) reset() {
	for _, a := range []*atomic.Uint64{&c.localCopies, &c.fabricTx, &c.fabricRx, &c.fabricBytes, &c.ingress, &c.punts, &c.resolves} {
		a.Store(0)
	}
	for i := range c.drops {
		c.drops[i].Store(0)
	}
}

// PFEStats returns the counters of PFE p.
func (d *Driver) PFEStats(p hal.PFEID) (PFEStats, error) {
	if int(p) >= MaxPFEs {
		return PFEStats{}, fmt.Errorf("pfe %d: %w", p, hal.ErrInvalid)
	}
	return d.pfe[p].snapshot(p), nil
}

// ReplicationStats returns the counters of every PFE that saw traffic.
func (d *Driver) ReplicationStats() []PFEStats {
	var out []PFEStats
	for p := range d.pfe {
		if s := d.pfe[p].snapshot(hal.PFEID(p)); !s.zero() {
			out = append(out, s)
		}
	}
	return out
}

// ResetReplicationStats clears every PFE's counters.
func (d *Driver) ResetReplicationStats() {
	for p := range d.pfe {
		d.pfe[p].reset()
	}
}
