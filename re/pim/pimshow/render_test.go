package pimshow

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The layouts of reference-junos.md §2.4-§2.5, line for line, from data.

func TestRenderInterfacesLayout(t *testing.T) {
	var b strings.Builder
	RenderInterfaces(&b, []InterfaceInfo{{Name: "ae200.12", Up: true, Mode: "S", Version: 2, State: "DR,NotCap",
		Neighbors: 1, SGJoins: 1, DR: a("62.40.125.126")}})
	lines := strings.Split(b.String(), "\n")
	require.Contains(t, lines, "Name               Stat Mode IP V State        NbrCnt JoinCnt(sg/*g) DR address")
	require.Contains(t, lines, "ae200.12           Up   S     4 2 DR,NotCap         1 1/0            62.40.125.126")
}

func TestRenderNeighborsLayout(t *testing.T) {
	var b strings.Builder
	RenderNeighbors(&b, []NeighborInfo{{Interface: "ge-0/0/3.0", Addr: a("10.0.0.1"), Options: "HPG", Uptime: 32*60 + 16}}, false)
	lines := strings.Split(b.String(), "\n")
	require.Contains(t, lines, "Interface           IP V Mode        Option       Uptime Neighbor addr")
	require.Contains(t, lines, "ge-0/0/3.0           4 2             HPG        00:32:16 10.0.0.1")
	require.True(t, strings.HasPrefix(b.String(), "B = Bidirectional Capable, G = Generation Identifier\n"))

	b.Reset()
	RenderNeighbors(&b, []NeighborInfo{{Interface: "ae200.12", Addr: a("62.40.125.125"), Holdtime: 105, HoldRemaining: 100,
		HasDRPriority: true, DRPriority: 1, HasGenID: true, GenID: 256022011, LANPruneDelay: true, PropagationDelay: 500,
		OverrideInterval: 2000, SGJoins: 1,
		RxJoins: []RxJoin{{Group: a("224.2.127.254"), Source: a("193.1.186.55"), Timeout: 192}}}}, true)
	require.Equal(t, `Instance: PIM.master

Interface: ae200.12

    Address: 62.40.125.125,     IPv4, PIM v2, sg Join Count: 1, tsg Join Count: 0
        BFD: Disabled
        Hello Option Holdtime: 105 seconds 100 remaining
        Hello Option DR Priority: 1
        Hello Option Generation ID: 256022011
        Hello Option LAN Prune Delay: delay 500 ms override 2000 ms
                                      Join Suppression supported
    Rx Join: Group           Source          Timeout
             224.2.127.254   193.1.186.55        192
`, b.String())
}

func TestRenderRPsLayout(t *testing.T) {
	var b strings.Builder
	RenderRPs(&b, []RPInfo{
		{Addr: a("10.255.0.2"), Type: "bootstrap", Mode: "sparse", Holdtime: 150, Timeout: 118, Prefixes: []netip.Prefix{p("239.72.0.0/16")}},
		{Addr: a("10.255.0.1"), Type: "static", Mode: "sparse", Holdtime: 150, Timeout: -1, Prefixes: []netip.Prefix{p("224.0.0.0/4")}},
	}, false)
	require.Equal(t, `Instance: PIM.master

address-family INET
RP address      Type        Mode   Holdtime Timeout Groups Group prefixes
10.255.0.2      bootstrap   sparse      150     118      0 239.72.0.0/16
10.255.0.1      static      sparse      150    None      0 224.0.0.0/4
`, b.String())
}

func TestRenderJoinStarG(t *testing.T) {
	var b strings.Builder
	RenderJoin(&b, []JoinEntry{{Group: a("239.72.112.1"), RP: a("10.255.0.2"), Flags: []string{"sparse", "rptree", "wildcard"},
		UpstreamInterface: "ge-0/0/4.0"}}, false)
	require.Equal(t, joinHeader+`Group: 239.72.112.1
    Source: *
    RP: 10.255.0.2
    Flags: sparse,rptree,wildcard
    Upstream interface: ge-0/0/4.0

`, b.String())
}

func TestFormatUptime(t *testing.T) {
	require.Equal(t, "03:34:03", FormatUptime(3*3600+34*60+3))
	require.Equal(t, "1d 15:35:33", FormatUptime(86400+15*3600+35*60+33))
	require.Equal(t, "2d 23:27:55", FormatUptime(2*86400+23*3600+27*60+55))
	require.Equal(t, "1w2d 00:00:01", FormatUptime(9*86400+1))
}

func a(s string) netip.Addr   { return netip.MustParseAddr(s) }
func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }
