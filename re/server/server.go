// Package server is the routing-engine daemon: it owns the configuration,
// the owner loop (re/engine) with the forwarding kernel (re/kernel), the
// change log (re/changelog) and one IPC session per connected FPC.
//
// The path of a change: the kernel, run by the owner loop, appends every
// download to the change log, encoded once; each FPC's feeder goroutine
// follows the log with its own cursor and writes to that FPC's session, so
// a card that stops reading stalls nobody but itself, and is disconnected
// when it falls further behind than the log's bound (it then resyncs like
// any reconnect). A (re)connecting FPC gets resync-begin, the card
// settings, a snapshot of the kernel consistent at one log position (taken
// under the kernel's lock, sent without it), resync-end, and the log from
// that position on.
//
// The path of an input: an FPC session's reader decodes each message and
// queues it to the owner loop (resolve requests, wrong-interface
// notifications and punts without waiting, dropped and counted when the
// queue is full; route hits waiting for room); keepalives are answered by
// the session itself.
//
// What a peer can cost is bounded by the RE itself (security.go, cards.go):
// cards authenticate (a shared key, or mutual TLS) unless the port is
// loopback or the operator says insecure; connections that have not
// registered are capped in number and in handshake size; a registered
// card's resolve requests are limited to its resolve-rate with headroom,
// its mdiscard entries bounded by the kernel, its counters accepted only
// for its own interfaces, its failure reports kept within a bound; every
// log line a peer can trigger is rate-limited per peer and reason. A card
// that proves its identity again on a new connection replaces its old
// session (a restarted card is not locked out by its own half-open one).
//
// Concurrency: Run owns every goroutine and returns after they stopped.
// Everything that changes the kernel runs on the owner loop; the CLI's show
// commands read the kernel under its lock.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/internal/ratelog"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/changelog"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/engine"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/msdp"
	msdphost "github.com/mxfwd/mxfwd/re/msdp/host"
	"github.com/mxfwd/mxfwd/re/nsr"
	pimhost "github.com/mxfwd/mxfwd/re/pim/host"
	"github.com/mxfwd/mxfwd/re/pktio"
)

// DefaultListen is where the RE serves FPCs: loopback unless told otherwise.
const DefaultListen = "127.0.0.1:6234"

// Options configures the server.
type Options struct {
	Config *config.Config
	// ConfigPath is reread on Reload ("" = no reload).
	ConfigPath string
	Listen     string
	Logger     *slog.Logger
	// Clock drives the kernel and the owner loop's timers (nil: real).
	Clock clock.Clock
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
	// LogMessages and LogBytes bound the change log (0: the defaults of
	// re/changelog): how far a card may fall behind before it is dropped.
	LogMessages, LogBytes int
	// MSDPPort overrides MSDP's TCP port (tests; 639 when zero).
	MSDPPort int
	// HostInterfaces mirrors every interface as a TAP device in the RE's
	// network namespace (root), so that the host's IP stack owns the
	// router's addresses.
	HostInterfaces bool
	// NSR pairs this routing engine with another (non-stop routing, issue
	// #17): the node has decided the role (Start); Standby says it is the
	// backup. nil runs alone.
	NSR     *nsr.Node
	Standby bool

	// AuthKey is the shared key cards prove at registration (nil: none;
	// at least ipc.MinKeyLen bytes).
	AuthKey []byte
	// TLS serves the cards over TLS with this configuration, which must
	// require and verify client certificates (mutual TLS).
	TLS *tls.Config
	// Insecure allows Listen on a non-loopback address with neither
	// AuthKey nor TLS: any peer may then register as a card.
	Insecure bool
	// MaxUnregistered bounds the connections that have not registered
	// (DefaultMaxUnregistered), MaxUnregisteredPerAddr those from one
	// address (DefaultMaxUnregisteredPerAddr).
	MaxUnregistered, MaxUnregisteredPerAddr int
	// ResolveLimit is how many resolve requests per second the RE accepts
	// from one card (0: twice the configured resolve-rate, the most a
	// card's own throttle lets through; negative: no limit). The excess
	// is dropped and counted.
	ResolveLimit int
	// DiscardLimitPerSlot and DiscardLimit bound the mdiscard entries
	// (kernel.Config; 0: the kernel's defaults, negative: none).
	DiscardLimitPerSlot, DiscardLimit int
	// MaxFailureRecords bounds the programming failures kept per card
	// (DefaultMaxFailureRecords).
	MaxFailureRecords int
}

