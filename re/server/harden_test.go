package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/drivers/swpfe"
	"github.com/mxfwd/mxfwd/drivers/trio"
	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/clock"
	"github.com/mxfwd/mxfwd/ipc"
	"github.com/mxfwd/mxfwd/re/config"
)

var testKey = []byte("mxhd-test-key-0123456789abcdef")

// startHardened starts an RE on the seed configuration with opts
// adjusted by set.
func startHardened(t *testing.T, set func(*Options)) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "re.conf")
	require.NoError(t, os.WriteFile(path, []byte(seedConfig(t)), 0o644))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	opt := Options{Config: cfg, ConfigPath: path, Listen: "127.0.0.1:0", KeepaliveInterval: 100 * time.Millisecond, RegisterTimeout: 2 * time.Second}
	if set != nil {
		set(&opt)
	}
	s, err := New(opt)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s
}

// startCard starts an FPC runtime with cfg (slot, driver and RE filled in
// by the caller).
func startCard(t testing.TB, cfg fpc.Config) *fpc.Runtime {
	t.Helper()
	if cfg.NewDriver == nil {
		cfg.DriverName, cfg.NewDriver = "swpfe", swpfe.New
	}
	cfg.KeepaliveInterval, cfg.StatsInterval = 100*time.Millisecond, 50*time.Millisecond
	rt, err := fpc.New(context.Background(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rt
}

// rawCard registers slot with key (nil: none) and then reads and drops
// whatever the RE sends; the caller writes what it wants.
func rawCard(t *testing.T, addr string, slot hal.Slot, key []byte) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = ipc.ClientHandshakeAuth(c, &ipc.Register{Slot: uint16(slot), Addr: ipc.FPCAddr(slot), Driver: "raw"}, ipc.ClientAuth{Key: key}, 5*time.Second)
	if err != nil {
		c.Close()
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, c) }()
	return c, nil
}

func floodFrame(t *testing.T, from, n int) []byte {
	msgs := make([]ipc.Message, n)
	for i := range msgs {
		f := from + i
		msgs[i] = &ipc.ResolveRequest{NH: hal.NHResolveID, Ingress: 331, PrefixLen: 64,
			Source: netip.AddrFrom4([4]byte{10, 66, byte(f >> 8), byte(f)}), Group: netip.AddrFrom4([4]byte{239, 66, byte(f >> 16), byte(f)})}
	}
	b, err := ipc.AppendFrame(nil, msgs...)
	require.NoError(t, err)
	return b
}

