package server

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/re/changelog"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/kernel"
	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
	"github.com/mxfwd/mxfwd/re/nsr"
	pimhost "github.com/mxfwd/mxfwd/re/pim/host"
)

// Non-stop routing (issue #17; seed 000; reference-junos §4–5). The master
// replicates, through re/nsr's mirror registry:
//
//   - the configuration (its text; the backup parses and commits the same
//     statements, its kernel and protocols in standby),
//   - the kernel: an export at one change-log position, then every delta
//     from the change log, so that at takeover the backup's kernel holds
//     the master's state with the same next-hop ids and the cards
//     reconcile by mark-and-sweep without removing a valid route,
//   - PIM and IGMP: a snapshot, then every input in change-log order (the
//     engines are state machines; re/pim/host replays them), so that the
//     neighbours, joins, RP-set and timers are the master's and the
//     generation IDs do not change,
//   - MSDP: no resync (mirror_no_resync); each session's socket is handed
//     over with SCM_RIGHTS with its stream position, inbound bytes are
//     mirrored before the master consumes them and outbound ones before it
//     writes them, and the backup's standby engine parses every inbound
//     message itself and builds its own SA cache (re/msdp/msdpnet),
//   - the host interfaces: the TAP devices' descriptors.
//
// The backup never sends a PIM, IGMP or MSDP packet and serves no card
// until it takes over.

// Mirror data ids (the seed's mre_data_id).
const (
	clientConfig  = nsr.FirstClient + iota // 16
	clientKernel                           // 17
	clientPIM                              // 18
	clientMSDP                             // 19
	clientHostIfs                          // 20
)

// backupState is what a backup routing engine keeps until it takes over;
// it is written by the mirror channel's reader goroutines.
type backupState struct {
	mu      sync.Mutex
	mirror  *kernel.Mirror
	taps    map[string]*os.File
	shadows map[msdp.ConnID]msdp.ConnID // the master's connection -> our shadow
	dec     *gob.Decoder
	decBuf  bytes.Buffer
	applyQ  chan func()
	// pim says PIM's snapshot was restored in this session (without
	// nonstop-routing only the kernel is replicated: graceful switchover
	// alone).
	pim bool
}

// nsrState is the server's side of the pairing.
type nsrState struct {
	node *nsr.Node
	// mu guards cur (the connected backup, master side, for MSDP's
	// mirror) and handover.
	mu       sync.Mutex
	cur      *nsr.Peer
	followAt uint64 // change-log position of the initial export
	enc      *gob.Encoder
	encBuf   bytes.Buffer
	b        backupState
	// becameMaster is closed when this routing engine is master (at
	// once, or at takeover).
	becameMaster chan struct{}
	masterOnce   sync.Once
	takeover     atomic.Int64 // how long the last takeover took (ns)
	// recording is the id of the backup session PIM's inputs are logged
	// for (0: none); set with the snapshot, under the loop lock.
	recording atomic.Uint64
	sessions  atomic.Uint64
	session   uint64 // of the last initial replication
	// handover is signalled by the follower when it has sent the
	// hand-over marker (and so everything before it).
	handover chan struct{}
}

func (s *Server) standby() bool {
	if s.nsr == nil {
		return false
	}
	select {
	case <-s.nsr.becameMaster:
		return false
	default:
		return true
	}
}

func (n *nsrState) setMaster() { n.masterOnce.Do(func() { close(n.becameMaster) }) }

