package msdpnet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
	"github.com/mxfwd/mxfwd/re/msdp/msdpnet"
)

// Non-stop routing across two real processes: the test binary re-runs
// itself as the master (nsrChildEnv set), which mirrors its session over
// a Unix SOCK_SEQPACKET socket, the descriptor passed with SCM_RIGHTS;
// the test process is the backup. The master is killed with SIGKILL.

const nsrChildEnv = "MXMN_NSR_MASTER"

// childParams configure the master process.
type childParams struct {
	Sock   string        `json:"sock"`
	Local  string        `json:"local"`
	Peer   string        `json:"peer"`
	Netns  string        `json:"netns,omitempty"`
	KA     time.Duration `json:"ka"`
	Hold   time.Duration `json:"hold"`
	Series bool          `json:"series"` // send numbered SAs continuously
}

// Mirror records on the Unix socket: kind, stream offset, payload.
const (
	recSocket = 'S' // payload: Position JSON; the descriptor in SCM_RIGHTS
	recIn     = 'I'
	recOut    = 'O'
)

// procMirror is the master's mirror over the Unix socket: a record is
// one datagram, written before In/Out return, so it reaches the backup
// even if the master dies right after.
type procMirror struct {
	mu sync.Mutex
	uc *net.UnixConn
}

func (m *procMirror) send(kind byte, off uint64, b []byte, oob []byte) error {
	rec := make([]byte, 9+len(b))
	rec[0] = kind
	binary.BigEndian.PutUint64(rec[1:], off)
	copy(rec[9:], b)
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, err := m.uc.WriteMsgUnix(rec, oob, nil)
	return err
}

func (m *procMirror) Socket(f *os.File, pos msdpnet.Position) error {
	defer f.Close()
	js, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = m.send(recSocket, 0, js, unix.UnixRights(int(fd))) }); err != nil {
		return err
	}
	return serr
}

func (m *procMirror) In(_ msdp.ConnID, _ netip.Addr, off uint64, b []byte) error {
	return m.send(recIn, off, b, nil)
}

func (m *procMirror) Out(_ msdp.ConnID, _ netip.Addr, off uint64, b []byte) error {
	return m.send(recOut, off, b, nil)
}

