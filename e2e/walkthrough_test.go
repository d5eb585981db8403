package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func seedConfig(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "examples", "seed003.conf"))
	require.NoError(t, err)
	return string(b)
}

const (
	src   = "10.128.1.10"
	group = "232.0.7.1"
	long  = group + "." + src
)

// The seed 003 walkthrough, step by step, through the real binaries.
func TestSeedWalkthrough(t *testing.T) {
	for _, driver := range []string{"swpfe", "trio"} {
		t.Run(driver, func(t *testing.T) { walkthrough(t, driver) })
	}
}

func walkthrough(t *testing.T, driver string) {
	// The joins are made once the FPCs are up, so that the (shortened)
	// forwarding-cache lifetime starts when the walkthrough does.
	var cfg []string
	for _, l := range strings.Split(seedConfig(t), "\n") {
		if !strings.Contains(l, "static group") {
			cfg = append(cfg, l)
		}
	}
	p := newPlatform(t, strings.Join(cfg, "\n"), "--cache-timeout", "4s")
	p.driver = driver
	p.startRE()
	p.startFPC(3)
	p.startFPC(4)
	p.cli("request multicast join source 10.128.1.10 group 232.0.7.1 interface ae91.0")
	p.cli("request multicast join source 10.128.1.10 group 232.0.9.1 interface ae101.0")
	p.cli("request multicast join source 10.128.1.10 group 232.0.9.2 interface ae101.0")

	// Step 1: the join gives a multicast NH per OIL, reused across (S,G)s.
	// Checked at once: the (S,G)s of 232.0.9.x carry no traffic, so their
	// cache entries (4 s here) may expire while a loaded machine starts
	// the stream below.
	nh := p.cli("show multicast next-hops")
	require.Contains(t, nh, "ID          Refcount KRefcount Downstream interface")
	require.Regexp(t, `(?m)^\d{7}\s+1\s+1 ae91\.0$`, nh)
	require.Regexp(t, `(?m)^\d{7}\s+2\s+1 ae101\.0$`, nh, "two (S,G) with the same OIL share one NH")

	// A slow stream keeps the cache entry of (S,G) alive while step 1 is
	// checked, however loaded the machine is; step 2 stops it.
	p.eventually("route on FPC 3", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip prefix "+long), "Indirect")
	})
	require.Contains(t, p.vty(3, "test traffic source "+src+" group "+group+" interface ae90.0 count 100000000 rate 50"), "started")

	rt := p.cli("show route table inet.1 detail")
	require.Contains(t, rt, "232.0.7.1.10.128.1.10/64(1 entry, 1 announced)")
	require.Contains(t, rt, "Next hop type: Multicast (IPv4) Composite, Next hop index: 10485")

	mr := p.cli("show multicast route group 232.0.7.1 extensive")
	for _, want := range []string{"Group: 232.0.7.1", "Source: 10.128.1.10/32", "Upstream interface: ae90.0",
		"        ae91.0", "Session description: Source specific multicast", "Route state: Active",
		"Forwarding state: Forwarding", "Cache lifetime/timeout: "} {
		require.Contains(t, mr, want)
	}

	// The NH chain on the PFE, exactly as the seed prints it.
	var chain string
	p.eventually("route on FPC 3", func() bool {
		chain = p.vty(3, "show route long_ip prefix "+long+" detail")
		return strings.Contains(chain, "Indirect")
	})
	m := regexp.MustCompile(`(?m)^232\.0\.7\.1\.10\.128\.1\.10/64 {26}Indirect (\d+) RT-ifl 331$`).FindStringSubmatch(chain)
	require.NotNil(t, m, chain)
	inh := m[1]
	comp := regexp.MustCompile(`(?m)^    (\d+)\(Compst, IPv4, ifl:0:-, pfe-id:0, comp-fn:multicast\)$`).FindStringSubmatch(chain)
	require.NotNil(t, comp, chain)
	require.Contains(t, chain, inh+"(Indirect, IPv4, ifl:0:-, pfe-id:0, i-ifl:0:-)\n")
	require.Contains(t, chain, "        1048583(Aggreg., IPv4, ifl:332:ae91.0, pfe-id:0)\n"+
		"            1378(Unicast, IPv4, ifl:395:xe-3/1/0.0, pfe-id:13)\n"+
		"            1387(Unicast, IPv4, ifl:400:xe-3/3/1.0, pfe-id:15)\n")
	require.Contains(t, chain, "  RT flags: 0x800e, Ignore: 0x00000000, COS index: 0\n  DCU id: 0, SCU id: 0,  RPF ifl list id: 0\n")
	// Both FPCs got the same state.
	p.eventually("same route on FPC 4", func() bool {
		return strings.Contains(p.vty(4, "show route long_ip prefix "+long+" detail"), "Indirect "+inh)
	})

	j := p.cli("monitor kernel")
	require.Regexp(t, `rpd +P +NH-comp +add +nh=comp idx=`+comp[1]+` refcnt=0, af=inet, tid=0 hw_token=0 fn=multicast comp=1048583, derv=1378,1387,`, j)
	require.Regexp(t, `rpd +P +nexthop +add +inet nh=indr flags=0x4 idx=`+inh+` ifidx=0 filteridx=0`, j)
	require.Regexp(t, `rpd +P +route +add +inet 232\.0\.7\.1,10\.128\.1\.10 tid=0 plen=64 type=user flags=0x800e nh=indr nhflags=0x4 nhidx=`+inh, j)

	// Traffic keeps the entry alive and is replicated to one member of ae91
	// only (the (S,G) hash picks the member).
	out := p.vty(3, "test traffic source "+src+" group "+group+" interface ae90.0 count 100")
	require.Contains(t, out, "Sent 100 packets")
	eg := p.vty(3, "show pfe egress")
	require.Regexp(t, `(?m)^(395 +xe-3/1/0\.0|400 +xe-3/3/1\.0) +\d{3,} +`, eg)
	require.Equal(t, 1, len(regexp.MustCompile(`(?m)^(395|400) `).FindAllString(eg, -1)), eg)
	p.eventually("In packets counted on ae90.0", func() bool {
		return regexp.MustCompile(`Interface: ae90\.0\n(?:.*\n){5}    In kbytes: +\d+   In packets: +[1-9]\d{2,}\b`).MatchString(p.cli("show multicast statistics"))
	})
	require.Regexp(t, `Statistics: \d+ kBps, \d+ pps, [1-9]\d+ packets`, p.cli("show multicast route group 232.0.7.1 extensive"))

	// Step 2: no traffic for the cache lifetime: route, INH and CNH go.
	require.Contains(t, p.vty(3, "test traffic stop"), "Stopped 1 streams")
	p.eventually("cache expiry on the RE", func() bool {
		return !strings.Contains(p.cli("show multicast route group 232.0.7.1"), "232.0.7.1")
	})
	j = p.cli("monitor kernel")
	require.Regexp(t, `route +delete +inet 232\.0\.7\.1,10\.128\.1\.10 .*nhidx=`+inh, j)
	require.Regexp(t, `nexthop +delete +inet nh=indr flags=0x6 idx=`+inh, j)
	require.Regexp(t, `NH-comp +delete +nh=comp idx=`+comp[1]+` `, j)
	p.eventually("cache expiry on the PFE", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip prefix "+long+" detail"), "224/4")
	})
	chain = p.vty(3, "show route long_ip prefix "+long+" detail")
	require.Contains(t, chain, "224/4                                              Resolve   983 RT-ifl 0\n")
	require.Contains(t, chain, "983(Resolve, IPv4, ifl:0:-, pfe-id:0)\n")
	require.Contains(t, chain, "RT flags: 0x000a,")
	_, err := p.vtyErr(3, "show nhdb id "+comp[1])
	require.Error(t, err, "composite deleted on the PFE")

	// Step 3: the first packet resolves; the join state brings the route back.
	before := kernelResolves(t, p.cli("show multicast statistics"), "ae90.0")
	p.vty(3, "test traffic source "+src+" group "+group+" interface ae90.0 count 1")
	p.eventually("route back after resolve", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip prefix "+long), "Indirect")
	})
	require.Equal(t, before+1, kernelResolves(t, p.cli("show multicast statistics"), "ae90.0"))
	require.Contains(t, p.cli("show multicast route group 232.0.7.1 extensive"), "Forwarding state: Forwarding")

	res := p.vty(3, "show nhdb mcast resolve")
	require.Equal(t, "Nexthop Info:\n   ID      Type    Protocol    Resolve-Rate\n-----  --------  ----------  ---------------\n  983   Resolve        IPv4               66\n", res)

	// Step 4: an unknown (S,G) gets mdiscard 35, and no further resolves.
	// The stream keeps flowing (its hits on the mdiscard route keep the
	// cache entry alive), so every packet after the first must be dropped
	// on the PFE without asking the RE again.
	sent0 := resolveSent(t, p.vty(3, "show resolve statistics"))
	resolves0 := kernelResolves(t, p.cli("show multicast statistics"), "ae90.0")
	require.Contains(t, p.vty(3, "test traffic source "+src+" group 232.0.8.1 interface ae90.0 count 100000000 rate 200"), "started")
	p.eventually("mdiscard on the PFE", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip prefix 232.0.8.1."+src), "mdiscard")
	})
	md := p.vty(3, "show route long_ip prefix 232.0.8.1."+src+" detail")
	require.Contains(t, md, "232.0.8.1.10.128.1.10/64                          mdiscard    35 RT-ifl 331\n")
	require.Contains(t, md, "35(mdiscard, IPv4, ifl:0:-, pfe-id:0)\n")
	require.Contains(t, md, "RT flags: 0x000e,")
	require.Regexp(t, `route +add +inet 232\.0\.8\.1,10\.128\.1\.10 tid=0 plen=64 type=user flags=0xe nh=mdsc nhflags=0x0 nhidx=35 `, p.cli("monitor kernel"))
	p.eventually("discards counted on ae90.0", func() bool {
		return regexp.MustCompile(`(?m)^331 +ae90\.0 .* [1-9]\d{2,} +\d+ +\d+$`).MatchString(p.vty(3, "show ifl counters"))
	})
	require.Contains(t, p.vty(3, "test traffic stop"), "Stopped 1 streams")
	require.Equal(t, sent0+1, resolveSent(t, p.vty(3, "show resolve statistics")), "mdiscard'ed flow sends no further resolves")
	require.Equal(t, resolves0+1, kernelResolves(t, p.cli("show multicast statistics"), "ae90.0"))
}

