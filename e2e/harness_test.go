// Package e2e starts the real re and fpc binaries on loopback and asserts on
// what their CLI prints, the way an operator would use them.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "mxfwd-e2e-bin")
	if err != nil {
		panic(err)
	}
	for _, c := range []string{"re", "fpc"} {
		out, err := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, c), "github.com/mxfwd/mxfwd/cmd/"+c).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", c, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// platform is one RE with its FPCs, each a real process.
type platform struct {
	t      *testing.T
	dir    string
	port   int
	cfg    string
	reArgs []string
	re     *exec.Cmd
	fpcs   map[int]*exec.Cmd
	driver string
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newPlatform(t *testing.T, config string, reArgs ...string) *platform {
	t.Helper()
	dir, err := os.MkdirTemp("", "mxe2e") // short: Unix socket paths are limited to 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "re.conf")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o644))
	p := &platform{t: t, dir: dir, port: freePort(t), cfg: cfg, reArgs: reArgs, fpcs: map[int]*exec.Cmd{}, driver: "swpfe"}
	t.Cleanup(p.stopAll)
	return p
}

func (p *platform) env() []string { return append(os.Environ(), "MXFWD_RUN_DIR="+p.dir) }

func (p *platform) start(name string, args ...string) *exec.Cmd {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = p.env()
	logf, err := os.OpenFile(filepath.Join(p.dir, strings.ReplaceAll(strings.Join(args[:min(3, len(args))], "_"), "/", "")+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(p.t, cmd.Start())
	return cmd
}

func (p *platform) startRE() {
	p.t.Helper()
	args := append([]string{"run", "--config", p.cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", ""}, p.reArgs...)
	p.re = p.start("re", args...)
	p.eventually("RE CLI up", func() bool { _, err := p.cliErr("show version"); return err == nil })
}

func (p *platform) startFPC(slot int, extra ...string) {
	p.t.Helper()
	args := append([]string{"run", "--slot", fmt.Sprint(slot), "--driver", p.driver, "--re", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", "", "--stats-interval", "200ms"}, extra...)
	p.fpcs[slot] = p.start("fpc", args...)
	p.eventually(fmt.Sprintf("fpc%d in show tnp addresses", slot), func() bool {
		out, _ := p.cliErr("show tnp addresses")
		return strings.Contains(out, fmt.Sprintf("fpc%d ", slot))
	})
}

func stop(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (p *platform) killFPC(slot int) {
	stop(p.fpcs[slot], syscall.SIGKILL)
	delete(p.fpcs, slot)
}

func (p *platform) stopRE() {
	stop(p.re, syscall.SIGTERM)
	p.re = nil
}

func (p *platform) stopAll() {
	for s, c := range p.fpcs {
		stop(c, syscall.SIGTERM)
		delete(p.fpcs, s)
	}
	p.stopRE()
	if p.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(p.dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			p.t.Logf("==== %s\n%s", filepath.Base(l), b)
		}
	}
}

func (p *platform) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = p.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (p *platform) cliErr(command string) (string, error) { return p.run("re", "cli", command) }

// cli runs an RE CLI command that must succeed.
func (p *platform) cli(command string) string {
	p.t.Helper()
	out, err := p.cliErr(command)
	require.NoError(p.t, err, "re cli %q: %s", command, out)
	return out
}

func (p *platform) vtyErr(slot int, command string) (string, error) {
	return p.run("fpc", "vty", "--slot", fmt.Sprint(slot), command)
}

func (p *platform) vty(slot int, command string) string {
	p.t.Helper()
	out, err := p.vtyErr(slot, command)
	require.NoError(p.t, err, "fpc vty %d %q: %s", slot, command, out)
	return out
}

func (p *platform) eventually(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("timed out waiting for %s", what)
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