// nsrMasterMain runs the master process until it is killed.
func nsrMasterMain(env string) int {
	var p childParams
	if err := json.Unmarshal([]byte(env), &p); err != nil {
		fmt.Fprintln(os.Stderr, "params:", err)
		return 2
	}
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: p.Sock, Net: "unixpacket"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mirror channel:", err)
		return 2
	}
	_ = uc.SetWriteBuffer(4 << 20)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := msdp.Config{LocalAddress: a(p.Local), ActiveSourceLimit: &msdp.Limit{}, ConnectRetry: time.Second,
		KeepAlive: p.KA, HoldTime: p.Hold, Peers: []msdp.PeerConfig{{Address: a(p.Peer)}}}
	e, err := msdp.New(cfg, msdp.Options{Logger: log, Seed: 1}, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
		return 2
	}
	ctx := context.Background()
	tr := msdpnet.New(ctx, msdpnet.Options{Logger: log, Netns: p.Netns, Mirror: &procMirror{uc: uc}, DialTimeout: 2 * time.Second})
	h := msdpnet.NewHost(e, tr, nil)
	if p.Series {
		go func() {
			for k := 0; k < 60000; {
				var conn msdp.ConnID
				for _, cs := range tr.Conns() {
					conn = cs.Conn
				}
				if conn != 0 {
					data := seriesSAs(seriesMaster, a(p.Local), k, k+1, 1)
					_ = h.Do(ctx, func(*msdp.Engine, time.Time) []msdp.Action {
						return []msdp.Action{msdp.Send{Peer: a(p.Peer), Conn: conn, Data: data}}
					})
					k++
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	_ = h.Run(ctx)
	return 0
}

// masterProc is the master process seen from the backup (the test).
type masterProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	// Records are fed by one goroutine, as the lead's channel would.
	id      atomic.Uint64 // the shadow's id
	records atomic.Uint64
	feedErr atomic.Pointer[error]
	drained chan struct{} // the channel reached EOF
}

// startMaster runs the master process with a mirror channel to backup.
func startMaster(t *testing.T, backup *msdpnet.Transport, p childParams) *masterProc {
	p.Sock = filepath.Join(t.TempDir(), "mirror.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: p.Sock, Net: "unixpacket"})
	require.NoError(t, err)
	defer ln.Close()
	js, _ := json.Marshal(p)
	m := &masterProc{stderr: &syncBuffer{}, drained: make(chan struct{})}
	m.cmd = exec.Command(os.Args[0], "-test.run=^$")
	m.cmd.Env = append(os.Environ(), nsrChildEnv+"="+string(js))
	m.cmd.Stderr = m.stderr
	require.NoError(t, m.cmd.Start())
	t.Cleanup(func() {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		if t.Failed() {
			t.Logf("master process log:\n%s", m.stderr.String())
		}
	})
	_ = ln.SetDeadline(time.Now().Add(10 * time.Second))
	uc, err := ln.AcceptUnix()
	require.NoError(t, err, "master process connects: %s", m.stderr.String())
	_ = uc.SetReadBuffer(4 << 20)
	go func() {
		defer close(m.drained)
		defer uc.Close()
		buf := make([]byte, 512<<10)
		oob := make([]byte, unix.CmsgSpace(4))
		for {
			n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
			if err != nil || n == 0 {
				return
			}
			m.records.Add(1)
			off, data := binary.BigEndian.Uint64(buf[1:9]), buf[9:n]
			var ferr error
			switch buf[0] {
			case recSocket:
				ferr = func() error {
					scms, err := unix.ParseSocketControlMessage(oob[:oobn])
					if err != nil || len(scms) != 1 {
						return fmt.Errorf("socket record without a descriptor: %v", err)
					}
					fds, err := unix.ParseUnixRights(&scms[0])
					if err != nil || len(fds) != 1 {
						return fmt.Errorf("socket record rights: %v", err)
					}
					var pos msdpnet.Position
					if err := json.Unmarshal(data, &pos); err != nil {
						unix.Close(fds[0])
						return err
					}
					id, err := backup.Shadow(os.NewFile(uintptr(fds[0]), "msdp"), pos)
					m.id.Store(uint64(id))
					return err
				}()
			case recIn:
				ferr = backup.FeedIn(msdp.ConnID(m.id.Load()), off, data)
			case recOut:
				ferr = backup.FeedOut(msdp.ConnID(m.id.Load()), off, data)
			}
			if ferr != nil {
				m.feedErr.CompareAndSwap(nil, &ferr)
			}
		}
	}()
	return m
}

// kill SIGKILLs the master and waits until every record it sent is fed.
func (m *masterProc) kill(t *testing.T) {
	require.NoError(t, m.cmd.Process.Signal(syscall.SIGKILL))
	_ = m.cmd.Wait()
	select {
	case <-m.drained:
	case <-time.After(10 * time.Second):
		t.Fatal("mirror channel not drained 10 s after the master died")
	}
	if p := m.feedErr.Load(); p != nil {
		t.Fatalf("feeding the shadow: %v", *p)
	}
}

// TestNSRSigkillMasterProcess: the remote streams numbered SAs without a
// pause and the master process sends its own; at a random instant the
// master gets SIGKILL; the backup takes over; the remote notices
// nothing, and the backup's engine has every SA of the remote once, in
// order.
func TestNSRSigkillMasterProcess(t *testing.T) {
	needRoot(t)
	g := &nsrRig{t: t, ip: loopNet()}
	g.cfg = fast(msdp.Config{LocalAddress: a(g.ip(2)), ActiveSourceLimit: &msdp.Limit{}, Peers: []msdp.PeerConfig{{Address: a(g.ip(1))}}})
	g.btrace = &saTrace{peer: a(g.ip(1))}
	g.backup = startRouter(t, g.cfg, routerOpt{standby: true, trace: g.btrace.trace})
	m := startMaster(t, g.backup.tr, childParams{Local: g.ip(2), Peer: g.ip(1), KA: g.cfg.KeepAlive, Hold: g.cfg.HoldTime, Series: true})
	g.rem = startRemote(t, g.ip(1), g.ip(2), 0, 0)
	eventually(t, 10*time.Second, "backup shadows the session", func() bool {
		return m.id.Load() != 0 && g.backup.peer(g.ip(1)).State == msdp.StateEstablished
	})
	var sent atomic.Int64
	stop := make(chan struct{})
	senderDone := make(chan struct{})
	go func() { // the remote: 10 entries per SA, one SA a millisecond
		defer close(senderDone)
		for k := 0; k+10 <= 60000; k += 10 {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := g.rem.c.Write(seriesSAs(seriesRemote, g.rem.addr, k, k+10, 10)); err != nil {
				return
			}
			sent.Store(int64(k + 10))
			time.Sleep(time.Millisecond)
		}
	}()
	eventually(t, 10*time.Second, "traffic both ways", func() bool {
		mm, _, _, _, _ := g.rem.snapshot()
		return len(g.btrace.get()) >= 3000 && len(mm) >= 100
	})
	time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
	m.kill(t)
	killedAt := sent.Load()
	takenAt := time.Now()
	id := msdp.ConnID(m.id.Load())
	require.NoError(t, g.backup.tr.Takeover(id))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, g.backup.h.Start(ctx))
	s := g.socket(g.backup, id)
	t.Logf("SIGKILL with %d remote entries sent, %d records fed; takeover discarded %d, completed %d", killedAt, m.records.Load(), s.Discarded, s.Completed)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-senderDone
	g.send(g.backup, seriesBackup, 0, 1000, 100)
	g.finish(int(sent.Load()), 1000, takenAt)
}

// frrUptime parses FRR's "HH:MM:SS" peer uptime.
func frrUptime(s string) (time.Duration, bool) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			return 0, false
		}
		d += time.Duration(n) * unit
	}
	return d, true
}