// Server is the RE.
type Server struct {
	opt  Options
	log  *slog.Logger
	clk  clock.Clock
	kern *kernel.Kernel
	eng  *engine.Engine
	clog *changelog.Log
	rt   *routing // loop-owned
	pkt  *pktio.Dispatcher
	host *pktio.HostInterfaces // nil unless Options.HostInterfaces
	mc   *pimhost.Host         // PIM and IGMP
	msdp *msdphost.Host

	cfgMu sync.Mutex
	cfg   *config.Config

	// optMu orders card-setting changes with snapshots: a snapshot reads
	// the settings and the log head under it.
	optMu sync.Mutex
	opts  []ipc.Message

	fpcMu sync.Mutex
	fpcs  map[hal.Slot]*fpcConn

	nsr *nsrState // nil without non-stop routing

	runCtx  context.Context
	fpcStop context.CancelFunc // ends FPC service (a handing-over master)

	// rlog rate-limits what peers make the RE log: one line per address
	// or slot and reason per minute, with the count suppressed.
	rlog        *ratelog.Logger
	adm         *admission
	hosting     atomic.Pointer[hosting]
	resolveRate atomic.Int64 // the configured resolve-rate

	gen     atomic.Uint32
	started time.Time
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
	Lagged         atomic.Uint64
	Injects        atomic.Uint64
	InjectErrors   atomic.Uint64
	PuntsUnknown   atomic.Uint64
	LinkStates     atomic.Uint64
	// Hardening counters.
	Unregistered     atomic.Uint64 // connections refused at the unregistered bounds
	HandshakeFailed  atomic.Uint64 // dropped before registering (timeout, malformed, TLS)
	AuthFailed       atomic.Uint64 // registrations refused: authentication
	Replaced         atomic.Uint64 // sessions replaced by an authenticated re-registration
	ResolveLimited   atomic.Uint64 // resolve requests over a card's limit, dropped
	CountersRefused  atomic.Uint64 // ifl counters or link state for an interface the card does not host
	PuntsRefused     atomic.Uint64 // punts whose ingress interface the card does not host
	ApplyErrors      atomic.Uint64 // programming failure reports (stats/apply-error)
	UnexpectedFromFP atomic.Uint64 // messages an FPC must not send
}

type fpcConn struct {
	slot   hal.Slot
	reg    *ipc.Register
	sess   *ipc.Session
	remote string
	since  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when serveFPC is over (the slot is free)
	auth   string        // how the card authenticated: "hmac", "tls", "hmac+tls", "none"
	cursor atomic.Pointer[changelog.Cursor]
	synced atomic.Bool // resync-end sent

	cntMu    sync.Mutex
	counters map[hal.IFLIndex]ipc.IFLCounters

	resolves       resolveBucket // session reader only
	resolveDropped atomic.Uint64
	fails          *failures
	// Rate-limited log keys of this card's frequent reasons.
	keyResolve, keyCounters, keyPunts string
}

// logSink is the kernel's Sink: it encodes each download once and appends
// it to the change log. It never blocks (the kernel's Sink contract).
type logSink Server

func (l *logSink) Download(ops []hal.Op) {
	msgs := make([]ipc.Message, len(ops))
	for i, op := range ops {
		msgs[i] = ipc.MessageFromOp(op, false)
	}
	raw, err := ipc.AppendMessages(make([]byte, 0, 40*len(ops)), msgs...)
	if err != nil {
		// The kernel built these ops; an encoding failure is a bug.
		l.log.Error("kernel download could not be encoded; the cards will miss it", "ops", len(ops), "err", err)
		l.stats.DownloadErrors.Add(1)
		return
	}
	l.stats.DownloadOps.Add(uint64(len(ops)))
	l.clog.Append(len(ops), raw, nil)
}

func (l *logSink) Delta(d *kernel.Delta) { l.clog.Append(0, nil, d) }

// BorrowsOps: Download encodes the ops and keeps nothing of them.
func (l *logSink) BorrowsOps() {}

