package porttest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/internal/netns"
)

// Datagram payloads: magic, run id, sequence number, then a fill pattern
// derived from (seq, offset) that receivers check byte for byte.
const (
	magic      = "mxdp"
	headerLen  = 12
	dstPort    = 5000
	srcPort    = 4000
	maxPayload = 1472 // a 1500-byte IP packet
)

func fill(b []byte, seq uint32) {
	for i := range b {
		b[i] = byte(uint32(i)*7 + seq)
	}
}

// Sender sends numbered UDP datagrams to a group through an ordinary socket
// in its namespace.
type Sender struct {
	fd    int
	to    unix.SockaddrInet4
	run   uint32
	seq   uint32
	buf   []byte
	sizes []int
}

// NewSender opens a UDP socket in ns bound to src:4000, multicasting out of
// ifname with the given TTL to group:5000. Payload sizes cycle over sizes
// (each in [12, 1472]); every run of sends gets its own run id.
func NewSender(t testing.TB, ns, ifname string, src, group netip.Addr, ttl int, sizes []int) *Sender {
	t.Helper()
	s := &Sender{fd: -1, buf: make([]byte, maxPayload), sizes: sizes}
	s.to = unix.SockaddrInet4{Port: dstPort, Addr: group.As4()}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	s.run = binary.BigEndian.Uint32(rb[:])
	for _, n := range sizes {
		if n < headerLen || n > maxPayload {
			t.Fatalf("payload size %d outside [%d, %d]", n, headerLen, maxPayload)
		}
	}
	err := netns.Run(netns.Path(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.fd = fd
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname); err != nil {
			return fmt.Errorf("SO_BINDTODEVICE: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: srcPort, Addr: src.As4()}); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index), Address: src.As4()}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
			return fmt.Errorf("IP_MULTICAST_IF: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
			return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
	})
	if err != nil {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
		t.Fatalf("sender in %s: %v", ns, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close closes the socket; it is safe to call more than once.
func (s *Sender) Close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// Sent returns how many datagrams were sent so far.
func (s *Sender) Sent() uint32 { return s.seq }

// Run returns the sender's run id (receivers count only that run).
func (s *Sender) Run() uint32 { return s.run }

// Send sends n datagrams as fast as the socket takes them.
func (s *Sender) Send(n int) error {
	for i := 0; i < n; i++ {
		if err := s.one(); err != nil {
			return err
		}
	}
	return nil
}

// SendAt sends for d at rate datagrams per second (paced in 1 ms slices,
// catching up after a stall) and returns the rate actually achieved.
func (s *Sender) SendAt(rate int, d time.Duration) (float64, error) {
	start := time.Now()
	first := s.seq
	for {
		el := time.Since(start)
		if el >= d {
			break
		}
		target := first + uint32(el.Seconds()*float64(rate))
		for s.seq < target {
			if err := s.one(); err != nil {
				return 0, err
			}
		}
		time.Sleep(time.Millisecond)
	}
	return float64(s.seq-first) / time.Since(start).Seconds(), nil
}

func (s *Sender) one() error {
	n := s.sizes[int(s.seq)%len(s.sizes)]
	b := s.buf[:n]
	copy(b, magic)
	binary.BigEndian.PutUint32(b[4:], s.run)
	binary.BigEndian.PutUint32(b[8:], s.seq)
	fill(b[headerLen:], s.seq)
	if err := unix.Sendto(s.fd, b, 0, &s.to); err != nil {
		return fmt.Errorf("sendto datagram %d: %w", s.seq, err)
	}
	s.seq++
	return nil
}

// Receiver is a UDP socket joined to a group in one namespace, counting the
// datagrams of one sender run that its socket delivers.
type Receiver struct {
	NS     string
	file   *os.File
	done   chan struct{}
	run    atomic.Uint32
	got    atomic.Int64
	dups   atomic.Int64
	bad    atomic.Int64
	others atomic.Int64

	mu   sync.Mutex
	seen map[uint32]bool
}

// Listen opens a receiver in ns: a UDP socket on group:5000 joined on
// ifname, with a 4 MiB receive buffer so that the socket is never what
// drops. It counts datagrams whose run id is set with Expect.
func Listen(t testing.TB, ns, ifname string, group netip.Addr) *Receiver {
	t.Helper()
	r := &Receiver{NS: ns, done: make(chan struct{}), seen: map[uint32]bool{}}
	err := netns.Run(netns.Path(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ok := false
		defer func() {
			if !ok {
				unix.Close(fd)
			}
		}()
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: dstPort, Addr: group.As4()}); err != nil {
			return fmt.Errorf("bind %s:%d: %w", group, dstPort, err)
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mreq := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi.Index)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return fmt.Errorf("IP_ADD_MEMBERSHIP %s on %s: %w", group, ifname, err)
		}
		r.file = os.NewFile(uintptr(fd), ns+"/udp")
		ok = true
		return nil
	})
	if err != nil {
		t.Fatalf("receiver in %s: %v", ns, err)
	}
	go r.loop()
	t.Cleanup(r.Close)
	return r
}

// Expect makes the receiver count datagrams of sender run id run (and
// forget what it counted before).
func (r *Receiver) Expect(run uint32) {
	r.mu.Lock()
	r.seen = map[uint32]bool{}
	r.got.Store(0)
	r.dups.Store(0)
	r.bad.Store(0)
	r.run.Store(run)
	r.mu.Unlock()
}

func (r *Receiver) loop() {
	defer close(r.done)
	buf := make([]byte, 2048)
	for {
		n, err := r.file.Read(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		if n < headerLen || string(b[:4]) != magic || binary.BigEndian.Uint32(b[4:]) != r.run.Load() {
			r.others.Add(1)
			continue
		}
		seq := binary.BigEndian.Uint32(b[8:])
		want := make([]byte, n-headerLen)
		fill(want, seq)
		if !bytes.Equal(want, b[headerLen:]) {
			r.bad.Add(1)
			continue
		}
		r.mu.Lock()
		if binary.BigEndian.Uint32(b[4:]) != r.run.Load() {
			// Expect switched runs while this one was checked: a straggler
			// of the previous run must not land in the new run's map.
			r.mu.Unlock()
			r.others.Add(1)
			continue
		}
		if r.seen[seq] {
			r.dups.Add(1)
		} else {
			r.seen[seq] = true
			r.got.Add(1)
		}
		r.mu.Unlock()
	}
}

// Got returns how many distinct datagrams of the expected run arrived.
func (r *Receiver) Got() int64 { return r.got.Load() }

// Dups returns how many arrived more than once.
func (r *Receiver) Dups() int64 { return r.dups.Load() }

// Bad returns how many arrived with a corrupt payload.
func (r *Receiver) Bad() int64 { return r.bad.Load() }

// Others returns how many datagrams of other runs (or other senders) arrived.
func (r *Receiver) Others() int64 { return r.others.Load() }

// Missing returns up to max sequence numbers below n that did not arrive.
func (r *Receiver) Missing(n uint32, max int) []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint32
	for s := uint32(0); s < n && len(out) < max; s++ {
		if !r.seen[s] {
			out = append(out, s)
		}
	}
	return out
}

// Close closes the socket and waits for the reader.
func (r *Receiver) Close() {
	if r.file != nil {
		_ = r.file.Close()
		<-r.done
		r.file = nil
	}
}

// UDPStats are the Udp: counters of a namespace (/proc/net/snmp).
type UDPStats struct {
	InDatagrams, InErrors, RcvbufErrors, InCsumErrors uint64
}

// ReadUDPStats reads the Udp: counters of namespace ns.
func ReadUDPStats(ns string) (UDPStats, error) {
	var st UDPStats
	err := netns.Run(netns.Path(ns), func() error {
		// /proc/self/net is the namespace of the process's main thread;
		// thread-self is the one Run switched.
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = fields
				continue
			}
			for i := 1; i < len(fields) && i < len(names); i++ {
				v, _ := strconv.ParseUint(fields[i], 10, 64)
				switch names[i] {
				case "InDatagrams":
					st.InDatagrams = v
				case "InErrors":
					st.InErrors = v
				case "RcvbufErrors":
					st.RcvbufErrors = v
				case "InCsumErrors":
					st.InCsumErrors = v
				}
			}
			return nil
		}
		return errors.New("no Udp: lines in /proc/net/snmp")
	})
	return st, err
}

// TxChecksumOffload reports whether ifname in ns has transmit checksum
// offload on (ETHTOOL_GTXCSUM), i.e. whether its senders leave UDP
// checksums to the device (CHECKSUM_PARTIAL).
func TxChecksumOffload(ns, ifname string) (bool, error) {
	var on bool
	err := netns.Run(netns.Path(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		const ethtoolGTXCSUM = 0x16
		val := struct{ cmd, data uint32 }{cmd: ethtoolGTXCSUM}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(&val)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("SIOCETHTOOL ETHTOOL_GTXCSUM on %s: %w", ifname, e)
		}
		on = val.data != 0
		return nil
	})
	return on, err
}
