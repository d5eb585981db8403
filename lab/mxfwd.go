package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// reNSocket is the CLI socket of routing engine id of a redundant node.
func reNSocket(dir string, id int) string { return filepath.Join(dir, fmt.Sprintf("re%d.sock", id)) }

// redundancyStatement makes a node run two routing engines.
const redundancyStatement = "set chassis redundancy graceful-switchover"

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
	rec.Redundant = strings.Contains(cfg, redundancyStatement)
	if b.auth {
		key, err := writeKeyFile(rec.Dir)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		rec.AuthKeyFile = key
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

// writeKeyFile writes a fresh IPC key (32 random bytes, hex) to dir's
// ipc.key, mode 0600, and returns its path. The RE listens on the
// namespace's loopback, where it needs no key; with one, a process run in
// the namespace (lab exec) cannot register as a card by accident, and the
// labs run the authenticated registration a deployment uses.
func writeKeyFile(dir string) (string, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", fmt.Errorf("IPC key: %w", err)
	}
	path := filepath.Join(dir, "ipc.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("IPC key: %w", err)
	}
	return path, nil
}

// keyArgs is the --auth-key-file flag of a node's daemons, if it has a key.
func keyArgs(rec *NodeRecord) []string {
	if rec.AuthKeyFile == "" {
		return nil
	}
	return []string{"--auth-key-file", rec.AuthKeyFile}
}

// startMxfwd starts the node's RE, waits for its CLI, then one FPC per
// slot (driver afpacket, or the node's fpc-driver), and waits until each
// is registered.
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
	reArgs = append(reArgs, keyArgs(&rec)...)
	if rec.HostInterfaces {
		reArgs = append(reArgs, "--host-interfaces")
	}
	var sock string
	if rec.Redundant {
		// Two routing engines on the same FPC port (only the master
		// listens: the cards follow the master alias) and one mirror
		// channel; re1 comes up as the backup and synchronizes.
		for id := range 2 {
			args := []string{b.re, "run", "--config", filepath.Join(rec.Dir, "re.conf"), "--listen", reListen,
				"--cli-socket", reNSocket(rec.Dir, id), "--re-id", strconv.Itoa(id),
				"--peer-re", filepath.Join(rec.Dir, "mirror.sock"), "--metrics", ""}
			args = append(args, keyArgs(&rec)...)
			if rec.HostInterfaces {
				args = append(args, "--host-interfaces")
			}
			role := fmt.Sprintf("re%d", id)
			re, err := l.startProc(n.Name, role, args, env, role+".log")
			if err != nil {
				return err
			}
			s := reNSocket(rec.Dir, id)
			if err := waitFor(ctx, role+" CLI", startTimeout, &re, func() bool { return cliOK(ctx, s, "show version") }); err != nil {
				return err
			}
			if id == 1 {
				if err := waitFor(ctx, "re1 synchronized with re0", startTimeout, &re, func() bool {
					var sb strings.Builder
					_ = cli.Exec(ctx, s, "show system switchover", &sb)
					return strings.Contains(sb.String(), "Peer state: Steady State")
				}); err != nil {
					return err
				}
			}
		}
		sock = reNSocket(rec.Dir, 0)
	} else {
		re, err := l.startProc(n.Name, "re", reArgs, env, "re.log")
		if err != nil {
			return err
		}
		sock = reSocket(rec.Dir)
		if err := waitFor(ctx, "RE CLI", startTimeout, &re, func() bool {
			return cliOK(ctx, sock, "show version")
		}); err != nil {
			return err
		}
	}
	for _, slot := range rec.Slots {
		driver := n.FPCDriver
		if driver == "" {
			driver = "afpacket"
		}
		args := []string{b.fpc, "run", "--slot", strconv.Itoa(slot), "--driver", driver,
			"--re", reListen, "--vty-socket", fpcSocket(rec.Dir, slot)}
		args = append(args, keyArgs(&rec)...)
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
	node, re, _ := strings.Cut(node, "@")
	n, err := l.Node(node)
	if err != nil {
		return "", err
	}
	switch n.Kind {
	case string(topo.KindMxfwd):
		sock, err := l.reCLISocket(ctx, &n, re)
		if err != nil {
			return "", err
		}
		var sb strings.Builder
		for _, c := range commands {
			if err := cli.Exec(ctx, sock, c, &sb); err != nil {
				return sb.String(), err
			}
		}
		return sb.String(), nil
	case string(topo.KindFRR):
		return vtyshRun(ctx, n.Dir, commands...)
	}
	return "", fmt.Errorf("node %s is a %s node: it has no CLI (use exec)", node, n.Kind)
}