// New builds the server, the kernel and its interfaces from the config.
func New(opt Options) (*Server, error) {
	if opt.Config == nil {
		opt.Config = config.New()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real()
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
	plan, err := Check(opt.Config)
	if err != nil {
		return nil, err
	}
	if opt.AuthKey != nil {
		if err := ipc.CheckKey(opt.AuthKey); err != nil {
			return nil, err
		}
	}
	if opt.TLS != nil && opt.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("re: TLS for the FPC port must require and verify client certificates")
	}
	if err := checkListen(opt.Listen, opt.AuthKey != nil || opt.TLS != nil, opt.Insecure); err != nil {
		return nil, err
	}
	s := &Server{
		opt:     opt,
		log:     opt.Logger,
		clk:     opt.Clock,
		fpcs:    map[hal.Slot]*fpcConn{},
		started: opt.Clock.Now(),
		ready:   make(chan struct{}),
		clog:    changelog.New(opt.LogMessages, opt.LogBytes),
		rlog:    ratelog.New(opt.Logger, ratelog.Config{Now: opt.Clock.Now}),
		adm:     newAdmission(opt.MaxUnregistered, opt.MaxUnregisteredPerAddr),
	}
	timeout := opt.Config.CacheTimeout
	if opt.CacheTimeout > 0 {
		timeout = opt.CacheTimeout
	}
	if opt.NSR != nil {
		s.nsr = &nsrState{node: opt.NSR, becameMaster: make(chan struct{})}
		s.nsr.b.taps = map[string]*os.File{}
		s.nsr.b.shadows = map[msdp.ConnID]msdp.ConnID{}
		s.nsr.b.applyQ = make(chan func(), 4096)
		if !opt.Standby {
			s.nsr.setMaster()
		}
	}
	s.kern = kernel.New(kernel.Config{
		Logger:       opt.Logger.With("component", "kernel"),
		Now:          opt.Clock.Now,
		CacheTimeout: timeout,
		Sink:         (*logSink)(s),
		LocalAS:      opt.Config.AutonomousSystem,
		// The backup routing engine follows the kernel's deltas.
		Deltas: opt.NSR != nil,

		DiscardLimitPerSlot: opt.DiscardLimitPerSlot,
		DiscardLimit:        opt.DiscardLimit,
	})
	s.eng = engine.New(engine.Config{
		Kernel:       s.kern,
		Clock:        opt.Clock,
		Logger:       opt.Logger.With("component", "engine"),
		TickInterval: opt.TickInterval,
		OnPunt:       s.onPunt,
	})
	s.pkt = pktio.NewDispatcher((*pktTransport)(s), opt.Logger.With("component", "pktio"), opt.Clock.Now)
	if opt.HostInterfaces {
		if err := checkHostNames(opt.Config); err != nil {
			return nil, err
		}
		h, err := pktio.NewHostInterfaces(s.pkt, (*pktTransport)(s), opt.Logger.With("component", "host-interfaces"))
		if err != nil {
			return nil, err
		}
		// A backup uses the master's devices (handed over at takeover).
		h.SetStandby(opt.Standby)
		s.host = h
	}
	s.rt = newRouting(opt.Config.AutonomousSystem)
	s.eng.Subscribe(s.onKernelEvents)
	s.mc = pimhost.New(pimhost.Env{
		Kernel: s.kern, Engine: s.eng, Packets: s.pkt, RIB: s.rt.rib, Logger: opt.Logger.With("component", "pim"),
		MSDP: (*msdpBridge)(s),
		Inject: func(ifl string, frame []byte, forward bool) error {
			return s.Inject(context.Background(), ifl, frame, forward)
		},
	})
	if s.nsr != nil {
		// The backup replays the master's PIM and IGMP; the master
		// records its inputs for a backup.
		s.mc.SetReplica(opt.Standby)
		s.mc.SetRecorder((*pimRecorder)(s))
	}
	pimW := s.rt.watcher("pim", s.mc.RIBChanged)
	_ = s.rt.rib.WatchRoutes(pimW, netip.MustParsePrefix("0.0.0.0/0"))
	s.eng.Subscribe(s.mc.KernelEvents)
	menv := msdphost.Env{Engine: s.eng, RIB: s.rt.rib, PIM: s.mc, Logger: opt.Logger.With("component", "msdp"), Port: opt.MSDPPort}
	if s.nsr != nil {
		menv.Standby = opt.Standby
		menv.Mirror = (*msdpMirror)(s)
		menv.ConnDown = s.msdpConnDown
	}
	s.msdp = msdphost.New(menv)
	msdpW := s.rt.watcher("msdp", s.msdp.RIBChanged)
	_ = s.rt.rib.WatchRoutes(msdpW, netip.MustParsePrefix("0.0.0.0/0"))
	// Not running yet: commit directly (nothing else touches the kernel).
	if err := s.commit(plan); err != nil {
		return nil, err
	}
	return s, nil
}

// Kernel returns the forwarding kernel.
func (s *Server) Kernel() *kernel.Kernel { return s.kern }

// Engine returns the owner loop.
func (s *Server) Engine() *engine.Engine { return s.eng }

// ChangeLog returns the change log.
func (s *Server) ChangeLog() *changelog.Log { return s.clog }

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

