package ipc_test

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/ipc"
)

// batch is the number of messages per frame in the benchmarks: a burst of
// resolve requests or a slice of a download.
const batch = 64

func resolveBatch() []ipc.Message {
	msgs := make([]ipc.Message, batch)
	for i := range msgs {
		msgs[i] = &ipc.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, PrefixLen: 64, Token: uint16(i),
			Group: netip.AddrFrom4([4]byte{232, 0, byte(i >> 8), byte(i)}), Source: source}
	}
	return msgs
}

func reportMsgs(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/msg")
}

// BenchmarkCodec encodes and decodes frames of 64 messages; one op is one
// frame. Decoding allocates the []Message and one slab of structs per
// frame (2 allocs per 64 messages).
func BenchmarkCodec(b *testing.B) {
	for _, tc := range []struct {
		name string
		msgs []ipc.Message
	}{
		{"resolve", resolveBatch()},
		{"route-add", routeAdds(batch)},
	} {
		frame, err := ipc.AppendFrame(nil, tc.msgs...)
		require.NoError(b, err)
		b.Run("encode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			buf := make([]byte, 0, len(frame))
			for b.Loop() {
				buf, _ = ipc.AppendFrame(buf[:0], tc.msgs...)
			}
			reportMsgs(b, batch)
		})
		b.Run("decode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, _, err := ipc.DecodeFrame(frame, ipc.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			reportMsgs(b, batch)
		})
		b.Run("roundtrip/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			buf := make([]byte, 0, len(frame))
			for b.Loop() {
				buf, _ = ipc.AppendFrame(buf[:0], tc.msgs...)
				if _, _, err := ipc.DecodeFrame(buf, ipc.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			reportMsgs(b, batch)
		})
	}
}

// BenchmarkSessionLoopback sends route adds from an RE session to an FPC
// session over TCP on 127.0.0.1, 64 per Send; one op is one Send. The
// clock stops when the FPC's Handler has seen every message.
func BenchmarkSessionLoopback(b *testing.B) {
	cli, srv := tcpPair(b)
	var got atomic.Int64
	var target atomic.Int64
	target.Store(-1)
	all := make(chan struct{}, 1)
	fpc := ipc.NewSession(cli, ipc.SessionConfig{Handler: func(ipc.Message) {
		if got.Add(1) == target.Load() {
			all <- struct{}{}
		}
	}})
	re := ipc.NewSession(srv, ipc.SessionConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { re.Run(ctx); done <- struct{}{} }()
	go func() { fpc.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	msgs := routeAdds(batch)
	b.ReportAllocs()
	b.ResetTimer()
	target.Store(int64(b.N * batch))
	for range b.N {
		if err := re.Send(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", got.Load(), b.N*batch)
	}
	b.StopTimer()
	reportMsgs(b, batch)
	st := re.Stats()
	b.ReportMetric(float64(st.MessagesOut)/float64(max(st.FramesOut, 1)), "msgs/frame")
}