// reCLISocket is the CLI socket of a node's routing engine: re ("re0",
// "re1") on a redundant node, else (re "") the master's.
func (l *Lab) reCLISocket(ctx context.Context, n *NodeRecord, re string) (string, error) {
	if !n.Redundant {
		if re != "" && re != "re0" {
			return "", fmt.Errorf("node %s has one routing engine (re0): no %s", n.Name, re)
		}
		return reSocket(n.Dir), nil
	}
	switch re {
	case "re0":
		return reNSocket(n.Dir, 0), nil
	case "re1":
		return reNSocket(n.Dir, 1), nil
	case "":
	default:
		return "", fmt.Errorf("node %s: no routing engine %q (re0, re1)", n.Name, re)
	}
	for id := range 2 {
		var sb strings.Builder
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cli.Exec(c, reNSocket(n.Dir, id), "show system switchover", &sb)
		cancel()
		if err == nil && strings.Contains(sb.String(), fmt.Sprintf("re%d (Master)", id)) {
			return reNSocket(n.Dir, id), nil
		}
	}
	return "", fmt.Errorf("node %s: no master routing engine answers (use %s@re0 or %s@re1)", n.Name, n.Name, n.Name)
}

// RESocket is the CLI socket of node's master routing engine, or with
// "node@re1" of that one.
func (l *Lab) RESocket(ctx context.Context, node string) (string, error) {
	node, re, _ := strings.Cut(node, "@")
	n, err := l.Node(node)
	if err != nil {
		return "", err
	}
	return l.reCLISocket(ctx, &n, re)
}

// KillRE sends sig to routing engine re ("re0", "re1") of a redundant
// node (kill -9 of the master, SIGSTOP of a hung one).
func (l *Lab) KillRE(node, re string, sig syscall.Signal) error {
	l.mu.Lock()
	procs := slices.Clone(l.st.Procs)
	l.mu.Unlock()
	for _, p := range procs {
		if p.Node == node && p.Role == re {
			if !p.Alive() {
				return fmt.Errorf("node %s: %s is not running", node, re)
			}
			if err := p.Signal(sig); err != nil {
				return err
			}
			if sig == syscall.SIGKILL && !p.Wait(5*time.Second) {
				return fmt.Errorf("node %s: %s (pid %d) survived SIGKILL", node, re, p.Pid)
			}
			return nil
		}
	}
	return fmt.Errorf("node %s: no process %s", node, re)
}

// StartRE starts routing engine re of a redundant node again (after a
// kill), with its original arguments, and waits for its CLI.
func (l *Lab) StartRE(ctx context.Context, node, re string) error {
	l.mu.Lock()
	procs := slices.Clone(l.st.Procs)
	l.mu.Unlock()
	var old *ProcRecord
	for i := range procs {
		if procs[i].Node == node && procs[i].Role == re {
			old = &procs[i]
		}
	}
	if old == nil {
		return fmt.Errorf("node %s: no process %s", node, re)
	}
	if old.Alive() {
		return fmt.Errorf("node %s: %s is running (pid %d)", node, re, old.Pid)
	}
	argv := old.Argv
	if err := l.update(func(s *State) {
		s.Procs = slices.DeleteFunc(s.Procs, func(p ProcRecord) bool { return p.Node == node && p.Role == re })
	}); err != nil {
		return err
	}
	env, err := l.Env(node)
	if err != nil {
		return err
	}
	n, err := l.Node(node)
	if err != nil {
		return err
	}
	p, err := l.startProc(node, re, argv, env, re+".log")
	if err != nil {
		return err
	}
	id := 0
	if re == "re1" {
		id = 1
	}
	sock := reNSocket(n.Dir, id)
	return waitFor(ctx, re+" CLI", startTimeout, &p, func() bool { return cliOK(ctx, sock, "show version") })
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