// commit applies a checked plan: it runs on the owner loop (or before it
// starts). The live interface table is checked first, so a plan that
// cannot apply changes nothing.
func (s *Server) commit(p *Plan) error {
	if s.nsr != nil && !s.standby() {
		// The backup commits the same statements, in change-log order
		// (before PIM's configure input that follows).
		s.clog.AppendRecord(uint16(clientConfig), []byte(p.Config.Text))
	}
	if err := s.kern.CheckInterfaces(p.Interfaces); err != nil {
		return fmt.Errorf("%s: interfaces: %w", p.Config.Source, err)
	}
	_, err := s.kern.SetInterfaces(p.Interfaces)
	s.updateHosting()
	if err != nil {
		// Only next-hop id exhaustion can fail here.
		s.log.Error("configuration: interfaces applied in part", "err", err)
		return fmt.Errorf("interfaces: %w", err)
	}
	rate := p.Config.ResolveRate
	if rate <= 0 {
		rate = config.DefaultResolveRate
	}
	s.resolveRate.Store(int64(rate))
	if s.opt.CacheTimeout == 0 {
		if err := s.kern.SetCacheTimeout(p.CacheTimeout); err != nil {
			return fmt.Errorf("forwarding-cache timeout: %w", err)
		}
	}
	if err := s.kern.SetTraps(trapsFor(p.Interfaces)); err != nil {
		s.log.Error("configuration: host-path traps", "err", err)
	}
	s.syncHost()
	cs, err := s.rt.rib.ApplyConfig(p.Config, s.clk.Now())
	if err != nil {
		s.log.Error("configuration: unicast routes applied in part", "err", err)
	}
	s.dispatchRIB(cs)
	s.rt.statics = p.Config.IGMP.Static
	s.applyStatics()
	if err := s.mc.Configure(p.Config); err != nil {
		s.log.Error("configuration: multicast protocols", "err", err)
	}
	if err := s.msdp.Configure(p.Config); err != nil {
		s.log.Error("configuration: msdp", "err", err)
	}
	s.setOptions(p.Options)
	s.cfgMu.Lock()
	s.cfg = p.Config
	s.cfgMu.Unlock()
	return nil
}

// setOptions records the card settings and sends them to every card
// through the change log.
func (s *Server) setOptions(opts [][2]string) {
	msgs := optionMessages(opts)
	raw, err := ipc.AppendMessages(nil, msgs...)
	s.optMu.Lock()
	defer s.optMu.Unlock()
	s.opts = msgs
	if err != nil {
		s.log.Error("card settings could not be encoded", "err", err)
		return
	}
	s.clog.Append(len(msgs), raw, nil)
}

// Reload rereads the configuration file and applies it as a diff, on the
// owner loop (SIGHUP, `request system reload`). A file that does not parse
// or does not pass Check changes nothing.
func (s *Server) Reload(ctx context.Context) error {
	if s.opt.ConfigPath == "" {
		return errors.New("no configuration file to reload")
	}
	c, err := config.Load(s.opt.ConfigPath)
	if err != nil {
		return err
	}
	p, err := Check(c)
	if err != nil {
		return err
	}
	if err := s.eng.Do(ctx, func() error { return s.commit(p) }); err != nil {
		return err
	}
	if s.runCtx != nil {
		return s.startImport(s.runCtx, c.RIBImport)
	}
	return nil
}

// onKernelEvents runs on the loop with the kernel's events: link state
// reaches the RIB.
func (s *Server) onKernelEvents(evs []kernel.Event) {
	host := false
	for _, ev := range evs {
		if ev.Kind != kernel.EventInterface {
			continue
		}
		host = true
		name := ev.Interface
		if _, logical, ok := s.kern.InterfaceByName(name); ok {
			name = logical
		}
		cs, err := s.rt.rib.SetInterfaceUp(name, s.kern.InterfaceUp(name), s.clk.Now())
		if err == nil {
			s.dispatchRIB(cs)
		}
	}
	if host {
		s.syncHost()
	}
}

