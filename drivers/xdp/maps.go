package xdp

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/cilium/ebpf"
)

// The BPF object: bpf/fwd.c compiled by `make bpf` (clang -O2 -target bpf,
// debug info stripped, BTF kept). It is committed so that building mxfwd
// needs only Go; TestObjectMatchesSources fails when fwd.c or fwd.h were
// changed without regenerating it.
//
//go:generate make -C bpf
//go:embed bpf/fwd_bpfel.o
var fwdObject []byte

// Mirrors of bpf/fwd.h. Every struct is laid out without implicit padding
// (TestLayouts checks the sizes against the object's BTF).
const (
	maxLegs       = 64
	maxDown       = 64
	puntMax       = 65552 // a GSO packet of 64 KiB and its Ethernet header
	maxGroupTraps = 16
)

type portVal struct {
	IFL, Parent, Slot, Flags uint32
}

type egressVal struct {
	MAC  [6]byte
	Pad  uint16
	Slot uint32
}

type sgKey struct {
	Group, Source [4]byte
}

type lpmKey struct {
	PrefixLen uint32
	Group     [4]byte
}

type routeVal struct {
	NH, RPF, Slot, Pad uint32
}

// nhVal kinds (enum nh_kind).
const (
	nhDiscard uint32 = 0
	nhResolve uint32 = 1
	nhForward uint32 = 2
)

// nhVal flags (NH_F_*).
const nhFlagEncap uint32 = 1 // the OIL holds the encapsulation IFL, Up

type nhVal struct {
	Kind, OIL, Sublists, NH uint32
	Flags, EncapSlot        uint32
}

type legVal struct {
	Ifindex, Slot uint32
	MAC           [6]byte
	Pad           uint16
}

type oilVal struct {
	N, NDown uint32
	Down     [maxDown]uint32
	Legs     [maxLegs]legVal
}

// iflStatsVal is struct ifl_stats, one per CPU.
type iflStatsVal struct {
	RxPkts, RxBytes, TxPkts, TxBytes                             uint64
	RPFFail, TTL, NoRoute, Discard, Resolve, Malformed, PortDown uint64
	Punt, EventsLost                                             uint64
}

func (s *iflStatsVal) add(o *iflStatsVal) {
	s.RxPkts += o.RxPkts
	s.RxBytes += o.RxBytes
	s.TxPkts += o.TxPkts
	s.TxBytes += o.TxBytes
	s.RPFFail += o.RPFFail
	s.TTL += o.TTL
	s.NoRoute += o.NoRoute
	s.Discard += o.Discard
	s.Resolve += o.Resolve
	s.Malformed += o.Malformed
	s.PortDown += o.PortDown
	s.Punt += o.Punt
	s.EventsLost += o.EventsLost
}

type routeStatsVal struct {
	Pkts, Bytes uint64
}

// Event kinds (enum event_kind) and the record header (struct event).
const (
	evResolve uint32 = 1
	evWrongIf uint32 = 2
	evPunt    uint32 = 3
)

const eventHdrLen = 32

type pendingKey struct {
	Group, Source [4]byte
	IFL, Kind     uint32
}

// Host-path traps (struct trap_cfg, trap_addr_key).
type trapGroup struct {
	Addr, Mask [4]byte
	ID, Pad    uint32
}

type trapCfg struct {
	Proto          [256]uint16
	Flags, NGroups uint32
	Groups         [maxGroupTraps]trapGroup
}

// trapCfg flags (TRAP_F_*).
const (
	trapFlagLocal      uint32 = 1 // a local trap is for a unicast address
	trapFlagLocalMcast uint32 = 2 // a local trap is for an address in 224/4
)

type trapAddrKey struct {
	Addr [4]byte
	Kind uint32
}

// trapAddrKey kinds (enum trap_addr_kind).
const (
	trapAddrARP   uint32 = 1
	trapAddrLocal uint32 = 2
)

type devmapVal struct {
	Ifindex uint32
	ProgFD  int32
}

// objects are the loaded programs and maps.
type objects struct {
	xdpFwd, xdpEgress, tcFwd *ebpf.Program

	ports, egress, sgRoutes, prefixRoutes, nhs, oils, oilDevs *ebpf.Map
	iflStats, routeStats, events, pending                     *ebpf.Map
	trapSel, trapCfgs, trapAddrs                              *ebpf.Map

	innerDevmap *ebpf.MapSpec // template of the per-variant devmaps
}

// loadSpec parses the embedded object.
func loadSpec() (*ebpf.CollectionSpec, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(fwdObject))
	if err != nil {
		return nil, fmt.Errorf("parse BPF object: %w", err)
	}
	return spec, nil
}

// loadObjects sizes the tables from o, sets the constants and loads
// everything into the kernel.
func loadObjects(o options, testrunMagic uint32) (*objects, error) {
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	sizes := map[string]int{
		"sg_routes": o.Routes, "route_stats": o.Routes, "prefix_routes": min(o.Routes, 1<<16),
		"ifl_stats": o.IFLs, "nhs": o.NHs, "oils": o.OILs, "oil_devs": o.OILs,
		"pending": 16384, "trap_addrs": o.TrapAddrs,
	}
	for name, n := range sizes {
		ms, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("BPF object has no map %q", name)
		}
		ms.MaxEntries = uint32(n)
	}
	for name, v := range map[string]any{
		"upcall_interval_ns": uint64(o.UpcallInterval.Nanoseconds()),
		"testrun_magic":      testrunMagic,
	} {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("BPF object has no constant %q", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	inner := spec.Maps["oil_devs"].InnerMap.Copy()
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load BPF programs (needs root or CAP_BPF+CAP_NET_ADMIN): %w", err)
	}
	ob := &objects{
		xdpFwd: coll.Programs["xdp_fwd"], xdpEgress: coll.Programs["xdp_egress"], tcFwd: coll.Programs["tc_fwd"],
		ports: coll.Maps["ports"], egress: coll.Maps["egress"], sgRoutes: coll.Maps["sg_routes"],
		prefixRoutes: coll.Maps["prefix_routes"], nhs: coll.Maps["nhs"], oils: coll.Maps["oils"],
		oilDevs: coll.Maps["oil_devs"], iflStats: coll.Maps["ifl_stats"], routeStats: coll.Maps["route_stats"],
		events: coll.Maps["events"], pending: coll.Maps["pending"],
		trapSel: coll.Maps["trap_sel"], trapCfgs: coll.Maps["trap_cfgs"], trapAddrs: coll.Maps["trap_addrs"],
		innerDevmap: inner,
	}
	// The collection's other handles (.rodata) are not needed.
	for name, m := range coll.Maps {
		switch name {
		case "ports", "egress", "sg_routes", "prefix_routes", "nhs", "oils", "oil_devs", "ifl_stats", "route_stats", "events", "pending",
			"trap_sel", "trap_cfgs", "trap_addrs":
		default:
			m.Close()
		}
	}
	return ob, nil
}

func (ob *objects) close() {
	for _, p := range []*ebpf.Program{ob.xdpFwd, ob.xdpEgress, ob.tcFwd} {
		if p != nil {
			p.Close()
		}
	}
	for _, m := range []*ebpf.Map{ob.ports, ob.egress, ob.sgRoutes, ob.prefixRoutes, ob.nhs, ob.oils, ob.oilDevs, ob.iflStats, ob.routeStats, ob.events, ob.pending, ob.trapSel, ob.trapCfgs, ob.trapAddrs} {
		if m != nil {
			m.Close()
		}
	}
}
