// Package lab runs multi-router labs in Linux network namespaces: mxfwd
// routers (an RE plus one FPC per slot, on the afpacket or the xdp
// driver), FRRouting routers and
// plain hosts, wired by veth pairs as a topology file (package topo)
// describes.
//
// # Contract
//
// Up creates, in order, the lab's run directory (RunRoot/NAME), one
// network namespace per node (named mxl-LAB-NODE), the links, and the
// nodes' processes; it records every step in RunRoot/NAME/state.json
// before and after doing it. Down (and Destroy, from the state file alone)
// undoes it in reverse: captures, then daemons (by pid and kernel start
// time, never by name), then anything still running inside the lab's own
// namespaces, then the namespaces (only those whose identity matches what
// was recorded), then the run directory. So a lab whose runner crashed at
// any point is cleaned up by Destroy, and nothing the lab did not create is
// touched.
//
// A Lab value is safe for concurrent use; commands on the same lab from
// several processes are serialised by an flock on its run directory.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/proc"
	"github.com/mxfwd/mxfwd/lab/topo"
)

// NetnsPrefix starts the name of every namespace a lab creates.
const NetnsPrefix = "mxl-"

// Paths of the tools the lab drives, overridable for unusual installs.
var (
	frrDir = envOr("MXLAB_FRR_DIR", "/usr/lib/frr")
	vtysh  = envOr("MXLAB_VTYSH", "vtysh")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// ErrExists is returned by Up when the lab's run directory exists.
var ErrExists = errors.New("lab already exists")

// Options configure Up and Open.
type Options struct {
	// RunRoot holds the labs' run directories (DefaultRunRoot()).
	RunRoot string
	// BinDir holds the re and fpc binaries (needed for mxfwd nodes).
	BinDir string
	// Name overrides the topology's name (run the same file twice).
	Name string
	// Logger receives progress and warnings; nil discards them.
	Logger *slog.Logger
	// KeepOnError leaves a lab that failed to come up in place (for
	// inspection; Destroy removes it) instead of tearing it down.
	KeepOnError bool
}

// Lab is a lab that is up (or was, and is being inspected or torn down).
type Lab struct {
	log *slog.Logger
	mu  sync.Mutex // guards st and writes of the state file in this process
	st  *State
}

// NetnsName returns the namespace name of a node of a lab.
func NetnsName(lab, node string) string { return NetnsPrefix + lab + "-" + node }

func (o *Options) fill() {
	if o.RunRoot == "" {
		o.RunRoot = DefaultRunRoot()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// Dir returns the lab's run directory.
func (l *Lab) Dir() string { return l.st.Dir }

// Mroute returns what the kernel check found when the lab came up.
func (l *Lab) Mroute() Mroute { return l.st.Mroute }

// Node returns a copy of a node's record.
func (l *Lab) Node(name string) (NodeRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.st.node(name)
	if n == nil {
		return NodeRecord{}, fmt.Errorf("lab %s: no node %q", l.st.Name, name)
	}
	return *n, nil
}

// Nodes returns copies of every node's record.
func (l *Lab) Nodes() []NodeRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]NodeRecord(nil), l.st.Nodes...)
}

// NetnsPath returns the namespace path of a node (for netns.Do and the
// traffic package).
func (l *Lab) NetnsPath(node string) (string, error) {
	n, err := l.Node(node)
	if err != nil {
		return "", err
	}
	return netns.Path(n.Netns), nil
}

// Open loads a lab that is up from its run directory.
func Open(o Options, name string) (*Lab, error) {
	o.fill()
	if err := topo.CheckLabName(name); err != nil {
		return nil, err
	}
	st, err := loadState(filepath.Join(o.RunRoot, name))
	if err != nil {
		return nil, err
	}
	return &Lab{log: o.Logger, st: st}, nil
}

// update changes the state under the lock and saves it.
func (l *Lab) update(fn func(s *State)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(l.st)
	return l.st.save()
}

// crashPoint kills the process at a named step of Up when the environment
// variable MXLAB_TEST_CRASH_AT names it: a test hook that makes "the runner
// crashed half-way" reproducible (see lab_test.go).
func crashPoint(step string) {
	if v := os.Getenv("MXLAB_TEST_CRASH_AT"); v != "" && v == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Second) // not reached
	}
}

