package server

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/pim/rpset"
)

// msdpBridge carries PIM's outputs to MSDP (on the loop).
type msdpBridge Server

func (b *msdpBridge) LocalSource(source, group, rp netip.Addr, active bool) {
	if m := (*Server)(b).msdp; m != nil {
		m.Event(msdp.LocalSourceEvent{Source: source, Group: group, RP: rp, Active: active})
	}
}

func (b *msdpBridge) StarG(group netip.Addr, joined bool) {
	if m := (*Server)(b).msdp; m != nil {
		m.Event(msdp.StarGEvent{Group: group, Joined: joined})
	}
}

func (b *msdpBridge) RPSet(hashMaskLen int, set []rpset.Candidate) {
	m := (*Server)(b).msdp
	if m == nil {
		return
	}
	ev := msdp.RPSetEvent{HashMaskLen: hashMaskLen}
	for _, c := range set {
		ev.Entries = append(ev.Entries, msdp.RPSetEntry{Group: c.Groups, RP: c.RP, Priority: c.Priority, SBit: c.SBit})
	}
	m.Event(ev)
}

// addMSDPCommands adds the MSDP commands (layouts of reference-junos.md
// §2.6).
func (s *Server) addMSDPCommands(t *cli.Tree) {
	t.SetHelp("clear msdp", "Clear MSDP information")
	t.Add("show msdp", "Show MSDP peers", s.cliMSDP, nil, cli.Option{Name: "detail", Help: "Display detailed output"})
	t.Add("show msdp peer", "Show one MSDP peer", s.cliMSDPPeer, []cli.Arg{{Name: "peer", Help: "Peer address", Required: true}})
	t.Add("show msdp source-active", "Show the MSDP source-active cache", s.cliMSDPSA, []cli.Arg{
		{Name: "group", Keyword: "group", Help: "Group address"},
		{Name: "source", Keyword: "source", Help: "Source address"},
		{Name: "originator", Keyword: "originator", Help: "Originator (RP) address"},
		{Name: "peer", Keyword: "peer", Help: "Peer the SA came from"},
	}, cli.Option{Name: "local", Help: "Locally originated sources only"})
	t.Add("show msdp statistics", "Show MSDP statistics", s.cliMSDPStats, nil)
	t.Add("clear msdp peer", "Reset MSDP peers (this routing engine only)", s.cliClearMSDPPeer, []cli.Arg{{Name: "peer", Help: "Peer address"}})
	t.Add("clear msdp statistics", "Clear MSDP statistics (this routing engine only)", s.cliClearMSDPStats, nil)
	t.Add("clear msdp cache", "Clear the MSDP source-active cache (this routing engine only)", s.cliClearMSDPCache, []cli.Arg{
		{Name: "peer", Keyword: "peer", Help: "SAs learnt from this peer"},
		{Name: "group", Keyword: "group", Help: "Group address"},
		{Name: "source", Keyword: "source", Help: "Source address"},
	})
}

// msdpQuery runs fn with the MSDP engine on the loop.
func (s *Server) msdpQuery(ctx context.Context, fn func(e *msdp.Engine, now time.Time) []msdp.Action) error {
	return s.eng.Do(ctx, func() error { return s.msdp.Do(fn) })
}

func optAddr(req *cli.Request, name string) (netip.Addr, error) {
	v := req.Arg(name)
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid %s %q: expected an IPv4 address", name, v)
	}
	return a, nil
}

func (s *Server) cliMSDP(ctx context.Context, req *cli.Request, w io.Writer) error {
	var ps []msdp.PeerInfo
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { ps = e.Peers(now); return nil }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, ps)
	}
	if req.Flag("detail") {
		return msdp.RenderPeersDetail(w, ps)
	}
	return msdp.RenderPeers(w, ps)
}

func (s *Server) cliMSDPPeer(ctx context.Context, req *cli.Request, w io.Writer) error {
	a, err := optAddr(req, "peer")
	if err != nil {
		return err
	}
	var p msdp.PeerInfo
	var perr error
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { p, perr = e.Peer(now, a); return nil }); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if req.JSON {
		return cli.WriteJSON(w, p)
	}
	return msdp.RenderPeersDetail(w, []msdp.PeerInfo{p})
}

func (s *Server) cliMSDPSA(ctx context.Context, req *cli.Request, w io.Writer) error {
	var f msdp.SAFilter
	var err error
	if f.Group, err = optAddr(req, "group"); err != nil {
		return err
	}
	if f.Source, err = optAddr(req, "source"); err != nil {
		return err
	}
	if f.Originator, err = optAddr(req, "originator"); err != nil {
		return err
	}
	if f.Peer, err = optAddr(req, "peer"); err != nil {
		return err
	}
	f.Local = req.Flag("local")
	var sa msdp.SourceActiveInfo
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { sa = e.SourceActive(now, f); return nil }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, sa)
	}
	return msdp.RenderSourceActive(w, sa)
}

func (s *Server) cliMSDPStats(ctx context.Context, req *cli.Request, w io.Writer) error {
	var st msdp.StatisticsInfo
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { st = e.Statistics(now); return nil }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, st)
	}
	return msdp.RenderStatistics(w, st)
}

// cliInet4 answers `show route table inet.4`.
func (s *Server) cliInet4(ctx context.Context, req *cli.Request, w io.Writer) error {
	var rt msdp.RouteTableInfo
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { rt = e.RouteTable(now); return nil }); err != nil {
		return err
	}
	if req.JSON {
		return cli.WriteJSON(w, rt)
	}
	return msdp.RenderRouteTable(w, rt)
}

func (s *Server) cliClearMSDPPeer(ctx context.Context, req *cli.Request, w io.Writer) error {
	a, err := optAddr(req, "peer")
	if err != nil {
		return err
	}
	var cerr error
	err = s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action {
		var acts []msdp.Action
		acts, cerr = e.ClearPeer(now, a, nil)
		return acts
	})
	if err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	fmt.Fprintln(w, "Cleared MSDP peer state on this routing engine")
	return nil
}

func (s *Server) cliClearMSDPStats(ctx context.Context, _ *cli.Request, w io.Writer) error {
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { e.ClearStatistics(now); return nil }); err != nil {
		return err
	}
	fmt.Fprintln(w, "Cleared MSDP statistics on this routing engine")
	return nil
}

func (s *Server) cliClearMSDPCache(ctx context.Context, req *cli.Request, w io.Writer) error {
	var f msdp.CacheFilter
	var err error
	if f.Peer, err = optAddr(req, "peer"); err != nil {
		return err
	}
	if f.Group, err = optAddr(req, "group"); err != nil {
		return err
	}
	if f.Source, err = optAddr(req, "source"); err != nil {
		return err
	}
	if err := s.msdpQuery(ctx, func(e *msdp.Engine, now time.Time) []msdp.Action { return e.ClearCache(now, f, nil) }); err != nil {
		return err
	}
	fmt.Fprintln(w, "Cleared the MSDP source-active cache on this routing engine")
	return nil
}