// A card that authenticated and then floods resolve requests for random
// (S,G) stays within its bounds: the RE drops what exceeds its resolve
// limit, installs at most its mdiscard bound, keeps its own memory, and
// the other cards still get their joins and their own mdiscard entries.
func TestResolveFloodFromAHostileCardStaysWithinItsBounds(t *testing.T) {
	const perSlot = 500
	s := startHardened(t, func(o *Options) {
		o.AuthKey = testKey
		o.ResolveLimit = 20_000
		o.DiscardLimitPerSlot = perSlot
		o.DiscardLimit = 4 * perSlot
	})
	f3 := startCard(t, fpc.Config{Slot: 3, RE: s.Addr(), AuthKey: testKey})
	f4 := startCard(t, fpc.Config{Slot: 4, RE: s.Addr(), AuthKey: testKey, DriverName: "trio", NewDriver: trio.New})
	eventually(t, "cards 3 and 4 synced", func() bool {
		fs := s.FPCs()
		return len(fs) == 2 && fs[0].Synced && fs[1].Synced
	})
	// Synced is the RE's view: wait until card 3 has programmed the
	// joins' routes and 224/4 before counting.
	want := s.Kernel().Summary().ForwardingRoutes + 1
	eventually(t, "card 3 programmed", func() bool { return f3.Driver().Summary().Routes >= want })
	routes3 := f3.Driver().Summary().Routes

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// The hostile card: 100,000 distinct flows, as fast as TCP takes them.
	c, err := rawCard(t, s.Addr(), 5, testKey)
	require.NoError(t, err)
	const flood = 100_000
	for i := 0; i < flood; i += 5000 {
		_, err := c.Write(floodFrame(t, i, 5000))
		require.NoError(t, err)
	}
	eventually(t, "the flood read by the RE", func() bool { return s.stats.Resolves.Load() >= flood })
	eventually(t, "the owner loop idle", func() bool { return s.Engine().Stats().QueueDepth == 0 })

	sum := s.Kernel().Summary()
	t.Logf("mdiscard %d, refused at the bound %d, over the resolve limit %d, dropped by the loop %d",
		sum.DiscardRoutes, sum.DiscardRefused, s.stats.ResolveLimited.Load(), s.Engine().Stats().Dropped["resolve"])
	assert.LessOrEqual(t, sum.DiscardRoutes, perSlot, "mdiscard entries within the card's bound")
	assert.Positive(t, sum.DiscardRefused+s.stats.ResolveLimited.Load()+s.Engine().Stats().Dropped["resolve"], "the excess was refused and counted")
	var slot5 *FPCInfo
	for _, f := range s.FPCs() {
		if f.Slot == 5 {
			slot5 = &f
		}
	}
	require.NotNil(t, slot5)
	out := runCLI(t, s, "show system statistics ipc")
	assert.Contains(t, out, "mdiscard-refused:")

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(64<<20), "heap growth over the flood (RE and both cards)")
	eventually(t, "card 3 has at most the bound of mdiscard routes more", func() bool {
		return f3.Driver().Summary().Routes <= routes3+perSlot
	})

	// A legitimate join is programmed on both cards.
	runCLI(t, s, "request multicast join source 10.128.1.10 group 232.7.7.7 interface ae101.0")
	key := hal.SG(netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr("232.7.7.7"))
	for _, f := range []*fpc.Runtime{f3, f4} {
		eventually(t, "the join on the card", func() bool { _, err := f.Driver().Route(key); return err == nil })
	}
	// Card 3's own unknown flows still get their mdiscard entry.
	res := s.Kernel().Resolve(3, hal.ResolveRequest{NH: hal.NHResolveID, Ingress: 331,
		Source: netip.MustParseAddr("10.128.1.99"), Group: netip.MustParseAddr("232.8.8.8")})
	assert.Equal(t, "discard", res.Action.String())
}

// Registrations without the key, or with a wrong one, are refused; a card
// with the key registers.
func TestUnauthenticatedRegistrationsAreRefused(t *testing.T) {
	s := startHardened(t, func(o *Options) { o.AuthKey = testKey })
	_, err := rawCard(t, s.Addr(), 3, nil)
	require.ErrorIs(t, err, ipc.ErrAuth)
	assert.Contains(t, err.Error(), "requires authentication")
	_, err = rawCard(t, s.Addr(), 3, []byte("mxhd-wrong-key-0123456789abcdef"))
	require.ErrorIs(t, err, ipc.ErrRejected)
	require.ErrorIs(t, err, ipc.ErrAuth)
	eventually(t, "refusals counted", func() bool { return s.stats.AuthFailed.Load() == 2 })
	assert.Empty(t, s.FPCs())

	f3 := startCard(t, fpc.Config{Slot: 3, RE: s.Addr(), AuthKey: testKey})
	eventually(t, "card 3 registered", func() bool { return f3.Connected() && len(s.FPCs()) == 1 })
	assert.Equal(t, "hmac", s.FPCs()[0].Auth)
	assert.Contains(t, runCLI(t, s, "show chassis fpc"), "hmac")
}

// A frame header announcing 4 MiB before registration is refused from its
// 8 bytes: the RE allocates nothing near it, for any number of such
// connections.
func TestOversizePreRegistrationHeaderIsNotAllocated(t *testing.T) {
	s := startHardened(t, nil)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], 1)
	binary.LittleEndian.PutUint32(hdr[4:], 4<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 300
	for range conns {
		c, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		_, err = c.Write(hdr[:])
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = io.Copy(io.Discard, c) // until the RE closes it
		require.NoError(t, err)
		c.Close()
	}
	runtime.ReadMemStats(&after)
	perConn := (after.TotalAlloc - before.TotalAlloc) / conns
	assert.Less(t, perConn, uint64(256<<10), "bytes allocated per refused connection (4 MiB before)")
	eventually(t, "every header refused", func() bool { return s.stats.HandshakeFailed.Load() == conns })
}

