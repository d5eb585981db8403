// Package traffic sends and receives sequence-numbered multicast UDP and
// measures what arrived: received, lost, duplicated and reordered
// datagrams, the longest gap between arrivals and one-way latency. It is
// how lab tests prove "no packet lost" (or count what was lost).
//
// Every datagram starts with a 32-byte Header (header.go: magic, stream id,
// sequence number, send time); the sender ends a stream with three end
// markers that carry the number of data datagrams sent, so that the
// receiver also counts the datagrams lost at the tail.
//
// Both ends are ordinary sockets: the receiver joins with
// IP_ADD_MEMBERSHIP or IP_ADD_SOURCE_MEMBERSHIP, so the host's stack sends
// the IGMP reports a router sees. With Netns set, the socket is created
// inside that network namespace (a locked OS thread enters it for the
// socket call only) and the rest runs on any goroutine.
//
// Send and Receive block until done and are safe to run concurrently (each
// owns its socket). The package imports nothing else from mxfwd except
// lab/netns.
package traffic

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/lab/netns"
)

// Defaults.
const (
	DefaultPort         = 5000
	DefaultTTL          = 16
	DefaultSize         = 64
	DefaultIdle         = 2 * time.Second
	DefaultGapThreshold = 50 * time.Millisecond
	maxSize             = 65507 // largest IPv4 UDP payload
	// maxBehind bounds a catch-up burst after the sender was descheduled:
	// beyond it the schedule restarts from now instead of sending a burst
	// that a receiver's socket buffer would drop.
	maxBehind  = 50 * time.Millisecond
	endMarkers = 3
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("traffic: invalid configuration")

// SendConfig describes a stream.
type SendConfig struct {
	Netns  string     // namespace path (e.g. /run/netns/NAME); "" = the caller's
	Group  netip.Addr // IPv4 multicast group
	Port   int        // destination UDP port (DefaultPort)
	Source netip.Addr // optional local address to send from
	Iface  string     // optional outgoing interface
	Rate   float64    // datagrams per second, > 0
	Size   int        // UDP payload bytes, >= HeaderLen (DefaultSize)
	// Count and Duration end the stream (whichever first); both zero: until
	// ctx is done.
	Count    uint64
	Duration time.Duration
	TTL      int    // multicast TTL (DefaultTTL)
	Stream   uint32 // stream id; 0 = random
}

// SendResult is what the sender did.
type SendResult struct {
	Stream    uint32  `json:"stream"`
	Group     string  `json:"group"`
	Source    string  `json:"source"`
	Sent      uint64  `json:"sent"`
	Errors    uint64  `json:"errors"`
	LastError string  `json:"last_error,omitempty"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"` // achieved datagrams per second
	Restarts  uint64  `json:"schedule_restarts"`
}

func (c *SendConfig) defaults() error {
	if !c.Group.Is4() || !c.Group.IsMulticast() {
		return fmt.Errorf("%w: group %v is not an IPv4 multicast address", ErrConfig, c.Group)
	}
	if c.Source.IsValid() && !c.Source.Is4() {
		return fmt.Errorf("%w: source %v is not IPv4", ErrConfig, c.Source)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d", ErrConfig, c.Port)
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Size < HeaderLen || c.Size > maxSize {
		return fmt.Errorf("%w: size %d: want %d..%d bytes of UDP payload", ErrConfig, c.Size, HeaderLen, maxSize)
	}
	if c.Rate <= 0 || c.Rate > 10e6 {
		return fmt.Errorf("%w: rate %v: want (0, 10M] datagrams/s", ErrConfig, c.Rate)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 1 || c.TTL > 255 {
		return fmt.Errorf("%w: ttl %d", ErrConfig, c.TTL)
	}
	if c.Stream == 0 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Stream = binary.BigEndian.Uint32(b[:]) | 1
	}
	return nil
}

// sendSocket opens the sending socket (in cfg.Netns).
func sendSocket(cfg *SendConfig) (fd int, err error) {
	err = netns.Do(cfg.Netns, func() error {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		fail := func(what string, e error) error {
			unix.Close(fd)
			return fmt.Errorf("%s: %w", what, e)
		}
		var mreq unix.IPMreqn
		if cfg.Iface != "" {
			ifi, err := net.InterfaceByName(cfg.Iface)
			if err != nil {
				return fail("interface "+cfg.Iface, err)
			}
			mreq.Ifindex = int32(ifi.Index)
		}
		if cfg.Source.IsValid() {
			mreq.Address = cfg.Source.As4()
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: cfg.Source.As4()}); err != nil {
				return fail("bind "+cfg.Source.String(), err)
			}
		}
		if mreq.Ifindex != 0 || cfg.Source.IsValid() {
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq); err != nil {
				return fail("IP_MULTICAST_IF", err)
			}
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, cfg.TTL); err != nil {
			return fail("IP_MULTICAST_TTL", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
			return fail("IP_MULTICAST_LOOP", err)
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: cfg.Port, Addr: cfg.Group.As4()}); err != nil {
			return fail("connect "+cfg.Group.String(), err)
		}
		return nil
	})
	return fd, err
}

