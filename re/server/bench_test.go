package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/nsr"
)

// BenchmarkInstallThroughChangeLog measures (S,G) routes per second from
// the kernel (batches of 1000 joins on the owner loop) until the last route
// is applied on a real FPC runtime (swpfe) over loopback TCP, without and
// with a second card that registered and then stopped reading. Compare
// the two in one run: the stalled card must not slow the healthy one.
func BenchmarkInstallThroughChangeLog(b *testing.B) {
	const n = 100_000
	for _, stalled := range []bool{false, true} {
		name := "healthy"
		if stalled {
			name = "one-stalled-card"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, stop := benchServer(b)
				f4 := startFPC(b, 4, s.Addr())
				eventually(b, "FPC 4 synced", func() bool { return len(s.FPCs()) == 1 && s.FPCs()[0].Synced })
				if stalled {
					c := stalledCard(b, s.Addr())
					defer c.Close()
					eventually(b, "the stalled card registered", func() bool { return len(s.FPCs()) == 2 })
				}
				joins := manyJoins(n)
				base := f4.Driver().Summary().Routes
				b.StartTimer()
				start := time.Now()
				for i := 0; i < n; i += 1000 {
					if err := s.Engine().Do(context.Background(), func() error { return s.Kernel().JoinBatch(joins[i : i+1000]) }); err != nil {
						b.Fatal(err)
					}
				}
				// The log is applied in order: the last join's route on
				// the card means all of them are (polling Summary would
				// walk every NH under the driver's lock and slow the
				// applier it measures).
				last := hal.SG(joins[n-1].Source, joins[n-1].Group)
				for {
					if _, err := f4.Driver().Route(last); err == nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
				require.GreaterOrEqual(b, f4.Driver().Summary().Routes, base+n)
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "routes/s")
				b.StopTimer()
				stop()
			}
		})
	}
}

func benchServer(b *testing.B) (*Server, func()) {
	path := filepath.Join(b.TempDir(), "re.conf")
	text, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed003.conf"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, text, 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Config: cfg, Listen: "127.0.0.1:0", KeepaliveInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	return s, func() { cancel(); <-done }
}

// stalledCard registers slot 3 with a small receive window, sends
// keepalives and never reads.
func stalledCard(tb testing.TB, addr string) net.Conn {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ipc.ClientHandshake(c, &ipc.Register{Slot: 3, Addr: ipc.FPCAddr(3), Driver: "stalled"}, 5*time.Second); err != nil {
		tb.Fatal(err)
	}
	go func() {
		for seq := uint32(1); ; seq++ {
			if ipc.WriteMessages(c, &ipc.Keepalive{Seq: seq, Sent: time.Now().UnixNano()}) != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return c
}

// BenchmarkInstallWithBackup measures what non-stop routing costs the
// master's installs: (S,G) routes per second until the last route is
// applied on a card, with no backup (the kernel's deltas off), and with a
// backup routing engine in the same process following the change log
// (deltas on, gob-encoded over the mirror channel and applied to the
// backup's mirror), until the backup holds the last route too. Compare the
// two in one run.
func BenchmarkInstallWithBackup(b *testing.B) {
	const n = 100_000
	for _, withBackup := range []bool{false, true} {
		name := "alone"
		if withBackup {
			name = "with-backup"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				var s, bk *Server
				var stop func()
				if withBackup {
					s, bk, stop = benchPair(b)
				} else {
					s, stop = benchServer(b)
				}
				f4 := startFPC(b, 4, s.Addr())
				eventually(b, "FPC 4 synced", func() bool { return len(s.FPCs()) == 1 && s.FPCs()[0].Synced })
				joins := manyJoins(n)
				base := f4.Driver().Summary().Routes
				mirrored := func() int {
					bk.nsr.b.mu.Lock()
					defer bk.nsr.b.mu.Unlock()
					if bk.nsr.b.mirror == nil {
						return 0
					}
					return bk.nsr.b.mirror.Len()
				}
				var base2 int
				if bk != nil {
					base2 = mirrored()
				}
				b.StartTimer()
				start := time.Now()
				for i := 0; i < n; i += 1000 {
					if err := s.Engine().Do(context.Background(), func() error { return s.Kernel().JoinBatch(joins[i : i+1000]) }); err != nil {
						b.Fatal(err)
					}
				}
				// The log is applied in order: the last join's route on
				// the card means all of them are (polling Summary would
				// walk every NH under the driver's lock and slow the
				// applier it measures).
				last := hal.SG(joins[n-1].Source, joins[n-1].Group)
				for {
					if _, err := f4.Driver().Route(last); err == nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
				require.GreaterOrEqual(b, f4.Driver().Summary().Routes, base+n)
				card := time.Since(start)
				if bk != nil {
					for mirrored() < base2+n {
						time.Sleep(time.Millisecond)
					}
					b.ReportMetric(float64(n)/time.Since(start).Seconds(), "mirrored-routes/s")
				}
				b.ReportMetric(float64(n)/card.Seconds(), "routes/s")
				b.StopTimer()
				stop()
			}
		})
	}
}

// benchPair starts a master and its backup (non-stop routing) on the seed
// configuration with graceful switchover, and waits for the backup's
// initial replication.
func benchPair(b *testing.B) (master, backup *Server, stop func()) {
	dir := b.TempDir()
	text, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed003.conf"))
	if err != nil {
		b.Fatal(err)
	}
	text = append(text, "set chassis redundancy graceful-switchover\nset routing-options nonstop-routing\n"...)
	path := filepath.Join(dir, "re.conf")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		b.Fatal(err)
	}
	mirror := filepath.Join(dir, "m.sock")
	var servers [2]*Server
	var stops []func()
	for id := range 2 {
		cfg, err := config.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		node, err := nsr.New(nsr.Options{REID: id, Path: mirror, Prefer: []nsr.Role{nsr.RoleMaster, nsr.RoleBackup}[id]})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		role, err := node.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(Options{Config: cfg, ConfigPath: path, Listen: "127.0.0.1:0", KeepaliveInterval: 100 * time.Millisecond,
			NSR: node, Standby: role == nsr.RoleBackup})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		<-s.Ready()
		servers[id] = s
		stops = append(stops, func() { cancel(); <-done })
	}
	eventually(b, "backup in sync", func() bool { return servers[1].nsr.node.Status().Peer == "Steady State" })
	return servers[0], servers[1], func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}
