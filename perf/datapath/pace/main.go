// Command pace sends a fixed number of UDP datagrams to a multicast group
// at a steady rate through an ordinary socket, for bench.sh's loss runs:
// trafgen's rate limiter sends in bursts and spins on the generator CPU,
// which is also the CPU of the receivers in kbase's layout, so the
// receivers' backlog overflows whatever the router does. pace sends what
// is due every -slice (100 us: at 125 kpps and N = 8 a slice makes 100
// copies, a tenth of the 1,000-packet backlog all receivers on that CPU
// share) and sleeps in between, leaving that CPU to the receivers. Run it inside the sender's namespace:
//
//	ip netns exec kb-snd taskset -c 0 pace -if snd0 -src 10.98.0.1 -group 239.1.1.1 -rate 200000 -count 1000000
//
// It prints one JSON line: sent, seconds, achieved rate.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	ifname := flag.String("if", "snd0", "interface to send out of")
	src := flag.String("src", "10.98.0.1", "source address (bound)")
	group := flag.String("group", "239.1.1.1", "destination group")
	port := flag.Int("port", 5000, "destination UDP port")
	rate := flag.Int("rate", 100000, "datagrams per second")
	count := flag.Int("count", 500000, "datagrams to send")
	payload := flag.Int("payload", 18, "UDP payload bytes (18: a 64-byte frame with FCS)")
	ttl := flag.Int("ttl", 64, "multicast TTL")
	slice := flag.Duration("slice", 100*time.Microsecond, "send what is due, then sleep this long")
	flag.Parse()
	if err := run(os.Stdout, *ifname, *src, *group, *port, *rate, *count, *payload, *ttl, *slice); err != nil {
		fmt.Fprintln(os.Stderr, "pace:", err)
		os.Exit(1)
	}
}

// run sends count datagrams and writes the JSON summary line to out.
func run(out io.Writer, ifname, src, group string, port, rate, count, payload, ttl int, slice time.Duration) error {
	s, err := netip.ParseAddr(src)
	if err != nil || !s.Is4() {
		return fmt.Errorf("-src %q: not an IPv4 address", src)
	}
	g, err := netip.ParseAddr(group)
	if err != nil || !g.Is4() || !g.IsMulticast() {
		return fmt.Errorf("-group %q: not an IPv4 group", group)
	}
	if rate <= 0 || count <= 0 || payload < 0 || payload > 1472 {
		return fmt.Errorf("-rate, -count must be positive and -payload in [0, 1472]")
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 4000, Addr: s.As4()}); err != nil {
		return fmt.Errorf("bind %s: %w", s, err)
	}
	mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index), Address: s.As4()}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
		return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
	to := &unix.SockaddrInet4{Port: port, Addr: g.As4()}
	buf := make([]byte, payload)
	start := time.Now()
	sent, retries := 0, 0
	for sent < count {
		due := min(count, int(time.Since(start).Seconds()*float64(rate))+1)
		for sent < due {
			if err := unix.Sendto(fd, buf, 0, to); err != nil {
				if err == unix.ENOBUFS || err == unix.EAGAIN {
					retries++
					time.Sleep(50 * time.Microsecond)
					continue
				}
				return fmt.Errorf("sendto after %d datagrams: %w", sent, err)
			}
			sent++
		}
		time.Sleep(slice)
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(out).Encode(map[string]any{
		"sent": sent, "seconds": secs, "achieved_pps": float64(sent) / secs, "retries": retries,
	})
}
