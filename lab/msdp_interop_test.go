package lab

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/lab/traffic"
)

// MSDP interop labs (issue #15): our routers (re + afpacket FPCs, MSDP
// over the routing engine's host interfaces) with FRR 8.4 in namespaces,
// the example topologies examples/labs/msdp-*.clab.yml. Each test brings
// its lab up once and runs its cases in order against it; every check
// reads the routers' own CLIs (`show msdp … | display json`, vtysh's
// `show ip msdp … json`), and the stream on the wire is dissected by
// tshark. On this project's kernels (no IP_MROUTE) FRR is a control-plane
// peer, which is all MSDP needs: it originates SAs for sources registered
// to it, not for sources on its own LAN.
//
// Lab names: xt<pid>-ml<n> (harness_test.go).

// msdpPeerJSON is one peer of `show msdp | display json`.
type msdpPeerJSON struct {
	Address string `json:"peer-address"`
	Local   string `json:"local-address"`
	State   string `json:"peer-state"`
	Group   string `json:"peer-group"`
	Mesh    bool   `json:"mesh-group"`
	Intern  bool   `json:"internal"`
	Active  bool   `json:"active"`
	Stats   struct {
		RPFFailures  uint64 `json:"rpf-failures"`
		SASent       uint64 `json:"sa-messages-sent"`
		SAReceived   uint64 `json:"sa-messages-received"`
		EntriesSent  uint64 `json:"sa-entries-sent"`
		EntriesRcvd  uint64 `json:"sa-entries-received"`
		OwnSAs       uint64 `json:"sa-messages-own"`
		PeerTimeouts uint64 `json:"peer-timeouts"`
		Errors       uint64 `json:"error-messages-received"`
	} `json:"statistics"`
}

// msdpSAJSON is one entry of `show msdp source-active | display json`.
type msdpSAJSON struct {
	Group      string `json:"group-address"`
	Source     string `json:"source-address"`
	Peer       string `json:"peer-address"`
	Local      bool   `json:"local"`
	Originator string `json:"originator"`
	Flags      string `json:"flags"`
}

// frrPeerJSON is one peer of FRR's `show ip msdp peer json`.
type frrPeerJSON struct {
	Peer         string `json:"peer"`
	Local        string `json:"local"`
	State        string `json:"state"`
	ConnAttempts int    `json:"connAttempts"`
	SACount      int    `json:"saCount"`
	SASent       int    `json:"saSent"`
	SARcvd       int    `json:"saRcvd"`
}

// frrSAJSON is one entry of FRR's `show ip msdp sa json` (group → source
// → entry).
type frrSAJSON struct {
	Source string `json:"source"`
	Group  string `json:"group"`
	RP     string `json:"rp"`
	Local  string `json:"local"`
}

// msdpLab is a lab with the MSDP helpers.
type msdpLab struct {
	t *testing.T
	*Lab
}

func startMSDPLab(t *testing.T, tag, file string) msdpLab {
	t.Helper()
	needLab(t)
	needFRR(t)
	if !HasHostInterfaces(filepath.Join(binDir, "re")) {
		t.Skip("skipped: `re run` has no --host-interfaces (issue #10): MSDP runs over the routing engine's host interfaces")
	}
	return msdpLab{t: t, Lab: startLab(t, tag, filepath.Join(exampleDir(t), file))}
}

func (m msdpLab) cli(node, cmd string) string {
	m.t.Helper()
	out, err := m.CLI(context.Background(), node, cmd)
	require.NoError(m.t, err, "%s: %s: %s", node, cmd, out)
	return out
}

func (m msdpLab) peers(node string) map[string]msdpPeerJSON {
	m.t.Helper()
	var ps []msdpPeerJSON
	out := m.cli(node, "show msdp | display json")
	require.NoError(m.t, json.Unmarshal([]byte(out), &ps), out)
	byAddr := map[string]msdpPeerJSON{}
	for _, p := range ps {
		byAddr[p.Address] = p
	}
	return byAddr
}