// Up brings a lab up. topoPath is recorded for status output. On failure
// (or ctx cancellation) everything created so far is removed, unless
// o.KeepOnError.
func Up(ctx context.Context, t *topo.Topology, topoPath string, o Options) (l *Lab, err error) {
	o.fill()
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: needs root (network namespaces, veth pairs, packet sockets): run it with sudo")
	}
	name := t.Name
	if o.Name != "" {
		name = o.Name
	}
	if err := topo.CheckLabName(name); err != nil {
		return nil, err
	}
	if err := checkPaths(o.RunRoot, name, t); err != nil {
		return nil, err
	}
	bins, err := findBins(o.BinDir, t)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.RunRoot, 0o755); err != nil {
		return nil, fmt.Errorf("lab: run root: %w", err)
	}
	dir := filepath.Join(o.RunRoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lab %s: %s exists (up, or left behind: run `lab down %s`): %w", name, dir, name, ErrExists)
		}
		return nil, fmt.Errorf("lab: %w", err)
	}
	unlock, err := lockDir(dir, 0)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	defer unlock()
	if abs, err := filepath.Abs(topoPath); err == nil {
		topoPath = abs
	}
	l = &Lab{log: o.Logger.With("lab", name), st: &State{
		Version: stateVersion, Name: name, Topology: topoPath, Dir: dir, BinDir: bins.dir,
		Created: time.Now(), Phase: PhaseStarting,
	}}
	if err := l.update(func(*State) {}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		_ = l.update(func(s *State) { s.Phase, s.Error = PhaseFailed, err.Error() })
		if o.KeepOnError {
			l.log.Warn("lab failed; left in place (KeepOnError)", "err", err)
			return
		}
		if derr := l.teardown(); derr != nil {
			err = fmt.Errorf("%w (and tearing down: %v)", err, derr)
		}
		l = nil
	}()
	t0 := time.Now()
	if err := l.bringUp(ctx, t, bins); err != nil {
		return l, err
	}
	if err := l.update(func(s *State) { s.Phase = PhaseUp }); err != nil {
		return l, err
	}
	l.log.Info("lab up", "took", time.Since(t0).Round(time.Millisecond), "dir", dir)
	return l, nil
}

func (l *Lab) bringUp(ctx context.Context, t *topo.Topology, bins bins) error {
	mr := DetectMroute()
	if err := l.update(func(s *State) { s.Mroute = mr }); err != nil {
		return err
	}
	if !mr.Available && hasKind(t, topo.KindFRR) {
		l.log.Warn(mr.FRRNote())
	}
	// Node records and configuration files first: mxfwd configurations are
	// checked before anything is created.
	for _, n := range t.Nodes {
		rec, err := l.prepareNode(ctx, n, bins)
		if err != nil {
			return err
		}
		if err := l.update(func(s *State) { s.Nodes = append(s.Nodes, rec) }); err != nil {
			return err
		}
	}
	crashPoint("prepared")
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.addNetns(n); err != nil {
			return err
		}
	}
	crashPoint("netns")
	for _, lk := range t.Links {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.addLink(t, lk); err != nil {
			return err
		}
	}
	if err := l.waitLinksUp(ctx, 3*time.Second); err != nil {
		l.log.Warn("links not all up", "err", err)
	}
	for _, n := range t.Nodes {
		if err := l.nodeSysctls(n); err != nil {
			return err
		}
	}
	crashPoint("links")
	// Routers first, hosts last: a host's exec lines may expect the
	// routers to be up.
	for _, k := range []topo.Kind{topo.KindMxfwd, topo.KindFRR, topo.KindLinux} {
		for _, n := range t.Nodes {
			if n.Kind != k {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			t0 := time.Now()
			var err error
			switch k {
			case topo.KindMxfwd:
				err = l.startMxfwd(ctx, n, bins)
			case topo.KindFRR:
				err = l.startFRR(ctx, n)
			}
			if err == nil {
				err = l.runExec(ctx, n)
			}
			if err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			l.log.Info("node up", "node", n.Name, "kind", n.Kind, "took", time.Since(t0).Round(time.Millisecond))
			crashPoint("node:" + n.Name)
		}
	}
	return nil
}

func hasKind(t *topo.Topology, k topo.Kind) bool {
	for _, n := range t.Nodes {
		if n.Kind == k {
			return true
		}
	}
	return false
}