// Run listens for FPCs and runs the owner loop until ctx is done. With
// non-stop routing it also runs the pairing: a backup serves no card until
// it takes over, and a master that hands over returns nsr.ErrHandedOver.
func (s *Server) Run(ctx context.Context) error {
	var ln net.Listener
	if !s.standby() {
		var err error
		if ln, err = s.listenFPCs(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := s.eng.Run(ctx); err != nil {
			s.log.Error("owner loop stopped", "err", err)
		}
	})
	s.runCtx = ctx
	if s.host != nil {
		defer s.host.Close()
	}
	if err := s.startImport(ctx, s.Config().RIBImport); err != nil {
		s.log.Error("rib-import kernel not started", "err", err)
	}
	defer func() { _ = s.startImport(ctx, config.RIBImport{}) }()
	if err := s.msdp.Start(ctx); err != nil {
		s.log.Error("msdp transport not started", "err", err)
	}
	fpcCtx, fpcStop := context.WithCancel(ctx)
	s.fpcStop = fpcStop
	close(s.ready)
	errc := make(chan error, 2)
	if s.nsr != nil {
		wg.Go(func() { s.runApplier(ctx) })
		wg.Go(func() {
			err := s.nsr.node.Run(ctx, s.nsrClients(), s)
			if err != nil {
				errc <- err
			}
		})
	}
	wg.Go(func() {
		if ln == nil {
			// A backup taking over: the same listener and serveFPCs as at
			// a master's start, so the same TLS, key and bounds apply.
			select {
			case <-s.nsr.becameMaster:
			case <-ctx.Done():
				return
			}
			var err error
			if ln, err = s.listenFPCs(); err != nil {
				errc <- err
				return
			}
		}
		if err := s.serveFPCs(fpcCtx, ln); err != nil {
			errc <- err
		}
	})
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

func (s *Server) listenFPCs() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("re: listen for FPCs on %s: %w", s.opt.Listen, err)
	}
	s.addr.Store(ln.Addr().String())
	s.log.Info("listening for FPCs", "addr", ln.Addr().String())
	return ln, nil
}

// serveFPCs accepts FPCs on ln until ctx ends.
func (s *Server) serveFPCs(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	wg.Go(func() { s.runLogSweep(ctx) })
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("re: accept: %w", err)
		}
		remote := conn.RemoteAddr().String()
		release, why, ok := s.adm.admit(remote)
		if !ok {
			s.stats.Unregistered.Add(1)
			s.rlog.Warn(hostOf(remote)+"/unregistered bound", "FPC connection refused before registering", "remote", remote, "reason", why)
			conn.Close()
			continue
		}
		wg.Go(func() { s.serveFPC(ctx, conn, release) })
	}
}

// runLogSweep writes the summaries of rate-limited log lines whose
// senders fell quiet.
func (s *Server) runLogSweep(ctx context.Context) {
	t := time.NewTicker(ratelog.DefaultInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.rlog.Sweep()
		}
	}
}

