package lab

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/topo"
)

// The tests here bring real labs up in network namespaces (root). They
// keep their run directories under testRunRoot, apart from the user's
// labs, and name every lab xt<pid>-<tag>: unique per test binary, and a
// later run can tell the labs of a test binary that died (its pid is gone)
// and removes them (reapStale). On SIGINT/SIGTERM the labs this binary
// started are torn down before it exits; t.Cleanup does it otherwise.

const testRunRoot = "/run/mxlab-test"

var (
	binOnce sync.Once
	binDir  string
	binErr  error

	ourLabsMu sync.Mutex
	ourLabs   = map[string]bool{}
)

func TestMain(m *testing.M) {
	flag.Parse()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigc
		fmt.Fprintln(os.Stderr, "lab tests interrupted: removing their labs")
		destroyOurs()
		os.Exit(2)
	}()
	if os.Geteuid() == 0 {
		reapStale()
	}
	code := m.Run()
	destroyOurs()
	_ = os.Remove(testRunRoot) // if no other test binary uses it
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func testOptions() Options {
	return Options{RunRoot: testRunRoot, BinDir: binDir, Logger: slog.New(slog.DiscardHandler)}
}

func destroyOurs() {
	ourLabsMu.Lock()
	defer ourLabsMu.Unlock()
	for name := range ourLabs {
		if err := Destroy(testOptions(), name); err != nil && !strings.Contains(err.Error(), ErrNoLab.Error()) {
			fmt.Fprintf(os.Stderr, "destroy %s: %v\n", name, err)
		}
		delete(ourLabs, name)
	}
}

// reapStale removes test labs of test binaries that are gone.
func reapStale() {
	names, _ := List(testRunRoot)
	ents, _ := os.ReadDir(testRunRoot)
	for _, e := range ents {
		names = append(names, e.Name()) // also directories a crash left without state
	}
	for _, n := range names {
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(n, "xt"), "-")
		pid, err := strconv.Atoi(pidStr)
		if !strings.HasPrefix(n, "xt") || !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // that test binary is still running
		}
		if err := Destroy(testOptions(), n); err != nil {
			fmt.Fprintf(os.Stderr, "removing stale test lab %s: %v\n", n, err)
		}
	}
}

func labName(tag string) string { return fmt.Sprintf("xt%d-%s", os.Getpid(), tag) }

func track(name string) {
	ourLabsMu.Lock()
	ourLabs[name] = true
	ourLabsMu.Unlock()
}

// needLab skips without root or the tools a lab drives, and builds re,
// fpc and lab once.
func needLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: brings labs up")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces, veth pairs, AF_PACKET sockets)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: needs %s (iproute2)", tool)
		}
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mxlab-bin")
		if err != nil {
			binErr = err
			return
		}
		for _, c := range []string{"re", "fpc", "lab"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "github.com/mxfwd/mxfwd/cmd/"+c).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("build %s: %v\n%s", c, err, out)
				return
			}
		}
		binDir = dir
	})
	require.NoError(t, binErr)
}

func needFRR(t *testing.T) {
	t.Helper()
	if err := frrInstalled(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// loadTopo reads a topology file, or parses inline YAML (relative paths
// against examples/labs).
func loadTopo(t *testing.T, fileOrYAML string) (*topo.Topology, string) {
	t.Helper()
	if strings.Contains(fileOrYAML, "\n") {
		top, err := topo.Parse([]byte(fileOrYAML), exampleDir(t))
		require.NoError(t, err)
		return top, "inline"
	}
	top, err := topo.Load(fileOrYAML)
	require.NoError(t, err)
	return top, fileOrYAML
}

func exampleDir(t *testing.T) string {
	d, err := filepath.Abs("../examples/labs")
	require.NoError(t, err)
	return d
}

// startLab brings a lab up under a test name and tears it down at cleanup,
// checking that nothing is left.
func startLab(t *testing.T, tag, fileOrYAML string, mutate ...func(*topo.Topology)) *Lab {
	t.Helper()
	needLab(t)
	top, path := loadTopo(t, fileOrYAML)
	for _, m := range mutate {
		m(top)
	}
	name := labName(tag)
	o := testOptions()
	o.Name = name
	var logs bytes.Buffer
	var logMu sync.Mutex
	o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	track(name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Up(ctx, top, path, o)
	if err != nil {
		t.Logf("lab log:\n%s", logs.String())
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		snap := l.snapshot()
		if t.Failed() {
			logMu.Lock()
			t.Logf("lab log:\n%s", logs.String())
			logMu.Unlock()
			dumpLogs(t, snap)
		}
		require.NoError(t, l.Down())
		assertGone(t, snap)
	})
	return l
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (l *Lab) snapshot() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := *l.st
	s.Namespaces = append([]NSRecord(nil), s.Namespaces...)
	s.Procs = append([]ProcRecord(nil), s.Procs...)
	return s
}

func dumpLogs(t *testing.T, s State) {
	for _, p := range s.Procs {
		t.Logf("%s/%s:%s", p.Node, p.Role, logTail(p.Log))
	}
	for _, n := range s.Nodes {
		logs, _ := filepath.Glob(filepath.Join(n.Dir, "*.log"))
		for _, f := range logs {
			t.Logf("%s:%s", n.Name, logTail(f))
		}
	}
}

// assertGone checks that nothing of a lab is left: run directory,
// namespaces (by name, and no process holding one, which would keep it
// and its veth ends alive), processes, FRR crash directories.
func assertGone(t *testing.T, s State) {
	t.Helper()
	_, err := os.Stat(s.Dir)
	assert.True(t, os.IsNotExist(err), "run directory %s left behind", s.Dir)
	for _, ns := range s.Namespaces {
		assert.False(t, netns.Exists(ns.Name), "namespace %s left behind", ns.Name)
		if !ns.ID.IsZero() {
			assert.Empty(t, netns.Pids(ns.ID), "processes left in namespace %s", ns.Name)
		}
	}
	for _, p := range s.Procs {
		assert.False(t, p.Alive(), "process %s/%s (pid %d) left running", p.Node, p.Role, p.Pid)
		if isFRRDaemon(p.Role) {
			_, err := os.Stat(filepath.Join("/var/tmp/frr", p.Role+"."+strconv.Itoa(p.Pid)))
			assert.True(t, os.IsNotExist(err), "FRR crash directory of %s left behind", p.Role)
		}
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err)
	assert.NotContains(t, string(out), NetnsName(s.Name, ""), "a namespace of lab %s is listed", s.Name)
	names, _ := List(filepath.Dir(s.Dir))
	assert.NotContains(t, names, s.Name)
}

// runLab runs the lab binary with the test run root.
func runLab(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "lab"), append([]string{"--run-dir", testRunRoot, "--bin", binDir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// aliveAll reports whether every recorded process is alive.
func aliveAll(procs []ProcRecord) bool {
	for _, p := range procs {
		if !p.Alive() {
			return false
		}
	}
	return true
}
