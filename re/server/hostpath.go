package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/pktio"
)

// Trap ids the RE programs. Protocol and group traps are fixed; each
// interface address gets an ARP and a local trap from firstAddrTrap on,
// in interface order.
const (
	trapPIM       hal.TrapID = 1
	trapIGMP      hal.TrapID = 2
	trapLinkLocal hal.TrapID = 3
	firstAddrTrap hal.TrapID = 16
)

// trapsFor returns the host-path traps of a configuration: PIM and IGMP
// packets, link-local multicast (224.0.0.0/24: OSPF, VRRP, ... for a
// daemon beside the RE), and for every interface address ARP for it and
// IP packets to it.
func trapsFor(ifs []kernel.Interface) []hal.Trap {
	traps := []hal.Trap{
		{ID: trapPIM, Kind: hal.TrapProtocol, Proto: 103},
		{ID: trapIGMP, Kind: hal.TrapProtocol, Proto: 2},
		{ID: trapLinkLocal, Kind: hal.TrapGroup, Prefix: netip.MustParsePrefix("224.0.0.0/24")},
	}
	id := firstAddrTrap
	seen := map[netip.Addr]bool{}
	for _, f := range ifs {
		a := f.Addr.Addr()
		if !f.Addr.IsValid() || !a.Is4() || seen[a] || id >= hal.TrapEncap-1 {
			continue
		}
		seen[a] = true
		traps = append(traps, hal.Trap{ID: id, Kind: hal.TrapARP, Addr: a}, hal.Trap{ID: id + 1, Kind: hal.TrapLocal, Addr: a})
		id += 2
	}
	return traps
}

// pktTransport is the server as the packet seam's Transport.
type pktTransport Server

// Interface implements pktio.Transport.
func (t *pktTransport) Interface(ifl string) (pktio.Interface, bool) {
	s := (*Server)(t)
	for _, f := range s.kern.Interfaces() {
		if f.Name == ifl || f.Name == ifl+".0" {
			mac, _ := parseMAC(f.MAC)
			return pktio.Interface{Name: f.Name, MAC: mac, Addr: f.Addr, Up: f.Up}, true
		}
	}
	return pktio.Interface{}, false
}

// Inject implements pktio.Transport.
func (t *pktTransport) Inject(ifl string, frame []byte) error {
	return (*Server)(t).Inject(context.Background(), ifl, frame, false)
}

// Inject sends frame out of the interface ifl — or, with forward, hands it
// to the PFE as received on ifl (a decapsulated Register on pd-): the RE
// finds the card hosting the interface (for an aggregate, the member the
// flow rule picks for the frame's addresses) and sends it ahead of bulk
// downloads.
func (s *Server) Inject(ctx context.Context, ifl string, frame []byte, forward bool) error {
	idx, pfe, err := s.kern.InjectTarget(ifl, frameHash(frame))
	if err != nil {
		s.stats.InjectErrors.Add(1)
		return fmt.Errorf("inject on %s: %w", ifl, err)
	}
	slot := hal.Slot(pfe / 4)
	s.fpcMu.Lock()
	f, ok := s.fpcs[slot]
	var all []*fpcConn
	if forward && strings.HasPrefix(ifl, "pd-") {
		// The decapsulation interface is on no card: every card takes
		// the packet in as received on pd- and replicates it to the
		// ports it has (the cards share no fabric).
		for _, c := range s.fpcs {
			all = append(all, c)
		}
	}
	s.fpcMu.Unlock()
	if len(all) > 0 {
		var errs []error
		for _, c := range all {
			errs = append(errs, s.injectOn(ctx, c, ifl, idx, frame, forward))
		}
		return errors.Join(errs...)
	}
	if !ok {
		s.stats.InjectErrors.Add(1)
		return fmt.Errorf("inject on %s: FPC %d: %w", ifl, slot, pktio.ErrNoCard)
	}
	return s.injectOn(ctx, f, ifl, idx, frame, forward)
}

func (s *Server) injectOn(ctx context.Context, f *fpcConn, ifl string, idx hal.IFLIndex, frame []byte, forward bool) error {
	// On the control lane: ahead of bulk downloads, never blocking the
	// loop (a full lane is a dropped packet, as on a congested link).
	if err := f.sess.SendControl(ctx, &ipc.Inject{Egress: idx, Forward: forward, Frame: frame}); err != nil {
		s.stats.InjectErrors.Add(1)
		return fmt.Errorf("inject on %s: %w", ifl, err)
	}
	s.stats.Injects.Add(1)
	return nil
}

// frameHash is the flow hash of a frame's IPv4 addresses (ARP: sender and
// target), so that one conversation leaves by one member of an aggregate.
func frameHash(f []byte) uint32 {
	if len(f) < 14 {
		return 0
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if len(f) >= 34 {
			return hal.FlowHash4(binary.BigEndian.Uint32(f[26:]), binary.BigEndian.Uint32(f[30:]))
		}
	case 0x0806:
		if len(f) >= 42 {
			return hal.FlowHash4(binary.BigEndian.Uint32(f[28:]), binary.BigEndian.Uint32(f[38:]))
		}
	}
	return 0
}

// onPunt runs on the owner loop for every trapped packet: the packet seam
// dispatches it to a protocol or to the host.
func (s *Server) onPunt(slot hal.Slot, p engine.Punt) {
	_, logical, ok := s.kern.InterfaceByIndex(p.Ingress)
	if !ok {
		s.stats.PuntsUnknown.Add(1)
		return
	}
	s.pkt.Deliver(slot, logical, p.Trap, p.Frame)
}

// hostInterfaces lists what the host interfaces mirror: every port that
// is not a LAG member and every aggregate, with its MAC, address and state.
func (s *Server) hostInterfaceList() []pktio.Interface {
	var out []pktio.Interface
	for _, f := range s.kern.Interfaces() {
		if f.Aggregate != "" || (f.Kind != "physical" && f.Kind != "aggregate") {
			continue
		}
		mac, _ := parseMAC(f.MAC)
		out = append(out, pktio.Interface{Name: f.Name, MAC: mac, Addr: f.Addr, Up: f.Up})
	}
	return out
}

// syncHost brings the host interfaces in line with the kernel (loop).
func (s *Server) syncHost() {
	if s.host == nil {
		return
	}
	if err := s.host.Sync(s.hostInterfaceList()); err != nil {
		s.log.Error("host interfaces", "err", err)
	}
}

// checkHostNames refuses interface names too long for Linux when host
// interfaces are on.
func checkHostNames(c *config.Config) error {
	for _, ki := range interfacesFromConfig(c) {
		if strings.HasPrefix(ki.Name, "pe-") || strings.HasPrefix(ki.Name, "pd-") || ki.LAG != "" {
			continue
		}
		if _, err := pktio.LinuxName(ki.Name); err != nil {
			return err
		}
	}
	return nil
}

func parseMAC(s string) ([]byte, error) {
	var b [6]byte
	if _, err := fmt.Sscanf(s, "%02x:%02x:%02x:%02x:%02x:%02x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]); err != nil {
		return nil, err
	}
	return b[:], nil
}