// serveFPC registers one connection and runs its session and feeder.
// release gives back the connection's place among the unregistered ones.
func (s *Server) serveFPC(ctx context.Context, conn net.Conn, release func()) {
	defer release()
	remote := conn.RemoteAddr().String()
	host := hostOf(remote)
	var auth []string
	if s.opt.TLS != nil {
		tc, verified, err := s.startTLS(ctx, conn)
		if err != nil || !verified {
			s.stats.HandshakeFailed.Add(1)
			s.rlog.Warn(host+"/tls", "FPC connection dropped: TLS handshake failed", "remote", remote, "err", err)
			conn.Close()
			return
		}
		conn = tc
		auth = append(auth, "tls")
	}
	reg, err := ipc.Accept(conn, ipc.AcceptConfig{Key: s.opt.AuthKey, Timeout: s.opt.RegisterTimeout})
	refuse := func(code ipc.AckCode, reason string) {
		s.stats.Refused.Add(1)
		slot := -1
		if reg != nil {
			slot = int(reg.Slot)
		}
		s.rlog.Warn(host+"/refused "+code.String(), "FPC registration refused", "remote", remote, "slot", slot, "reason", reason)
		_ = ipc.WriteMessages(conn, &ipc.RegisterAck{Error: code, Reason: reason, Master: ipc.TNPMaster, Keepalive: s.opt.KeepaliveInterval})
		conn.Close()
	}
	switch {
	case errors.Is(err, ipc.ErrAuth):
		s.stats.AuthFailed.Add(1)
		refuse(ipc.AckAuth, "authentication failed")
		return
	case err != nil:
		s.stats.Refused.Add(1)
		s.stats.HandshakeFailed.Add(1)
		s.rlog.Warn(host+"/no registration", "FPC connection dropped before registering", "remote", remote, "err", err)
		conn.Close()
		return
	}
	if s.opt.AuthKey != nil {
		auth = append(auth, "hmac")
	}
	if reg.Slot > uint16(hal.MaxSlot) {
		refuse(ipc.AckBadSlot, fmt.Sprintf("slot %d out of range 0..%d", reg.Slot, hal.MaxSlot))
		return
	}
	slot := hal.Slot(reg.Slot)
	if reg.Addr != ipc.FPCAddr(slot) {
		refuse(ipc.AckBadSlot, fmt.Sprintf("TNP address %s does not match slot %d (want %s)", reg.Addr, slot, ipc.FPCAddr(slot)))
		return
	}
	for _, p := range reg.PFEs {
		if hal.Slot(p/4) != slot {
			refuse(ipc.AckBadSlot, fmt.Sprintf("PFE %d is not on slot %d (its PFEs are %d..%d)", p, slot, 4*int(slot), 4*int(slot)+3))
			return
		}
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f := &fpcConn{slot: slot, reg: reg, remote: remote, since: s.clk.Now(), ctx: fctx, cancel: fcancel, done: make(chan struct{}),
		auth: authName(auth), counters: map[hal.IFLIndex]ipc.IFLCounters{}, fails: newFailures(s.opt.MaxFailureRecords),
		keyResolve: fmt.Sprintf("slot %d/resolve limit", slot), keyCounters: fmt.Sprintf("slot %d/foreign counters", slot),
		keyPunts: fmt.Sprintf("slot %d/foreign punt", slot)}
	defer close(f.done) // deferred first: runs after the slot is freed
	f.sess = ipc.NewSession(conn, ipc.SessionConfig{
		Local:             ipc.TNPMaster,
		Peer:              ipc.FPCAddr(slot),
		KeepaliveInterval: s.opt.KeepaliveInterval,
		DeadAfter:         s.opt.DeadAfter,
		Handler:           func(m ipc.Message) { s.handle(f, m) },
		Logger:            s.log.With("slot", slot, "remote", remote),
	})
	if !s.claimSlot(ctx, f, len(auth) > 0, refuse) {
		return
	}
	defer func() {
		s.fpcMu.Lock()
		if s.fpcs[slot] == f {
			delete(s.fpcs, slot)
		}
		s.fpcMu.Unlock()
	}()
	if err := ipc.WriteMessages(conn, &ipc.RegisterAck{Error: ipc.AckOK, Master: ipc.TNPMaster, Keepalive: s.opt.KeepaliveInterval}); err != nil {
		s.log.Warn("FPC registration ack failed", "slot", slot, "err", err)
		conn.Close()
		return
	}
	release()
	s.stats.Registrations.Add(1)
	s.log.Info("FPC registered", "slot", slot, "remote", remote, "driver", reg.Driver, "auth", f.auth)

	done := make(chan error, 1)
	go func() {
		err := f.sess.Run(fctx)
		fcancel() // the feeder stops with the session
		done <- err
	}()
	feedErr := s.feed(fctx, f)
	fcancel() // and the session with the feeder
	err = <-done
	if feedErr != nil && errors.Is(feedErr, changelog.ErrLagged) {
		err = feedErr
	}
	s.log.Warn("FPC disconnected", "slot", slot, "remote", remote, "err", err)
}

func authName(methods []string) string {
	switch len(methods) {
	case 0:
		return "none"
	case 1:
		return methods[0]
	}
	return methods[1] + "+" + methods[0]
}

// claimSlot makes f the session of its slot. A slot held by another
// session is refused (slot-in-use) unless f authenticated: a card that
// proves its identity again replaces its old session, which may be a
// half-open one the card itself left behind when it restarted. It reports
// whether f holds the slot (if not, the connection was refused).
func (s *Server) claimSlot(ctx context.Context, f *fpcConn, authenticated bool, refuse func(ipc.AckCode, string)) bool {
	for {
		s.fpcMu.Lock()
		old, ok := s.fpcs[f.slot]
		if !ok {
			s.fpcs[f.slot] = f
			s.fpcMu.Unlock()
			return true
		}
		s.fpcMu.Unlock()
		if !authenticated {
			refuse(ipc.AckSlotInUse, fmt.Sprintf("slot %d is already connected from %s", f.slot, old.remote))
			return false
		}
		s.stats.Replaced.Add(1)
		s.rlog.Warn(fmt.Sprintf("slot %d/replaced", f.slot), "FPC re-registered with proof of its identity: replacing its old session",
			"slot", f.slot, "old_remote", old.remote, "remote", f.remote)
		old.cancel()
		t := time.NewTimer(s.opt.RegisterTimeout)
		select {
		case <-old.done:
			t.Stop()
		case <-t.C:
			refuse(ipc.AckSlotInUse, fmt.Sprintf("slot %d: the old session from %s did not end", f.slot, old.remote))
			return false
		case <-ctx.Done():
			t.Stop()
			refuse(ipc.AckSlotInUse, "the RE is stopping")
			return false
		}
	}
}

// feed sends the resync and then follows the change log for f until its
// session ends or it falls behind the log's bound.
func (s *Server) feed(ctx context.Context, f *fpcConn) error {
	gen := s.gen.Add(1)
	s.optMu.Lock()
	opts := s.opts
	st, head := s.kern.ExportAt(s.clog.Head)
	cur, err := s.clog.Follow(fmt.Sprintf("FPC %d", f.slot), head)
	s.optMu.Unlock()
	if err != nil {
		return err
	}
	f.cursor.Store(cur)
	defer cur.Close()
	// A card blocked in a network write learns at once that it lagged.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case <-cur.Lagged():
			stop(changelog.ErrLagged)
		case <-ctx.Done():
		}
	}()
	lagged := func(err error) error {
		if context.Cause(ctx) == changelog.ErrLagged || errors.Is(err, changelog.ErrLagged) {
			s.stats.Lagged.Add(1)
			st := s.clog.Stats()
			s.log.Warn("FPC fell behind the change log: disconnecting; it resyncs when it reconnects",
				"slot", f.slot, "lag_messages", cur.Lag(), "bound_messages", st.MaxMsgs, "bound_bytes", st.MaxBytes)
			return fmt.Errorf("FPC %d: %w", f.slot, changelog.ErrLagged)
		}
		return err
	}
	if err := f.sess.Send(ctx, &ipc.ResyncBegin{Generation: gen}); err != nil {
		return lagged(err)
	}
	if err := f.sess.Send(ctx, opts...); err != nil {
		return lagged(err)
	}
	var buf []byte
	err = st.OpsTo(4096, func(ops []hal.Op) error {
		msgs := make([]ipc.Message, len(ops))
		for i, op := range ops {
			msgs[i] = ipc.MessageFromOp(op, false)
		}
		var err error
		if buf, err = ipc.AppendMessages(buf[:0], msgs...); err != nil {
			return err
		}
		return f.sess.SendEncoded(ctx, buf)
	})
	if err != nil {
		return lagged(err)
	}
	st = nil // let the snapshot go
	if err := f.sess.Send(ctx, &ipc.ResyncEnd{Generation: gen}); err != nil {
		return lagged(err)
	}
	f.synced.Store(true)
	// The card can carry the RE's packets now: Hellos lost while it was
	// away go out again (on the loop; this goroutine only feeds the card).
	go func() {
		_ = s.eng.Do(ctx, func() error { s.mc.CardConnected(); return nil })
	}()
	for {
		es, err := cur.Next(ctx)
		if err != nil {
			return lagged(err)
		}
		for _, e := range es {
			if e.N == 0 {
				continue
			}
			if err := f.sess.SendEncoded(ctx, e.Msgs); err != nil {
				return lagged(err)
			}
		}
	}
}