func kernelResolves(t *testing.T, stats, ifl string) int {
	t.Helper()
	m := regexp.MustCompile(`Interface: ` + regexp.QuoteMeta(ifl) + `\n(?:.*\n){2}    Kernel resolve: +(\d+)`).FindStringSubmatch(stats)
	require.NotNil(t, m, stats)
	n, _ := strconv.Atoi(m[1])
	return n
}

func resolveSent(t *testing.T, stats string) int {
	t.Helper()
	m := regexp.MustCompile(`requests-sent: +(\d+)`).FindStringSubmatch(stats)
	require.NotNil(t, m, stats)
	n, _ := strconv.Atoi(m[1])
	return n
}

// An FPC that dies goes from show tnp addresses, comes back when restarted
// and gets the RE's full state replayed.
func TestFPCRestartReplay(t *testing.T) {
	p := newPlatform(t, seedConfig(t))
	p.startRE()
	p.startFPC(3)
	p.startFPC(4)
	tnp := p.cli("show tnp addresses")
	require.Contains(t, tnp, "fpc3                    0x13 02:00:00:00:00:13 em0  1500 4 0 3\n")
	require.Contains(t, tnp, "fpc4                    0x14 02:00:00:00:00:14 em0  1500 4 0 3\n")
	require.Contains(t, tnp, "master                   0x1 ")

	p.cli("request multicast join source 10.128.1.20 group 232.1.1.1 interface ae101.0")
	p.eventually("runtime join on FPC 4", func() bool {
		return strings.Contains(p.vty(4, "show route long_ip"), "232.1.1.1.10.128.1.20/64")
	})

	p.killFPC(4)
	p.eventually("fpc4 gone (dead peer detected)", func() bool {
		return !strings.Contains(p.cli("show tnp addresses"), "fpc4")
	})
	require.Contains(t, p.cli("show tnp addresses"), "fpc3")

	// State changes while FPC 4 is away are part of the replay.
	p.cli("request multicast join source 10.128.1.30 group 232.1.1.2 interface ae101.0")
	p.startFPC(4)
	p.eventually("replayed routes on FPC 4", func() bool {
		out := p.vty(4, "show route long_ip")
		return strings.Contains(out, "232.1.1.1.10.128.1.20/64") && strings.Contains(out, "232.1.1.2.10.128.1.30/64") &&
			strings.Contains(out, "232.0.7.1.10.128.1.10/64") && strings.Contains(out, "224/4")
	})
	require.Contains(t, p.vty(4, "show ipc"), "connected")
}