// checkPaths rejects names whose Unix socket paths would not fit.
func checkPaths(root, name string, t *topo.Topology) error {
	for _, n := range t.Nodes {
		// longest socket: NODE/fpcNN.sock or NODE/staticd.vty
		p := filepath.Join(root, name, n.Name, "staticd.vty")
		if len(p) > 107 {
			return fmt.Errorf("lab %s: socket path %s is longer than 107 bytes: use a shorter run root, lab or node name", name, p)
		}
	}
	return nil
}

type bins struct {
	dir, re, fpc string
	hostIfs      bool // re run has --host-interfaces
	auth         bool // re run and fpc run have --auth-key-file
}

// findBins locates re and fpc when the topology has mxfwd nodes.
func findBins(dir string, t *topo.Topology) (bins, error) {
	if !hasKind(t, topo.KindMxfwd) {
		return bins{dir: dir}, nil
	}
	if dir == "" {
		return bins{}, errors.New("lab: mxfwd nodes need the re and fpc binaries: set the bin directory (lab --bin DIR)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return bins{}, err
	}
	b := bins{dir: abs, re: filepath.Join(abs, "re"), fpc: filepath.Join(abs, "fpc")}
	for _, p := range []string{b.re, b.fpc} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			return bins{}, fmt.Errorf("lab: %s: not an executable (run make build, or give --bin DIR)", p)
		}
	}
	b.hostIfs = HasHostInterfaces(b.re)
	b.auth = hasRunFlag(b.re, "--auth-key-file") && hasRunFlag(b.fpc, "--auth-key-file")
	return b, nil
}

// HasHostInterfaces reports whether the re binary at path accepts `run
// --host-interfaces` (issue #10).
func HasHostInterfaces(re string) bool { return hasRunFlag(re, "--host-interfaces") }

// hasRunFlag reports whether `BIN run --help` lists flag.
func hasRunFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	return strings.Contains(string(out), flag)
}

// prepareNode builds a node's record and writes its files; nothing is
// started.
func (l *Lab) prepareNode(ctx context.Context, n *topo.Node, b bins) (NodeRecord, error) {
	rec := NodeRecord{Name: n.Name, Kind: string(n.Kind), Netns: NetnsName(l.st.Name, n.Name), Dir: filepath.Join(l.st.Dir, n.Name)}
	for _, i := range n.Interfaces {
		rec.Interfaces = append(rec.Interfaces, PortRecord{Name: i.Name, Linux: i.Linux})
	}
	for k, v := range n.Env {
		rec.Env = append(rec.Env, k+"="+v)
	}
	if err := os.Mkdir(rec.Dir, 0o755); err != nil {
		return rec, fmt.Errorf("node %s: %w", n.Name, err)
	}
	switch n.Kind {
	case topo.KindMxfwd:
		return rec, l.prepareMxfwd(ctx, n, b, &rec)
	case topo.KindFRR:
		return rec, l.prepareFRR(n, &rec)
	}
	return rec, nil
}

