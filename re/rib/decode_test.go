package rib

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FuzzDecodeRoute feeds the follower's conversion of netlink routes
// (decoded by the netlink library from kernel bytes) with arbitrary field
// values: it must never panic, and what it hands to the owner must be what
// ApplyKernel accepts (a masked IPv4 prefix, next hops over mapped links
// with IPv4 or no gateways).
func FuzzDecodeRoute(f *testing.F) {
	f.Add([]byte{10, 50, 0, 0}, 16, 32, unix.AF_INET, 100, unix.RTN_UNICAST, 188, []byte{10, 1, 0, 2}, 2, uint8(0), uint16(unix.RTM_NEWROUTE))
	f.Add([]byte{10, 50, 0, 1}, 16, 32, unix.AF_INET, 100, unix.RTN_UNICAST, 3, []byte{}, 3, uint8(2), uint16(unix.RTM_NEWROUTE))
	f.Add([]byte{0, 0, 0, 0}, 0, 32, unix.AF_INET, 100, unix.RTN_BLACKHOLE, 4, []byte{}, 0, uint8(0), uint16(unix.RTM_DELROUTE))
	f.Add(make([]byte, 16), 64, 128, unix.AF_INET6, 100, unix.RTN_UNICAST, 4, make([]byte, 16), 2, uint8(0), uint16(unix.RTM_NEWROUTE))
	f.Fuzz(func(t *testing.T, dst []byte, ones, size, family, table, typ, proto int, gw []byte, link int, paths uint8, msgType uint16) {
		fl := &Follower{cfg: FollowerConfig{Table: 100}}
		names := &linkNames{m: map[int]string{2: "xe-3/1/0.0", 3: "ae91.0", 4: ""}}
		rt := netlink.Route{
			Dst: &net.IPNet{IP: net.IP(dst), Mask: net.CIDRMask(ones, size)}, Family: family, Table: table,
			Type: typ, Protocol: netlink.RouteProtocol(proto), Gw: net.IP(gw), LinkIndex: link,
		}
		if rt.Dst.Mask == nil {
			rt.Dst.Mask = net.IPMask(dst)
		}
		for i := range int(paths % 4) {
			rt.MultiPath = append(rt.MultiPath, &netlink.NexthopInfo{LinkIndex: link + i, Gw: net.IP(gw)})
		}
		u, ok := fl.decode(netlink.RouteUpdate{Type: msgType, Route: rt}, names)
		if !ok {
			return
		}
		if len(u.Routes) != 1 || u.Resync {
			t.Fatalf("decode gave %+v", u)
		}
		kr := u.Routes[0]
		if !kr.Prefix.IsValid() || !kr.Prefix.Addr().Is4() || kr.Prefix != kr.Prefix.Masked() {
			t.Fatalf("bad prefix %v", kr.Prefix)
		}
		if u.Delete {
			if len(kr.NextHops) != 0 {
				t.Fatalf("delete with next hops: %+v", kr)
			}
		} else {
			if len(kr.NextHops) == 0 {
				t.Fatalf("add without next hops: %+v", kr)
			}
			for _, nh := range kr.NextHops {
				if nh.Interface == "" || (nh.Gateway.IsValid() && !nh.Gateway.Is4()) {
					t.Fatalf("bad next hop %+v", nh)
				}
			}
		}
		r := New(Options{})
		if _, err := r.SetInterface("xe-3/1/0.0", netip.MustParsePrefix("10.1.0.1/24"), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ApplyKernel(u, t0); err != nil {
			t.Fatalf("owner rejects %+v: %v", u, err)
		}
	})
}