// Send sends one stream and returns what it did. It stops at Count,
// Duration or when ctx is done, then sends the end markers.
func Send(ctx context.Context, cfg SendConfig) (SendResult, error) {
	if err := cfg.defaults(); err != nil {
		return SendResult{}, err
	}
	fd, err := sendSocket(&cfg)
	if err != nil {
		return SendResult{}, fmt.Errorf("traffic send: %w", err)
	}
	defer unix.Close(fd)
	res := SendResult{Stream: cfg.Stream, Group: cfg.Group.String()}
	if sa, err := unix.Getsockname(fd); err == nil {
		if in, ok := sa.(*unix.SockaddrInet4); ok {
			res.Source = netip.AddrFrom4(in.Addr).String()
		}
	}
	buf := make([]byte, cfg.Size)
	send := func(h Header) {
		h.Stream = cfg.Stream
		h.SentNs = time.Now().UnixNano()
		h.Put(buf)
		if _, err := unix.Write(fd, buf); err != nil {
			res.Errors++
			res.LastError = err.Error()
		}
	}
	interval := float64(time.Second) / cfg.Rate
	start := time.Now()
	base, baseSeq := start, uint64(0) // datagram baseSeq+k is due at base + k*interval
	var seq uint64
	for (cfg.Count == 0 || seq < cfg.Count) && ctx.Err() == nil {
		now := time.Now()
		if cfg.Duration > 0 && now.Sub(start) >= cfg.Duration {
			break
		}
		due := base.Add(time.Duration(float64(seq-baseSeq) * interval))
		if wait := due.Sub(now); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if now.Sub(due) > maxBehind {
			// Descheduled for too long: restart the schedule here rather
			// than send a burst.
			base, baseSeq = now, seq
			res.Restarts++
		}
		seq++
		send(Header{Seq: seq})
		res.Sent++
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.Rate = float64(res.Sent) / res.Seconds
	}
	for i := 0; i < endMarkers; i++ {
		time.Sleep(time.Millisecond)
		send(Header{Flags: FlagEnd, Seq: seq})
	}
	return res, nil
}

// RecvConfig describes what to receive.
type RecvConfig struct {
	Netns  string     // namespace path; "" = the caller's
	Group  netip.Addr // IPv4 multicast group to join
	Source netip.Addr // if set, a source-specific join (S,G)
	Iface  string     // join on this interface (default: the route to the group)
	Port   int        // UDP port (DefaultPort)
	// Duration ends the reception after a fixed time. Without it the
	// receiver stops Idle after the last datagram (DefaultIdle), or
	// shortly after every stream it saw has sent its end marker; FirstWait
	// (if set) bounds the wait for the first datagram.
	Duration     time.Duration
	Idle         time.Duration
	FirstWait    time.Duration
	GapThreshold time.Duration // gaps longer than this are counted (DefaultGapThreshold)
	// Ready, if set, is called once the group is joined.
	Ready func()
}

// Report is what a receiver measured.
type Report struct {
	Group      string        `json:"group"`
	Source     string        `json:"source,omitempty"`
	Iface      string        `json:"iface,omitempty"`
	Port       int           `json:"port"`
	Seconds    float64       `json:"seconds"`
	StopReason string        `json:"stop_reason"`
	Streams    []StreamStats `json:"streams"`
	// Invalid counts datagrams without a valid Header (other senders on
	// the group and port).
	Invalid uint64 `json:"invalid"`
	// Totals over all streams.
	Received     uint64  `json:"received"`
	Lost         uint64  `json:"lost"`
	Duplicates   uint64  `json:"duplicates"`
	Reordered    uint64  `json:"reordered"`
	LongestGapMs float64 `json:"longest_gap_ms"`
	GapsOver     uint64  `json:"gaps_over_threshold"`
}

func (c *RecvConfig) defaults() error {
	if !c.Group.Is4() || !c.Group.IsMulticast() {
		return fmt.Errorf("%w: group %v is not an IPv4 multicast address", ErrConfig, c.Group)
	}
	if c.Source.IsValid() && !c.Source.Is4() {
		return fmt.Errorf("%w: source %v is not IPv4", ErrConfig, c.Source)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d", ErrConfig, c.Port)
	}
	if c.Idle == 0 {
		c.Idle = DefaultIdle
	}
	if c.GapThreshold == 0 {
		c.GapThreshold = DefaultGapThreshold
	}
	return nil
}

