package host

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/gir"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
	"github.com/mxfwd/mxfwd/re/pktio"
)

// Graceful insertion and removal (seed 002, issue #16): the re/pim/gir
// controller runs beside the PIM engine on the owner loop. PFMs (PIM type
// 12 to ALL-PIM-ROUTERS) arrive through onPIM; the controller's floods go
// out of every PIM interface that has a neighbour; its Graceful actions
// open and close the engine's graceful-RPF-change window. The configuration's
// `graceful-insertion-removal maintenance` statement acts when it changes
// (added: removal; removed: insertion); `request pim maintenance` acts at
// once and is state, not configuration (a reload that leaves the statement
// alone leaves it alone).

// ErrGIRNotRunning: PIM (and so GIR) is not configured.
var ErrGIRNotRunning = errors.New("pim is not configured")

// girConfig maps the configuration onto the controller's.
func (h *Host) girConfig(c *config.Config) gir.Config {
	g := c.PIM.GIR
	orig := g.Originator
	if !orig.IsValid() {
		orig = h.routerAddress(c)
	}
	return gir.Config{TLVType: g.TLVType, Originator: orig,
		Interval: time.Duration(g.AnnounceInterval) * time.Second, Copies: g.AnnounceCopies,
		MaxMessageRate: g.MaxMessageRate, MinMessageGap: time.Duration(g.MinMessageGap) * time.Millisecond}
}

// boundary reports whether ifl is an administrative boundary for PFM.
func (h *Host) boundary(ifl string) bool {
	return h.cfg != nil && slices.Contains(h.cfg.PIM.GIR.Boundaries, ifl)
}

// configureGIR creates or reconfigures the controller and applies a change
// of the maintenance statement.
func (h *Host) configureGIR(c *config.Config, now time.Time) error {
	if h.pim == nil {
		h.gir, h.girMaint = nil, nil
		return nil
	}
	gc := h.girConfig(c)
	if h.gir == nil {
		h.gir = gir.New(gc, gir.Options{HasState: h.hasSourceState}, now)
	} else {
		h.runGIR(h.gir.SetConfig(now, gc))
	}
	old, cur := h.girMaint, c.PIM.GIR.Maintenance
	h.girMaint = nil
	if cur != nil {
		m := *cur
		h.girMaint = &m
	}
	switch {
	case cur != nil && (old == nil || old.Start != cur.Start || old.Stop != cur.Stop || old.HasStart != cur.HasStart || old.HasStop != cur.HasStop):
		s, t := cur.Window()
		if err := h.Maintenance(true, time.Duration(s)*time.Second, time.Duration(t)*time.Second); err != nil {
			return fmt.Errorf("graceful-insertion-removal maintenance: %w", err)
		}
	case cur == nil && old != nil && h.gir.Mode() != gir.ModeNormal:
		if err := h.Maintenance(false, 0, time.Duration(c.PIM.GIR.Insertion())*time.Second); err != nil {
			return fmt.Errorf("graceful-insertion-removal: leaving maintenance: %w", err)
		}
	}
	return nil
}

// hasSourceState is the source-prefix optimisation's question to the
// engine.
func (h *Host) hasSourceState(p netip.Prefix) bool {
	return h.pim != nil && h.pim.HasSourceState(p)
}

// Maintenance is `request pim maintenance enable [start S] [stop T]`
// (enable: a removal window) and `request pim maintenance disable [stop
// N]` (an insertion window, then "fully operational"); loop only.
func (h *Host) Maintenance(enable bool, start, stop time.Duration) error {
	if h.gir == nil {
		return ErrGIRNotRunning
	}
	if h.ignored() {
		return fmt.Errorf("request pim maintenance: %w", ErrReplica)
	}
	defer h.record(&Input{Kind: InMaintenance, Maintenance: &MaintenanceInput{Enable: enable, Start: start, Stop: stop}})()
	var ev gir.Event = gir.Disable{Stop: stop}
	if enable {
		e := gir.Enable{Start: start, Stop: stop}
		if h.cfg != nil && h.cfg.PIM.GIR.AdvertiseSources {
			for _, s := range h.pim.Sources() {
				e.Sources = append(e.Sources, netip.PrefixFrom(s, s.BitLen()))
			}
		}
		ev = e
	}
	acts, err := h.gir.Handle(h.now(), ev)
	if err != nil {
		return err
	}
	h.runGIR(acts)
	h.reschedule()
	return nil
}

