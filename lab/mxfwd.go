package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/lab/topo"
)

// The mxfwd node runs its RE and FPCs inside the node's namespace, so the
// IPC port, the metrics ports and the loopback address are the defaults of
// re and fpc: each namespace has its own loopback.
const (
	reListen     = "127.0.0.1:6234"
	startTimeout = 20 * time.Second
)

func reSocket(dir string) string { return filepath.Join(dir, "re.sock") }
func fpcSocket(dir string, slot int) string {
	return filepath.Join(dir, fmt.Sprintf("fpc%d.sock", slot))
}

// prepareMxfwd writes the node's configuration (with its host name if the
// file has none) and has `re config check` validate it, so that a bad
// configuration fails the lab before anything is created.
func (l *Lab) prepareMxfwd(ctx context.Context, n *topo.Node, b bins, rec *NodeRecord) error {
	rec.Slots = n.Slots()
	for _, i := range n.Interfaces {
		rec.Ports = append(rec.Ports, PortRecord{Name: i.Name, Linux: i.Linux})
	}
	switch {
	case n.HostInterfaces == nil && b.hostIfs:
		rec.HostInterfaces, rec.HostIfNote = true, "on (default)"
	case n.HostInterfaces == nil:
		rec.HostIfNote = "off: bin/re has no --host-interfaces yet (issue #10); the router has no IP stack on its ports"
	case *n.HostInterfaces && !b.hostIfs:
		return fmt.Errorf("node %s: host-interfaces: true, but %s run has no --host-interfaces flag (issue #10)", n.Name, b.re)
	case *n.HostInterfaces:
		rec.HostInterfaces, rec.HostIfNote = true, "on"
	default:
		rec.HostIfNote = "off (host-interfaces: false)"
	}
	cfg := n.Config
	if cfg != "" && !strings.HasSuffix(cfg, "\n") {
		cfg += "\n"
	}
	if !strings.Contains(cfg, "set system host-name ") {
		// Appended, so that the RE's line numbers are the file's.
		cfg += "set system host-name " + n.Name + "\n"
	}
	path := filepath.Join(rec.Dir, "re.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	out, err := exec.CommandContext(ctx, b.re, "config", "check", path).CombinedOutput()
	if err != nil {
		src := n.ConfigFile
		if src == "" {
			src = "inline startup-config"
		}
		return fmt.Errorf("node %s: configuration (%s) rejected: %s", n.Name, src, strings.TrimSpace(string(out)))
	}
	return nil
}

// startMxfwd starts the node's RE, waits for its CLI, then one afpacket
// FPC per slot, and waits until each is registered.
func (l *Lab) startMxfwd(ctx context.Context, n *topo.Node, b bins) error {
	rec, err := l.Node(n.Name)
	if err != nil {
		return err
	}
	env, err := l.Env(n.Name)
	if err != nil {
		return err
	}
	reArgs := []string{b.re, "run", "--config", filepath.Join(rec.Dir, "re.conf"),
		"--listen", reListen, "--cli-socket", reSocket(rec.Dir)}
	if rec.HostInterfaces {
		reArgs = append(reArgs, "--host-interfaces")
	}
	re, err := l.startProc(n.Name, "re", reArgs, env, "re.log")
	if err != nil {
		return err
	}
	sock := reSocket(rec.Dir)
	if err := waitFor(ctx, "RE CLI", startTimeout, &re, func() bool {
		return cliOK(ctx, sock, "show version")
	}); err != nil {
		return err
	}
	for _, slot := range rec.Slots {
		args := []string{b.fpc, "run", "--slot", strconv.Itoa(slot), "--driver", "afpacket",
			"--re", reListen, "--vty-socket", fpcSocket(rec.Dir, slot)}
		for _, p := range rec.Ports {
			if _, _, s, err := topo.PortName(p.Name); err == nil && s == slot {
				args = append(args, "--port", p.Name+"="+p.Linux)
			}
		}
		for _, o := range n.FPCOptions {
			args = append(args, "--opt", o)
		}
		role := fmt.Sprintf("fpc%d", slot)
		fpc, err := l.startProc(n.Name, role, args, env, role+".log")
		if err != nil {
			return err
		}
		vty := fpcSocket(rec.Dir, slot)
		if err := waitFor(ctx, role+" registered", startTimeout, &fpc, func() bool {
			var sb strings.Builder
			_ = cli.Exec(ctx, sock, "show tnp addresses", &sb)
			return strings.Contains(sb.String(), role+" ") && cliOK(ctx, vty, "show version")
		}); err != nil {
			return err
		}
	}
	return nil
}

// cliOK runs a command on a CLI socket and reports whether it succeeded.
func cliOK(ctx context.Context, sock, command string) bool {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cli.Exec(c, sock, command, io.Discard) == nil
}

// CLI runs commands on a node's CLI: the RE's on an mxfwd node (one after
// the other, stopping at the first that fails), vtysh on an frr node (in
// one vtysh session, so "configure terminal" carries over).
func (l *Lab) CLI(ctx context.Context, node string, commands ...string) (string, error) {
	n, err := l.Node(node)
	if err != nil {
		return "", err
	}
	switch n.Kind {
	case string(topo.KindMxfwd):
		var sb strings.Builder
		for _, c := range commands {
			if err := cli.Exec(ctx, reSocket(n.Dir), c, &sb); err != nil {
				return sb.String(), err
			}
		}
		return sb.String(), nil
	case string(topo.KindFRR):
		return vtyshRun(ctx, n.Dir, commands...)
	}
	return "", fmt.Errorf("node %s is a %s node: it has no CLI (use exec)", node, n.Kind)
}

// Vty runs one command on the vty of an FPC of an mxfwd node.
func (l *Lab) Vty(ctx context.Context, node string, slot int, command string) (string, error) {
	n, err := l.Node(node)
	if err != nil {
		return "", err
	}
	if n.Kind != string(topo.KindMxfwd) {
		return "", fmt.Errorf("node %s is a %s node: only mxfwd nodes have FPCs", node, n.Kind)
	}
	ok := false
	for _, s := range n.Slots {
		ok = ok || s == slot
	}
	if !ok {
		return "", fmt.Errorf("node %s has no FPC in slot %d (slots %v)", node, slot, n.Slots)
	}
	var sb strings.Builder
	err = cli.Exec(ctx, fpcSocket(n.Dir, slot), command, &sb)
	return sb.String(), err
}

// Sockets returns the CLI socket of an mxfwd node's RE and of each FPC.
func (l *Lab) Sockets(node string) (re string, fpcs map[int]string, err error) {
	n, err := l.Node(node)
	if err != nil {
		return "", nil, err
	}
	if n.Kind != string(topo.KindMxfwd) {
		return "", nil, fmt.Errorf("node %s is not an mxfwd node", node)
	}
	fpcs = map[int]string{}
	for _, s := range n.Slots {
		fpcs[s] = fpcSocket(n.Dir, s)
	}
	return reSocket(n.Dir), fpcs, nil
}