// nsrClients is the mirror registry of this routing engine.
func (s *Server) nsrClients() []nsr.Client {
	n := s.nsr
	var lockDone chan struct{}
	lockLoop := func() {
		// Hold the owner loop still: every protocol and the kernel are
		// frozen while the clients encode (one consistent cut).
		held := make(chan struct{})
		lockDone = make(chan struct{})
		done := lockDone
		go func() {
			_ = s.eng.Do(s.runCtx, func() error {
				close(held)
				<-done
				return nil
			})
		}()
		select {
		case <-held:
		case <-s.runCtx.Done():
		}
	}
	unlockLoop := func() { close(lockDone) }
	return []nsr.Client{
		{
			ID: clientConfig, Name: "Configuration",
			Lock: lockLoop, Unlock: unlockLoop,
			Encode: func(emit func(nsr.Record)) error {
				emit(nsr.Record{Key: "text", Data: []byte(s.Config().Text)})
				return nil
			},
			Decode: func(r nsr.Record) error { return s.backupApply(func() error { return s.backupConfig(r.Data) }) },
			Flush:  s.backupFlush,
		},
		{
			ID: clientKernel, Name: "Kernel",
			Encode: func(emit func(nsr.Record)) error {
				// Under the loop lock nothing appends: the export and
				// the head are one point of the log.
				st, head := s.kern.ExportAt(s.clog.Head)
				n.encBuf.Reset()
				n.enc = gob.NewEncoder(&n.encBuf)
				if err := n.enc.Encode(st); err != nil {
					return fmt.Errorf("kernel export: %w", err)
				}
				n.followAt = head
				emit(nsr.Record{Key: "state", Data: bytes.Clone(n.encBuf.Bytes())})
				n.encBuf.Reset()
				return nil
			},
			Follow: s.followLog,
			Decode: s.backupKernel,
		},
		{
			ID: clientPIM, Name: "PIM",
			Encode: func(emit func(nsr.Record)) error {
				if !s.Config().NonstopRouting {
					// Graceful switchover alone: the protocols restart
					// on the new master.
					return nil
				}
				sn, err := s.mc.Snapshot()
				if err != nil {
					return err
				}
				b, err := json.Marshal(sn)
				if err != nil {
					return err
				}
				emit(nsr.Record{Key: "snapshot", Data: b})
				// From now on every input goes to the log.
				n.session = n.sessions.Add(1)
				n.recording.Store(n.session)
				return nil
			},
			Decode: s.backupPIM,
			Status: func(up bool, _ *nsr.Peer) {
				if up && s.standby() {
					// A new session replaces what an older one left.
					s.nsr.b.mu.Lock()
					s.nsr.b.mirror, s.nsr.b.pim = nil, false
					s.nsr.b.mu.Unlock()
				}
			},
		},
		{
			ID: clientMSDP, Name: "MSDP", NoResync: true,
			Status: s.msdpMirrorStatus,
			Decode: s.backupMSDP,
		},
		{
			ID: clientHostIfs, Name: "Host interfaces",
			Encode: func(emit func(nsr.Record)) error {
				if s.host == nil {
					return nil
				}
				files, err := s.host.Export()
				if err != nil {
					return err
				}
				for name, f := range files {
					emit(nsr.Record{Key: name, Files: []*os.File{f}})
				}
				return nil
			},
			Decode: s.backupTap,
		},
	}
}

// pimRecorder appends PIM's inputs to the change log (master, loop).
type pimRecorder Server

func (r *pimRecorder) Record(in *pimhost.Input) {
	if r.nsr.recording.Load() == 0 {
		return // no backup to replay it
	}
	b, err := pimhost.MarshalInput(in)
	if err != nil {
		r.log.Error("nsr: PIM input not replicated", "kind", in.Kind, "err", err)
		return
	}
	r.clog.AppendRecord(uint16(clientPIM), b)
}

