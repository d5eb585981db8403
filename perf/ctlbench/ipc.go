package ctlbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// downloadMessages returns the download of n (S,G) joins as the RE sends
// it: per (S,G) a composite NH (two members), an indirect and the route.
func downloadMessages(n int) []ipc.Message {
	msgs := make([]ipc.Message, 0, 3*n)
	for f := range n {
		s, g := flowSG(f)
		comp := compositeNH0 + hal.NHID(f)
		ind := hal.IndirectBase + 1 + hal.NHID(f)
		msgs = append(msgs,
			&ipc.NHAdd{NH: hal.NextHop{ID: comp, Type: hal.NHComposite, Members: []hal.NHID{1370, hal.IndirectBase + 6}}},
			&ipc.NHAdd{NH: hal.NextHop{ID: ind, Type: hal.NHIndirect, Target: comp}},
			&ipc.RouteAdd{Route: hal.Route{Key: hal.SG(s, g), NH: ind, RPF: 331, Flags: hal.RouteFlagsSG}})
	}
	return msgs
}

// IPC measures the codec (encode and decode of frames of 999 download
// messages, each for window) and two sessions over loopback TCP carrying
// total of them (first Send to last message handled).
func IPC(ctx context.Context, window time.Duration, total int) (Result, error) {
	win := window
	msgs := downloadMessages(333)
	var buf []byte
	var err error
	n := 0
	start := time.Now()
	for time.Since(start) < win {
		if buf, err = ipc.AppendFrame(buf[:0], msgs...); err != nil {
			return Result{}, fmt.Errorf("encode: %w", err)
		}
		n += len(msgs)
	}
	enc := float64(n) / time.Since(start).Seconds()
	lim := ipc.DefaultLimits()
	n = 0
	start = time.Now()
	for time.Since(start) < win {
		out, _, err := ipc.DecodeFrame(buf, lim)
		if err != nil {
			return Result{}, fmt.Errorf("decode: %w", err)
		}
		n += len(out)
	}
	dec := float64(n) / time.Since(start).Seconds()
	lb, mbit, err := ipcLoopback(ctx, msgs, total)
	if err != nil {
		return Result{}, fmt.Errorf("loopback: %w", err)
	}
	return Result{Metrics: map[string]float64{"encode_msgs_per_s": enc, "decode_msgs_per_s": dec, "loopback_msgs_per_s": lb, "loopback_mbit_per_s": mbit}}, nil
}

// ipcLoopback sends total messages (msgs over and over, in Sends of
// len(msgs)) from one session to another over 127.0.0.1 and returns
// messages/s and Mbit/s from the first Send to the last message handled.
func ipcLoopback(ctx context.Context, msgs []ipc.Message, total int) (float64, float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	srv, ok := <-accepted
	if !ok {
		cli.Close()
		return 0, 0, errors.New("accept failed")
	}
	var got atomic.Int64
	done := make(chan struct{})
	recv := ipc.NewSession(srv, ipc.SessionConfig{Local: ipc.FPCAddr(1), Peer: ipc.TNPMaster, KeepaliveInterval: time.Hour,
		Handler: func(ipc.Message) {
			if got.Add(1) == int64(total) {
				close(done)
			}
		}})
	send := ipc.NewSession(cli, ipc.SessionConfig{Local: ipc.TNPMaster, Peer: ipc.FPCAddr(1), KeepaliveInterval: time.Hour})
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- recv.Run(sctx) }()
	go func() { errc <- send.Run(sctx) }()
	defer func() { cancel(); <-errc; <-errc }()
	start := time.Now()
	for sent := 0; sent < total; {
		k := min(len(msgs), total-sent)
		if err := send.Send(sctx, msgs[:k]...); err != nil {
			return 0, 0, err
		}
		sent += k
	}
	select {
	case <-done:
	case <-sctx.Done():
		return 0, 0, context.Cause(sctx)
	case err := <-errc:
		return 0, 0, fmt.Errorf("session ended after %d of %d messages: %v", got.Load(), total, err)
	}
	el := time.Since(start).Seconds()
	st := send.Stats()
	return float64(total) / el, float64(st.BytesOut) * 8 / el / 1e6, nil
}