// Connections that do not register are bounded, per address and in
// total; the excess is closed at once and counted.
func TestUnregisteredConnectionsAreBounded(t *testing.T) {
	s := startHardened(t, func(o *Options) {
		o.MaxUnregisteredPerAddr = 4
		o.RegisterTimeout = time.Hour // they would wait for ever
	})
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		idle = append(idle, c)
		defer c.Close()
	}
	eventually(t, "four waiting", func() bool { w, _ := s.adm.stats(); return w == 4 })
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the fifth is closed at once")
	assert.EqualValues(t, 1, s.stats.Unregistered.Load())
	// Once one goes, a card registers.
	idle[0].Close()
	eventually(t, "a place freed", func() bool { w, _ := s.adm.stats(); return w == 3 })
	f3 := startCard(t, fpc.Config{Slot: 3, RE: s.Addr()})
	eventually(t, "card 3 registered", func() bool { return f3.Connected() })
}

// A restarted card is not locked out by its own half-open session: it
// proves its identity again and replaces it. A squatter without the key is
// refused, and without authentication a held slot stays held.
func TestAuthenticatedReRegistrationReplacesAHalfOpenSession(t *testing.T) {
	s := startHardened(t, func(o *Options) {
		o.AuthKey = testKey
		o.KeepaliveInterval = time.Hour // dead-peer detection would take hours
	})
	// The card's old session: registered, then silent (its host rebooted).
	old, err := rawCard(t, s.Addr(), 3, testKey)
	require.NoError(t, err)
	eventually(t, "old session up", func() bool { return len(s.FPCs()) == 1 })

	// A squatter without the key gets nothing.
	_, err = rawCard(t, s.Addr(), 3, nil)
	require.ErrorIs(t, err, ipc.ErrAuth)

	// The restarted card registers at once, replacing the old session.
	f3 := startCard(t, fpc.Config{Slot: 3, RE: s.Addr(), AuthKey: testKey})
	eventually(t, "the card registered and synced", func() bool {
		fs := s.FPCs()
		return f3.Connected() && len(fs) == 1 && fs[0].Driver == "swpfe" && fs[0].Synced
	})
	assert.EqualValues(t, 1, s.stats.Replaced.Load())
	require.NoError(t, old.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = old.Read(make([]byte, 1))
	for err == nil {
		_, err = old.Read(make([]byte, 4096))
	}
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the old session was closed by the RE")
	eventually(t, "routes on the card", func() bool { _, err := f3.Driver().Route(sgKey); return err == nil })
}

func TestUnauthenticatedSlotInUseIsRefused(t *testing.T) {
	s := startHardened(t, nil)
	_, err := rawCard(t, s.Addr(), 3, nil)
	require.NoError(t, err)
	_, err = rawCard(t, s.Addr(), 3, nil)
	require.ErrorIs(t, err, ipc.ErrRejected)
	require.ErrorContains(t, err, "slot-in-use")
	assert.Zero(t, s.stats.Replaced.Load())
}

// Counters are accepted for the card's own interfaces only: a report of
// random interface indexes does not grow the RE.
func TestCountersOnlyForTheCardsInterfaces(t *testing.T) {
	s := startHardened(t, nil)
	c, err := rawCard(t, s.Addr(), 4, nil)
	require.NoError(t, err)
	msgs := []ipc.Message{&ipc.IFLCounters{IFL: 395, RxPackets: 1}} // xe-3/1/0.0: card 3's
	for i := range 10_000 {
		msgs = append(msgs, &ipc.IFLCounters{IFL: hal.IFLIndex(100_000 + i), RxPackets: 1})
	}
	b, err := ipc.AppendFrame(nil, msgs...)
	require.NoError(t, err)
	_, err = c.Write(b)
	require.NoError(t, err)
	eventually(t, "reports refused", func() bool { return s.stats.CountersRefused.Load() == 10_001 })
	var f *fpcConn
	s.fpcMu.Lock()
	f = s.fpcs[4]
	s.fpcMu.Unlock()
	f.cntMu.Lock()
	n := len(f.counters)
	f.cntMu.Unlock()
	assert.Zero(t, n)
	// Its own interface (xe-4/0/0.0, a member of ae101) and the aggregate
	// are accepted.
	var own []ipc.Message
	for _, ifs := range s.Kernel().Interfaces() {
		if ifs.Name == "xe-4/0/0.0" || ifs.Name == "ae101.0" {
			own = append(own, &ipc.IFLCounters{IFL: ifs.Index, RxPackets: 7})
		}
	}
	require.Len(t, own, 2)
	b, err = ipc.AppendFrame(nil, own...)
	require.NoError(t, err)
	_, err = c.Write(b)
	require.NoError(t, err)
	eventually(t, "own counters kept", func() bool {
		f.cntMu.Lock()
		defer f.cntMu.Unlock()
		return len(f.counters) == 2
	})
	// Link state and punts likewise: card 4 cannot take card 3's port
	// down nor punt a packet as received on it; on its own port it can.
	refused := s.stats.CountersRefused.Load()
	b, err = ipc.AppendFrame(nil, &ipc.LinkState{IFL: 395, Up: false}, &ipc.Punt{Ingress: 395, Frame: make([]byte, 60)},
		&ipc.Punt{Ingress: own[0].(*ipc.IFLCounters).IFL, Frame: make([]byte, 60)})
	require.NoError(t, err)
	_, err = c.Write(b)
	require.NoError(t, err)
	eventually(t, "foreign link state and punt refused", func() bool {
		return s.stats.CountersRefused.Load() == refused+1 && s.stats.PuntsRefused.Load() == 1 && s.stats.Punts.Load() == 2
	})
	assert.Contains(t, runCLI(t, s, "show system statistics ipc"), "punts-refused:")
}

// Unexpected messages from a card are logged once per reason per minute,
// not per message.
func TestUnexpectedMessagesAreRateLimitedInTheLog(t *testing.T) {
	var logBuf syncBuffer
	s := startHardened(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
	c, err := rawCard(t, s.Addr(), 6, nil)
	require.NoError(t, err)
	msgs := make([]ipc.Message, 5000)
	for i := range msgs {
		msgs[i] = &ipc.RouteAdd{Route: hal.Route{Key: sgKey, NH: 1}} // RE -> FPC only
	}
	b, err := ipc.AppendFrame(nil, msgs...)
	require.NoError(t, err)
	_, err = c.Write(b)
	require.NoError(t, err)
	eventually(t, "all counted", func() bool { return s.stats.UnexpectedFromFP.Load() == 5000 })
	assert.Equal(t, 1, strings.Count(logBuf.String(), "unexpected message from FPC"))
	assert.EqualValues(t, 4999, s.rlog.Suppressed())
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (s *syncBuffer) lock() {
	if s.mu == nil {
		s.mu = make(chan struct{}, 1)
	}
	s.mu <- struct{}{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.lock()
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.lock()
	defer func() { <-s.mu }()
	return s.b.String()
}

// The RE's CLI cuts off clients that stop reading a large table, and its
// renderers stop.
func TestCLINonReadersAreCutOff(t *testing.T) {
	s := startHardened(t, nil)
	require.NoError(t, s.Engine().Do(context.Background(), func() error { return s.Kernel().JoinBatch(manyJoins(20_000)) }))
	path := filepath.Join(t.TempDir(), "re.sock")
	cs, err := cli.Listen(path, s.CLI(), nil, cli.ServerConfig{WriteTimeout: 300 * time.Millisecond, MaxConcurrent: 4})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cs.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	for range 8 {
		c, err := net.Dial("unix", path)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "RUN show route table inet.1 detail\n")
		require.NoError(t, err)
	}
	eventually(t, "the non-readers cut off and nothing running", func() bool {
		st := cs.Stats()
		return st.CutOff.Load()+st.Busy.Load() == 8 && st.Running.Load() == 0
	})
	assert.Positive(t, cs.Stats().CutOff.Load())
	// The CLI still answers a reader.
	var b bytes.Buffer
	require.NoError(t, cli.Exec(context.Background(), path, "show route table inet.1 | count", &b))
	// Header (3 lines), then 2 lines per route: 224/4, the 3 static
	// joins, the 20,000.
	assert.Contains(t, b.String(), fmt.Sprintf("Count: %d lines", 3+2*(1+3+20_000)))
}

// Trio's finite route table: the routes a card could not program are
// shown per route with the card that failed, counted, and programmed once
// older entries expire and free the table.
func TestTableFullIsReportedPerRouteAndRetried(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	const timeout = 60 * time.Second
	s := startHardened(t, func(o *Options) { o.Clock, o.CacheTimeout, o.TickInterval = clk, timeout, time.Second })
	// Room for 224/4, the 3 static joins and 4 more.
	f4 := startCard(t, fpc.Config{Slot: 4, RE: s.Addr(), DriverName: "trio", NewDriver: trio.New, Options: map[string]string{"routes": "8"}})
	f3 := startCard(t, fpc.Config{Slot: 3, RE: s.Addr()})
	eventually(t, "cards synced", func() bool {
		fs := s.FPCs()
		return len(fs) == 2 && fs[0].Synced && fs[1].Synced && f4.Driver().Summary().Routes == 4
	})
	join := func(g string) hal.RouteKey {
		runCLI(t, s, "request multicast join source 10.128.1.10 group "+g+" interface ae101.0")
		return hal.SG(netip.MustParseAddr("10.128.1.10"), netip.MustParseAddr(g))
	}
	var first, second []hal.RouteKey
	for i := range 4 {
		first = append(first, join(fmt.Sprintf("232.10.0.%d", i)))
	}
	clk.Advance(timeout / 2)
	for i := range 3 {
		second = append(second, join(fmt.Sprintf("232.20.0.%d", i)))
	}
	onCard := func(f *fpc.Runtime, k hal.RouteKey) bool { _, err := f.Driver().Route(k); return err == nil }
	eventually(t, "card 3 has every route, card 4 the first batch", func() bool {
		for _, k := range append(first, second...) {
			if !onCard(f3, k) {
				return false
			}
		}
		for _, k := range first {
			if !onCard(f4, k) {
				return false
			}
		}
		return true
	})
	for _, k := range second {
		assert.False(t, onCard(f4, k), "%s does not fit on card 4", k)
	}
	eventually(t, "the failures reported", func() bool {
		for _, f := range s.FPCs() {
			if f.Slot == 4 && f.Failures.Failing == 3 && f.Failures.Recorded == 3 {
				return true
			}
		}
		return false
	})
	out := runCLI(t, s, "show multicast route extensive")
	blocks := strings.Split(out, "Group: ")
	failed := 0
	for _, b := range blocks {
		if strings.Contains(b, "Programming: FPC 4 failed: table full") {
			failed++
			assert.Contains(t, b, "232.20.0.", "only the routes that did not fit")
			assert.NotContains(t, b, "FPC 3")
		}
	}
	assert.Equal(t, 3, failed)
	assert.Contains(t, runCLI(t, s, "show system statistics ipc"), "apply-error-reports:")
	var b bytes.Buffer
	require.NoError(t, f4.Vty().Run(context.Background(), "show pfe failures", &b))
	assert.Contains(t, b.String(), "3 objects failed to program")

	// The first batch and the static joins expire: card 4 programs the
	// second batch, and the RE's lines go away.
	clk.Advance(timeout/2 + 2*time.Second)
	eventually(t, "card 4 programmed the routes that did not fit", func() bool {
		for _, k := range second {
			if !onCard(f4, k) {
				return false
			}
		}
		return true
	})
	eventually(t, "the failures cleared on the RE", func() bool {
		for _, f := range s.FPCs() {
			if f.Slot == 4 && f.Failures.Failing == 0 && f.Failures.Recorded == 0 {
				return true
			}
		}
		return false
	})
	assert.NotContains(t, runCLI(t, s, "show multicast route extensive"), "Programming:")
}