// recvSocket opens, binds and joins the receiving socket (in cfg.Netns).
func recvSocket(cfg *RecvConfig) (*net.UDPConn, error) {
	var fd int
	err := netns.Do(cfg.Netns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		fail := func(what string, e error) error {
			unix.Close(fd)
			return fmt.Errorf("%s: %w", what, e)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("SO_REUSEADDR", err)
		}
		// 4 MiB: a second of 1500-byte datagrams at 2.5 kpps if the
		// receiving goroutine is descheduled (needs root to exceed rmem_max).
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		// Bound to the group: only datagrams to it reach this socket.
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: cfg.Port, Addr: cfg.Group.As4()}); err != nil {
			return fail(fmt.Sprintf("bind %v:%d", cfg.Group, cfg.Port), err)
		}
		var ifindex int
		var ifaddr [4]byte
		if cfg.Iface != "" {
			ifi, err := net.InterfaceByName(cfg.Iface)
			if err != nil {
				return fail("interface "+cfg.Iface, err)
			}
			ifindex = ifi.Index
			if a, ok := ifaceAddr4(ifi); ok {
				ifaddr = a
			} else if cfg.Source.IsValid() {
				return fail("interface "+cfg.Iface, errors.New("has no IPv4 address (needed for a source-specific join)"))
			}
		}
		if cfg.Source.IsValid() {
			// struct ip_mreq_source: multiaddr, interface, sourceaddr.
			var b [12]byte
			g, s := cfg.Group.As4(), cfg.Source.As4()
			copy(b[0:], g[:])
			copy(b[4:], ifaddr[:])
			copy(b[8:], s[:])
			if err := unix.SetsockoptString(fd, unix.IPPROTO_IP, unix.IP_ADD_SOURCE_MEMBERSHIP, string(b[:])); err != nil {
				return fail("IP_ADD_SOURCE_MEMBERSHIP", err)
			}
		} else {
			mreq := &unix.IPMreqn{Multiaddr: cfg.Group.As4(), Ifindex: int32(ifindex)}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
				return fail("IP_ADD_MEMBERSHIP", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "traffic-recv")
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return pc.(*net.UDPConn), nil
}

func ifaceAddr4(ifi *net.Interface) ([4]byte, bool) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return [4]byte(v4), true
			}
		}
	}
	return [4]byte{}, false
}

type streamKey struct {
	src    netip.Addr
	stream uint32
}

// Receive joins the group and measures until Duration, idleness, the end
// of every stream, or ctx. The report covers every stream seen.
func Receive(ctx context.Context, cfg RecvConfig) (Report, error) {
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	conn, err := recvSocket(&cfg)
	if err != nil {
		return Report{}, fmt.Errorf("traffic recv: %w", err)
	}
	defer conn.Close()
	if cfg.Ready != nil {
		cfg.Ready()
	}
	rep := Report{Group: cfg.Group.String(), Iface: cfg.Iface, Port: cfg.Port}
	if cfg.Source.IsValid() {
		rep.Source = cfg.Source.String()
	}
	streams := map[streamKey]*tracker{}
	var order []streamKey
	start := time.Now()
	var last, allEnded time.Time
	buf := make([]byte, 65536)
	// The read deadline is re-armed every poll interval so that ctx and
	// the stop conditions are checked at least that often.
	const poll = 50 * time.Millisecond
	for {
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			rep.StopReason = "interrupted"
		case cfg.Duration > 0 && now.Sub(start) >= cfg.Duration:
			rep.StopReason = "duration"
		case cfg.Duration == 0 && !last.IsZero() && now.Sub(last) >= cfg.Idle:
			rep.StopReason = "idle"
		case cfg.Duration == 0 && last.IsZero() && cfg.FirstWait > 0 && now.Sub(start) >= cfg.FirstWait:
			rep.StopReason = "nothing received"
		case cfg.Duration == 0 && !allEnded.IsZero() && now.Sub(allEnded) >= 200*time.Millisecond:
			rep.StopReason = "end of streams"
		}
		if rep.StopReason != "" {
			break
		}
		_ = conn.SetReadDeadline(now.Add(poll))
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return rep, fmt.Errorf("traffic recv: %w", err)
		}
		at := time.Now()
		h, err := Parse(buf[:n])
		if err != nil {
			rep.Invalid++
			continue
		}
		k := streamKey{src: from.Addr().Unmap(), stream: h.Stream}
		t := streams[k]
		if t == nil {
			t = newTracker(k.src.String(), h.Stream, cfg.GapThreshold)
			streams[k] = t
			order = append(order, k)
		}
		t.add(h, n, at)
		if !h.End() {
			last = at
			allEnded = time.Time{}
		} else {
			ended := true
			for _, t := range streams {
				ended = ended && t.s.EndSeen
			}
			if ended && allEnded.IsZero() {
				allEnded = at
			}
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	for _, k := range order {
		s := streams[k].stats()
		rep.Streams = append(rep.Streams, s)
		rep.Received += s.Received
		rep.Lost += s.Lost
		rep.Duplicates += s.Duplicates
		rep.Reordered += s.Reordered
		rep.GapsOver += s.GapsOver
		rep.LongestGapMs = max(rep.LongestGapMs, s.LongestGapMs)
	}
	return rep, nil
}
