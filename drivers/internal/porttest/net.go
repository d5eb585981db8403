package porttest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// The flow and the HAL objects of a Net (seed 003's numbering).
var (
	Source = netip.MustParseAddr("10.128.1.10")
	Group  = netip.MustParseAddr("232.0.7.1")
)

// IFLs and next hops programmed by Net.Ops.
const (
	IFLIn         hal.IFLIndex = 331
	IFLOutBase    hal.IFLIndex = 395 // out i is IFLOutBase+i
	NHUnicastBase hal.NHID     = 2000
	NHComposite   hal.NHID     = 1173
	NHIndirect    hal.NHID     = 1048590
)

// StartFunc starts the driver under test on ports (physical name -> Linux
// interface) that live in router namespace ns, with the given upcalls.
// It registers the driver's Close with t.Cleanup.
type StartFunc func(t *testing.T, ns string, ports map[string]string, up hal.Upcalls) hal.Driver

// Net is a sender namespace, a router namespace and receiver namespaces:
//
//	sender snd0 <-> in0 [router] out1..outN <-> rcv0 receiver i
//
// Receivers 0..OIL-1 are in the route's outgoing interface list; the last
// one (Outsider) is on a port of the router outside it.
type Net struct {
	Lab       *Lab
	Router    string
	SenderNS  string
	Receivers []*Receiver // in the OIL
	Outsider  *Receiver   // on a port outside the OIL
	// Ports binds physical interface names to the router's Linux
	// interfaces: xe-3/0/0 -> in0, xe-3/i/0 -> out i (the outsider's port
	// is the last).
	Ports map[string]string
	names map[hal.IFLIndex]string
}

// NewNet builds a Net with oil receivers in the OIL and one outside, each
// with a joined UDP socket.
func NewNet(t testing.TB, oil int) *Net {
	t.Helper()
	l := NewLab(t)
	n := &Net{Lab: l, Ports: map[string]string{}, names: map[hal.IFLIndex]string{}}
	n.Router, n.SenderNS = l.NS("r"), l.NS("s")
	l.Veth(n.Router, "in0", n.SenderNS, "snd0")
	l.IP("-n", n.SenderNS, "addr", "add", Source.String()+"/24", "dev", "snd0")
	n.Ports["xe-3/0/0"] = "in0"
	n.names[IFLIn] = "xe-3/0/0.0"
	for i := 1; i <= oil+1; i++ {
		ns := l.NS(fmt.Sprintf("c%d", i))
		out := fmt.Sprintf("out%d", i)
		l.Veth(n.Router, out, ns, "rcv0")
		l.IP("-n", ns, "addr", "add", fmt.Sprintf("10.128.%d.2/24", 10+i), "dev", "rcv0")
		l.IP("-n", ns, "route", "add", "default", "dev", "rcv0")
		phys := fmt.Sprintf("xe-3/%d/0", i)
		n.Ports[phys] = out
		n.names[IFLOutBase+hal.IFLIndex(i)] = phys + ".0"
		r := Listen(t, ns, "rcv0", Group)
		if i <= oil {
			n.Receivers = append(n.Receivers, r)
		} else {
			n.Outsider = r
		}
	}
	return n
}

// Ops programs every port's IFL, the 224/4 Resolve default, mdiscard, and
// the (S,G) route (RPF in0) whose composite lists the OIL receivers' ports.
func (n *Net) Ops() []hal.Op {
	var ops []hal.Op
	for idx := IFLIn; idx <= IFLOutBase+hal.IFLIndex(len(n.Receivers)+1); idx++ {
		name, ok := n.names[idx]
		if !ok {
			continue
		}
		ops = append(ops, hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: idx, Name: name, Kind: hal.IFLPhysical, PFE: hal.PFEOf(3, 0), MTU: 1500, Up: true}})
	}
	ops = append(ops,
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHResolveID, Type: hal.NHResolve}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: hal.NHMDiscardID, Type: hal.NHMDiscard}})
	var members []hal.NHID
	for i := range n.Receivers {
		id := NHUnicastBase + hal.NHID(i)
		ops = append(ops, hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: id, Type: hal.NHUnicast, IFL: IFLOutBase + hal.IFLIndex(i+1)}})
		members = append(members, id)
	}
	return append(ops,
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: NHComposite, Type: hal.NHComposite, Members: members}},
		hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: NHIndirect, Type: hal.NHIndirect, Target: NHComposite}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.GroupPrefix(netip.MustParsePrefix("224.0.0.0/4")), NH: hal.NHResolveID, Flags: hal.RouteFlagsResolve}},
		hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(Source, Group), NH: NHIndirect, RPF: IFLIn, Flags: hal.RouteFlagsSG}},
	)
}

