package pimmsg_test

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// sampleMessages has one message of each type with every field set to a
// value that shows up in a dissection, plus edge cases (empty lists,
// unknown options, the S-bits, the GIR TLV with and without sources).
func sampleMessages() []struct {
	name string
	src  netip.Addr
	dst  netip.Addr
	msg  pimmsg.Message
} {
	gir, err := pimmsg.GIR{Start: 30, Stop: 330}.TLV(pimmsg.DefaultGIRType)
	if err != nil {
		panic(err)
	}
	girSrc, err := pimmsg.GIR{Start: 0, Stop: 600, Sources: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}}.TLV(pimmsg.DefaultGIRType)
	if err != nil {
		panic(err)
	}
	null, err := pimmsg.NewNullRegister(ip("10.1.1.2"), ip("239.1.1.1"))
	if err != nil {
		panic(err)
	}
	data := []byte{
		0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x10, 0x11, 0x00, 0x00,
		10, 1, 1, 2, 239, 1, 1, 1,
		0x13, 0x89, 0x13, 0x89, 0x00, 0x08, 0x00, 0x00,
	}
	// Header checksum of the inner packet, so that a dissector validating
	// it is satisfied.
	cs := pimmsg.Checksum(data[:20])
	data[10], data[11] = byte(cs>>8), byte(cs)
	return []struct {
		name string
		src  netip.Addr
		dst  netip.Addr
		msg  pimmsg.Message
	}{
		{"hello", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.Hello{
			HasHoldtime: true, Holdtime: 105,
			LANPruneDelay: &pimmsg.LANPruneDelay{T: true, PropagationDelay: 500, OverrideInterval: 2500},
			HasDRPriority: true, DRPriority: 7,
			HasGenerationID: true, GenerationID: 0xdeadbeef,
			AddressList: []netip.Addr{ip("192.0.2.1"), ip("198.51.100.1")},
			Unknown:     []pimmsg.Option{{Type: 31, Value: []byte{0, 0, 0, 1, 0, 0, 0, 2}}, {Type: 65001, Value: []byte{}}},
		}},
		{"hello-goodbye", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.Hello{HasHoldtime: true, Holdtime: pimmsg.HoldtimeGoodbye}},
		{"join-prune", ip("10.0.0.2"), pimmsg.AllPIMRouters, &pimmsg.JoinPrune{
			UpstreamNeighbor: ip("10.0.0.1"), Holdtime: 210,
			Groups: []pimmsg.JPGroup{
				{Group: pimmsg.HostGroup(ip("239.1.1.1")), Joins: []pimmsg.Source{pimmsg.StarG(ip("10.255.0.1"))}, Prunes: []pimmsg.Source{pimmsg.SGRpt(ip("10.1.1.2"))}},
				{Group: pimmsg.HostGroup(ip("232.1.1.1")), Joins: []pimmsg.Source{pimmsg.SG(ip("10.1.1.2")), pimmsg.SG(ip("10.1.1.3"))}},
				{Group: pimmsg.HostGroup(ip("239.2.2.2")), Prunes: []pimmsg.Source{pimmsg.SG(ip("10.2.2.2"))}},
			},
		}},
		{"register", ip("10.1.1.1"), ip("10.255.0.1"), &pimmsg.Register{Packet: data}},
		{"null-register", ip("10.1.1.1"), ip("10.255.0.1"), null},
		{"register-stop", ip("10.255.0.1"), ip("10.1.1.1"), &pimmsg.RegisterStop{Group: pimmsg.HostGroup(ip("239.1.1.1")), Source: ip("10.1.1.2")}},
		{"assert", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.Assert{Group: pimmsg.HostGroup(ip("239.1.1.1")), Source: ip("10.1.1.2"), MetricPreference: 110, Metric: 20}},
		{"assert-rpt", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.Assert{Group: pimmsg.HostGroup(ip("239.1.1.1")), Source: netip.IPv4Unspecified(), RPT: true, MetricPreference: 0x7fffffff, Metric: 0xffffffff}},
		{"bootstrap", ip("10.255.0.9"), pimmsg.AllPIMRouters, &pimmsg.Bootstrap{
			FragmentTag: 0x1234, HashMaskLen: 30, BSRPriority: 200, BSR: ip("10.255.0.9"),
			Groups: []pimmsg.BSRGroup{
				{Group: pimmsg.GroupRange(netip.MustParsePrefix("224.0.0.0/4")), RPCount: 2, RPs: []pimmsg.BSRRP{
					{Addr: ip("10.255.0.1"), Holdtime: 150, Priority: 255, MSDP: true},
					{Addr: ip("10.255.0.2"), Holdtime: 150, Priority: 10},
				}},
				{Group: pimmsg.GroupRange(netip.MustParsePrefix("239.72.0.0/16")), RPCount: 1, RPs: []pimmsg.BSRRP{{Addr: ip("10.255.0.3"), Holdtime: 150, Priority: 1}}},
			},
		}},
		{"bootstrap-no-forward", ip("10.255.0.9"), ip("10.0.0.2"), &pimmsg.Bootstrap{NoForward: true, HashMaskLen: 30, BSR: ip("10.255.0.9")}},
		{"candidate-rp-adv", ip("10.255.0.1"), ip("10.255.0.9"), &pimmsg.CandidateRPAdv{
			MSDP: true, Priority: 255, Holdtime: 150, RP: ip("10.255.0.1"),
			Groups: []pimmsg.Group{pimmsg.GroupRange(netip.MustParsePrefix("224.0.0.0/4"))},
		}},
		{"candidate-rp-adv-all", ip("10.255.0.2"), ip("10.255.0.9"), &pimmsg.CandidateRPAdv{Priority: 10, Holdtime: 150, RP: ip("10.255.0.2")}},
		{"pfm-gir", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.PFM{Originator: ip("10.255.0.5"), TLVs: []pimmsg.TLV{gir}}},
		{"pfm-gir-sources", ip("10.0.0.1"), pimmsg.AllPIMRouters, &pimmsg.PFM{Originator: ip("10.255.0.5"), TLVs: []pimmsg.TLV{
			girSrc, {Transitive: false, Type: 77, Value: []byte{1, 2, 3}},
		}}},
	}
}
