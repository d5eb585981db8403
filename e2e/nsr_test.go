package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pair is two routing engines of one platform (non-stop routing, issue
// #17): they share the FPC port (only the master listens on it: the
// cards talk to the master alias) and a mirror channel.
type pair struct {
	*platform
	res [2]*exec.Cmd
	key string // --auth-key-file of the routing engines and the cards, if set
}

// withKey makes the pair and its cards authenticate with a shared key.
func (p *pair) withKey() {
	p.t.Helper()
	p.key = filepath.Join(p.dir, "ipc.key")
	require.NoError(p.t, os.WriteFile(p.key, []byte("mxhd-nsr-0123456789abcdef\n"), 0o600))
}

func (p *pair) keyArgs() []string {
	if p.key == "" {
		return nil
	}
	return []string{"--auth-key-file", p.key}
}

func (p *pair) sock(id int) string { return filepath.Join(p.dir, fmt.Sprintf("re%d.sock", id)) }

func (p *pair) startRE(id int, extra ...string) {
	p.t.Helper()
	args := append([]string{"--cli-socket", p.sock(id), "run", "--config", p.cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", "",
		"--re-id", fmt.Sprint(id), "--peer-re", filepath.Join(p.dir, "mirror.sock")}, append(p.keyArgs(), extra...)...)
	p.res[id] = p.start("re", args...)
	p.eventually(fmt.Sprintf("re%d CLI up", id), func() bool { _, err := p.cliOn(id, "show version"); return err == nil })
}

func (p *pair) cliOn(id int, command string) (string, error) {
	return p.run("re", "--cli-socket", p.sock(id), "cli", command)
}

func (p *pair) must(id int, command string) string {
	p.t.Helper()
	out, err := p.cliOn(id, command)
	require.NoError(p.t, err, "re%d cli %q: %s", id, command, out)
	return out
}

func (p *pair) kill(id int, sig syscall.Signal) {
	stop(p.res[id], sig)
	p.res[id] = nil
}

// nextHopIDs extracts the (S,G) lines of `show route long_ip` on a card:
// route and next-hop ids, which must survive a switchover unchanged.
var longIPLine = regexp.MustCompile(`(?m)^.*/64.*$`)

func TestNSRKillMasterKeepsForwardingState(t *testing.T) {
	cfg := seedConfig(t) + "set chassis redundancy graceful-switchover\nset routing-options nonstop-routing\n"
	p := &pair{platform: newPlatform(t, cfg)}
	// Authenticated cards: the new master's FPC listener must ask for the
	// key as the old one's did.
	p.withKey()
	t.Cleanup(func() {
		for id := range p.res {
			p.kill(id, syscall.SIGTERM)
		}
	})
	p.startRE(0)
	p.startRE(1)
	p.eventually("re1 is the backup, in sync", func() bool {
		out, _ := p.cliOn(1, "show system switchover")
		return strings.Contains(out, "Peer state: Steady State") && strings.Contains(out, "re1 (Backup)")
	})
	out := p.must(1, "show system switchover")
	require.Contains(t, out, "Graceful switchover: On")
	require.Contains(t, out, "Configuration database: Ready")
	require.Contains(t, out, "Kernel database: Ready")
	out = p.must(0, "show task replication")
	require.Regexp(t, `Stateful Replication: Enabled\s+RE mode: Master`, out)
	require.Regexp(t, `PIM\s+Complete`, out)
	tnp := p.must(0, "show tnp addresses")
	require.Regexp(t, `(?m)^master +0x1 02:01:00:00:00:04`, tnp)
	require.Regexp(t, `(?m)^re0 +0x4 `, tnp)
	require.Regexp(t, `(?m)^re1 +0x5 `, tnp)

	// A card, the configured join and one made at run time (CLI owner):
	// both are kernel state, both must survive.
	p.startFPCAt(3)
	p.must(0, "request multicast join source 10.128.1.40 group 232.2.2.2 interface ae101.0")
	p.eventually("runtime join on FPC 3", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip"), "232.2.2.2.10.128.1.40/64")
	})
	before := longIPLine.FindAllString(p.vty(3, "show route long_ip"), -1)
	require.GreaterOrEqual(t, len(before), 2)
	nhBefore := p.must(0, "show multicast next-hops")

	// kill -9 the master.
	p.kill(0, syscall.SIGKILL)
	p.eventually("re1 took over", func() bool {
		out, _ := p.cliOn(1, "show system switchover")
		return strings.Contains(out, "re1 (Master)")
	})
	p.eventually("FPC 3 registered with re1 and resynced", func() bool {
		out, _ := p.cliOn(1, "show chassis fpc")
		return strings.Contains(out, "Online") && strings.Contains(p.vty(3, "show ipc"), "connected\n")
	})
	// Same routes with the same ids, nothing swept, the runtime join too.
	require.Equal(t, before, longIPLine.FindAllString(p.vty(3, "show route long_ip"), -1))
	require.Regexp(t, `swept 0\b`, p.vty(3, "show ipc"))
	require.Equal(t, nhBefore, p.must(1, "show multicast next-hops"), "the new master's next hops are the old one's")
	p.vty(3, "test traffic source "+src+" group "+group+" interface ae90.0 count 10")
	require.Regexp(t, `(?m)^(395|400) .* +10 +640$`, p.vty(3, "show pfe egress"))
	tnp = p.must(1, "show tnp addresses")
	require.Regexp(t, `(?m)^master +0x1 02:01:00:00:00:05`, tnp, "the master alias follows mastership")
	// The new master authenticated FPC 3, and refuses a card without the key.
	require.Contains(t, p.must(1, "show chassis fpc"), "hmac")
	p.fpcs[4] = p.start("fpc", "run", "--slot", "4", "--driver", p.driver, "--re", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", "")
	p.eventually("the keyless card refused by re1", func() bool {
		out, _ := p.cliOn(1, "show system statistics ipc")
		return regexp.MustCompile(`auth-failed: +[1-9]`).MatchString(out)
	})
	require.NotContains(t, p.must(1, "show tnp addresses"), "fpc4")
	stop(p.fpcs[4], syscall.SIGTERM)
	delete(p.fpcs, 4)

	// The old master comes back: it joins as the backup and resyncs.
	p.startRE(0)
	p.eventually("re0 is re1's backup", func() bool {
		out, _ := p.cliOn(0, "show system switchover")
		return strings.Contains(out, "re0 (Backup)") && strings.Contains(out, "Peer state: Steady State")
	})
	// A planned switchover is refused for 60 s after the replication.
	out, err := p.cliOn(1, "request chassis routing-engine master switch")
	require.Error(t, err)
	require.Contains(t, out, "not allowed for 1m0s after the initial replication of the sockets")
	out, err = p.cliOn(0, "request chassis routing-engine master switch")
	require.Error(t, err, "not on the backup")
	require.Contains(t, out, "not the master")
}

// A planned switchover (the windows shortened for the test): the master
// hands over and comes back as the backup, as the same process.
func TestNSRPlannedSwitchover(t *testing.T) {
	cfg := seedConfig(t) + "set chassis redundancy graceful-switchover\nset routing-options nonstop-routing\n"
	p := &pair{platform: newPlatform(t, cfg)}
	t.Cleanup(func() {
		for id := range p.res {
			p.kill(id, syscall.SIGTERM)
		}
	})
	short := []string{"--nsr-settle", "1s", "--nsr-spacing", "1h"}
	p.startRE(0, short...)
	p.startRE(1, short...)
	p.startFPCAt(3)
	p.eventually("in sync", func() bool {
		out, _ := p.cliOn(0, "show system switchover")
		return strings.Contains(out, "Planned switchover: allowed")
	})
	before := longIPLine.FindAllString(p.vty(3, "show route long_ip"), -1)
	out := p.must(0, "request chassis routing-engine master switch")
	require.Contains(t, out, "Complete. The other routing engine becomes the master.")
	p.eventually("re1 is master and re0 its backup", func() bool {
		o1, _ := p.cliOn(1, "show system switchover")
		o0, _ := p.cliOn(0, "show system switchover")
		return strings.Contains(o1, "re1 (Master)") && strings.Contains(o0, "re0 (Backup)") && strings.Contains(o0, "Steady State")
	})
	p.eventually("FPC 3 with re1", func() bool {
		out, _ := p.cliOn(1, "show chassis fpc")
		return strings.Contains(out, "Online")
	})
	require.Equal(t, before, longIPLine.FindAllString(p.vty(3, "show route long_ip"), -1))
	require.Regexp(t, `swept 0\b`, p.vty(3, "show ipc"))
	// Switching back is refused: switchovers are spaced.
	out, err := p.cliOn(1, "request chassis routing-engine master switch")
	require.Error(t, err)
	require.Contains(t, out, "switchovers must be 1h0m0s apart")
	_ = time.Second
}

// startFPCAt starts a card on the pair's shared port and waits until the
// master lists it.
func (p *pair) startFPCAt(slot int) {
	p.t.Helper()
	args := []string{"run", "--slot", fmt.Sprint(slot), "--driver", p.driver, "--re", fmt.Sprintf("127.0.0.1:%d", p.port), "--metrics", "", "--stats-interval", "200ms"}
	args = append(args, p.keyArgs()...)
	p.fpcs[slot] = p.start("fpc", args...)
	p.eventually(fmt.Sprintf("fpc%d registered", slot), func() bool {
		for id := range p.res {
			if out, err := p.cliOn(id, "show tnp addresses"); err == nil && strings.Contains(out, fmt.Sprintf("fpc%d ", slot)) {
				return true
			}
		}
		return false
	})
}