// followLog streams the change log to the backup from the initial
// export's position: the kernel's deltas and the protocols' records, in
// the order they happened. A backup that falls behind the log's bound is
// dropped; it resyncs.
func (s *Server) followLog(ctx context.Context, p *nsr.Peer) error {
	n := s.nsr
	session := n.session
	defer n.recording.CompareAndSwap(session, 0)
	cur, err := s.clog.Follow(backupCursor, n.followAt)
	if err != nil {
		return err
	}
	defer cur.Close()
	n.mu.Lock()
	n.cur = p
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.cur == p {
			n.cur = nil
		}
		n.mu.Unlock()
	}()
	for {
		es, err := cur.Next(ctx)
		if err != nil {
			if errors.Is(err, changelog.ErrLagged) {
				s.log.Warn("nsr: the backup routing engine fell behind the change log; it resynchronizes")
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range es {
			switch {
			case e.Delta != nil:
				n.encBuf.Reset()
				if err := n.enc.Encode(e.Delta); err != nil {
					return fmt.Errorf("kernel delta: %w", err)
				}
				if err := p.Send(nsr.Record{Type: clientKernel, Key: "delta", Data: bytes.Clone(n.encBuf.Bytes())}); err != nil {
					return err
				}
			case e.Record != nil && e.Record.Client == 0:
				// The hand-over marker: everything before it is sent.
				n.mu.Lock()
				if n.handover != nil {
					close(n.handover)
					n.handover = nil
				}
				n.mu.Unlock()
			case e.Record != nil:
				if err := p.Send(nsr.Record{Type: nsr.DataID(e.Record.Client), Key: "log", Data: e.Record.Data}); err != nil {
					return err
				}
			}
		}
	}
}

// backupApply runs fn on the owner loop in the order records arrived
// (backup). The queue is bounded: the channel's reader waits, and the
// master's follower with it (the change log's bound then decides).
func (s *Server) backupApply(fn func() error) error {
	b := &s.nsr.b
	select {
	case b.applyQ <- func() {
		if err := fn(); err != nil {
			s.log.Warn("nsr: replicated record not applied", "err", err)
		}
	}:
		return nil
	case <-s.runCtx.Done():
		return s.runCtx.Err()
	}
}

// runApplier applies the backup's queued records on the loop, in batches.
func (s *Server) runApplier(ctx context.Context) {
	q := s.nsr.b.applyQ
	batch := make([]func(), 0, 256)
	for {
		select {
		case fn := <-q:
			batch = append(batch[:0], fn)
		more:
			for len(batch) < cap(batch) {
				select {
				case fn := <-q:
					batch = append(batch, fn)
				default:
					break more
				}
			}
			_ = s.eng.Do(ctx, func() error {
				for _, fn := range batch {
					fn()
				}
				return nil
			})
		case <-ctx.Done():
			return
		}
	}
}

// backupFlush returns once every record queued so far is applied.
func (s *Server) backupFlush() error {
	done := make(chan struct{})
	if err := s.backupApply(func() error { close(done); return nil }); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-s.runCtx.Done():
		return s.runCtx.Err()
	}
}

// backupConfig commits the master's configuration (loop).
func (s *Server) backupConfig(text []byte) error {
	c, err := config.Parse("master's configuration", bytes.NewReader(text))
	if err != nil {
		return err
	}
	c.Source = s.opt.ConfigPath
	p, err := Check(c)
	if err != nil {
		return err
	}
	return s.commit(p)
}

// backupKernel follows the master's kernel (channel reader).
func (s *Server) backupKernel(r nsr.Record) error {
	b := &s.nsr.b
	b.mu.Lock()
	defer b.mu.Unlock()
	switch r.Key {
	case "state":
		// A new stream: a fresh decoder (gob streams carry their types).
		b.decBuf.Reset()
		b.dec = gob.NewDecoder(&b.decBuf)
		b.decBuf.Write(r.Data)
		var st kernel.State
		if err := b.dec.Decode(&st); err != nil {
			return fmt.Errorf("kernel state: %w", err)
		}
		b.mirror = kernel.NewMirror(&st)
		return s.backupApply(func() error { return s.kern.Replace(&st) })
	case "delta":
		if b.dec == nil || b.mirror == nil {
			return errors.New("kernel delta before the state")
		}
		b.decBuf.Write(r.Data)
		var d kernel.Delta
		if err := b.dec.Decode(&d); err != nil {
			return fmt.Errorf("kernel delta: %w", err)
		}
		b.mirror.Apply(&d)
		if d.Interfaces != nil {
			// The interfaces (their indexes, link state) are what the
			// replicated protocols see: keep ours the master's.
			st := b.mirror.State()
			return s.backupApply(func() error { return s.kern.Replace(st) })
		}
		return nil
	}
	return fmt.Errorf("kernel record %q", r.Key)
}