// addNetns creates a node's namespace, recording the intent first.
func (l *Lab) addNetns(n *topo.Node) error {
	name := NetnsName(l.st.Name, n.Name)
	if netns.Exists(name) {
		return fmt.Errorf("node %s: namespace %s exists already (another lab, or not ours): not touching it", n.Name, name)
	}
	if err := l.update(func(s *State) { s.Namespaces = append(s.Namespaces, NSRecord{Node: n.Name, Name: name}) }); err != nil {
		return err
	}
	id, err := netns.Add(name)
	if err != nil && id.IsZero() {
		// Not created: forget the intent so that teardown leaves the name alone.
		_ = l.update(func(s *State) { s.Namespaces = s.Namespaces[:len(s.Namespaces)-1] })
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	if uerr := l.update(func(s *State) { s.Namespaces[len(s.Namespaces)-1].ID = id }); uerr != nil {
		return uerr
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	// No IPv6 (no ND/MLD noise on the links) unless the node's sysctls say
	// otherwise: set before any interface exists, so that none gets a
	// link-local address. Routers of kind frr forward in the kernel.
	base := map[string]string{
		"net.ipv6.conf.all.disable_ipv6":     "1",
		"net.ipv6.conf.default.disable_ipv6": "1",
	}
	if n.Kind == topo.KindFRR {
		base["net.ipv4.ip_forward"] = "1"
		base["net.ipv4.conf.all.rp_filter"] = "0"
		base["net.ipv4.conf.default.rp_filter"] = "0"
	}
	for k, v := range n.Sysctls {
		if _, ok := base[k]; ok {
			base[k] = v
		}
	}
	return setSysctls(name, base)
}

// nodeSysctls applies a node's own sysctls once its interfaces exist.
func (l *Lab) nodeSysctls(n *topo.Node) error {
	if len(n.Sysctls) == 0 {
		return nil
	}
	return setSysctls(NetnsName(l.st.Name, n.Name), n.Sysctls)
}

func setSysctls(ns string, kv map[string]string) error {
	return netns.Do(netns.Path(ns), func() error {
		for k, v := range kv {
			p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := os.WriteFile(p, []byte(v), 0); err != nil {
				return fmt.Errorf("sysctl %s=%s in %s: %w", k, v, ns, err)
			}
		}
		return nil
	})
}

// runExec runs a node's exec lines in its namespace, in order.
func (l *Lab) runExec(ctx context.Context, n *topo.Node) error {
	for i, c := range n.Exec {
		out, err := l.Exec(ctx, n.Name, "sh", "-c", c)
		l.appendLog(n.Name, "exec.log", fmt.Sprintf("$ %s\n%s", c, out))
		if err != nil {
			return fmt.Errorf("exec[%d] %q: %v: %s", i, c, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func (l *Lab) appendLog(node, file, text string) {
	n, err := l.Node(node)
	if err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(n.Dir, file), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.WriteString(f, text)
}

// Env returns the environment of commands run in a node: the caller's,
// plus, on mxfwd nodes, MXFWD_RUN_DIR (so that `re cli` and `fpc vty`
// find the node's sockets) and the bin directory first in PATH, plus the
// node's env.
func (l *Lab) Env(node string) ([]string, error) {
	n, err := l.Node(node)
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	if n.Kind == string(topo.KindMxfwd) {
		env = setEnv(env, "MXFWD_RUN_DIR", n.Dir)
		if l.st.BinDir != "" {
			env = setEnv(env, "PATH", l.st.BinDir+":"+os.Getenv("PATH"))
		}
	}
	for _, kv := range n.Env {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	return env, nil
}

func setEnv(env []string, k, v string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}

// Command returns a command that runs argv inside a node's namespace with
// the node's environment (see Env).
func (l *Lab) Command(ctx context.Context, node string, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: empty command")
	}
	n, err := l.Node(node)
	if err != nil {
		return nil, err
	}
	env, err := l.Env(node)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Netns}, argv...)...)
	cmd.Env = env
	return cmd, nil
}

// Exec runs argv in a node's namespace and returns its combined output.
func (l *Lab) Exec(ctx context.Context, node string, argv ...string) ([]byte, error) {
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		return nil, err
	}
	return cmd.CombinedOutput()
}

// startProc starts a node process in the node's namespace and records it.
func (l *Lab) startProc(node, role string, argv, env []string, logName string) (ProcRecord, error) {
	n, err := l.Node(node)
	if err != nil {
		return ProcRecord{}, err
	}
	full := append([]string{"ip", "netns", "exec", n.Netns}, argv...)
	logPath := filepath.Join(n.Dir, logName)
	id, err := proc.Start(proc.Spec{Argv: full, Env: env, Log: logPath})
	rec := ProcRecord{Node: node, Role: role, Ident: id, Argv: argv, Log: logPath}
	if id.Pid > 0 && id.Start > 0 {
		if uerr := l.update(func(s *State) { s.Procs = append(s.Procs, rec) }); uerr != nil && err == nil {
			err = uerr
		}
	}
	if err != nil {
		return rec, fmt.Errorf("%s: %w%s", role, err, logTail(logPath))
	}
	return rec, nil
}

// logTail returns the end of a log file for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n  " + path + ":\n    " + strings.Join(lines, "\n    ")
}

// waitFor polls cond every 50 ms until it holds, the process dies, ctx
// ends or timeout passes.
func waitFor(ctx context.Context, what string, timeout time.Duration, p *ProcRecord, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p != nil && !p.Alive() {
			return fmt.Errorf("%s: %s exited%s", what, p.Role, logTail(p.Log))
		}
		if time.Now().After(deadline) {
			tail := ""
			if p != nil {
				tail = logTail(p.Log)
			}
			return fmt.Errorf("%s: not after %v%s", what, timeout, tail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
