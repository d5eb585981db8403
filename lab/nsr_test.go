package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/lab/topo"
	"github.com/mxfwd/mxfwd/lab/traffic"
)

// frrUptime parses FRR's "HH:MM:SS" (or "Nd HH:MM:SS") uptimes.
func frrUptime(s string) time.Duration {
	var d, h, m, sec int
	if strings.Contains(s, "d") {
		fmt.Sscanf(s, "%dd%02d:%02d:%02d", &d, &h, &m, &sec)
	} else {
		fmt.Sscanf(s, "%d:%d:%d", &h, &m, &sec)
	}
	return time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
}

// continued says whether an FRR uptime ran on between two looks (FRR
// shows whole seconds; 2 s of slack) rather than starting over.
func continued(before, after, between time.Duration) bool {
	return after >= before+between-2*time.Second
}

// frrView is what FRR sees of r1: its MSDP peer and PIM neighbour.
type frrView struct {
	MSDPState   string
	MSDPUptime  time.Duration
	PIMUptime   time.Duration
	PIMNeighbor bool
	SAs         map[string]bool // "source,group" in FRR's SA cache
}

func frrLook(t *testing.T, l *Lab, peer string) frrView {
	t.Helper()
	ctx := context.Background()
	var v frrView
	out, err := l.CLI(ctx, "frr1", "show ip msdp peer json")
	require.NoError(t, err, out)
	var peers map[string]struct {
		State  string `json:"state"`
		UpTime string `json:"upTime"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &peers), out)
	if p, ok := peers[peer]; ok {
		v.MSDPState, v.MSDPUptime = p.State, frrUptime(p.UpTime)
	}
	out, err = l.CLI(ctx, "frr1", "show ip pim neighbor json")
	require.NoError(t, err, out)
	var nbrs map[string]map[string]struct {
		UpTime string `json:"upTime"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &nbrs), out)
	for _, byAddr := range nbrs {
		if n, ok := byAddr[peer]; ok {
			v.PIMNeighbor, v.PIMUptime = true, frrUptime(n.UpTime)
		}
	}
	out, err = l.CLI(ctx, "frr1", "show ip msdp sa json")
	require.NoError(t, err, out)
	var sas map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &sas), out)
	v.SAs = map[string]bool{}
	for g, bySrc := range sas {
		for s := range bySrc {
			v.SAs[s+","+g] = true
		}
	}
	return v
}

func (l *Lab) cliOK(t *testing.T, node, command string) string {
	t.Helper()
	out, err := l.CLI(context.Background(), node, command)
	require.NoError(t, err, "%s: %s: %s", node, command, out)
	return out
}

