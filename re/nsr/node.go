package nsr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxfwd/mxfwd/internal/ratelog"
	"github.com/mxfwd/mxfwd/internal/unixsock"
)

// Client is a mirror client (seed 000 §6.a II, mirror_registry_entry): a
// data id, lock/unlock/encode/decode callbacks, the no-resync flag and a
// connection-status callback; Follow streams updates after the initial
// replication.
type Client struct {
	ID   DataID
	Name string
	// Lock and Unlock hold the client's state still while Encode runs
	// (mirror_data_lock_func/unlock). Every client is locked, in id order,
	// before any encodes, so that the initial replication is one
	// consistent cut of all of them.
	Lock, Unlock func()
	// Encode emits the client's records for the initial replication
	// (master; mirror_data_encode_func). Not called when NoResync.
	Encode func(emit func(Record)) error
	// Decode applies one record (backup; mirror_data_decode_func), on the
	// reader goroutine of the connection it came on, in order.
	Decode func(r Record) error
	// NoResync: not part of the initial resync (mirror_no_resync).
	NoResync bool
	// Status is told when the mirror connection comes up or goes down
	// (mirror_connection_status_change_func), on both routing engines;
	// on the master, up comes after the initial records were queued, with
	// the Peer to send more (MSDP replicates its sockets then).
	Status func(up bool, p *Peer)
	// Follow (master) streams the client's updates after the initial
	// replication until ctx ends; an error ends the session (the backup
	// reconnects and resyncs).
	Follow func(ctx context.Context, p *Peer) error
	// Flush (backup) returns once every record decoded so far is applied:
	// the end of the initial replication is acknowledged after it.
	Flush func() error
}

// Handler is the routing engine's side of mastership changes.
type Handler interface {
	// TakeOver makes this backup the master; the mastership lock is held.
	// synced says whether the initial replication had completed (if not,
	// the routing engine starts as a master without NSR state); planned
	// whether the master handed over.
	TakeOver(reason string, synced, planned bool) error
	// HandOver quiesces this master for a planned switchover: after it
	// returns every update is queued to p, the node sends the switch
	// record, releases mastership and Run returns ErrHandedOver.
	HandOver(ctx context.Context, p *Peer) error
}

// ErrHandedOver is returned by Run after a planned switchover: this
// routing engine is no longer the master and restarts as the backup.
var ErrHandedOver = errors.New("mastership handed over to the other routing engine")

// ErrRefused wraps a refused planned switchover.
var ErrRefused = errors.New("switchover refused")

// Options configures a Node.
type Options struct {
	// REID is this routing engine's slot: 0 (re0) or 1 (re1).
	REID int
	// Path is the mirror channel's Unix socket, shared by the pair; the
	// mastership lock is Path+".lock".
	Path string
	// Prefer is the configured role (re run --role): a master starts as
	// master when no other is; a backup waits TakeoverAfter for one.
	Prefer Role
	// Keepalive (200 ms) and TakeoverAfter (2 s; at least
	// MinTakeoverAfter).
	Keepalive, TakeoverAfter time.Duration
	// NoFence keeps a backup from killing a master that holds the lock
	// but stopped sending keepalives (by default it does: both run on one
	// host, and a hung master must not come back as a second master).
	NoFence bool
	Logger  *slog.Logger
	// Trace logs every replication step (traceoptions flag
	// nsr-synchronization).
	Trace bool
	// Settle and Spacing override the planned-switchover windows
	// (SocketSettle, SwitchSpacing) for tests and labs that cannot wait
	// minutes; zero keeps the seed's.
	Settle, Spacing time.Duration
}

// hello opens each connection of the channel.
type hello struct {
	RE          int       `json:"re"`
	PID         int       `json:"pid"`
	Role        string    `json:"role"`
	Kind        string    `json:"kind"` // "control" or "bulk"
	Session     uint64    `json:"session"`
	LastSwitch  time.Time `json:"last-switch,omitzero"`
	Switchovers int       `json:"switchovers,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Node is one routing engine's end of the pairing.
type Node struct {
	opt  Options
	log  *slog.Logger
	lock mastership

	mu      sync.Mutex
	st      fsm
	since   time.Time
	peer    *Peer
	clients []Client
	status  map[DataID]string
	last    string // last event, for show
	events  []string

	ev      chan event
	switch_ chan chan error

	// Backup side: the master's connections from Start.
	pendingCtl, pendingBulk *conn
	masterHello             hello

	kaSent, kaRecv atomic.Uint64
	lastTick       time.Time // Run's goroutine only
}

// New returns a node; Start decides its role.
func New(opt Options) (*Node, error) {
	if opt.REID != 0 && opt.REID != 1 {
		return nil, fmt.Errorf("nsr: routing engine %d: want 0 or 1", opt.REID)
	}
	if opt.Path == "" {
		return nil, errors.New("nsr: no mirror channel path")
	}
	if opt.Keepalive <= 0 {
		opt.Keepalive = DefaultKeepalive
	}
	if opt.TakeoverAfter <= 0 {
		opt.TakeoverAfter = DefaultTakeoverAfter
	}
	if opt.TakeoverAfter < 5*opt.Keepalive {
		return nil, fmt.Errorf("nsr: takeover after %v is under five keepalives of %v: one late keepalive would start a switchover", opt.TakeoverAfter, opt.Keepalive)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		opt: opt, log: opt.Logger, lock: mastership{path: opt.Path + ".lock"},
		st:      fsm{takeoverAfter: opt.TakeoverAfter, settle: opt.Settle, spacing: opt.Spacing},
		status:  map[DataID]string{},
		ev:      make(chan event, 64),
		switch_: make(chan chan error),
	}
	return n, nil
}

// REID returns this routing engine's slot.
func (n *Node) REID() int { return n.opt.REID }

// Start decides this routing engine's role: backup when a master answers
// on the mirror channel, master when it takes the mastership lock (at once
// when it prefers master, after TakeoverAfter without a master otherwise).
func (n *Node) Start(ctx context.Context) (Role, error) {
	deadline := time.Now().Add(n.opt.TakeoverAfter)
	for {
		ctl, h, err := n.dial(ctx, "control", 0)
		if err == nil {
			bulk, _, err := n.dial(ctx, "bulk", h.Session)
			if err == nil {
				n.pendingCtl, n.pendingBulk, n.masterHello = ctl, bulk, h
				n.step(evBecameBackup{})
				n.note("backup of re%d (pid %d)", h.RE, h.PID)
				return RoleBackup, nil
			}
			ctl.close()
		}
		if n.opt.Prefer == RoleMaster || time.Now().After(deadline) {
			switch err := n.lock.tryLock(); {
			case err == nil:
				n.step(evBecameMaster{reason: "no other master"})
				n.note("master (no other master found)")
				return RoleMaster, nil
			case !errors.Is(err, errLockHeld):
				return RoleStarting, err
			}
		}
		select {
		case <-ctx.Done():
			return RoleStarting, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dial opens one connection of the channel to the master.
func (n *Node) dial(ctx context.Context, kind string, session uint64) (*conn, hello, error) {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "unix", n.opt.Path)
	if err != nil {
		return nil, hello{}, err
	}
	if err := unixsock.SamePeer(c.(*net.UnixConn)); err != nil {
		c.Close()
		return nil, hello{}, fmt.Errorf("nsr: %s: %w", n.opt.Path, err)
	}
	cc := newConn(c.(*net.UnixConn))
	h := hello{RE: n.opt.REID, PID: os.Getpid(), Role: RoleBackup.String(), Kind: kind, Session: session}
	b, _ := json.Marshal(h)
	if err := cc.write(Record{Type: RecHello, Data: b}, time.Second); err != nil {
		cc.close()
		return nil, hello{}, err
	}
	_ = cc.uc.SetReadDeadline(time.Now().Add(2 * time.Second))
	r, err := cc.read()
	_ = cc.uc.SetReadDeadline(time.Time{})
	if err != nil {
		cc.close()
		return nil, hello{}, err
	}
	var mh hello
	if r.Type != RecHello || json.Unmarshal(r.Data, &mh) != nil {
		cc.close()
		return nil, hello{}, fmt.Errorf("%w: bad hello from the master", ErrChannel)
	}
	if mh.Error != "" {
		cc.close()
		return nil, hello{}, fmt.Errorf("master refused: %s", mh.Error)
	}
	if mh.Role != RoleMaster.String() {
		cc.close()
		return nil, hello{}, fmt.Errorf("peer is %s, not master", mh.Role)
	}
	return cc, mh, nil
}

// step feeds the state machine (any goroutine) and returns its actions.
func (n *Node) step(ev event) []action {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.st.role
	var acts []action
	n.st, acts = n.st.step(ev, time.Now())
	if n.st.role != old {
		n.since = time.Now()
	}
	return acts
}

// note records an event for show system switchover and the log.
func (n *Node) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.last = msg
	n.events = append(n.events, time.Now().Format("2006-01-02 15:04:05 ")+msg)
	if len(n.events) > 32 {
		n.events = slices.Delete(n.events, 0, len(n.events)-32)
	}
	n.mu.Unlock()
	n.log.Info("nsr: "+msg, "re", n.opt.REID)
}

func (n *Node) trace(msg string, args ...any) {
	if n.opt.Trace {
		n.log.Info("nsr-synchronization: "+msg, append([]any{"re", n.opt.REID}, args...)...)
	}
}

// Run serves the pairing with the registered clients until ctx ends or a
// planned switchover hands mastership over (ErrHandedOver).
func (n *Node) Run(ctx context.Context, clients []Client, h Handler) error {
	cs := slices.Clone(clients)
	slices.SortFunc(cs, func(a, b Client) int { return int(a.ID) - int(b.ID) })
	for i := 1; i < len(cs); i++ {
		if cs[i].ID == cs[i-1].ID || cs[i].ID < FirstClient {
			return fmt.Errorf("nsr: client %s: data id %d reused or reserved", cs[i].Name, cs[i].ID)
		}
	}
	n.mu.Lock()
	n.clients = cs
	for _, c := range cs {
		n.status[c.ID] = "Not started"
	}
	n.mu.Unlock()
	defer n.lock.unlock()
	for {
		var err error
		if n.Role() == RoleBackup {
			err = n.runBackup(ctx, h)
		} else {
			err = n.runMaster(ctx, h)
		}
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// Role returns the current role.
func (n *Node) Role() Role {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st.role
}

// Switch asks for a planned switchover (request chassis routing-engine
// master switch): refused within the seed's windows.
func (n *Node) Switch(ctx context.Context) error {
	if n.Role() != RoleMaster {
		return fmt.Errorf("%w: this routing engine is not the master", ErrRefused)
	}
	reply := make(chan error, 1)
	select {
	case n.switch_ <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runMaster listens for a backup and serves it; it returns to Run only
// on ctx's end or a hand-over.
func (n *Node) runMaster(ctx context.Context, h Handler) error {
	// Only this user's processes may connect (0600 in a directory of our
	// own, and the peer's credentials checked): the channel carries the
	// router's whole state and its sessions' sockets.
	ln, err := unixsock.Listen(n.opt.Path, 0o600, -1)
	if err != nil {
		return fmt.Errorf("nsr: mirror channel: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the accept loop ends with the listener
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()
	conns := make(chan *conn)
	// Whoever connects decides how often the refusal is logged.
	refused := ratelog.New(n.log, ratelog.Config{})
	wg.Go(func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			if err := unixsock.SamePeer(c); err != nil {
				refused.Warn("foreign", "mirror channel connection refused", "err", err)
				c.Close()
				continue
			}
			select {
			case conns <- newConn(c):
			case <-ctx.Done():
				c.Close()
				return
			}
		}
	})
	tick := time.NewTicker(n.opt.Keepalive)
	defer tick.Stop()
	var (
		cur     *Peer
		curDone chan error
		session uint64
	)
	endPeer := func(reason string) {
		if cur == nil {
			return
		}
		cur.cancel()
		<-curDone
		n.notifyStatus(false, cur)
		n.setPeer(nil)
		cur, curDone = nil, nil
		n.step(evPeerDown{reason: reason})
		n.note("backup disconnected: %s", reason)
	}
	defer endPeer("shutting down")
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-conns:
			hh, err := readHello(c)
			if err != nil {
				c.close()
				continue
			}
			switch {
			case hh.Kind == "control" && cur == nil:
				session = rand.Uint64()
				n.replyHello(c, "control", session, "")
				cur = n.newPeer(ctx, c, hh)
			case hh.Kind == "bulk" && cur != nil && cur.bulk == nil && hh.Session == session:
				n.replyHello(c, "bulk", session, "")
				cur.bulk = c
				curDone = make(chan error, 1)
				p := cur
				n.setPeer(p)
				n.step(evPeerUp{})
				n.note("backup re%d (pid %d) connected", hh.RE, hh.PID)
				wg.Go(func() { curDone <- n.serveBackup(p) })
			default:
				n.replyHello(c, hh.Kind, 0, "another backup routing engine is connected")
				c.close()
			}
		case err := <-curDone:
			curDone <- err
			reason := "closed"
			if err != nil {
				reason = err.Error()
			}
			endPeer(reason)
		case <-tick.C:
			if cur != nil && cur.bulk != nil {
				cur.keepalive()
			}
			if n.stalled() {
				continue
			}
			for _, a := range n.step(evTick{}) {
				if a, ok := a.(actDropPeer); ok {
					endPeer(a.reason)
				}
			}
		case reply := <-n.switch_:
			var refused string
			for _, a := range n.step(evSwitch{}) {
				if a, ok := a.(actRefuse); ok {
					refused = a.reason
				}
			}
			if refused != "" {
				reply <- fmt.Errorf("%w: %s", ErrRefused, refused)
				continue
			}
			if err := n.handOver(ctx, h, cur); err != nil {
				reply <- err
				continue
			}
			reply <- nil
			return ErrHandedOver
		}
	}
}

func readHello(c *conn) (hello, error) {
	_ = c.uc.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer c.uc.SetReadDeadline(time.Time{})
	r, err := c.read()
	if err != nil {
		return hello{}, err
	}
	var h hello
	if r.Type != RecHello || json.Unmarshal(r.Data, &h) != nil {
		return hello{}, fmt.Errorf("%w: bad hello", ErrChannel)
	}
	return h, nil
}

func (n *Node) replyHello(c *conn, kind string, session uint64, refuse string) {
	n.mu.Lock()
	h := hello{RE: n.opt.REID, PID: os.Getpid(), Role: n.st.role.String(), Kind: kind, Session: session,
		LastSwitch: n.st.lastSwitch, Switchovers: n.st.switchovers, Error: refuse}
	n.mu.Unlock()
	b, _ := json.Marshal(h)
	_ = c.write(Record{Type: RecHello, Data: b}, time.Second)
}

func (n *Node) setPeer(p *Peer) {
	n.mu.Lock()
	n.peer = p
	n.mu.Unlock()
}

func (n *Node) setStatus(id DataID, s string) {
	n.mu.Lock()
	n.status[id] = s
	n.mu.Unlock()
}

func (n *Node) notifyStatus(up bool, p *Peer) {
	for _, c := range n.clients {
		if c.Status != nil {
			c.Status(up, p)
		}
	}
}

// serveBackup runs the initial replication and the updates for one
// backup, until the connection ends.
func (n *Node) serveBackup(p *Peer) error {
	defer p.cancel()
	errc := make(chan error, 2+len(n.clients))
	go func() { errc <- p.readLoop(p.ctl, nil) }()
	go func() { errc <- p.readLoop(p.bulk, nil) }()

	// The initial replication: every client locked, in id order, then
	// encoded, then unlocked; the records are sent after the locks are
	// released.
	var recs []Record
	var encErr error
	for _, c := range n.clients {
		if c.Lock != nil {
			c.Lock()
		}
	}
	for _, c := range n.clients {
		if c.NoResync || c.Encode == nil {
			continue
		}
		n.setStatus(c.ID, "In progress")
		id := c.ID
		if err := c.Encode(func(r Record) {
			r.Type = id
			recs = append(recs, r)
		}); err != nil {
			encErr = fmt.Errorf("%s: encode: %w", c.Name, err)
			break
		}
	}
	for i := len(n.clients) - 1; i >= 0; i-- {
		if c := n.clients[i]; c.Unlock != nil {
			c.Unlock()
		}
	}
	if encErr != nil {
		closeFiles(recs)
		return encErr
	}
	n.trace("initial replication", "records", len(recs))
	for i, r := range recs {
		if err := p.Send(r); err != nil {
			closeFiles(recs[i:])
			return err
		}
		closeFiles(recs[i : i+1])
	}
	var fwg sync.WaitGroup
	for _, c := range n.clients {
		if c.Follow == nil {
			continue
		}
		fwg.Go(func() {
			if err := c.Follow(p.ctx, p); err != nil && p.ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", c.Name, err)
			}
		})
	}
	defer fwg.Wait()
	n.notifyStatus(true, p)
	// Sync-done travels behind every initial record; the backup answers
	// once it has decoded them all.
	n.mu.Lock()
	last := n.st.lastSwitch
	n.mu.Unlock()
	b, _ := json.Marshal(last)
	done := make(chan error, 1)
	go func() { done <- p.request(p.bulk, Record{Type: RecSyncDone, Data: b}) }()
	for {
		select {
		case err := <-done:
			done = nil
			if err != nil {
				return fmt.Errorf("initial replication: %w", err)
			}
			for _, c := range n.clients {
				if !c.NoResync {
					n.setStatus(c.ID, "Complete")
				} else {
					n.setStatus(c.ID, "Complete (sockets)")
				}
			}
			n.step(evSyncDone{})
			n.note("initial replication to re%d complete", p.REID)
		case err := <-errc:
			return err
		case <-p.ctx.Done():
			return nil
		}
	}
}

func closeFiles(recs []Record) {
	for _, r := range recs {
		for _, f := range r.Files {
			f.Close()
		}
	}
}

// handOver runs a planned switchover on the master.
func (n *Node) handOver(ctx context.Context, h Handler, p *Peer) error {
	if p == nil {
		return fmt.Errorf("%w: no backup", ErrRefused)
	}
	n.note("planned switchover to re%d", p.REID)
	if err := h.HandOver(ctx, p); err != nil {
		return fmt.Errorf("hand-over: %w", err)
	}
	if err := p.Send(Record{Type: RecSwitch}); err != nil {
		return fmt.Errorf("hand-over: %w", err)
	}
	// The backup takes the lock as soon as it is free.
	n.lock.unlock()
	return nil
}

// runBackup follows the master until it is gone, then takes over (or,
// when the master is alive and only the channel broke, reconnects).
func (n *Node) runBackup(ctx context.Context, h Handler) error {
	ctl, bulk, mh := n.pendingCtl, n.pendingBulk, n.masterHello
	n.pendingCtl, n.pendingBulk = nil, nil
	if ctl == nil {
		var err error
		for {
			ctl, mh, err = n.dial(ctx, "control", 0)
			if err == nil {
				bulk, _, err = n.dial(ctx, "bulk", mh.Session)
				if err == nil {
					break
				}
				ctl.close()
			}
			if ctx.Err() != nil {
				return nil
			}
			if n.lock.tryLock() == nil {
				// Nobody answers and nobody holds the lock.
				return n.takeOver(h, "no master", false, false)
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.step(evBecameBackup{})
		n.note("backup of re%d (pid %d)", mh.RE, mh.PID)
	}
	p := n.newPeer(ctx, ctl, mh)
	p.bulk = bulk
	n.setPeer(p)
	defer n.setPeer(nil)
	n.notifyStatus(true, p)
	errc := make(chan error, 2)
	synced := make(chan time.Time, 1)
	switched := make(chan struct{}, 1)
	go func() { errc <- p.readLoop(p.ctl, nil) }()
	go func() {
		errc <- p.readLoop(p.bulk, func(r Record) error {
			switch r.Type {
			case RecSyncDone:
				for _, c := range n.clients {
					if c.Flush != nil {
						if err := c.Flush(); err != nil {
							return fmt.Errorf("%s: %w", c.Name, err)
						}
					}
				}
				var last time.Time
				_ = json.Unmarshal(r.Data, &last)
				synced <- last
			case RecSwitch:
				switched <- struct{}{}
				return errSwitch
			}
			return nil
		})
	}()
	tick := time.NewTicker(n.opt.Keepalive)
	defer tick.Stop()
	wasSynced := false
	finish := func(reason string, planned bool) error {
		p.cancel()
		n.notifyStatus(false, p)
		// A handing-over master releases the lock right after the switch
		// record.
		if !n.lock.held() && !n.waitLock(n.opt.TakeoverAfter) {
			if n.opt.NoFence {
				return fmt.Errorf("nsr: %s, but the master still holds the mastership lock", reason)
			}
			n.fence(mh.PID)
			if !n.waitLock(n.opt.TakeoverAfter) {
				return fmt.Errorf("nsr: %s, and the master could not be fenced", reason)
			}
		}
		return n.takeOver(h, reason, wasSynced, planned)
	}
	for {
		select {
		case <-ctx.Done():
			p.cancel()
			return nil
		case reply := <-n.switch_:
			reply <- fmt.Errorf("%w: this routing engine is not the master", ErrRefused)
		case last := <-synced:
			wasSynced = true
			n.step(evSyncDone{lastSwitch: last})
			for _, c := range n.clients {
				n.setStatus(c.ID, "Complete")
			}
			n.note("initial replication from re%d complete", mh.RE)
		case <-switched:
			n.step(evPeerDown{reason: "planned switchover"})
			return finish("planned switchover", true)
		case err := <-errc:
			reason := "closed"
			if err != nil {
				reason = err.Error()
			}
			if errors.Is(err, errSwitch) {
				continue
			}
			// The other connection may still hold the master's last
			// records (a switch record behind the control EOF): let its
			// reader finish first.
			p.cancelReadsAfter(n.opt.TakeoverAfter)
			select {
			case err2 := <-errc:
				if errors.Is(err2, errSwitch) {
					n.step(evPeerDown{reason: "planned switchover"})
					return finish("planned switchover", true)
				}
			case <-time.After(n.opt.TakeoverAfter):
			}
			select {
			case <-switched:
				n.step(evPeerDown{reason: "planned switchover"})
				return finish("planned switchover", true)
			default:
			}
			n.step(evPeerDown{reason: reason})
			// A dead master's lock is free at once; a live one keeps it:
			// then only the channel broke, and this backup resyncs.
			if n.waitLock(n.opt.TakeoverAfter) {
				return finish("master connection lost: "+reason, false)
			}
			p.cancel()
			n.notifyStatus(false, p)
			n.note("channel to the master lost (%s); the master is alive: resynchronizing", reason)
			n.pendingCtl = nil
			n.step(evBecameBackup{})
			for _, c := range n.clients {
				n.setStatus(c.ID, "Not started")
			}
			return nil
		case <-tick.C:
			p.keepalive()
			if n.stalled() {
				continue
			}
			for _, a := range n.step(evTick{}) {
				if a, ok := a.(actTakeover); ok {
					if !n.waitLock(0) {
						if n.opt.NoFence {
							n.note("master silent (%s) but holds the lock; not fencing", a.reason)
							n.step(evBecameBackup{})
							continue
						}
						n.fence(mh.PID)
						if !n.waitLock(n.opt.TakeoverAfter) {
							n.note("master silent (%s) and could not be fenced", a.reason)
							n.step(evBecameBackup{})
							continue
						}
					}
					return finish(a.reason, false)
				}
			}
		}
	}
}

var errSwitch = errors.New("switch")

// stalled reports whether this process itself was not running for a
// while (stopped, descheduled, a long pause) since the last tick: the
// peer's silence is then ours, and it gets a fresh takeover window
// instead of being declared dead (a backup resumed from SIGSTOP must not
// fence a healthy master).
func (n *Node) stalled() bool {
	now := time.Now()
	last := n.lastTick
	n.lastTick = now
	if last.IsZero() || now.Sub(last) < n.opt.TakeoverAfter/2 {
		return false
	}
	n.note("this routing engine did not run for %v: the peer gets a fresh %v", now.Sub(last).Round(time.Millisecond), n.opt.TakeoverAfter)
	n.step(evPeerSeen{})
	return true
}

// waitLock tries to take the mastership lock for up to d.
func (n *Node) waitLock(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if n.lock.tryLock() == nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fence kills a silent master that still holds the lock (same host).
func (n *Node) fence(pid int) {
	holder := n.lock.holder()
	if holder == 0 || holder == os.Getpid() || (pid != 0 && holder != pid) {
		n.note("not fencing: lock holder %d is not the master's pid %d", holder, pid)
		return
	}
	n.note("fencing the silent master (pid %d)", holder)
	_ = syscall.Kill(holder, syscall.SIGKILL)
}

func (n *Node) takeOver(h Handler, reason string, synced, planned bool) error {
	n.note("taking over mastership: %s", reason)
	start := time.Now()
	if err := h.TakeOver(reason, synced, planned); err != nil {
		return fmt.Errorf("nsr: takeover: %w", err)
	}
	n.step(evBecameMaster{reason: reason})
	n.note("master since takeover (%v; state %s)", time.Since(start).Round(time.Microsecond), map[bool]string{true: "replicated", false: "not replicated"}[synced])
	return nil
}

// Peer is the other routing engine, as seen from either side: records are
// sent on the bulk connection (initial replication and updates, in order)
// or the control connection (keepalives and small records that must not
// wait behind bulk, e.g. MSDP's inbound bytes).
type Peer struct {
	n         *Node
	ctl, bulk *conn
	REID, PID int
	ctx       context.Context
	cancel    context.CancelFunc

	seq   atomic.Uint64
	mu    sync.Mutex
	waits map[uint64]chan error

	sentRecs, sentBytes, recvRecs, recvBytes atomic.Uint64
}

func (n *Node) newPeer(ctx context.Context, ctl *conn, h hello) *Peer {
	p := &Peer{n: n, ctl: ctl, REID: h.RE, PID: h.PID, waits: map[uint64]chan error{}}
	p.ctx, p.cancel = context.WithCancel(ctx)
	context.AfterFunc(p.ctx, func() {
		ctl.close()
		if p.bulk != nil {
			p.bulk.close()
		}
	})
	return p
}

// cancelReadsAfter ends the session after d unless it ended before.
func (p *Peer) cancelReadsAfter(d time.Duration) {
	t := time.AfterFunc(d, p.cancel)
	context.AfterFunc(p.ctx, func() { t.Stop() })
}

// Context ends when the peer's session does.
func (p *Peer) Context() context.Context { return p.ctx }

// writeTimeout bounds a write to a peer that does not read.
const writeTimeout = 10 * time.Second

// Send queues a record on the bulk connection (in order with the initial
// replication and every update).
func (p *Peer) Send(r Record) error { return p.send(p.bulk, r) }

// SendControl sends a record on the control connection.
func (p *Peer) SendControl(r Record) error { return p.send(p.ctl, r) }

func (p *Peer) send(c *conn, r Record) error {
	if err := c.write(r, writeTimeout); err != nil {
		p.cancel()
		return err
	}
	p.sentRecs.Add(1)
	p.sentBytes.Add(uint64(len(r.Data) + len(r.Key)))
	return nil
}

// Request sends r on the control connection and waits until the peer has
// decoded it (or the session ends).
func (p *Peer) Request(r Record) error { return p.request(p.ctl, r) }

func (p *Peer) request(c *conn, r Record) error {
	r.Seq, r.Ack = p.seq.Add(1), true
	ch := make(chan error, 1)
	p.mu.Lock()
	p.waits[r.Seq] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waits, r.Seq)
		p.mu.Unlock()
	}()
	if err := p.send(c, r); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-p.ctx.Done():
		return fmt.Errorf("%w: session ended", ErrChannel)
	}
}

func (p *Peer) keepalive() {
	if p.ctl.write(Record{Type: RecKeepalive}, p.n.opt.TakeoverAfter) == nil {
		p.n.kaSent.Add(1)
	}
}

// readLoop reads records from c: channel records are handled here, client
// records go to their Decode; hook sees channel records first.
func (p *Peer) readLoop(c *conn, hook func(Record) error) error {
	for {
		r, err := c.read()
		if err != nil {
			if p.ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.recvRecs.Add(1)
		p.recvBytes.Add(uint64(len(r.Data) + len(r.Key)))
		p.n.step(evPeerSeen{})
		if hook != nil {
			if err := hook(r); err != nil {
				closeFiles([]Record{r})
				return err
			}
		}
		var derr error
		switch {
		case r.Type == RecKeepalive:
			p.n.kaRecv.Add(1)
		case r.Type == RecAck:
			p.mu.Lock()
			ch := p.waits[r.Seq]
			p.mu.Unlock()
			if ch != nil {
				if len(r.Data) > 0 {
					ch <- errors.New(string(r.Data))
				} else {
					ch <- nil
				}
			}
		case r.Type >= FirstClient:
			derr = p.decode(r)
		}
		if r.Ack {
			a := Record{Type: RecAck, Seq: r.Seq}
			if derr != nil {
				a.Data = []byte(derr.Error())
			}
			if err := p.ctl.write(a, writeTimeout); err != nil {
				return err
			}
		}
		if derr != nil {
			p.n.log.Warn("nsr: mirror record not applied", "client", r.Type, "key", r.Key, "err", derr)
		}
	}
}

func (p *Peer) decode(r Record) error {
	for _, c := range p.n.clients {
		if c.ID == r.Type {
			if c.Decode == nil {
				closeFiles([]Record{r})
				return fmt.Errorf("client %s decodes nothing", c.Name)
			}
			return c.Decode(r)
		}
	}
	closeFiles([]Record{r})
	return fmt.Errorf("no client with data id %d", r.Type)
}

// Status is the pairing as shown by show system switchover and show task
// replication.
type Status struct {
	REID          int           `json:"re"`
	Role          string        `json:"role"`
	Since         time.Time     `json:"since"`
	Peer          string        `json:"peer-state"`
	PeerRE        int           `json:"peer-re,omitempty"`
	PeerPID       int           `json:"peer-pid,omitempty"`
	SyncedAt      time.Time     `json:"synced-at,omitzero"`
	LastSwitch    time.Time     `json:"last-switchover,omitzero"`
	Switchovers   int           `json:"switchovers"`
	Syncs         int           `json:"initial-replications"`
	TakeoverAfter time.Duration `json:"takeover-after"`
	Keepalive     time.Duration `json:"keepalive"`
	KeepalivesTx  uint64        `json:"keepalives-sent"`
	KeepalivesRx  uint64        `json:"keepalives-received"`
	RecordsTx     uint64        `json:"records-sent"`
	RecordsRx     uint64        `json:"records-received"`
	BytesTx       uint64        `json:"bytes-sent"`
	BytesRx       uint64        `json:"bytes-received"`
	SwitchRefusal string        `json:"switchover-refusal,omitempty"`
	LastEvent     string        `json:"last-event,omitempty"`
	Events        []string      `json:"events,omitempty"`
	Clients       []ClientState `json:"clients"`
}

// ClientState is one client's synchronization status.
type ClientState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Status returns the pairing's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	s := Status{REID: n.opt.REID, Role: n.st.role.String(), Since: n.since, Peer: n.st.peer.String(),
		SyncedAt: n.st.syncedAt, LastSwitch: n.st.lastSwitch, Switchovers: n.st.switchovers, Syncs: n.st.syncs,
		TakeoverAfter: n.opt.TakeoverAfter, Keepalive: n.opt.Keepalive,
		KeepalivesTx: n.kaSent.Load(), KeepalivesRx: n.kaRecv.Load(),
		LastEvent: n.last, Events: slices.Clone(n.events)}
	if n.st.role == RoleMaster {
		s.SwitchRefusal = n.st.switchRefusal(now)
	}
	if p := n.peer; p != nil {
		s.PeerRE, s.PeerPID = p.REID, p.PID
		s.RecordsTx, s.RecordsRx = p.sentRecs.Load(), p.recvRecs.Load()
		s.BytesTx, s.BytesRx = p.sentBytes.Load(), p.recvBytes.Load()
	}
	for _, c := range n.clients {
		st := n.status[c.ID]
		if n.st.peer == PeerNone {
			st = "Not started"
		}
		s.Clients = append(s.Clients, ClientState{Name: c.Name, State: st})
	}
	return s
}