// TestNSRFRRSigkill: FRR 8.4 peers with our master process in another
// namespace, with 2 s KeepAlives and a 6 s hold time; the master gets
// SIGKILL; the backup (this process) takes the session over. FRR's peer
// stays established with its uptime running on (no reset, no hold
// expiry), and an SA the new master originates reaches FRR's cache.
func TestNSRFRRSigkill(t *testing.T) {
	needFRR(t)
	prefix := fmt.Sprintf("mxmn%d", os.Getpid())
	nsD, nsF := newNSPrefixed(t, prefix, "d"), newNSPrefixed(t, prefix, "f")
	const dut, frrAddr = "10.91.0.1", "10.91.0.2" // FRR higher: it listens, the master connects
	link(t, nsD, "mxn0", dut+"/30", nsF, "mxf0", frrAddr+"/30")
	frr := startFRR(t, nsF, "mxmnfrr", "mxf0", a(frrAddr), fmt.Sprintf(`interface mxf0
 ip pim
!
ip msdp timers 2 6 1
ip msdp peer %s source %s
!
`, dut, frrAddr))
	cfg := msdp.Config{LocalAddress: a(dut), ActiveSourceLimit: &msdp.Limit{}, ConnectRetry: time.Second,
		KeepAlive: 2 * time.Second, HoldTime: 6 * time.Second, Peers: []msdp.PeerConfig{{Address: a(frrAddr)}}}
	backup := startRouter(t, cfg, routerOpt{netns: nsD, standby: true})
	m := startMaster(t, backup.tr, childParams{Local: dut, Peer: frrAddr, Netns: "/run/netns/" + nsD, KA: cfg.KeepAlive, Hold: cfg.HoldTime})
	eventually(t, 20*time.Second, "FRR established with the master, the backup shadowing", func() bool {
		return frr.peers()[dut].State == "established" && m.id.Load() != 0 && backup.peer(frrAddr).State == msdp.StateEstablished
	})
	time.Sleep(3 * time.Second)
	before, ok := frrUptime(frr.peers()[dut].UpTime)
	require.True(t, ok, "FRR uptime %q", frr.peers()[dut].UpTime)
	m.kill(t)
	killed := time.Now()
	id := msdp.ConnID(m.id.Load())
	require.NoError(t, backup.tr.Takeover(id))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, backup.h.Start(ctx))
	backup.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
		return e.Handle(now, msdp.LocalSourceEvent{Source: a("10.91.50.1"), Group: a("239.91.0.1"), RP: a(dut), Active: true}, nil)
	})
	eventually(t, 10*time.Second, "the new master's SA in FRR", func() bool {
		s, ok := frr.sas()["239.91.0.1"]["10.91.50.1"]
		return ok && s.RP == dut
	})
	time.Sleep(time.Until(killed.Add(8 * time.Second))) // past FRR's 6 s hold time
	p := frr.peers()[dut]
	require.Equal(t, "established", p.State)
	after, ok := frrUptime(p.UpTime)
	require.True(t, ok, "FRR uptime %q", p.UpTime)
	assert.GreaterOrEqual(t, after, before+7*time.Second, "FRR's session uptime went on (before %v, after %v)", before, after)
	info := backup.peer(frrAddr)
	assert.Equal(t, msdp.StateEstablished, info.State)
	assert.Positive(t, info.Stats.KeepAliveReceived)
	t.Logf("FRR uptime %v before SIGKILL, %v 8 s after; FRR: %s", before, after, bytes.TrimSpace([]byte(frr.vtysh("show ip msdp peer"))))
}
