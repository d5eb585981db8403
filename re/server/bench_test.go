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

	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
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
				for f4.Driver().Summary().Routes < base+n {
					time.Sleep(time.Millisecond)
				}
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