// handle runs on an FPC session's read goroutine: it only decodes and
// queues to the owner loop, within the card's bounds.
func (s *Server) handle(f *fpcConn, m ipc.Message) {
	switch v := m.(type) {
	case *ipc.ResolveRequest:
		s.stats.Resolves.Add(1)
		if !f.resolves.allow(s.clk.Now(), s.resolveLimit()) {
			s.stats.ResolveLimited.Add(1)
			f.resolveDropped.Add(1)
			s.rlog.Warn(f.keyResolve, "FPC exceeds its resolve rate: requests dropped",
				"slot", f.slot, "limit_per_s", s.resolveLimit(), "dropped", f.resolveDropped.Load())
			return
		}
		s.eng.Post(engine.Input{Kind: engine.InResolve, Slot: f.slot,
			Resolve: hal.ResolveRequest{NH: v.NH, Ingress: v.Ingress, Source: v.Source, Group: v.Group}})
	case *ipc.RouteHits:
		s.stats.RouteHits.Add(1)
		_ = s.eng.PostWait(f.ctx, engine.Input{Kind: engine.InHit, Slot: f.slot,
			Hit: engine.Hit{Key: v.Key, Packets: v.Packets, Bytes: v.Bytes}})
	case *ipc.WrongIIF:
		s.stats.WrongIIF.Add(1)
		s.eng.Post(engine.Input{Kind: engine.InWrongInterface, Slot: f.slot,
			Wrong: hal.WrongInterface{Ingress: v.Ingress, Expected: v.Expected, Source: v.Source, Group: v.Group}})
	case *ipc.IFLCounters:
		if !s.hosts(f.slot, v.IFL) {
			s.stats.CountersRefused.Add(1)
			s.rlog.Warn(f.keyCounters, "FPC reports counters of an interface it does not host: ignored",
				"slot", f.slot, "ifl", v.IFL)
			return
		}
		f.cntMu.Lock()
		f.counters[v.IFL] = *v
		f.cntMu.Unlock()
	case *ipc.Punt:
		s.stats.Punts.Add(1)
		if !s.hosts(f.slot, v.Ingress) {
			// A card speaks for its own interfaces: it cannot inject
			// PIM or IGMP as if received on another card's port.
			s.stats.PuntsRefused.Add(1)
			s.rlog.Warn(f.keyPunts, "FPC punts a packet received on an interface it does not host: dropped", "slot", f.slot, "ifl", v.Ingress)
			return
		}
		s.eng.Post(engine.Input{Kind: engine.InPunt, Slot: f.slot, Punt: engine.Punt{Ingress: v.Ingress, Trap: v.Trap, Frame: v.Frame}})
	case *ipc.LinkState:
		s.stats.LinkStates.Add(1)
		if !s.hosts(f.slot, v.IFL) {
			s.stats.CountersRefused.Add(1)
			s.rlog.Warn(f.keyCounters, "FPC reports the state of an interface it does not host: ignored", "slot", f.slot, "ifl", v.IFL)
			return
		}
		idx, up := v.IFL, v.Up
		_ = s.eng.PostCall(func() error {
			if _, err := s.kern.SetLinkState(idx, up); err != nil {
				s.rlog.Warn(fmt.Sprintf("slot %d/link state", f.slot), "link state from FPC", "slot", f.slot, "ifl", idx, "err", err)
			}
			return nil
		})
	case *ipc.ApplyError:
		s.stats.ApplyErrors.Add(1)
		f.fails.record(v)
		if v.Class != ipc.ClassCleared {
			s.rlog.Warn(fmt.Sprintf("slot %d/apply %s", f.slot, v.Class), "FPC failed to program an object",
				"slot", f.slot, "object", v.Object(), "error", v.Class.String(), "detail", v.Detail, "failing", v.Failed)
		}
	default:
		s.stats.UnexpectedFromFP.Add(1)
		h := m.Header()
		s.rlog.Warn(fmt.Sprintf("slot %d/unexpected %d/%d", f.slot, h.Type, h.Subtype), "unexpected message from FPC",
			"slot", f.slot, "header", h.String())
	}
}

