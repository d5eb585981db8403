// Package server is the routing-engine daemon: it owns the configuration,
// the forwarding kernel (re/kernel) and one IPC session per connected FPC,
// fans the kernel's downloads out to every FPC in order, replays the full
// state to an FPC that (re)connects between resync-begin and resync-end,
// feeds resolve requests, route hits and wrong-interface notifications from
// the FPCs back into the kernel, and serves the CLI command tree.
//
// Concurrency: the kernel calls the fan-out synchronously under its own lock,
// so every FPC sees changes in kernel order; registration takes the snapshot
// and joins the fan-out inside one kernel critical section (SnapshotTo), so
// a (re)connecting FPC sees every later change exactly once. Run owns every
// goroutine and returns after they stopped.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
)

// DefaultListen is where the RE serves FPCs: loopback unless told otherwise.
const DefaultListen = "127.0.0.1:6234"

// MaxSlot is the highest FPC slot accepted.
const MaxSlot = 63

// Options configures the server.
type Options struct {
	Config *config.Config
	// ConfigPath is reread on Reload ("" = no reload).
	ConfigPath string
	Listen     string
	Logger     *slog.Logger
	Now        func() time.Time
	// KeepaliveInterval is told to FPCs at registration (1 s); a peer is
	// dead after DeadAfter missed keepalives (3).
	KeepaliveInterval time.Duration
	DeadAfter         int
	// RegisterTimeout drops a connection that does not register (3 s).
	RegisterTimeout time.Duration
	// CacheTimeout overrides the configured forwarding-cache timeout
	// (tests and demos; 0 = from config).
	CacheTimeout time.Duration
	// TickInterval is how often the forwarding cache is aged (1 s).
	TickInterval time.Duration
}

// Server is the RE.
type Server struct {
	opt  Options
	log  *slog.Logger
	kern *kernel.Kernel

	cfgMu sync.Mutex
	cfg   *config.Config

	fanMu sync.Mutex // guards fpcs; held while sending downloads
	fpcs  map[int]*fpcConn

	gen     atomic.Uint32
	started time.Time
	ln      net.Listener
	addr    atomic.Value // string
	stats   serverStats
	ready   chan struct{}
}

type serverStats struct {
	Registrations  atomic.Uint64
	Refused        atomic.Uint64
	Resolves       atomic.Uint64
	RouteHits      atomic.Uint64
	WrongIIF       atomic.Uint64
	Punts          atomic.Uint64
	DownloadOps    atomic.Uint64
	DownloadErrors atomic.Uint64
}

type fpcConn struct {
	slot   int
	reg    *ipc.Register
	sess   *ipc.Session
	remote string
	since  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	// live is set once the FPC has joined the fan-out (inside the
	// snapshot); until then downloads skip it.
	live atomic.Bool
	// broken is set when a download could not be queued; the session is
	// then closed and the FPC resyncs on reconnect.
	broken atomic.Bool

	cntMu    sync.Mutex
	counters map[hal.IFLIndex]ipc.IFLCounters
}