// sas returns a router's SA cache by "source,group".
func (m msdpLab) sas(node string) map[string]msdpSAJSON {
	m.t.Helper()
	var v struct {
		SAs []msdpSAJSON `json:"source-active"`
	}
	out := m.cli(node, "show msdp source-active | display json")
	require.NoError(m.t, json.Unmarshal([]byte(out), &v), out)
	byKey := map[string]msdpSAJSON{}
	for _, s := range v.SAs {
		byKey[s.Source+","+s.Group] = s
	}
	return byKey
}

func (m msdpLab) frrPeers(node string) map[string]frrPeerJSON {
	m.t.Helper()
	var v map[string]frrPeerJSON
	out := m.cli(node, "show ip msdp peer detail json")
	require.NoError(m.t, json.Unmarshal([]byte(out), &v), out)
	return v
}

// frrSAs returns FRR's SA cache by "source,group".
func (m msdpLab) frrSAs(node string) map[string]frrSAJSON {
	m.t.Helper()
	var v map[string]map[string]frrSAJSON
	out := m.cli(node, "show ip msdp sa json")
	require.NoError(m.t, json.Unmarshal([]byte(out), &v), out)
	byKey := map[string]frrSAJSON{}
	for _, srcs := range v {
		for _, s := range srcs {
			byKey[s.Source+","+s.Group] = s
		}
	}
	return byKey
}

var frrSADetail = regexp.MustCompile(`SA : \(([0-9.]+),([0-9.]+)\)\n(?:.*\n)*?\s+Peer\s+: (\S+)`)

// frrSAPeers returns, by "source,group", the peer FRR accepted each SA
// from (`show ip msdp sa detail`: its JSON form has no peer).
func (m msdpLab) frrSAPeers(node string) map[string]string {
	m.t.Helper()
	out := m.cli(node, "show ip msdp sa detail")
	peers := map[string]string{}
	for _, sm := range frrSADetail.FindAllStringSubmatch(out, -1) {
		peers[sm[1]+","+sm[2]] = sm[3]
	}
	return peers
}