// The RE restarts; the FPC keeps forwarding meanwhile, reconnects, and the
// resync keeps valid routes while sweeping stale ones.
func TestRERestartResync(t *testing.T) {
	cfg := seedConfig(t)
	p := newPlatform(t, cfg)
	p.startRE()
	p.startFPC(3)
	p.cli("request multicast join source 10.128.1.40 group 232.2.2.2 interface ae101.0")
	p.eventually("runtime join on FPC 3", func() bool {
		return strings.Contains(p.vty(3, "show route long_ip"), "232.2.2.2.10.128.1.40/64")
	})
	p.stopRE()
	p.eventually("FPC notices the RE is gone", func() bool {
		return strings.Contains(p.vty(3, "show ipc"), "disconnected")
	})
	// Still forwarding with its last state.
	p.vty(3, "test traffic source "+src+" group "+group+" interface ae90.0 count 10")
	require.Regexp(t, `(?m)^(395|400) .* +10 +640$`, p.vty(3, "show pfe egress"))

	// The restarted RE does not have the runtime join: it is swept; the
	// configured ones stay.
	p.startRE()
	p.eventually("FPC reconnected and resynced", func() bool {
		out := p.vty(3, "show route long_ip")
		return strings.Contains(p.vty(3, "show ipc"), "connected\n") && !strings.Contains(out, "232.2.2.2") && strings.Contains(out, "232.0.7.1.10.128.1.10/64")
	})
	require.Regexp(t, `swept [1-9]`, p.vty(3, "show ipc"))
}

