// Package ipctest provides fakes for tests of code built on package ipc:
// two sessions connected in memory, and an inbox that collects what a
// session's Handler receives.
//
// Everything here is safe for concurrent use. Pipe owns the goroutines that
// run the sessions and stops them in the test's cleanup.
package ipctest

import (
	"context"
	"net"
	"testing"

	"github.com/mxfwd/mxfwd/ipc"
)

// Pair is two sessions connected through net.Pipe, running.
type Pair struct {
	A, B *ipc.Session
	// AErr and BErr receive the result of each session's Run (once).
	AErr, BErr <-chan error
	// Conns are the two ends of the pipe (A's, then B's), for tests that
	// break the connection.
	Conns  [2]net.Conn
	cancel context.CancelFunc
}

// Pipe connects two sessions configured by a and b over net.Pipe and runs
// them until Stop or the end of the test. Local and Peer default to the
// master RE for a and FPC 0 for b.
func Pipe(tb testing.TB, a, b ipc.SessionConfig) *Pair {
	tb.Helper()
	if a.Local == 0 && a.Peer == 0 {
		a.Local, a.Peer = ipc.TNPMaster, ipc.FPCAddr(0)
	}
	if b.Local == 0 && b.Peer == 0 {
		b.Local, b.Peer = a.Peer, a.Local
	}
	ca, cb := net.Pipe()
	p := &Pair{
		A:     ipc.NewSession(ca, a),
		B:     ipc.NewSession(cb, b),
		Conns: [2]net.Conn{ca, cb},
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	aerr, berr := make(chan error, 1), make(chan error, 1)
	p.AErr, p.BErr = aerr, berr
	done := make(chan struct{}, 2)
	go func() { aerr <- p.A.Run(ctx); done <- struct{}{} }()
	go func() { berr <- p.B.Run(ctx); done <- struct{}{} }()
	tb.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return p
}

// Stop cancels both sessions; their Run results arrive on AErr and BErr.
func (p *Pair) Stop() { p.cancel() }

// Inbox collects messages from a session Handler into a bounded channel.
type Inbox struct {
	C chan ipc.Message
}

// NewInbox returns an inbox holding up to n messages; Handler blocks when
// it is full (use a large n, or drain C).
func NewInbox(n int) *Inbox { return &Inbox{C: make(chan ipc.Message, n)} }

// Handler is an ipc.SessionConfig Handler that sends m to C.
func (i *Inbox) Handler(m ipc.Message) { i.C <- m }