// GIRStatus is `show pim maintenance` (loop only).
func (h *Host) GIRStatus() (gir.Status, error) {
	if h.gir == nil {
		return gir.Status{}, ErrGIRNotRunning
	}
	st := h.gir.Status(h.now())
	for i := range st.Learned {
		st.Learned[i].Interface = h.name(st.Learned[i].If)
	}
	return st, nil
}

// GIRStats returns the controller's counters (zero without PIM).
func (h *Host) GIRStats() gir.Stats {
	if h.gir == nil {
		return gir.Stats{}
	}
	return h.gir.Stats()
}

// onPFM hands a received PFM to the controller with what it needs to know:
// whether the sender is a PIM neighbour on the arrival interface, and the
// RPF interface towards the Originator (RFC 8364 §3).
func (h *Host) onPFM(now time.Time, p *pktio.Packet, idx pim.IfIndex, m *pimmsg.PFM) {
	if h.gir == nil {
		h.bad(h.stats.PIMBad, "pfm without pim", p)
		return
	}
	rpf := h.lookupRPF(m.Originator)
	nbr := rpf.NextHop
	if !nbr.IsValid() {
		nbr = m.Originator // directly connected: the originator is the neighbour
	}
	ev := gir.Received{If: idx, Src: p.Src, Msg: m, FromNeighbor: h.pim.IsNeighbor(idx, p.Src),
		ToAllPIMRouters: p.Dst == pim.AllPIMRouters, RPFIf: rpf.Iface, RPFNeighbor: nbr,
		Boundary: h.boundary(p.Interface), Local: h.cfg.IsLocalAddress(m.Originator)}
	acts, err := h.gir.Handle(now, ev)
	if err != nil {
		h.warn("gir", "PFM not handled", "err", err)
		return
	}
	h.runGIR(acts)
}

// runGIR executes the controller's actions: floods out of the PIM
// interfaces with neighbours, the engine's graceful window.
func (h *Host) runGIR(acts []gir.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case gir.Send:
			h.flood(a)
		case gir.Graceful:
			if h.pim != nil {
				// Debug: peers' PFMs drive it (show pim maintenance has the state).
				h.log.Debug("graceful RPF change window", "open", a.Active)
				h.run(h.pim.SetGracefulWindow(h.now(), a.Active))
			}
		}
	}
}

// flood sends a PFM, from each interface's address with TTL 1 to
// ALL-PIM-ROUTERS, on every PIM interface with a neighbour that is not an
// administrative boundary; a forwarded one goes back out of its arrival
// interface only if another neighbour is there (gir.Send).
func (h *Host) flood(s gir.Send) {
	if h.pim == nil || h.replica {
		return // the backup never sends PIM packets
	}
	for _, i := range h.pim.NeighborInterfaces() {
		name := h.name(i)
		if h.boundary(name) || s.Forwarded && i == s.In && !h.pim.HasNeighborOtherThan(i, s.From) {
			continue
		}
		src := h.byIndex[hal.IFLIndex(i)].addr.Addr()
		if err := h.sendPIM(name, src, pim.AllPIMRouters, s.Msg); err != nil {
			h.stats.PIMSendErrors++
			h.warn("pfm-send:"+name, "PFM not sent", "interface", name, "err", err)
			continue
		}
		h.stats.PIMSent++
		if s.Forwarded {
			h.stats.PFMForwarded++
		} else {
			h.stats.PFMOriginated++
		}
	}
}