// Program applies Ops to d.
func (n *Net) Program(t testing.TB, d hal.Driver) {
	t.Helper()
	ops := n.Ops()
	applied, err := d.Apply(t.Context(), ops)
	if err != nil || applied != len(ops) {
		t.Fatalf("programming the route: applied %d of %d: %v", applied, len(ops), err)
	}
}

// Sender opens a sender on snd0 with TTL 64 cycling over payload sizes.
func (n *Net) Sender(t testing.TB, sizes ...int) *Sender {
	t.Helper()
	if len(sizes) == 0 {
		sizes = []int{18}
	}
	return NewSender(t, n.SenderNS, "snd0", Source, Group, 64, sizes)
}

// all returns every receiver, the outsider last.
func (n *Net) all() []*Receiver { return append(append([]*Receiver(nil), n.Receivers...), n.Outsider) }

// Expect makes every receiver count sender s's datagrams from now on.
func (n *Net) Expect(s *Sender) {
	for _, r := range n.all() {
		r.Expect(s.Run())
	}
}

// WaitForwarding sends probe datagrams (a run of their own) until every OIL
// receiver got one, so that a measured run does not count the time a
// driver takes to bind its ports.
func (n *Net) WaitForwarding(t testing.TB, timeout time.Duration) {
	t.Helper()
	probe := n.Sender(t)
	defer probe.Close()
	n.Expect(probe)
	deadline := time.Now().Add(timeout)
	for {
		if err := probe.Send(1); err != nil {
			t.Fatal(err)
		}
		ok := true
		for _, r := range n.Receivers {
			ok = ok && r.Got() > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no datagram reached every receiver within %v of programming the route", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Delivery is what the receivers of one run got.
type Delivery struct {
	Sent      int
	Got       []int64 // per OIL receiver
	Outsider  int64
	Dups, Bad int64
	CsumErrs  uint64 // UdpInCsumErrors added in the receivers' namespaces
}

// Lost returns the datagrams missing over all OIL receivers.
func (d Delivery) Lost() int64 {
	var l int64
	for _, g := range d.Got {
		l += int64(d.Sent) - g
	}
	return l
}

// Copies returns the datagrams delivered over all OIL receivers.
func (d Delivery) Copies() int64 {
	var c int64
	for _, g := range d.Got {
		c += g
	}
	return c
}

// CsumBaseline reads the receivers' UdpInCsumErrors, for Collect.
func (n *Net) CsumBaseline(t testing.TB) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range n.all() {
		st, err := ReadUDPStats(r.NS)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st.InCsumErrors)
	}
	return out
}

// Collect waits until every OIL receiver has all s.Sent() datagrams or
// until quiet passes with no progress, and returns what arrived.
func (n *Net) Collect(t testing.TB, s *Sender, base []uint64, quiet time.Duration) Delivery {
	t.Helper()
	sent := int64(s.Sent())
	last, lastChange := int64(-1), time.Now()
	for {
		var total int64
		done := true
		for _, r := range n.Receivers {
			g := r.Got()
			total += g
			done = done && g >= sent
		}
		if done {
			break
		}
		if total != last {
			last, lastChange = total, time.Now()
		} else if time.Since(lastChange) > quiet {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := Delivery{Sent: int(sent), Outsider: n.Outsider.Got()}
	for _, r := range n.all() {
		d.Dups += r.Dups()
		d.Bad += r.Bad()
	}
	for _, r := range n.Receivers {
		d.Got = append(d.Got, r.Got())
	}
	now := n.CsumBaseline(t)
	for i := range now {
		d.CsumErrs += now[i] - base[i]
	}
	return d
}

// Check fails t unless every OIL receiver got every datagram exactly once,
// intact, with no checksum error, and the outsider got none.
func (n *Net) Check(t testing.TB, d Delivery, s *Sender) {
	t.Helper()
	for i, r := range n.Receivers {
		if d.Got[i] != int64(d.Sent) {
			t.Errorf("receiver %d (%s) got %d of %d datagrams; first missing: %v", i+1, r.NS, d.Got[i], d.Sent, r.Missing(s.Sent(), 10))
		}
	}
	if d.Outsider != 0 {
		t.Errorf("the receiver outside the OIL got %d datagrams", d.Outsider)
	}
	if d.Dups != 0 || d.Bad != 0 {
		t.Errorf("%d duplicated and %d corrupt datagrams", d.Dups, d.Bad)
	}
	if d.CsumErrs != 0 {
		t.Errorf("the receivers' stacks dropped %d datagrams with a bad checksum (UdpInCsumErrors)", d.CsumErrs)
	}
}

// TestDelivery is the real-traffic test every driver that touches real
// ports runs (issue #12): a sender application in a namespace sends
// ordinary UDP datagrams (checksum offload on, the veth default, so the
// kernel leaves the UDP checksum to the device), of sizes from the minimum
// frame to a 1500-byte IP packet and odd lengths, through the driver to
// three receiver applications; every datagram must reach every receiver's
// socket, once and intact, and none the port outside the OIL.
func TestDelivery(t *testing.T, start StartFunc) {
	n := NewNet(t, 3)
	on, err := TxChecksumOffload(n.SenderNS, "snd0")
	if err != nil {
		t.Fatal(err)
	}
	if !on {
		t.Fatal("the sender's veth has checksum offload off: the test would not exercise CHECKSUM_PARTIAL senders")
	}
	d := start(t, n.Router, n.Ports, NopUpcalls{})
	n.Program(t, d)
	n.WaitForwarding(t, 20*time.Second)
	s := n.Sender(t, 18, 19, 100, 333, 1000, 1471, 1472)
	n.Expect(s)
	base := n.CsumBaseline(t)
	// 2,100 datagrams at 5 kpps: far below any driver's limit, so
	// anything lost is a correctness bug, not overload.
	if _, err := s.SendAt(5000, 420*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := n.Collect(t, s, base, 2*time.Second)
	t.Logf("sent %d datagrams; receivers got %v; checksum errors %d", got.Sent, got.Got, got.CsumErrs)
	n.Check(t, got, s)
}

// NopUpcalls discards upcalls (the receivers' IGMP reports are punted).
type NopUpcalls struct{}

func (NopUpcalls) OnResolve(hal.ResolveRequest)            {}
func (NopUpcalls) OnWrongInterface(hal.WrongInterface)     {}
func (NopUpcalls) OnPunt(hal.IFLIndex, hal.TrapID, []byte) {}
func (NopUpcalls) OnLinkState(hal.LinkState)               {}

// Burn keeps every CPU busy with one shell loop per CPU (normal priority,
// like any other job on a shared machine) until the test ends or stop is
// called.
func Burn(t testing.TB) (stop func()) {
	t.Helper()
	var cmds []*exec.Cmd
	for i := 0; i < runtime.NumCPU(); i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatalf("CPU burner: %v", err)
		}
		cmds = append(cmds, c)
	}
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		cmds = nil
	}
	t.Cleanup(stop)
	return stop
}

// TestLoaded is the low-rate test under load (issue #12): rate datagrams
// per second of 100-byte payloads for dur while one CPU burner per CPU
// runs; every datagram must reach every receiver's socket. It returns what
// arrived so that the driver's test can add its own counters.
func TestLoaded(t *testing.T, start StartFunc, rate int, dur time.Duration) Delivery {
	n := NewNet(t, 3)
	d := start(t, n.Router, n.Ports, NopUpcalls{})
	n.Program(t, d)
	n.WaitForwarding(t, 20*time.Second)
	s := n.Sender(t, 100)
	n.Expect(s)
	base := n.CsumBaseline(t)
	stop := Burn(t)
	achieved, err := s.SendAt(rate, dur)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	got := n.Collect(t, s, base, 2*time.Second)
	t.Logf("loaded: sent %d datagrams at %.0f/s (asked %d/s) with %d CPU burners; receivers got %v", got.Sent, achieved, rate, runtime.NumCPU(), got.Got)
	n.Check(t, got, s)
	return got
}

// TestMakeBeforeBreak changes the forwarding state under traffic (issue
// #12): while datagrams flow at 5 kpps, the route's composite alternates
// between {r1, r2} and {r1, r2, r3}, the route alternates between two
// Indirect next hops, and r1's IFL is set again, hundreds of times. Every
// change keeps r1 and r2 in the OIL, so they must receive every datagram;
// r3 receives some (it is in the OIL half of the time). check, if not nil,
// runs after the traffic with the number of changes applied.
func TestMakeBeforeBreak(t *testing.T, start StartFunc, check func(t *testing.T, d hal.Driver, changes int)) {
	n := NewNet(t, 3)
	d := start(t, n.Router, n.Ports, NopUpcalls{})
	n.Program(t, d)
	n.WaitForwarding(t, 20*time.Second)
	const indirect2 = NHIndirect + 1
	apply := func(ops ...hal.Op) {
		t.Helper()
		if k, err := d.Apply(t.Context(), ops); err != nil || k != len(ops) {
			t.Fatalf("apply: %d of %d: %v", k, len(ops), err)
		}
	}
	apply(hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: indirect2, Type: hal.NHIndirect, Target: NHComposite}})
	comp := func(k int) hal.Op {
		var m []hal.NHID
		for i := 0; i < k; i++ {
			m = append(m, NHUnicastBase+hal.NHID(i))
		}
		return hal.Op{Kind: hal.OpSetNH, NH: hal.NextHop{ID: NHComposite, Type: hal.NHComposite, Members: m}}
	}
	route := func(nh hal.NHID) hal.Op {
		return hal.Op{Kind: hal.OpSetRoute, Route: hal.Route{Key: hal.SG(Source, Group), NH: nh, RPF: IFLIn, Flags: hal.RouteFlagsSG}}
	}
	r1 := hal.Op{Kind: hal.OpSetIFL, IFL: hal.IFL{Index: IFLOutBase + 1, Name: n.names[IFLOutBase+1], Kind: hal.IFLPhysical, PFE: hal.PFEOf(3, 0), MTU: 1500, Up: true}}
	apply(comp(2))
	s := n.Sender(t, 64)
	n.Expect(s)
	base := n.CsumBaseline(t)
	done := make(chan int)
	go func() {
		changes := 0
		for i := 0; ; i++ {
			select {
			case <-done:
				done <- changes
				return
			default:
			}
			ops := []hal.Op{comp(2 + i%2)}
			if i%3 == 0 {
				nh := NHIndirect
				if (i/3)%2 == 0 {
					nh = indirect2
				}
				ops = append(ops, route(nh))
			}
			if i%5 == 0 {
				mac := net.HardwareAddr{0x02, 0x6d, 0x78, 0, 0, byte(i)}
				r := r1
				r.IFL.MAC = mac
				ops = append(ops, r)
			}
			if k, err := d.Apply(context.Background(), ops); err != nil || k != len(ops) {
				t.Errorf("apply under traffic: %d of %d: %v", k, len(ops), err)
				<-done
				done <- changes
				return
			}
			changes += len(ops)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if _, err := s.SendAt(5000, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	done <- 0
	changes := <-done
	got := n.Collect(t, s, base, 2*time.Second)
	third := n.Receivers[2].Got()
	t.Logf("%d changes applied while %d datagrams were sent; r1, r2 got %v; r3 (in the OIL half of the time) got %d", changes, got.Sent, got.Got[:2], third)
	for i := 0; i < 2; i++ {
		if got.Got[i] != int64(got.Sent) {
			t.Errorf("receiver %d, in the OIL throughout, got %d of %d datagrams; first missing: %v", i+1, got.Got[i], got.Sent, n.Receivers[i].Missing(s.Sent(), 10))
		}
	}
	if third == 0 || third >= int64(got.Sent) {
		t.Errorf("receiver 3 got %d of %d: the OIL did not alternate", third, got.Sent)
	}
	if got.Dups != 0 || got.Bad != 0 || got.CsumErrs != 0 || got.Outsider != 0 {
		t.Errorf("dups %d, corrupt %d, checksum errors %d, outsider %d", got.Dups, got.Bad, got.CsumErrs, got.Outsider)
	}
	if check != nil {
		check(t, d, changes)
	}
}
