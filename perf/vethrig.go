package perf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// vethRig is the mem tier's set of real ports for afpacket: n veth pairs,
// mpoJ in namespace ns (the driver's ports) and mpiJ in namespace sink,
// where a classic-BPF tc ingress filter drops every frame (the cheapest
// sink, the one kbase.sh uses). IPv6 is off in both namespaces so that no
// ND/MLD traffic shows up. The namespaces carry the process id, so that
// concurrent runs do not collide, and are deleted by close.
type vethRig struct {
	ns, sink string
	n        int
}

func (g *vethRig) port(j int) string { return fmt.Sprintf("mpo%d", j) }

// rig returns the run's veth rig with at least n ports, building it on
// first use (it is grown by rebuilding).
func (r *Runner) rig(ctx context.Context, n int) (*vethRig, error) {
	if r.veth != nil && r.veth.n >= n {
		return r.veth, nil
	}
	if r.veth != nil {
		r.veth.close()
		r.veth = nil
	}
	want := max(n, r.maxRigPorts)
	g, err := newVethRig(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("veth rig (%d ports): %w", want, err)
	}
	r.veth = g
	return g, nil
}

func newVethRig(ctx context.Context, n int) (*vethRig, error) {
	pid := os.Getpid()
	g := &vethRig{ns: fmt.Sprintf("mxperf-r%d", pid), sink: fmt.Sprintf("mxperf-s%d", pid), n: n}
	ok := false
	defer func() {
		if !ok {
			g.close()
		}
	}()
	for _, ns := range []string{g.ns, g.sink} {
		if err := run(ctx, nil, "ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		if err := run(ctx, nil, "ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			return nil, err
		}
	}
	var link, upR, upS, tc strings.Builder
	for j := range n {
		fmt.Fprintf(&link, "link add mpo%d netns %s type veth peer name mpi%d netns %s\n", j, g.ns, j, g.sink)
		fmt.Fprintf(&upR, "link set mpo%d up\n", j)
		fmt.Fprintf(&upS, "link set mpi%d up\n", j)
		fmt.Fprintf(&tc, "qdisc add dev mpi%d clsact\n", j)
		// classic BPF "ret #2" in direct-action mode = TC_ACT_SHOT
		fmt.Fprintf(&tc, "filter add dev mpi%d ingress bpf bytecode \"1,6 0 0 2,\" da\n", j)
	}
	steps := []struct {
		in   string
		args []string
	}{
		{link.String(), []string{"ip", "-batch", "-"}},
		{upR.String() + "link set lo up\n", []string{"ip", "-n", g.ns, "-batch", "-"}},
		{upS.String() + "link set lo up\n", []string{"ip", "-n", g.sink, "-batch", "-"}},
		{tc.String(), []string{"tc", "-n", g.sink, "-batch", "-"}},
	}
	for _, s := range steps {
		if err := run(ctx, strings.NewReader(s.in), s.args...); err != nil {
			return nil, err
		}
	}
	ok = true
	return g, nil
}

func (g *vethRig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range []string{g.ns, g.sink} {
		_ = run(ctx, nil, "ip", "netns", "del", ns)
	}
}

// run runs a command, returning its stderr in the error.
func run(ctx context.Context, stdin *strings.Reader, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args[:min(len(args), 4)], " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
