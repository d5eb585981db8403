package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/lab/topo"
)

// addLink creates a veth pair straight into the two nodes' namespaces (it
// never exists in the caller's namespace), brings both ends up, and on
// mxfwd ports keeps the node's own IP stack off the port (see
// dropIngress).
func (l *Lab) addLink(t *topo.Topology, lk topo.Link) error {
	a, b := lk.A, lk.B
	nsA, nsB := NetnsName(l.st.Name, a.Node), NetnsName(l.st.Name, b.Node)
	rec := LinkRecord{A: a.String(), B: b.String(), ANetns: nsA, ALinux: a.Linux, BNetns: nsB, BLinux: b.Linux, MTU: lk.MTU}
	if err := l.update(func(s *State) { s.Links = append(s.Links, rec) }); err != nil {
		return err
	}
	args := []string{"link", "add", a.Linux, "netns", nsA}
	if lk.MTU != 0 {
		args = append(args, "mtu", strconv.Itoa(lk.MTU))
	}
	args = append(args, "type", "veth", "peer", "name", b.Linux, "netns", nsB)
	if lk.MTU != 0 {
		args = append(args, "mtu", strconv.Itoa(lk.MTU))
	}
	if err := ipCmd(args...); err != nil {
		return fmt.Errorf("link %s <-> %s: %w", a, b, err)
	}
	for _, e := range []struct {
		ns string
		i  *topo.Interface
	}{{nsA, a}, {nsB, b}} {
		if err := ipCmd("-n", e.ns, "link", "set", e.i.Linux, "up"); err != nil {
			return fmt.Errorf("link %s: %w", e.i, err)
		}
		if t.Node(e.i.Node).Kind == topo.KindMxfwd {
			if err := dropIngress(e.ns, e.i.Linux); err != nil {
				return fmt.Errorf("link %s: %w", e.i, err)
			}
		}
	}
	return nil
}

// waitLinksUp waits until both ends of every link report carrier: the
// kernel reports a veth's carrier through linkwatch, up to a second after
// both ends are set up, and daemons started before that see the link down.
func (l *Lab) waitLinksUp(ctx context.Context, timeout time.Duration) error {
	l.mu.Lock()
	links := append([]LinkRecord(nil), l.st.Links...)
	l.mu.Unlock()
	var down string
	err := waitFor(ctx, "links up", timeout, nil, func() bool {
		for _, lk := range links {
			for _, e := range [][2]string{{lk.ANetns, lk.ALinux}, {lk.BNetns, lk.BLinux}} {
				if s := ifState(e[0], e[1]); s != "up" {
					down = e[0] + ":" + e[1] + " is " + s
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, down)
	}
	return nil
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dropIngress makes the kernel drop every frame arriving on an mxfwd port
// at tc ingress, after the FPC's packet socket has seen it (AF_PACKET
// taps run before tc): the router forwards in user space, and its node's
// own IP stack must neither forward, answer nor even receive transit
// frames (the README's advice for afpacket ports). The router's addresses
// belong to the RE's host interfaces, not to the ports. The filter is the
// classic-BPF program "ret #2" in direct-action mode, i.e. TC_ACT_SHOT,
// as the perf harness uses (this kernel has no matchall/gact).
func dropIngress(ns, ifname string) error {
	if out, err := exec.Command("tc", "-n", ns, "qdisc", "add", "dev", ifname, "clsact").CombinedOutput(); err != nil {
		return fmt.Errorf("tc qdisc add dev %s clsact: %v: %s", ifname, err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("tc", "-n", ns, "filter", "add", "dev", ifname, "ingress", "bpf", "bytecode", "1,6 0 0 2,", "da").CombinedOutput(); err != nil {
		return fmt.Errorf("tc filter add dev %s ingress (drop): %v: %s", ifname, err, strings.TrimSpace(string(out)))
	}
	return nil
}
