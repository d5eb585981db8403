package xdp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/drivers/internal/l4csum"
	"github.com/mxfwd/mxfwd/drivers/internal/porttest"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
	"github.com/mxfwd/mxfwd/internal/netns"
)

// TestUpcallsRealTraffic: with real senders, a miss raises one resolve per
// (S,G) however many packets hit it (until the route changes), an RPF
// failure one wrong-interface event, an IGMP report from a receiver is
// punted with the IGMP trap, and traffic for the router's address (ARP, a
// datagram) is punted with its trap and consumed: the kernel stack of the
// ports' namespace does not see it.
func TestUpcallsRealTraffic(t *testing.T) {
	for _, m := range []Mode{ModeTC, ModeGeneric} {
		t.Run(string(m), func(t *testing.T) { testUpcalls(t, m) })
	}
}

func testUpcalls(t *testing.T, mode Mode) {
	n := porttest.NewNet(t, 2)
	rec := haltest.NewRecorder()
	var d *Driver
	starter(mode, &d, "upcall-interval", "1m")(t, n.Router, n.Ports, rec)
	n.Program(t, d)
	// The RE's traps (the receivers' IGMP reports are punted, not
	// resolved through 224/4).
	_, err := d.Apply(t.Context(), haltest.TrapOps())
	require.NoError(t, err)
	n.WaitForwarding(t, 20*time.Second)
	rec.Reset()
	unknown := netip.MustParseAddr("232.0.9.1")
	before, err := d.IFLCounters(porttest.IFLIn)
	require.NoError(t, err)

	t.Run("one resolve per (S,G)", func(t *testing.T) {
		s := porttest.NewSender(t, n.SenderNS, "snd0", porttest.Source, unknown, 64, []int{20})
		require.NoError(t, s.Send(200))
		require.True(t, rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool { return len(r.Resolves()) >= 1 }))
		assert.Eventually(t, func() bool {
			c, _ := d.IFLCounters(porttest.IFLIn)
			return c.Resolve-before.Resolve == 200
		}, 5*time.Second, 10*time.Millisecond, "every miss counted")
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, []hal.ResolveRequest{{NH: hal.NHResolveID, Ingress: porttest.IFLIn, Source: porttest.Source, Group: unknown}}, rec.Resolves())
		// A route set and deleted again clears the dedup: the next miss asks.
		k := hal.SG(porttest.Source, unknown)
		_, err := d.Apply(t.Context(), []hal.Op{
			{Kind: hal.OpSetRoute, Route: hal.Route{Key: k, NH: hal.NHMDiscardID, Flags: hal.RouteFlagsMDiscard}},
			{Kind: hal.OpDelRoute, Route: hal.Route{Key: k}},
		})
		require.NoError(t, err)
		require.NoError(t, s.Send(10))
		assert.True(t, rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool { return len(r.Resolves()) == 2 }), "a second resolve after the route went away")
	})

	t.Run("wrong interface once", func(t *testing.T) {
		// (S',G) arriving on out1 whose route expects in0.
		other := netip.MustParseAddr("10.128.11.2")
		_, err := d.Apply(t.Context(), []hal.Op{{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(other, porttest.Group), NH: porttest.NHIndirect, RPF: porttest.IFLIn, Flags: hal.RouteFlagsSG}}})
		require.NoError(t, err)
		s := porttest.NewSender(t, n.Receivers[0].NS, "rcv0", other, porttest.Group, 64, []int{20})
		require.NoError(t, s.Send(50))
		require.True(t, rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool { return len(r.WrongInterfaces()) >= 1 }))
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, []hal.WrongInterface{{Ingress: porttest.IFLOutBase + 1, Expected: porttest.IFLIn, Source: other, Group: porttest.Group}}, rec.WrongInterfaces())
		c, err := d.IFLCounters(porttest.IFLOutBase + 1)
		require.NoError(t, err)
		assert.Equal(t, uint64(50), c.RPFFail)
	})

	t.Run("IGMP report punted", func(t *testing.T) {
		g := netip.MustParseAddr("239.7.7.7")
		porttest.Listen(t, n.Receivers[1].NS, "rcv0", g) // the join sends a report
		ok := rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool {
			for _, p := range r.Punts() {
				if pp, err := haltest.ParseFrame(p.Frame); err == nil && pp.Proto == haltest.ProtoIGMP && p.Ingress == porttest.IFLOutBase+2 && p.Trap == haltest.TrapIGMP {
					return true
				}
			}
			return false
		})
		assert.True(t, ok, "IGMP report from receiver 2 punted with its ingress IFL and the IGMP trap")
	})

	t.Run("host traffic goes to the RE, not to the host stack", func(t *testing.T) {
		// The router's address is trapped (haltest.TrapOps: ARP and
		// local for 10.128.1.1); the namespace's own stack has the
		// address too, but must not see the traffic: the RE owns it.
		router := haltest.RouterAddr
		n.Lab.IP("-n", n.Router, "addr", "add", router.String()+"/24", "dev", "in0")
		var rfd int
		require.NoError(t, netns.Run(netns.Path(n.Router), func() error {
			var err error
			if rfd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
				return err
			}
			_ = unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 300000})
			return unix.Bind(rfd, &unix.SockaddrInet4{Port: 7000, Addr: router.As4()})
		}))
		defer unix.Close(rfd)
		send := func(dst netip.Addr) {
			t.Helper()
			require.NoError(t, netns.Run(netns.Path(n.SenderNS), func() error {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				return unix.Sendto(fd, []byte("hello router"), 0, &unix.SockaddrInet4{Port: 7000, Addr: dst.As4()})
			}))
		}
		punted := func(trap hal.TrapID, match func(haltest.Parsed) bool) bool {
			return rec.WaitFor(5*time.Second, func(r *haltest.Recorder) bool {
				for _, p := range r.Punts() {
					if p.Trap != trap || p.Ingress != porttest.IFLIn {
						continue
					}
					if match == nil {
						return true
					}
					if pp, err := haltest.ParseFrame(p.Frame); err == nil && match(pp) {
						return true
					}
				}
				return false
			})
		}
		// Nobody answers the sender's ARP on the port: the request is
		// punted with the ARP trap (the RE would answer it).
		send(router)
		assert.True(t, punted(haltest.TrapARPRouter, nil), "ARP for the router's address punted")
		// With the neighbour known, the datagram itself: the local trap.
		in0 := d.byPhys["xe-3/0/0"]
		n.Lab.IP("-n", n.SenderNS, "neigh", "replace", router.String(), "lladdr", in0.mac.String(), "dev", "snd0")
		before, err := d.IFLCounters(porttest.IFLIn)
		require.NoError(t, err)
		send(router)
		assert.True(t, punted(haltest.TrapLocalRouter, func(p haltest.Parsed) bool { return p.Group == router && p.Proto == haltest.ProtoUDP }),
			"the datagram to the router punted with the local trap")
		// The sender left its UDP checksum to the hardware (offload on,
		// the veth default): the RE gets it completed.
		offload, err := porttest.TxChecksumOffload(n.SenderNS, "snd0")
		require.NoError(t, err)
		require.True(t, offload, "the sender's veth has checksum offload on")
		for _, p := range rec.Punts() {
			if pp, err := haltest.ParseFrame(p.Frame); err == nil && p.Trap == haltest.TrapLocalRouter && pp.Proto == haltest.ProtoUDP {
				c := bytes.Clone(p.Frame)
				require.True(t, l4csum.Complete(c))
				assert.Equal(t, c, p.Frame, "the punted datagram's UDP checksum is complete")
			}
		}
		assert.Positive(t, d.TableSummary().PuntChecksums)
		buf := make([]byte, 64)
		_, _, err = unix.Recvfrom(rfd, buf, 0)
		assert.Error(t, err, "the namespace's own stack received the datagram: it was passed up, not consumed")
		// Unicast to an address no trap wants: dropped, NoRoute.
		other := netip.MustParseAddr("10.128.1.77")
		n.Lab.IP("-n", n.SenderNS, "neigh", "replace", other.String(), "lladdr", in0.mac.String(), "dev", "snd0")
		send(other)
		assert.Eventually(t, func() bool {
			c, _ := d.IFLCounters(porttest.IFLIn)
			return c.NoRoute > before.NoRoute
		}, 5*time.Second, 10*time.Millisecond, "unicast no trap wants counted as NoRoute")
		ports := d.Ports()
		assert.NotZero(t, ports[0].Punted, "counted as punted on %s", ports[0].Port)
	})
}