// saCache returns a routing engine's SA cache as "group source peer
// originator" lines.
func saCache(t *testing.T, l *Lab, re string) []string {
	t.Helper()
	out := l.cliOK(t, "r1@"+re, "show msdp source-active | display json")
	var v struct {
		SAs []struct {
			Group      string `json:"group-address"`
			Source     string `json:"source-address"`
			Peer       string `json:"peer-address"`
			Originator string `json:"originator"`
		} `json:"source-active"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	var lines []string
	for _, sa := range v.SAs {
		lines = append(lines, sa.Group+" "+sa.Source+" "+sa.Peer+" "+sa.Originator)
	}
	return lines
}

// switchoverRun is one kill -9 of r1's master under traffic, as seen by
// the receiving application and by FRR.
type switchoverRun struct {
	before, after frrView
	saBefore      []string      // the master's SA cache before the kill
	between       time.Duration // between the two looks at FRR
	stream        traffic.StreamStats
	ringDrops     uint64
	took          time.Duration
}

// killMasterUnderTraffic sends 239.1.1.1 at 1000 pps from src to rcv
// through r1, kills r1's master (re0) after 2 s, waits until re1 is master
// and the traffic has ended, and returns what happened.
func killMasterUnderTraffic(t *testing.T, l *Lab) switchoverRun {
	t.Helper()
	g := netip.MustParseAddr("239.1.1.1")
	src := netip.MustParseAddr("10.40.1.2")
	const rate, n = 1000, 6000
	var run switchoverRun
	run.before = frrLook(t, l, "10.40.12.1")
	run.saBefore = saCache(t, l, "re0")
	looked := time.Now()
	drops0 := ringDrops(t, l, "r1", "xe-3/0/0")
	wait := receive(t, l, "rcv", traffic.RecvConfig{Group: g, Iface: "eth1", Idle: 3 * time.Second})
	sent := make(chan traffic.SendResult, 1)
	go func() {
		sent <- send(t, l, "src", traffic.SendConfig{Group: g, Source: src, Iface: "eth1", Rate: rate, Count: n, Size: 200})
	}()
	time.Sleep(2 * time.Second)
	killed := time.Now()
	require.NoError(t, l.KillRE("r1", "re0", syscall.SIGKILL))
	require.Eventually(t, func() bool {
		out, err := l.CLI(context.Background(), "r1@re1", "show system switchover")
		return err == nil && strings.Contains(out, "re1 (Master)")
	}, 10*time.Second, 20*time.Millisecond, "re1 takes over")
	run.took = time.Since(killed)
	res := <-sent
	rep := wait()
	require.Equal(t, uint64(n), res.Sent)
	require.Len(t, rep.Streams, 1)
	run.stream = rep.Streams[0]
	run.ringDrops = ringDrops(t, l, "r1", "xe-3/0/0") - drops0
	run.after = frrLook(t, l, "10.40.12.1")
	run.between = time.Since(looked)
	return run
}

// waitNSRLab waits until FRR peers with r1 (PIM and MSDP) and the SAs are
// exchanged both ways: r1 originates (10.40.1.2, 239.1.1.1) as RP of
// 239.1/16; FRR, the RP of 239.2/16, originates (10.40.1.2, 239.2.2.2)
// from r1's Registers.
func waitNSRLab(t *testing.T, l *Lab, stop <-chan struct{}) {
	t.Helper()
	// Registers towards FRR and r1's own source, for the whole test.
	go func() {
		_ = sendUntil(l, "src", traffic.SendConfig{Group: netip.MustParseAddr("239.2.2.2"), Source: netip.MustParseAddr("10.40.1.2"), Iface: "eth1", Rate: 20, Size: 100}, stop)
	}()
	go func() {
		_ = sendUntil(l, "src", traffic.SendConfig{Group: netip.MustParseAddr("239.1.1.2"), Source: netip.MustParseAddr("10.40.1.2"), Iface: "eth1", Rate: 20, Size: 100}, stop)
	}()
	require.Eventually(t, func() bool {
		v := frrLook(t, l, "10.40.12.1")
		return v.MSDPState == "established" && v.PIMNeighbor && v.SAs["10.40.1.2,239.1.1.2"]
	}, 60*time.Second, 250*time.Millisecond, "FRR peers with r1 (PIM, MSDP) and has r1's SA")
	require.Eventually(t, func() bool {
		out, _ := l.CLI(context.Background(), "r1", "show msdp source-active")
		return strings.Contains(out, "239.2.2.2")
	}, 30*time.Second, 250*time.Millisecond, "r1 learned FRR's SA for its registered source")
}

// sendUntil sends until stop is closed.
func sendUntil(l *Lab, node string, cfg traffic.SendConfig, stop <-chan struct{}) error {
	ns, err := l.NetnsPath(node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	cfg.Netns = ns
	_, err = traffic.Send(ctx, cfg)
	return err
}

func noNSR(top *topo.Topology) {
	for _, n := range top.Nodes {
		if n.Name == "r1" {
			n.Config = strings.ReplaceAll(n.Config, "set routing-options nonstop-routing\n", "")
		}
	}
}

// Issue #17 with FRR 8.4 as the PIM and MSDP peer: kill -9 of r1's master
// routing engine. With non-stop routing FRR notices nothing — the MSDP
// session and the PIM neighbour keep their uptimes, r1's SA cache holds
// FRR's SA at once on the new master — and the receiving application sees
// no gap above 50 ms. With graceful switchover alone (the same lab without
// `routing-options nonstop-routing`) the kernel's state survives but the
// protocols restart: FRR's MSDP session and PIM neighbour start over, and
// r1's PIM and MSDP state is relearned from the network (the cards keep
// forwarding meanwhile, the old master's routes kept stale): what NSR
// saves is the protocol flaps and the relearning.
func TestNSRKillMasterWithFRR(t *testing.T) {
	needHostInterfaces(t)
	needFRR(t)
	results := map[string]switchoverRun{}
	for _, tc := range []struct {
		name   string
		mutate []func(*topo.Topology)
	}{
		{"nsr", []func(*topo.Topology){interimRing}},
		{"gres-only", []func(*topo.Topology){interimRing, noNSR}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLab(t, "nsr"+tc.name[:1], filepath.Join(exampleDir(t), "nsr.clab.yml"), tc.mutate...)
			stop := make(chan struct{})
			defer close(stop)
			waitNSRLab(t, l, stop)
			if tc.name == "nsr" {
				// The backup parsed FRR's SA itself (seed 000 §2.3: SAs are
				// not replicated) and holds the PIM neighbour.
				out := l.cliOK(t, "r1@re1", "show msdp source-active")
				assert.Contains(t, out, "239.2.2.2", "the backup's own SA cache")
				assert.Contains(t, l.cliOK(t, "r1@re1", "show pim neighbors"), "10.40.12.2")
				assert.Regexp(t, `MSDP\s+Complete`, l.cliOK(t, "r1@re1", "show task replication"))
			}
			run := killMasterUnderTraffic(t, l)
			results[tc.name] = run
			s := run.stream
			t.Logf("%s: takeover seen after %v; received %d of %d, lost %d (RX ring drops %d), longest gap %.1f ms, gaps > 50 ms: %d; FRR before %+v after %+v",
				tc.name, run.took.Round(time.Millisecond), s.Unique, s.Sent, s.Lost, run.ringDrops, s.LongestGapMs, s.GapsOver, run.before, run.after)
			if tc.name == "nsr" {
				assert.Equal(t, "established", run.after.MSDPState, "FRR's MSDP session stays up")
				assert.True(t, continued(run.before.MSDPUptime, run.after.MSDPUptime, run.between), "FRR's MSDP uptime does not reset")
				assert.True(t, run.after.PIMNeighbor)
				assert.True(t, continued(run.before.PIMUptime, run.after.PIMUptime, run.between), "no PIM neighbour flap on FRR")
				assert.True(t, run.after.SAs["10.40.1.2,239.1.1.2"], "FRR still has r1's SA")
				// The new master's SA cache is the old one's (its own,
				// built from the same messages): at once here, since
				// every SA was learned while both ran (seed 000 caveat I,
				// case 1); within one SA refresh in general.
				// (239.1.1.1, the stream of the test, became active during
				// the run: the old master's cache is a subset.)
				require.Eventually(t, func() bool {
					after := saCache(t, l, "re1")
					for _, sa := range run.saBefore {
						if !slices.Contains(after, sa) {
							return false
						}
					}
					return true
				}, 70*time.Second, time.Second, "the new master's SA cache has the old master's: %v vs %v", run.saBefore, saCache(t, l, "re1"))
				// The first datagrams of the stream go while its (S,G) is
				// resolved (before the switchover); from the first
				// arrival on, nothing may be missing.
				require.True(t, s.EndSeen, "the stream ran to its end")
				assert.Equal(t, s.LastSeq-s.FirstSeq+1, s.Unique, "no datagram lost after the first arrival (the switchover is 2 s in)")
				assert.Zero(t, s.GapsOver, "no gap above 50 ms (longest %.1f ms)", s.LongestGapMs)
				assert.LessOrEqual(t, s.LongestGapMs, 50.0)
				out := l.cliOK(t, "r1", "show pim join")
				assert.Contains(t, out, "239.1.1.1")
				// The card kept every route: nothing swept at the resync.
				vty, err := l.Vty(context.Background(), "r1", 3, "show ipc")
				require.NoError(t, err)
				assert.Regexp(t, `swept 0\b`, vty)

				// The old master comes back as the backup and resyncs.
				require.NoError(t, l.StartRE(context.Background(), "r1", "re0"))
				require.Eventually(t, func() bool {
					out, err := l.CLI(context.Background(), "r1@re0", "show system switchover")
					return err == nil && strings.Contains(out, "re0 (Backup)") && strings.Contains(out, "Steady State")
				}, 30*time.Second, 100*time.Millisecond, "re0 is re1's backup")
				out = l.cliOK(t, "r1@re0", "show msdp socket")
				assert.Contains(t, out, "shadow", "the session's socket replicated to the new backup")
			} else {
				assert.False(t, run.after.MSDPState == "established" && continued(run.before.MSDPUptime, run.after.MSDPUptime, run.between),
					"without NSR FRR's MSDP session starts over (%+v -> %+v in %v)", run.before, run.after, run.between)
				assert.False(t, run.after.PIMNeighbor && continued(run.before.PIMUptime, run.after.PIMUptime, run.between),
					"without NSR the PIM neighbour restarts on FRR")
				// The kernel's state was replicated (graceful switchover):
				// the cards keep forwarding while PIM relearns, the old
				// master's routes kept stale meanwhile.
				assert.True(t, s.EndSeen, "forwarding continued (graceful switchover keeps the kernel's state)")
			}
		})
	}
	if a, b := results["nsr"], results["gres-only"]; a.stream.Unique > 0 && b.stream.Unique > 0 {
		t.Logf("what NSR saves: FRR's MSDP session (uptime %v -> %v vs %v -> %v) and PIM neighbour (%v -> %v vs %v -> %v) kept vs restarted; of 6000 datagrams %d vs %d received",
			a.before.MSDPUptime, a.after.MSDPUptime, b.before.MSDPUptime, b.after.MSDPUptime,
			a.before.PIMUptime, a.after.PIMUptime, b.before.PIMUptime, b.after.PIMUptime, a.stream.Unique, b.stream.Unique)
	}
}

// switchover returns r1@reN's `show system switchover`.
func switchoverOf(l *Lab, re string) string {
	out, _ := l.CLI(context.Background(), "r1@"+re, "show system switchover")
	return out
}

func waitRole(t *testing.T, l *Lab, re, role string) {
	t.Helper()
	require.Eventually(t, func() bool {
		out := switchoverOf(l, re)
		ok := strings.Contains(out, re+" ("+role+")")
		if role == "Backup" {
			ok = ok && strings.Contains(out, "Steady State")
		}
		return ok
	}, 30*time.Second, 50*time.Millisecond, "%s is %s", re, role)
}

// Seed 000's caveat I, case 2, and the rules that follow from it: an SA
// the master learned before the backup came up is not on the backup (SAs
// are not replicated) until the originator refreshes it (60 s); a planned
// switchover is refused for 60 s after the sockets' replication. clear
// msdp acts on one routing engine only (seed 000 §6.c).
func TestNSRCaveatSALearnedBeforeTheBackup(t *testing.T) {
	needHostInterfaces(t)
	needFRR(t)
	l := startLab(t, "nsrc", filepath.Join(exampleDir(t), "nsr.clab.yml"), interimRing)
	stop := make(chan struct{})
	defer close(stop)
	waitNSRLab(t, l, stop)
	// Case 1: learned while both run: both have it.
	require.Contains(t, l.cliOK(t, "r1@re1", "show msdp source-active"), "239.2.2.2")

	// The backup restarts: it comes back without FRR's SA.
	require.NoError(t, l.KillRE("r1", "re1", syscall.SIGKILL))
	require.NoError(t, l.StartRE(context.Background(), "r1", "re1"))
	synced := time.Now()
	waitRole(t, l, "re1", "Backup")
	assert.NotContains(t, l.cliOK(t, "r1@re1", "show msdp source-active"), "239.2.2.2",
		"an SA learned before the backup came up is not replicated")
	assert.Contains(t, l.cliOK(t, "r1@re1", "show msdp socket"), "shadow", "the session's socket is")
	out, err := l.CLI(context.Background(), "r1", "request chassis routing-engine master switch")
	require.Error(t, err)
	assert.Contains(t, out, "not allowed for 1m0s after the initial replication of the sockets")

	// clear msdp on the master does not touch the backup's cache.
	l.cliOK(t, "r1@re0", "clear msdp cache")

	// FRR refreshes its SAs every 60 s: the backup learns it from the
	// network within one refresh.
	require.Eventually(t, func() bool {
		out, _ := l.CLI(context.Background(), "r1@re1", "show msdp source-active")
		return strings.Contains(out, "239.2.2.2")
	}, 75*time.Second, time.Second, "the backup learns FRR's SA within one SA refresh")
	t.Logf("the backup learned FRR's SA %v after its replication", time.Since(synced).Round(time.Second))
}

// Faults (issue #17): the mirror channel cut and restored (the backup
// stopped for longer than the takeover time, then resumed: the master
// drops it, it comes back and resyncs, nobody takes over); the backup
// killed in its initial replication and started again; the master killed
// in the backup's initial replication; both routing engines restarted.
// No crash, no takeover by a backup whose master lives, the card keeps
// its routes through the switchovers, FRR keeps its sessions where NSR
// applies.
func TestNSRFaults(t *testing.T) {
	needHostInterfaces(t)
	needFRR(t)
	l := startLab(t, "nsrf", filepath.Join(exampleDir(t), "nsr.clab.yml"), interimRing)
	stop := make(chan struct{})
	defer close(stop)
	waitNSRLab(t, l, stop)
	ctx := context.Background()
	route := func() bool {
		vty, err := l.Vty(ctx, "r1", 3, "show route long_ip")
		return err == nil && strings.Contains(vty, "239.2.2.2.10.40.1.2/64")
	}
	require.Eventually(t, route, 10*time.Second, 100*time.Millisecond, "the registering source's route on the card")

	t.Run("channel cut and restored", func(t *testing.T) {
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGSTOP))
		require.Eventually(t, func() bool {
			return strings.Contains(switchoverOf(l, "re0"), "Peer state: Not connected")
		}, 10*time.Second, 50*time.Millisecond, "the master drops the silent backup")
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGCONT))
		require.Eventually(t, func() bool {
			out := switchoverOf(l, "re0")
			return strings.Contains(out, "Peer state: Steady State") && strings.Contains(out, "(2 since start)")
		}, 30*time.Second, 50*time.Millisecond, "the backup reconnects and a second initial replication completes")
		waitRole(t, l, "re1", "Backup")
		assert.Contains(t, switchoverOf(l, "re0"), "re0 (Master)", "no takeover while the master lived")
		assert.Contains(t, l.cliOK(t, "r1@re1", "show msdp socket"), "shadow")
	})

	t.Run("backup killed during its initial replication", func(t *testing.T) {
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGKILL))
		require.NoError(t, l.StartRE(ctx, "r1", "re1"))
		// Kill it again as soon as it runs (replication takes
		// milliseconds: it is in it or just past it).
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGKILL))
		require.NoError(t, l.StartRE(ctx, "r1", "re1"))
		waitRole(t, l, "re1", "Backup")
		assert.Contains(t, switchoverOf(l, "re0"), "re0 (Master)")
		assert.True(t, route())
	})

	t.Run("master killed during the backup's initial replication", func(t *testing.T) {
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGKILL))
		require.NoError(t, l.StartRE(ctx, "r1", "re1"))
		require.NoError(t, l.KillRE("r1", "re0", syscall.SIGKILL))
		require.Eventually(t, func() bool { return strings.Contains(switchoverOf(l, "re1"), "re1 (Master)") },
			10*time.Second, 50*time.Millisecond, "re1 takes over")
		require.Eventually(t, func() bool {
			vty, err := l.Vty(ctx, "r1", 3, "show ipc")
			return err == nil && strings.Contains(vty, "connected\n")
		}, 10*time.Second, 100*time.Millisecond, "the card follows the new master")
		require.Eventually(t, route, 30*time.Second, 100*time.Millisecond, "the route is there (kept or relearned)")
		require.NoError(t, l.StartRE(ctx, "r1", "re0"))
		waitRole(t, l, "re0", "Backup")
	})

	t.Run("both restarted", func(t *testing.T) {
		require.NoError(t, l.KillRE("r1", "re0", syscall.SIGKILL))
		require.NoError(t, l.KillRE("r1", "re1", syscall.SIGKILL))
		require.NoError(t, l.StartRE(ctx, "r1", "re0"))
		require.NoError(t, l.StartRE(ctx, "r1", "re1"))
		waitRole(t, l, "re1", "Backup")
		assert.Contains(t, switchoverOf(l, "re0"), "re0 (Master)", "re0 prefers mastership when none holds it")
		require.Eventually(t, route, 60*time.Second, 100*time.Millisecond, "the card's routes are relearned")
		require.Eventually(t, func() bool {
			msdp, err1 := l.CLI(ctx, "r1", "show msdp")
			pim, err2 := l.CLI(ctx, "r1", "show pim neighbors")
			return err1 == nil && err2 == nil && strings.Contains(msdp, "Established") && strings.Contains(pim, "10.40.12.2")
		}, 60*time.Second, 250*time.Millisecond, "r1's new routing engines peer with FRR again")
	})
}