// connected returns the connected cards.
func (s *Server) connected() []*fpcConn {
	s.fpcMu.Lock()
	defer s.fpcMu.Unlock()
	fs := make([]*fpcConn, 0, len(s.fpcs))
	for _, f := range s.fpcs {
		fs = append(fs, f)
	}
	return fs
}

// FPCInfo describes a connected FPC.
type FPCInfo struct {
	Slot    hal.Slot      `json:"slot"`
	TNPAddr string        `json:"tnp-address"`
	MAC     string        `json:"mac"`
	Driver  string        `json:"driver"`
	PFEs    []hal.PFEID   `json:"pfes"`
	Ports   []ipc.Port    `json:"ports"`
	Remote  string        `json:"remote"`
	Uptime  time.Duration `json:"uptime"`
	// Synced is false while the card is being sent its resync.
	Synced bool `json:"synced"`
	// Lag is how many change-log messages the card has not been sent.
	Lag uint64 `json:"lag-messages"`
	// Session counters.
	Session ipc.SessionStats `json:"session"`
	// Auth is how the card authenticated: "hmac", "tls", "hmac+tls" or
	// "none".
	Auth string `json:"auth"`
	// ResolveDropped counts the card's resolve requests over its limit.
	ResolveDropped uint64 `json:"resolve-dropped"`
	// Failures are the card's programming failures.
	Failures FailureStats `json:"programming-failures"`
}

// FPCs lists the connected FPCs by slot. It takes no lock that a download
// or a stalled card holds.
func (s *Server) FPCs() []FPCInfo {
	fs := s.connected()
	out := make([]FPCInfo, 0, len(fs))
	now := s.clk.Now()
	for _, f := range fs {
		a := ipc.FPCAddr(f.slot)
		fi := FPCInfo{
			Slot: f.slot, TNPAddr: fmt.Sprintf("%#x", uint32(a)), MAC: a.MAC().String(),
			Driver: f.reg.Driver, PFEs: f.reg.PFEs, Ports: f.reg.Ports, Remote: f.remote, Uptime: now.Sub(f.since),
			Synced: f.synced.Load(), Session: f.sess.Stats(),
			Auth: f.auth, ResolveDropped: f.resolveDropped.Load(), Failures: f.fails.stats(),
		}
		if c := f.cursor.Load(); c != nil {
			fi.Lag = c.Lag()
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// InjectPacket asks the FPC hosting ifl to send frame out of it.
func (s *Server) InjectPacket(slot hal.Slot, ifl hal.IFLIndex, frame []byte) error {
	s.fpcMu.Lock()
	f, ok := s.fpcs[slot]
	s.fpcMu.Unlock()
	if !ok {
		return fmt.Errorf("FPC %d is not connected", slot)
	}
	return f.sess.Send(f.ctx, &ipc.Inject{Egress: ifl, Frame: frame})
}
