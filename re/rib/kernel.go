package rib

import (
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Linux route protocols (rtm_protocol, include/uapi/linux/rtnetlink.h and
// /etc/iproute2/rt_protos) that KernelProtocol maps to a protocol of its own.
const (
	RTProtKernel = 2   // routes the kernel derives from interface addresses
	RTProtBGP    = 186 // FRR bgpd
	RTProtISIS   = 187 // FRR isisd
	RTProtOSPF   = 188 // FRR ospfd
	RTProtRIP    = 189 // FRR ripd
)

// KernelProtocol maps a kernel route's protocol to the protocol the route
// has in inet.0: the routes FRR's daemons install keep their protocol (and
// its Junos preference: OSPF 10, IS-IS 18, RIP 100, BGP 170); every other
// origin (boot, static, zebra, dhcp, ...) becomes Kernel (preference 10).
func KernelProtocol(rtproto uint8) Protocol {
	switch rtproto {
	case RTProtOSPF:
		return ProtoOSPF
	case RTProtISIS:
		return ProtoISIS
	case RTProtRIP:
		return ProtoRIP
	case RTProtBGP:
		return ProtoBGP
	}
	return ProtoKernel
}

// KernelRoute is one IPv4 unicast route of a Linux routing table, as the
// Follower decodes it. The kernel identifies a route of a table by
// (destination, TOS, priority); so does the RIB.
type KernelRoute struct {
	Prefix   netip.Prefix
	TOS      uint8
	Priority uint32 // RTA_PRIORITY: the route's metric in inet.0
	Protocol uint8  // rtm_protocol
	// NextHops with Interface already mapped to IFL names (IFLFromLinux);
	// empty in a delete.
	NextHops []NextHop
}

// KernelUpdate is what the Follower hands to the owner: the whole table
// (Resync), or one route added/replaced, or one route deleted.
type KernelUpdate struct {
	Resync bool
	Delete bool
	Routes []KernelRoute
}

// ApplyKernel applies an update from the Follower. A resync replaces every
// imported route, so only routes that really changed are touched.
func (r *RIB) ApplyKernel(u KernelUpdate, now time.Time) ([]Change, error) {
	for _, kr := range u.Routes {
		if !kr.Prefix.IsValid() || !kr.Prefix.Addr().Is4() || kr.Prefix != kr.Prefix.Masked() {
			return nil, fmt.Errorf("rib: kernel route %s: %w: not an IPv4 prefix without host bits", kr.Prefix, ErrInvalid)
		}
	}
	switch {
	case u.Resync:
		// Mark and sweep: every route of the dump is marked with a new
		// generation; imported routes left unmarked are gone.
		r.kgen++
		marked := 0
		for _, kr := range u.Routes {
			if rt := r.addKernel(kr, now); rt.gen != r.kgen {
				rt.gen = r.kgen
				marked++
			}
		}
		if marked < r.nKernel {
			var stale []*route
			r.table.Walk(func(_ uint32, _ uint8, d *dest) bool {
				for _, rt := range d.routes {
					if rt.key.src == srcKernel && rt.gen != r.kgen {
						stale = append(stale, rt)
					}
				}
				return true
			})
			for _, rt := range stale {
				r.removeRoute(rt)
			}
		}
	case u.Delete:
		for _, kr := range u.Routes {
			r.remove(kr.Prefix, routeKey{src: srcKernel, prio: kr.Priority, tos: kr.TOS})
		}
	default:
		for _, kr := range u.Routes {
			r.addKernel(kr, now)
		}
	}
	return r.flush(), nil
}

// KernelRoutes returns the number of imported routes.
func (r *RIB) KernelRoutes() int { return r.nKernel }

func (r *RIB) addKernel(kr KernelRoute, now time.Time) *route {
	proto := KernelProtocol(kr.Protocol)
	return r.upsert(kr.Prefix, routeKey{src: srcKernel, prio: kr.Priority, tos: kr.TOS},
		proto, proto.DefaultPreference(), kr.Priority, sortNextHops(kr.NextHops), now)
}

var (
	reLinuxPhys = regexp.MustCompile(`^((?:xe|ge|et)-\d+)-(\d+)-(\d+)\.(\d+)$`)
	reLinuxAE   = regexp.MustCompile(`^ae\d+\.\d+$`)
)

// IFLFromLinux maps a Linux interface name to the IFL it mirrors, the
// inverse of the host-interface naming of issue #10 (the TAP of
// "xe-3/1/0.0" is "xe-3-1-0.0": '/' is not allowed in Linux names; "ae91.0"
// keeps its name). Other names (eth0, lo, ...) map to nothing.
func IFLFromLinux(name string) (string, bool) {
	if m := reLinuxPhys.FindStringSubmatch(name); m != nil {
		return fmt.Sprintf("%s/%s/%s.%s", m[1], m[2], m[3], m[4]), true
	}
	if reLinuxAE.MatchString(name) {
		return name, true
	}
	return "", false
}