// Bad input on the IPC port: a connection that sends garbage or never
// registers is dropped, a second registration for a live slot is refused
// with a clear error on both sides, and other FPCs keep their sessions.
func TestIPCBadInput(t *testing.T) {
	p := newPlatform(t, seedConfig(t), "--register-timeout", "1s")
	p.startRE()
	p.startFPC(3)
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)

	// Garbage instead of a registration.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = c.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 64))
	require.Error(t, err, "RE closes the connection")
	c.Close()

	// Silence: dropped after the registration timeout.
	c, err = net.Dial("tcp", addr)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 64))
	require.Error(t, err)
	c.Close()

	// Duplicate slot: the second fpc 3 logs the RE's reason and keeps
	// retrying (line cards never give up, issue #11) until stopped.
	dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer dcancel()
	dup := exec.CommandContext(dctx, filepath.Join(binDir, "fpc"), "run", "--slot", "3", "--re", addr, "--metrics", "", "--vty-socket", filepath.Join(p.dir, "dup.sock"), "--log-level", "warn")
	dup.Env = p.env()
	var dupOut bytes.Buffer
	dup.Stdout, dup.Stderr = &dupOut, &dupOut
	err = dup.Run()
	require.Error(t, err)
	require.ErrorIs(t, dctx.Err(), context.DeadlineExceeded, "the duplicate FPC kept retrying: %s", dupOut.String())
	out := dupOut.String()
	require.Contains(t, out, "slot 3 is already connected from 127.0.0.1:")
	require.Equal(t, 1, strings.Count(out, "RE refused the registration"), "one log line per reason per minute: %s", out)
	require.Contains(t, p.cli("show tnp addresses"), "fpc3")
	require.Contains(t, p.vty(3, "show ipc"), "connected\n")
	require.Regexp(t, `refused: +[1-9]`, p.cli("show system statistics ipc"))

	// The RE log names the refused registration; the session of FPC 3 survived all of it.
	logs, err := os.ReadFile(filepath.Join(p.dir, "run_--config_"+p.cfg[len(p.dir)+1:]+".log"))
	if err == nil {
		require.Contains(t, string(logs), "FPC registration refused")
	}
}