// New builds the server, the kernel and its interfaces from the config.
func New(opt Options) (*Server, error) {
	if opt.Config == nil {
		opt.Config = config.New()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Listen == "" {
		opt.Listen = DefaultListen
	}
	if opt.KeepaliveInterval <= 0 {
		opt.KeepaliveInterval = time.Second
	}
	if opt.DeadAfter <= 0 {
		opt.DeadAfter = 3
	}
	if opt.RegisterTimeout <= 0 {
		opt.RegisterTimeout = 3 * time.Second
	}
	if opt.TickInterval <= 0 {
		opt.TickInterval = time.Second
	}
	s := &Server{
		opt:     opt,
		log:     opt.Logger,
		cfg:     opt.Config,
		fpcs:    map[int]*fpcConn{},
		started: opt.Now(),
		ready:   make(chan struct{}),
	}
	timeout := opt.Config.CacheTimeout
	if opt.CacheTimeout > 0 {
		timeout = opt.CacheTimeout
	}
	s.kern = kernel.New(kernel.Config{
		Logger:       opt.Logger.With("component", "kernel"),
		Now:          opt.Now,
		CacheTimeout: timeout,
		Sink:         kernel.SinkFunc(s.download),
		LocalAS:      opt.Config.AutonomousSystem,
	})
	if err := s.applyConfig(opt.Config); err != nil {
		return nil, err
	}
	return s, nil
}

// Kernel returns the forwarding kernel.
func (s *Server) Kernel() *kernel.Kernel { return s.kern }

// Config returns the active configuration.
func (s *Server) Config() *config.Config {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.cfg
}

// Addr returns the address the server listens on (after Run started).
func (s *Server) Addr() string {
	v, _ := s.addr.Load().(string)
	return v
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// interfacesFromConfig turns the configuration's interfaces into kernel
// interfaces: every unit of a port that is not a LAG member, every unit of
// an aggregate, and unit 0 of each LAG member (the forwarding NHs).
func interfacesFromConfig(c *config.Config) []kernel.Interface {
	names := make([]string, 0, len(c.Interfaces))
	for n := range c.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []kernel.Interface
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
		if i.LAG != "" || len(i.Units) == 0 {
			continue
		}
		if _, _, _, ok := config.ParsePort(n); ok {
			continue
		}
		for _, u := range sortedUnits(i) {
			add(n, u, "")
		}
	}
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

// applyConfig programs interfaces, timers, static joins and card settings.
func (s *Server) applyConfig(c *config.Config) error {
	if _, err := s.kern.SetInterfaces(interfacesFromConfig(c)); err != nil {
		return fmt.Errorf("interfaces: %w", err)
	}
	if s.opt.CacheTimeout == 0 {
		if err := s.kern.SetCacheTimeout(c.CacheTimeout); err != nil {
			return fmt.Errorf("forwarding-cache timeout: %w", err)
		}
	}
	for _, j := range c.IGMP.Static {
		up := c.UpstreamFor(j.Source)
		if up == "" {
			return fmt.Errorf("line %d: static join (%s,%s) on %s: no interface has a subnet containing source %s (the upstream interface)", j.Line, j.Source, j.Group, j.Interface, j.Source)
		}
		if err := s.kern.Join(kernel.Join{Source: j.Source, Group: j.Group, Upstream: up, Downstream: []string{j.Interface}, Protocol: "IGMP"}); err != nil {
			return fmt.Errorf("line %d: static join (%s,%s): %w", j.Line, j.Source, j.Group, err)
		}
	}
	s.pushOptions(c)
	return nil
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

func optionMessages(c *config.Config) []ipc.Message {
	var msgs []ipc.Message
	for _, o := range cardOptions(c) {
		msgs = append(msgs, &ipc.ConfigSet{Key: o[0], Value: o[1]})
	}
	return msgs
}

func (s *Server) pushOptions(c *config.Config) {
	msgs := optionMessages(c)
	s.fanMu.Lock()
	defer s.fanMu.Unlock()
	for _, f := range s.fpcs {
		s.sendLocked(f, msgs)
	}
}

// Reload rereads the configuration file and applies it (SIGHUP).
func (s *Server) Reload() error {
	if s.opt.ConfigPath == "" {
		return errors.New("no configuration file to reload")
	}
	c, err := config.Load(s.opt.ConfigPath)
	if err != nil {
		return err
	}
	s.cfgMu.Lock()
	old := s.cfg
	s.cfg = c
	s.cfgMu.Unlock()
	// Static joins removed from the configuration are removed from the kernel.
	keep := map[[2]netip.Addr]bool{}
	for _, j := range c.IGMP.Static {
		keep[[2]netip.Addr{j.Source, j.Group}] = true
	}
	for _, j := range old.IGMP.Static {
		if !keep[[2]netip.Addr{j.Source, j.Group}] {
			if err := s.kern.Prune(j.Source, j.Group, j.Interface); err != nil {
				s.log.Warn("reload: prune", "source", j.Source, "group", j.Group, "err", err)
			}
		}
	}
	return s.applyConfig(c)
}

// download is the kernel's Sink: it fans ops out to every FPC, in order.
func (s *Server) download(ops []hal.Op) {
	if len(ops) == 0 {
		return
	}
	msgs := make([]ipc.Message, 0, len(ops))
	for _, op := range ops {
		msgs = append(msgs, ipc.MessageFromOp(op, false))
	}
	s.stats.DownloadOps.Add(uint64(len(ops)))
	s.fanMu.Lock()
	defer s.fanMu.Unlock()
	for _, f := range s.fpcs {
		s.sendLocked(f, msgs)
	}
}

// sendLocked queues msgs on f's session; Send blocks while the session's
// queue is full (backpressure). If the session is gone, f is marked broken.
func (s *Server) sendLocked(f *fpcConn, msgs []ipc.Message) {
	if !f.live.Load() || f.broken.Load() {
		return
	}
	if err := f.sess.Send(f.ctx, msgs...); err != nil {
		s.stats.DownloadErrors.Add(1)
		f.broken.Store(true)
		f.cancel()
		s.log.Warn("download to FPC failed; it will resync on reconnect", "slot", f.slot, "err", err)
	}
}

// Run listens for FPCs and ages the forwarding cache until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opt.Listen)
	if err != nil {
		return fmt.Errorf("re: listen for FPCs on %s: %w", s.opt.Listen, err)
	}
	s.ln = ln
	s.addr.Store(ln.Addr().String())
	close(s.ready)
	s.log.Info("listening for FPCs", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.kern.Run(ctx, s.opt.TickInterval); err != nil && ctx.Err() == nil {
			s.log.Error("kernel stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			cancel()
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("re: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveFPC(ctx, conn)
		}()
	}
}

// serveFPC registers one connection and runs its session.
func (s *Server) serveFPC(ctx context.Context, conn net.Conn) {
	remote := conn.RemoteAddr().String()
	reg, err := ipc.ReadRegister(conn, ipc.DefaultLimits(), s.opt.RegisterTimeout)
	if err != nil {
		s.stats.Refused.Add(1)
		s.log.Warn("FPC connection dropped before registering", "remote", remote, "err", err)
		conn.Close()
		return
	}
	slot := int(reg.Slot)
	refuse := func(code ipc.AckCode, reason string) {
		s.stats.Refused.Add(1)
		s.log.Warn("FPC registration refused", "remote", remote, "slot", slot, "reason", reason)
		_ = ipc.WriteMessages(conn, &ipc.RegisterAck{Error: code, Reason: reason, Master: ipc.TNPMaster, Keepalive: s.opt.KeepaliveInterval})
		conn.Close()
	}
	if slot > MaxSlot {
		refuse(ipc.AckBadSlot, fmt.Sprintf("slot %d out of range 0..%d", slot, MaxSlot))
		return
	}
	if reg.Addr != ipc.FPCAddr(slot) {
		refuse(ipc.AckBadSlot, fmt.Sprintf("TNP address %s does not match slot %d (want %s)", reg.Addr, slot, ipc.FPCAddr(slot)))
		return
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f := &fpcConn{slot: slot, reg: reg, remote: remote, since: s.opt.Now(), ctx: fctx, cancel: fcancel, counters: map[hal.IFLIndex]ipc.IFLCounters{}}
	f.sess = ipc.NewSession(conn, ipc.SessionConfig{
		Local:             ipc.TNPMaster,
		Peer:              ipc.FPCAddr(slot),
		KeepaliveInterval: s.opt.KeepaliveInterval,
		DeadAfter:         s.opt.DeadAfter,
		Handler:           func(m ipc.Message) { s.handle(f, m) },
		Logger:            s.log.With("slot", slot, "remote", remote),
	})
	s.fanMu.Lock()
	if old, ok := s.fpcs[slot]; ok {
		s.fanMu.Unlock()
		refuse(ipc.AckSlotInUse, fmt.Sprintf("slot %d is already connected from %s", slot, old.remote))
		return
	}
	s.fpcs[slot] = f // reserved; joins the fan-out when live
	s.fanMu.Unlock()
	if err := ipc.WriteMessages(conn, &ipc.RegisterAck{Error: ipc.AckOK, Master: ipc.TNPMaster, Keepalive: s.opt.KeepaliveInterval}); err != nil {
		s.log.Warn("FPC registration ack failed", "slot", slot, "err", err)
		conn.Close()
		s.fanMu.Lock()
		delete(s.fpcs, slot)
		s.fanMu.Unlock()
		return
	}
	s.stats.Registrations.Add(1)
	s.log.Info("FPC registered", "slot", slot, "remote", remote, "driver", reg.Driver)

	done := make(chan error, 1)
	go func() { done <- f.sess.Run(fctx) }()

	// Replay: resync-begin, card options, the kernel's state, resync-end.
	// SnapshotTo holds the kernel lock: joining the fan-out inside it means
	// every later change reaches this FPC exactly once, after the replay.
	gen := s.gen.Add(1)
	s.cfgMu.Lock()
	opts := optionMessages(s.cfg)
	s.cfgMu.Unlock()
	replayErr := func() error {
		if err := f.sess.Send(fctx, &ipc.ResyncBegin{Generation: gen}); err != nil {
			return err
		}
		if err := f.sess.Send(fctx, opts...); err != nil {
			return err
		}
		first := true
		join := func() { f.live.Store(true) }
		err := s.kern.SnapshotTo(4096, func(ops []hal.Op) error {
			msgs := make([]ipc.Message, len(ops))
			for i, op := range ops {
				msgs[i] = ipc.MessageFromOp(op, false)
			}
			if err := f.sess.Send(fctx, msgs...); err != nil {
				return err
			}
			if first {
				first = false
				join()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if first {
			// Empty snapshot (cannot happen: defaults exist); join anyway.
			join()
		}
		// resync-end goes through the fan-out lock so it is ordered after
		// any download queued since the snapshot.
		s.fanMu.Lock()
		defer s.fanMu.Unlock()
		return f.sess.Send(fctx, &ipc.ResyncEnd{Generation: gen})
	}()
	if replayErr != nil {
		s.log.Warn("FPC replay failed", "slot", slot, "err", replayErr)
		fcancel()
	}
	err = <-done
	s.fanMu.Lock()
	if s.fpcs[slot] == f {
		delete(s.fpcs, slot)
	}
	s.fanMu.Unlock()
	s.log.Warn("FPC disconnected", "slot", slot, "remote", remote, "err", err)
}

// handle runs on an FPC session's read goroutine.
func (s *Server) handle(f *fpcConn, m ipc.Message) {
	switch v := m.(type) {
	case *ipc.ResolveRequest:
		s.stats.Resolves.Add(1)
		s.kern.Resolve(f.slot, hal.ResolveRequest{NH: v.NH, Ingress: v.Ingress, Source: v.Source, Group: v.Group})
	case *ipc.RouteHits:
		s.stats.RouteHits.Add(1)
		s.kern.Traffic(v.Key, v.Packets, v.Bytes)
	case *ipc.WrongIIF:
		s.stats.WrongIIF.Add(1)
		s.kern.WrongInterface(f.slot, v.Ingress, v.Expected, v.Source, v.Group)
	case *ipc.IFLCounters:
		f.cntMu.Lock()
		f.counters[v.IFL] = *v
		f.cntMu.Unlock()
	case *ipc.Punt:
		s.stats.Punts.Add(1)
		s.log.Debug("punted packet", "slot", f.slot, "ifl", v.Ingress, "len", len(v.Frame))
	default:
		s.log.Warn("unexpected message from FPC", "slot", f.slot, "header", m.Header().String())
	}
}

// FPCInfo describes a connected FPC.
type FPCInfo struct {
	Slot    int           `json:"slot"`
	TNPAddr string        `json:"tnp-address"`
	MAC     string        `json:"mac"`
	Driver  string        `json:"driver"`
	PFEs    []hal.PFEID   `json:"pfes"`
	Ports   []ipc.Port    `json:"ports"`
	Remote  string        `json:"remote"`
	Uptime  time.Duration `json:"uptime"`
}

// FPCs lists the connected FPCs by slot.
func (s *Server) FPCs() []FPCInfo {
	s.fanMu.Lock()
	defer s.fanMu.Unlock()
	out := make([]FPCInfo, 0, len(s.fpcs))
	now := s.opt.Now()
	for _, f := range s.fpcs {
		a := ipc.FPCAddr(f.slot)
		out = append(out, FPCInfo{
			Slot: f.slot, TNPAddr: fmt.Sprintf("%#x", uint32(a)), MAC: a.MAC().String(),
			Driver: f.reg.Driver, PFEs: f.reg.PFEs, Ports: f.reg.Ports, Remote: f.remote, Uptime: now.Sub(f.since),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// InjectPacket asks the FPC hosting ifl to send frame out of it.
func (s *Server) InjectPacket(slot int, ifl hal.IFLIndex, frame []byte) error {
	s.fanMu.Lock()
	f, ok := s.fpcs[slot]
	s.fanMu.Unlock()
	if !ok {
		return fmt.Errorf("FPC %d is not connected", slot)
	}
	return f.sess.Send(f.ctx, &ipc.Inject{Egress: ifl, Frame: frame})
}