// eventually polls cond every 200 ms until it holds or d passes; what
// names the condition, last describes the state seen last.
func (m msdpLab) eventually(d time.Duration, what string, cond func() (bool, string)) {
	m.t.Helper()
	end := time.Now().Add(d)
	var last string
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		if time.Now().After(end) {
			m.t.Fatalf("after %v, still not %s; last seen:\n%s", d, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// established waits until every listed peer of node is Established.
func (m msdpLab) established(node string, peers ...string) map[string]msdpPeerJSON {
	m.t.Helper()
	var ps map[string]msdpPeerJSON
	m.eventually(20*time.Second, node+"'s MSDP peers established", func() (bool, string) {
		ps = m.peers(node)
		for _, p := range peers {
			if ps[p].State != "Established" {
				return false, m.cli(node, "show msdp")
			}
		}
		return true, ""
	})
	return ps
}

func (m msdpLab) frrEstablished(node string, peers ...string) map[string]frrPeerJSON {
	m.t.Helper()
	var ps map[string]frrPeerJSON
	m.eventually(20*time.Second, node+"'s MSDP peers established", func() (bool, string) {
		ps = m.frrPeers(node)
		for _, p := range peers {
			if ps[p].State != "established" {
				return false, m.cli(node, "show ip msdp peer")
			}
		}
		return true, ""
	})
	return ps
}

// hasSA waits until node (ours) caches source,group and returns the entry.
func (m msdpLab) hasSA(node, key string) msdpSAJSON {
	m.t.Helper()
	var sa msdpSAJSON
	m.eventually(15*time.Second, node+" caching "+key, func() (bool, string) {
		s, ok := m.sas(node)[key]
		sa = s
		return ok, m.cli(node, "show msdp source-active")
	})
	return sa
}

func (m msdpLab) frrHasSA(node, key string) frrSAJSON {
	m.t.Helper()
	var sa frrSAJSON
	m.eventually(15*time.Second, node+" caching "+key, func() (bool, string) {
		s, ok := m.frrSAs(node)[key]
		sa = s
		return ok, m.cli(node, "show ip msdp sa")
	})
	return sa
}

// send runs a short stream from a host (the routers see a source).
func (m msdpLab) send(node, group, source string) {
	m.t.Helper()
	send(m.t, m.Lab, node, traffic.SendConfig{Group: netip.MustParseAddr(group), Source: netip.MustParseAddr(source),
		Iface: "eth1", Rate: 50, Count: 25})
}

// One of ours and two FRRs in a full MSDP triangle (msdp-frr.clab.yml):
// sessions in both address orders, our SAs (a configured local source and
// a stream's first hop at our RP) in FRR's cache and forwarded by FRR to
// the third router, the SA FRR originates for the source our router
// registers to it in our cache, peer-RPF drops on both sides, and tshark
// on our stream.
func TestMSDPInteropFRR(t *testing.T) {
	start := time.Now()
	m := startMSDPLab(t, "ml1", "msdp-frr.clab.yml")
	up := time.Since(start)
	ctx := context.Background()
	// Our side of the r1 - frr1 link, captured at FRR's end (the FPC
	// sends with PACKET_QDISC_BYPASS, so a capture on our own port sees
	// only what arrives).
	needTshark := func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("skipped: needs tshark (apt-get install tshark)")
		}
	}
	pcap := filepath.Join(t.TempDir(), "msdp.pcap")
	_, err := m.StartCapture(ctx, "frr1", "eth1", pcap, "tcp", "port", "639")
	require.NoError(t, err)

	t.Run("established whichever side has the higher address", func(t *testing.T) {
		m := msdpLab{t, m.Lab}
		ps := m.established("r1", "10.61.12.2", "10.61.13.1")
		t.Logf("both sessions established %v after the lab was up (lab up took %v)", time.Since(start)-up, up)
		assert.True(t, ps["10.61.12.2"].Active, "10.61.12.1 < 10.61.12.2: r1 connects to FRR1")
		assert.False(t, ps["10.61.13.1"].Active, "10.61.13.2 > 10.61.13.1: FRR2 connects to r1")
		m.frrEstablished("frr1", "10.61.12.1", "10.61.23.2")
		m.frrEstablished("frr2", "10.61.13.2", "10.61.23.1")
		out, err := m.Exec(ctx, "r1", "ss", "-Htn", "state", "established", "( sport = :639 or dport = :639 )")
		require.NoError(t, err, "%s", out)
		assert.Regexp(t, `10\.61\.12\.1:\d+\s+10\.61\.12\.2:639`, string(out), "r1's socket to FRR1 is the active open")
		assert.Regexp(t, `10\.61\.13\.2:639\s+10\.61\.13\.1:\d+`, string(out), "FRR2's connection accepted on r1's 639")
	})

	t.Run("our SAs reach FRR, which forwards them to a third peer", func(t *testing.T) {
		m := msdpLab{t, m.Lab}
		// r1 sent its configured source when the session to FRR1 came
		// up, maybe before FRR1's session to FRR2 was: FRR forwards an
		// SA when it receives it. A reset (on the wire for the tshark
		// case below) makes r1 advertise its cache again, now that every
		// session is up.
		m.cli("r1", "clear msdp peer 10.61.12.2")
		m.established("r1", "10.61.12.2")
		m.send("src", "239.1.1.1", "10.61.1.2") // r1: first hop and RP of 239.1/16
		for _, key := range []string{"10.61.1.99,239.1.9.9", "10.61.1.2,239.1.1.1"} {
			sa := m.hasSA("r1", key)
			assert.True(t, sa.Local, "%s originated by r1", key)
			assert.Equal(t, "10.61.255.1", sa.Originator, key)
			for _, f := range []string{"frr1", "frr2"} {
				fsa := m.frrHasSA(f, key)
				assert.Equal(t, "10.61.255.1", fsa.RP, "%s at %s: the RP field is r1's RP address, not its session address", key, f)
				assert.Equal(t, "no", fsa.Local, "%s at %s", key, f)
			}
			// FRR2's route to 10.61.255.1 goes through FRR1: it took the
			// SA FRR1 forwarded and dropped r1's own copy (peer-RPF).
			assert.Equal(t, "10.61.23.1", m.frrSAPeers("frr2")[key], "%s: FRR2 accepted it from FRR1", key)
		}
		ps := m.peers("r1")
		assert.GreaterOrEqual(t, ps["10.61.13.1"].Stats.EntriesSent, uint64(2), "r1 sent both SAs to FRR2 as well")
		assert.Positive(t, m.frrPeers("frr2")["10.61.13.2"].SARcvd, "FRR2 received them from r1")
	})

	t.Run("FRR originates the SA of a source we register to it", func(t *testing.T) {
		m := msdpLab{t, m.Lab}
		m.send("src", "239.2.1.1", "10.61.1.2") // RP of 239.2/16: FRR1
		key := "10.61.1.2,239.2.1.1"
		fsa := m.frrHasSA("frr1", key)
		assert.Equal(t, "yes", fsa.Local, "FRR1 originated it (Register received)")
		sa := m.hasSA("r1", key)
		assert.Equal(t, "10.61.12.2", sa.Peer)
		assert.Equal(t, "10.61.12.2", sa.Originator, "FRR 8.4 puts its MSDP source address in the RP field")
		assert.Equal(t, "Accept", sa.Flags)
		assert.Regexp(t, `"registers-sent": [1-9]`, m.cli("r1", "show pim statistics | display json"), "r1 sent Registers to FRR1")
		// The filtered show command finds it too.
		out := m.cli("r1", "show msdp source-active group 239.2.1.1")
		assert.Contains(t, out, "10.61.1.2")
		assert.Contains(t, out, "10.61.12.2")
	})

	t.Run("peer-RPF drops the copy from the wrong peer, counted", func(t *testing.T) {
		m := msdpLab{t, m.Lab}
		// FRR2 forwards FRR1's SA (RP 10.61.12.2, r1's neighbour on
		// xe-3/1/0) to r1 too: not the RPF peer, dropped and counted.
		m.eventually(15*time.Second, "an RPF failure counted for FRR2", func() (bool, string) {
			p := m.peers("r1")["10.61.13.1"]
			return p.Stats.RPFFailures > 0, m.cli("r1", "show msdp statistics")
		})
		stats := m.cli("r1", "show msdp statistics")
		assert.Regexp(t, `Peer: 10\.61\.13\.1\n(?:.*\n)*?\s+RPF Failures: [1-9]`, stats, "the reason, in show msdp statistics")
		assert.Regexp(t, `Peer: 10\.61\.12\.2\n(?:.*\n)*?\s+RPF Failures: 0\n`, stats)
		assert.Equal(t, "10.61.12.2", m.sas("r1")["10.61.1.2,239.2.1.1"].Peer, "kept from FRR1 only")
		// r1's own SAs, forwarded back by FRR2, are not RPF failures:
		// the RP is r1's (counted apart).
		assert.Positive(t, m.peers("r1")["10.61.13.1"].Stats.OwnSAs)
	})

	t.Run("tshark dissects our MSDP stream", func(t *testing.T) {
		needTshark(t)
		m := msdpLab{t, m.Lab}
		// The reset of the earlier case (r1's active open, KeepAlives, its
		// cache advertised) and a new SA, triggered while the capture
		// runs.
		m.send("src", "239.1.2.2", "10.61.1.2")
		m.frrHasSA("frr1", "10.61.1.2,239.1.2.2")
		time.Sleep(500 * time.Millisecond)
		rep, err := m.StopCaptures("frr1", pcap)
		require.NoError(t, err)
		t.Log(rep)
		count := func(filter string) int {
			out, err := exec.Command("tshark", "-r", pcap, "-Y", filter).Output()
			require.NoError(t, err, "tshark -Y %q", filter)
			if strings.TrimSpace(string(out)) == "" {
				return 0
			}
			return len(strings.Split(strings.TrimSpace(string(out)), "\n"))
		}
		ours := "ip.src == 10.61.12.1 && "
		assert.Positive(t, count(ours+"tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 639"), "r1's active open to FRR1's 639")
		assert.Positive(t, count(ours+"msdp.type == 4 && msdp.length == 3"), "a KeepAlive")
		for _, g := range []string{"239.1.9.9", "239.1.1.1", "239.1.2.2"} {
			assert.Positive(t, count(ours+"msdp.type == 1 && msdp.sa.rp_addr == 10.61.255.1 && msdp.sa.group_addr == "+g+" && msdp.sa.sprefix_len == 32"),
				"a Source-Active for %s with r1's RP address", g)
		}
		assert.Zero(t, count(ours+"msdp && ip.dsfield.dscp != 48"), "every MSDP segment of ours carries DSCP CS6")
		out, err := exec.Command("tshark", "-r", pcap, "-Y", ours+"msdp", "-T", "fields", "-e", "msdp.type", "-e", "msdp.sa.rp_addr",
			"-e", "msdp.sa.group_addr", "-e", "msdp.sa.src_addr").Output()
		require.NoError(t, err)
		t.Logf("our MSDP segments (types, RP, groups, sources):\n%s", out)
		bad, err := exec.Command("tshark", "-r", pcap, "-Y",
			"_ws.malformed || _ws.expert.severity == error || msdp.tlv_len.too_long || msdp.tlv_len.too_short || msdp.trailing_junk || msdp.unknown_data").Output()
		require.NoError(t, err)
		assert.Empty(t, strings.TrimSpace(string(bad)), "nothing malformed")
	})
}

// Two of ours and one FRR in a full triangle (msdp-rpf.clab.yml): each SA
// arrives at each router twice, directly from its originator and
// forwarded by the third router; the forwarded copy fails peer-RPF on
// both of ours and on FRR.
func TestMSDPPeerRPFTwoOursOneFRR(t *testing.T) {
	m := startMSDPLab(t, "ml2", "msdp-rpf.clab.yml")
	m.established("r1", "10.62.12.2", "10.62.13.2")
	m.established("r2", "10.62.12.1", "10.62.23.2")
	m.frrEstablished("frr1", "10.62.13.1", "10.62.23.1")
	// r1 advertised its configured source as each session came up, maybe
	// before the others were: reset r1's sessions to advertise it again
	// with every session up (each router forwards an SA as it receives
	// it).
	m.cli("r1", "clear msdp peer")
	m.established("r1", "10.62.12.2", "10.62.13.2")

	// r1's configured source: r2 takes it from r1 (its route to
	// 10.62.255.1 is via r1) and drops FRR's copy; FRR takes it from r1
	// and drops r2's.
	own := "10.62.1.99,239.1.9.9"
	// FRR's SA for the source r1 registers to it: r1 and r2 take it from
	// FRR (the RP field is FRR's address); each drops the other's copy.
	m.send("src", "239.2.1.1", "10.62.1.2")
	frrs := "10.62.1.2,239.2.1.1"
	assert.Equal(t, "10.62.12.1", m.hasSA("r2", own).Peer)
	assert.Equal(t, "10.62.13.1", func() string { m.frrHasSA("frr1", own); return m.frrSAPeers("frr1")[own] }())
	assert.Equal(t, "yes", m.frrHasSA("frr1", frrs).Local)
	assert.Equal(t, "10.62.13.2", m.hasSA("r1", frrs).Peer)
	assert.Equal(t, "10.62.23.2", m.hasSA("r2", frrs).Peer)

	m.eventually(15*time.Second, "RPF failures on both of ours", func() (bool, string) {
		r1, r2 := m.peers("r1"), m.peers("r2")
		return r1["10.62.12.2"].Stats.RPFFailures > 0 && r2["10.62.12.1"].Stats.RPFFailures > 0 && r2["10.62.23.2"].Stats.RPFFailures > 0,
			m.cli("r1", "show msdp statistics") + m.cli("r2", "show msdp statistics")
	})
	r1, r2 := m.peers("r1"), m.peers("r2")
	assert.Zero(t, r1["10.62.13.2"].Stats.RPFFailures, "r1 accepts FRR's SA from FRR")
	assert.Positive(t, r2["10.62.12.1"].Stats.RPFFailures, "r2 drops FRR's SA forwarded by r1")
	assert.Positive(t, r2["10.62.23.2"].Stats.RPFFailures, "r2 drops r1's SA forwarded by FRR")
	assert.Positive(t, r1["10.62.12.2"].Stats.RPFFailures, "r1 drops FRR's SA forwarded by r2")
	// FRR got r1's SA from r2 too, and kept r1 as its peer.
	assert.Positive(t, m.frrPeers("frr1")["10.62.23.1"].SARcvd, "r2 forwarded r1's SA to FRR")
	assert.Equal(t, "10.62.13.1", m.frrSAPeers("frr1")[own])
	// Nothing reset a session.
	for _, n := range []string{"r1", "r2"} {
		for a, p := range m.peers(n) {
			assert.Equal(t, "Established", p.State, "%s peer %s", n, a)
			assert.Zero(t, p.Stats.Errors, "%s peer %s", n, a)
		}
	}
}

// Two of ours and one FRR in one mesh group (msdp-mesh.clab.yml): r1's SA
// reaches r2 and FRR directly; our mesh members forward nothing they got
// from a member to another member (RFC 3618 §10.2) and accept from any
// member. FRR 8.4 does re-flood inside its mesh group (its mesh group
// only shares a source address; FRRouting fixed that in 2025, PR 18330):
// logged, not asserted.
func TestMSDPMeshGroupWithFRR(t *testing.T) {
	m := startMSDPLab(t, "ml3", "msdp-mesh.clab.yml")
	for n, peers := range map[string][]string{"r1": {"10.63.12.2", "10.63.0.3"}, "r2": {"10.63.12.1", "10.63.0.3"}} {
		ps := m.established(n, peers...)
		for _, p := range peers {
			assert.True(t, ps[p].Mesh, "%s: %s in the mesh group", n, p)
			assert.Equal(t, "mg", ps[p].Group)
		}
	}
	m.frrEstablished("frr1", "10.63.13.1", "10.63.23.1")
	own := "10.63.1.99,239.1.9.9"
	m.hasSA("r2", own)
	m.frrHasSA("frr1", own)
	// Now that every session is up, r1 advertises its cache again (a
	// reset of its sessions): r2 and FRR receive it once more, from r1.
	before := m.peers("r2")["10.63.12.1"].Stats.SAReceived
	fBefore := m.frrPeers("frr1")["10.63.13.1"].SARcvd
	m.cli("r1", "clear msdp peer")
	m.established("r1", "10.63.12.2", "10.63.0.3")
	m.eventually(10*time.Second, "r1's SA received again by r2 and FRR", func() (bool, string) {
		return m.peers("r2")["10.63.12.1"].Stats.SAReceived > before && m.frrPeers("frr1")["10.63.13.1"].SARcvd > fBefore,
			m.cli("r2", "show msdp statistics") + m.cli("frr1", "show ip msdp peer detail")
	})
	// Whatever arrives late would do so within a second or two.
	time.Sleep(2 * time.Second)
	r1, r2 := m.peers("r1"), m.peers("r2")
	assert.Zero(t, r2["10.63.0.3"].Stats.EntriesSent, "r2 forwards nothing to FRR (a member)")
	assert.Zero(t, r2["10.63.12.1"].Stats.EntriesSent, "r2 forwards nothing back to r1")
	assert.Zero(t, r1["10.63.12.2"].Stats.SAReceived, "r1 gets nothing back")
	assert.Zero(t, r1["10.63.0.3"].Stats.SAReceived, "r1 gets nothing back from FRR")
	assert.Zero(t, m.frrPeers("frr1")["10.63.23.1"].SARcvd, "FRR gets nothing from r2")
	assert.Zero(t, r2["10.63.0.3"].Stats.RPFFailures+r2["10.63.12.1"].Stats.RPFFailures, "r2 accepts from every member")
	if n := m.frrPeers("frr1")["10.63.23.1"].SASent; n > 0 {
		t.Logf("FRR 8.4 re-flooded r1's SA to r2 inside the mesh group (%d SA messages; r2 received %d from FRR and forwarded none)",
			n, r2["10.63.0.3"].Stats.SAReceived)
	}
}

// Seed 001's group-specific peering (msdp-gsp.clab.yml): the MSDP server S
// (BSR, 224/4 C-RP with the S-bit), three RPs of ours for 239.1/16,
// 239.2/16, 239.3/16, and an external FRR peer with an RP of another
// domain behind it (ext, four configured sources). Each RP learns the
// server from the bootstrap S-bit and peers with it; each receives exactly
// the SAs of its range; the RPs' SAs leave through S and FRR, never to
// another RP.
func TestMSDPGroupSpecificPeering(t *testing.T) {
	m := startMSDPLab(t, "ml4", "msdp-gsp.clab.yml")
	rps := map[string]string{"rp1": "10.64.1.2", "rp2": "10.64.2.2", "rp3": "10.64.3.2"}
	// S elects itself BSR after BS_Timeout (2 x 1 s + 10 s: the lab's
	// bootstrap-period), the RPs' C-RP-Advertisements follow, and the next
	// BSM carries the RP-set with S's S-bit.
	var ps map[string]msdpPeerJSON
	m.eventually(40*time.Second, "three internal peerings at the server", func() (bool, string) {
		ps = m.peers("s")
		for _, a := range rps {
			if ps[a].State != "Established" || !ps[a].Intern {
				return false, m.cli("s", "show msdp") + m.cli("s", "show pim bootstrap") + m.cli("s", "show pim rps")
			}
		}
		return true, ""
	})
	assert.Equal(t, "Established", ps["10.64.4.2"].State, "the external peering with FRR")
	assert.False(t, ps["10.64.4.2"].Intern)
	assert.Len(t, ps, 4)
	for rp := range rps {
		p := m.established(rp, "10.64.1.1")
		assert.Len(t, p, 1, "%s peers with the server only", rp)
		assert.True(t, p["10.64.1.1"].Intern, "%s: an internal peering", rp)
		assert.True(t, p["10.64.1.1"].Active, "%s opened it", rp)
	}
	ext := map[string]string{"1": "10.64.9.1,239.1.1.1", "2": "10.64.9.2,239.2.1.1", "3": "10.64.9.3,239.3.1.1"}
	own := map[string]string{"1": "10.64.1.99,239.1.9.9", "2": "10.64.2.99,239.2.9.9", "3": "10.64.3.99,239.3.9.9"}
	for rp := range rps {
		i := rp[2:]
		want := []string{ext[i], own[i]}
		slices.Sort(want)
		var got []string
		m.eventually(15*time.Second, rp+" caching exactly its range's SAs", func() (bool, string) {
			got = slices.Sorted(maps.Keys(m.sas(rp)))
			return slices.Equal(got, want), m.cli(rp, "show msdp source-active")
		})
		assert.Equal(t, want, got, rp)
		assert.Equal(t, "10.64.1.1", m.sas(rp)[ext[i]].Peer, "%s got %s from the server", rp, ext[i])
	}
	// The server has everything; the external side gets the RPs' SAs.
	sSAs := m.sas("s")
	for _, k := range append(slices.Collect(maps.Values(ext)), slices.Collect(maps.Values(own))...) {
		assert.Contains(t, sSAs, k)
	}
	assert.Contains(t, sSAs, "10.64.9.4,239.4.1.1", "S is the RP of 239.4/16: no internal RP gets it")
	for i, k := range own {
		fsa := m.frrHasSA("frr1", k)
		assert.Equal(t, rps["rp"+i], fsa.RP, "%s flooded externally with its RP", k)
		m.hasSA("ext", k)
	}
}