// backupPIM follows the master's PIM and IGMP (channel reader).
func (s *Server) backupPIM(r nsr.Record) error {
	switch r.Key {
	case "snapshot":
		var sn pimhost.Snapshot
		if err := json.Unmarshal(r.Data, &sn); err != nil {
			return fmt.Errorf("pim snapshot: %w", err)
		}
		return s.backupApply(func() error {
			if err := s.mc.Restore(&sn); err != nil {
				return err
			}
			s.nsr.b.mu.Lock()
			s.nsr.b.pim = true
			s.nsr.b.mu.Unlock()
			return nil
		})
	case "log":
		in, err := pimhost.UnmarshalInput(r.Data)
		if err != nil {
			return err
		}
		return s.backupApply(func() error { return s.mc.Replay(in) })
	}
	return fmt.Errorf("pim record %q", r.Key)
}

// backupTap keeps a TAP descriptor of the master's (channel reader).
func (s *Server) backupTap(r nsr.Record) error {
	if len(r.Files) != 1 {
		for _, f := range r.Files {
			f.Close()
		}
		return fmt.Errorf("host interface %s: %d descriptors", r.Key, len(r.Files))
	}
	b := &s.nsr.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.taps[r.Key]; old != nil {
		old.Close()
	}
	b.taps[r.Key] = r.Files[0]
	return nil
}

// msdpMirror is the master's side of MSDP socket replication: every
// record goes on the control connection (they are small, and the
// inbound ones are waited for).
type msdpMirror Server

func (m *msdpMirror) peer() (*nsr.Peer, error) {
	s := (*Server)(m)
	if s.nsrDisabledForMSDP() {
		return nil, errors.New("msdp nonstop-routing-disable")
	}
	n := s.nsr
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return nil, errors.New("no backup routing engine")
	}
	return n.cur, nil
}

func msdpKey(kind string, conn msdp.ConnID, peer netip.Addr) string {
	// The seed's TLV: instance name and peer address (plus the master's
	// connection id and the kind of record).
	return fmt.Sprintf("%s/master/%s/%d", kind, peer, conn)
}

func parseMSDPKey(k string) (kind string, conn msdp.ConnID, err error) {
	parts := strings.Split(k, "/")
	if len(parts) != 4 {
		return "", 0, fmt.Errorf("msdp record key %q", k)
	}
	id, err := strconv.ParseUint(parts[3], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("msdp record key %q: %w", k, err)
	}
	return parts[0], msdp.ConnID(id), nil
}

func offsetData(off uint64, b []byte) []byte {
	out := make([]byte, 8+len(b))
	for i := range 8 {
		out[i] = byte(off >> (56 - 8*i))
	}
	copy(out[8:], b)
	return out
}

func splitOffset(d []byte) (uint64, []byte, error) {
	if len(d) < 8 {
		return 0, nil, errors.New("msdp stream record without an offset")
	}
	var off uint64
	for i := range 8 {
		off = off<<8 | uint64(d[i])
	}
	return off, d[8:], nil
}

// In implements msdpnet.Mirror: the backup has the bytes before the
// master consumes them.
func (m *msdpMirror) In(conn msdp.ConnID, peer netip.Addr, off uint64, b []byte) error {
	p, err := m.peer()
	if err != nil {
		return err
	}
	return p.Request(nsr.Record{Type: clientMSDP, Key: msdpKey("in", conn, peer), Data: offsetData(off, b)})
}

// Out implements msdpnet.Mirror.
func (m *msdpMirror) Out(conn msdp.ConnID, peer netip.Addr, off uint64, b []byte) error {
	p, err := m.peer()
	if err != nil {
		return err
	}
	return p.SendControl(nsr.Record{Type: clientMSDP, Key: msdpKey("out", conn, peer), Data: offsetData(off, b)})
}

// Socket implements msdpnet.SocketMirror: a new session's socket goes to
// the backup before its first byte.
func (m *msdpMirror) Socket(f *os.File, pos msdpnet.Position) error {
	defer f.Close()
	p, err := m.peer()
	if err != nil {
		return err
	}
	return sendSocket(p, f, pos)
}

func sendSocket(p *nsr.Peer, f *os.File, pos msdpnet.Position) error {
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return p.Request(nsr.Record{Type: clientMSDP, Key: msdpKey("socket", pos.Conn, pos.Peer), Data: b, Files: []*os.File{f}})
}

// nsrDisabledForMSDP: MSDP's sockets are not replicated (no
// nonstop-routing, or msdp nonstop-routing-disable).
func (s *Server) nsrDisabledForMSDP() bool {
	c := s.Config()
	return c == nil || !c.NonstopRouting || c.MSDP.NonstopRoutingDisable
}

// msdpMirrorStatus exports every session's socket when a backup comes up
// (the seed's JSR replication on the mirror connection's status change).
func (s *Server) msdpMirrorStatus(up bool, p *nsr.Peer) {
	if !up || s.standby() || s.nsrDisabledForMSDP() {
		return
	}
	t := s.msdp.Transport()
	if t == nil {
		return
	}
	n := s.nsr
	n.mu.Lock()
	n.cur = p
	n.mu.Unlock()
	for _, c := range t.Conns() {
		err := t.Export(c.Conn, func(f *os.File, pos msdpnet.Position) error {
			defer f.Close()
			return sendSocket(p, f, pos)
		})
		if err != nil && !errors.Is(err, msdpnet.ErrNotReplicated) {
			s.log.Warn("nsr: msdp socket not replicated", "peer", c.Peer, "err", err)
		}
	}
}

// msdpConnDown tells the backup a session ended on the master.
func (s *Server) msdpConnDown(conn msdp.ConnID) {
	if s.nsr == nil || s.standby() {
		return
	}
	n := s.nsr
	n.mu.Lock()
	p := n.cur
	n.mu.Unlock()
	if p != nil {
		_ = p.SendControl(nsr.Record{Type: clientMSDP, Key: msdpKey("down", conn, netip.IPv4Unspecified())})
	}
}

// backupMSDP feeds the master's sockets and streams to the shadows
// (channel reader, never the loop: feeding waits for the engine's queue).
func (s *Server) backupMSDP(r nsr.Record) error {
	kind, conn, err := parseMSDPKey(r.Key)
	if err != nil {
		for _, f := range r.Files {
			f.Close()
		}
		return err
	}
	t := s.msdp.Transport()
	if t == nil {
		for _, f := range r.Files {
			f.Close()
		}
		return errors.New("msdp transport not running")
	}
	b := &s.nsr.b
	b.mu.Lock()
	shadow, ok := b.shadows[conn]
	b.mu.Unlock()
	switch kind {
	case "socket":
		if len(r.Files) != 1 {
			for _, f := range r.Files {
				f.Close()
			}
			return fmt.Errorf("msdp socket record with %d descriptors", len(r.Files))
		}
		var pos msdpnet.Position
		if err := json.Unmarshal(r.Data, &pos); err != nil {
			r.Files[0].Close()
			return fmt.Errorf("msdp socket position: %w", err)
		}
		id, err := t.Shadow(r.Files[0], pos)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.shadows[conn] = id
		b.mu.Unlock()
		return nil
	case "in", "out":
		if !ok {
			return fmt.Errorf("msdp %s record for unknown connection %d", kind, conn)
		}
		off, data, err := splitOffset(r.Data)
		if err != nil {
			return err
		}
		if kind == "in" {
			return t.FeedIn(shadow, off, data)
		}
		return t.FeedOut(shadow, off, data)
	case "down":
		if !ok {
			return nil
		}
		b.mu.Lock()
		delete(b.shadows, conn)
		b.mu.Unlock()
		return t.Unshadow(shadow, "closed on the master")
	}
	return fmt.Errorf("msdp record kind %q", kind)
}

// TakeOver implements nsr.Handler: this backup becomes the master.
func (s *Server) TakeOver(reason string, synced, planned bool) error {
	start := time.Now()
	n := s.nsr
	b := &n.b
	// Everything the master sent is applied first.
	if err := s.backupFlush(); err != nil {
		return err
	}
	b.mu.Lock()
	mirror, pimOK := b.mirror, b.pim
	taps := b.taps
	b.taps = map[string]*os.File{}
	shadows := make([]msdp.ConnID, 0, len(b.shadows))
	for _, id := range b.shadows {
		shadows = append(shadows, id)
	}
	b.shadows = map[msdp.ConnID]msdp.ConnID{}
	b.mu.Unlock()
	if !s.Config().NonstopRouting {
		// Graceful switchover alone: the kernel's state is used, the
		// protocols restart (the replicated PIM state is not).
		pimOK = false
	}
	dropShadows := s.nsrDisabledForMSDP()
	var changed int
	kernelOK := mirror != nil
	err := s.eng.Do(s.runCtx, func() error {
		// The kernel's state as mirrored so far — complete or not, it
		// is the master's at one point of its change log — keeps the
		// cards' routes and next-hop ids.
		if kernelOK {
			if err := s.kern.Replace(mirror.State()); err != nil {
				return fmt.Errorf("kernel: %w", err)
			}
		}
		if pimOK {
			changed = s.mc.Takeover()
		} else {
			// PIM not replicated: it starts afresh (new generation IDs,
			// joins relearned from the neighbours and IGMP), as after a
			// restart. What the old master's PIM had in the kernel stays,
			// stale, while it relearns, and what it has not relearned
			// after staleGrace is withdrawn (graceful restart's stale
			// routes): the cards keep forwarding meanwhile.
			s.mc.SetReplica(false)
			s.mc.Reset()
			if err := s.mc.Configure(s.Config()); err != nil {
				s.log.Error("nsr: takeover: multicast protocols", "err", err)
			}
			if kernelOK {
				s.eng.AfterFunc(staleGrace, func() {
					n := s.mc.Reconcile()
					s.log.Info("nsr: stale PIM routes of the old master withdrawn", "changes", n)
				})
			} else {
				changed = s.mc.Takeover()
			}
		}
		if s.host != nil {
			if len(taps) > 0 {
				if err := s.host.Adopt(taps); err != nil {
					s.log.Error("nsr: takeover: host interfaces", "err", err)
				}
			} else {
				s.host.SetStandby(false)
			}
			s.syncHost()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if t := s.msdp.Transport(); t != nil {
		for _, id := range shadows {
			if dropShadows {
				// Without socket replication the sessions start over.
				_ = t.Unshadow(id, "msdp non-stop routing disabled")
				continue
			}
			if err := t.Takeover(id); err != nil {
				s.log.Warn("nsr: msdp session not continued", "err", err)
			}
		}
	}
	if err := s.eng.Do(s.runCtx, func() error { s.msdp.Activate(); return nil }); err != nil {
		return err
	}
	n.takeover.Store(int64(time.Since(start)))
	n.setMaster()
	s.log.Info("nsr: this routing engine is the master", "reason", reason, "replicated", synced, "planned", planned,
		"pim_route_changes", changed, "msdp_sessions", len(shadows), "took", time.Duration(n.takeover.Load()))
	return nil
}

// HandOver implements nsr.Handler: a planned switchover on the master.
func (s *Server) HandOver(ctx context.Context, p *nsr.Peer) error {
	// The cards reconnect to the new master; nothing from them changes
	// the kernel any more.
	if s.fpcStop != nil {
		s.fpcStop()
	}
	// Stop the protocols where they stand, on the loop: PIM stops its
	// timers and packets, MSDP's sessions stop at a TLV boundary.
	err := s.eng.Do(ctx, func() error {
		s.mc.SetReplica(true)
		return nil
	})
	if err != nil {
		return err
	}
	if t := s.msdp.Transport(); t != nil {
		for _, c := range t.Conns() {
			if _, err := t.Quiesce(c.Conn); err != nil && !errors.Is(err, msdpnet.ErrNotReplicated) {
				s.log.Warn("nsr: msdp session not quiesced", "peer", c.Peer, "err", err)
			}
		}
	}
	if s.host != nil {
		// The backup holds the devices; ours stop reading.
		_ = s.host.Close()
	}
	// Every change so far must be on its way to the backup: the follower
	// signals when it has sent the marker appended now.
	done := make(chan struct{})
	if err := s.eng.Do(ctx, func() error {
		s.nsr.mu.Lock()
		s.nsr.handover = done
		s.nsr.mu.Unlock()
		s.clog.AppendRecord(0, nil)
		return nil
	}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("the backup did not catch up with the change log in 10 s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// staleGrace is how long a new master whose PIM state was not replicated
// keeps the old master's PIM routes while its PIM relearns them: a join
// refresh period (60 s) and IGMP's query response time, with margin.
const staleGrace = 90 * time.Second

// backupCursor names the backup's change-log cursor.
const backupCursor = "backup routing engine"
