package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const seedConfig = `
# seed 003 topology
set system host-name bob
set interfaces xe-3/0/0 gigether-options 802.3ad ae90
set interfaces ae90 unit 0 family inet address 10.128.1.1/24
set interfaces ae90 unit 0 ifl-index 331
set interfaces xe-3/1/0 gigether-options 802.3ad ae91
set interfaces xe-3/3/1 gigether-options 802.3ad ae91
set interfaces ae91 unit 0 family inet address 10.128.2.1/24
set protocols pim interface ae91.0
set protocols pim rp static address 10.255.0.1
set protocols igmp interface ae91.0 static group 232.0.7.1 source 10.128.1.10
set protocols msdp peer 10.0.0.2 local-address 10.0.0.1
set routing-options multicast forwarding-cache timeout 6
set forwarding-options multicast resolve-rate 500
set routing-options nonstop-routing
set chassis network-services enhanced-ip
set chassis fpc 3 pic 1 no-mcast-replication
set chassis fpc 3 type MPC2
set forwarding-options multicast-replication ingress
`

func TestParseSeed(t *testing.T) {
	c, err := Parse("seed.conf", strings.NewReader(seedConfig))
	require.NoError(t, err)
	require.Equal(t, "bob", c.HostName)
	require.Equal(t, []string{"xe-3/1/0", "xe-3/3/1"}, c.Members("ae91"))
	require.Equal(t, 6*time.Minute, c.CacheTimeout)
	require.Equal(t, 500, c.ResolveRate)
	require.True(t, c.NonstopRouting)
	require.Equal(t, uint32(331), c.UnitOf("ae90.0").Index)
	require.Len(t, c.IGMP.Static, 1)
	require.Equal(t, netip.MustParseAddr("232.0.7.1"), c.IGMP.Static[0].Group)
	require.Equal(t, "ae90.0", c.UpstreamFor(netip.MustParseAddr("10.128.1.10")))
	require.Equal(t, "", c.UpstreamFor(netip.MustParseAddr("192.0.2.1")))
	require.True(t, c.Chassis.FPCs[3].NoMcastReplication[1])
	require.Equal(t, "ingress", c.Replication)
	fpc, pic, port, ok := ParsePort("xe-3/3/1")
	require.True(t, ok)
	require.Equal(t, []int{3, 3, 1}, []int{fpc, pic, port})
}

func TestDefaults(t *testing.T) {
	c, err := Parse("empty", strings.NewReader(""))
	require.NoError(t, err)
	require.Equal(t, 360*time.Second, c.CacheTimeout)
	require.Equal(t, 66, c.ResolveRate)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"delete interfaces ae91", "only 'set' statements"},
		{"set frobnicate", "unknown statement 'set frobnicate'"},
		{"set routing-options multicast forwarding-cache timeout 0", "range 1..720"},
		{"set routing-options multicast forwarding-cache timeout 721", "range 1..720"},
		{"set forwarding-options multicast resolve-rate 66", "range 100..1000"},
		{"set forwarding-options multicast resolve-rate 1001", "range 100..1000"},
		{"set interfaces foo0 unit 0", "invalid interface name"},
		{"set interfaces ae91 unit 0 family inet address 10.0.0.300/24", "invalid IPv4 address"},
		{"set protocols igmp interface ae91.0 static group 10.1.1.1 source 10.0.0.1", "not a multicast address"},
		{"set protocols igmp interface ae91 static group 232.1.1.1 source 10.0.0.1", "invalid logical interface"},
		{"set protocols igmp interface ae91.0 static group 232.1.1.1 source 10.0.0.1", "interface not configured"},
		{"set interfaces xe-3/1/0 gigether-options 802.3ad xe-1/1/1", "invalid aggregate"},
		{"set routing-options nonstop-routing now", "unknown routing-options"},
		{"set chassis fpc 3 type MPC99", "unknown card type"},
		{"set forwarding-options multicast-replication sideways", "invalid multicast-replication"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			_, err := Parse("t.conf", strings.NewReader("set system host-name x\n"+tc.line+"\n"))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid))
			require.Contains(t, err.Error(), tc.want)
			if !strings.Contains(tc.want, "not configured") {
				require.Contains(t, err.Error(), "t.conf:2:")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, l := range strings.Split(seedConfig, "\n") {
		f.Add(l)
	}
	f.Add("set interfaces ae91 unit 99999999999999999999")
	f.Add("set interfaces xe-3/1/0 unit 0 family inet address 10.0.0.1/24\nset routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 preference 7 metric 3")
	f.Add("set routing-options rib-import kernel table 100")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse("fuzz", strings.NewReader(s))
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("error without context: %v", err)
		}
	})
}

func TestStatementsRoundTrip(t *testing.T) {
	c, err := Parse("seed.conf", strings.NewReader(seedConfig))
	require.NoError(t, err)
	again, err := Parse("again", strings.NewReader(strings.Join(c.Statements(), "\n")))
	require.NoError(t, err)
	require.Equal(t, c.Statements(), again.Statements())
	require.Contains(t, c.Statements(), "set forwarding-options multicast resolve-rate 500")
}

func TestStaticRoutesAndRIBImport(t *testing.T) {
	const conf = `
set interfaces xe-3/1/0 unit 0 family inet address 10.0.0.1/24
set interfaces xe-3/2/0 unit 0 family inet address 10.0.1.1/24
set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2
set routing-options static route 10.9.0.0/16 next-hop 10.0.1.2 preference 7
set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 metric 3
set routing-options static route 0.0.0.0/0 next-hop 10.0.1.2
set routing-options rib-import kernel table 100
`
	c, err := Parse("static.conf", strings.NewReader(conf))
	require.NoError(t, err)
	require.Equal(t, []StaticRoute{
		{
			Prefix:   netip.MustParsePrefix("10.9.0.0/16"),
			NextHops: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.1.2")},
			// Preference from line 5, metric from line 6; the repeated
			// next hop is not duplicated.
			Preference: 7, Metric: 3, Line: 4,
		},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHops: []netip.Addr{netip.MustParseAddr("10.0.1.2")}, Line: 7},
	}, c.StaticRoutes)
	require.Equal(t, RIBImport{Kernel: true, Table: 100}, c.RIBImport)

	st := c.Statements()
	require.Contains(t, st, "set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 preference 7 metric 3")
	require.Contains(t, st, "set routing-options static route 10.9.0.0/16 next-hop 10.0.1.2 preference 7 metric 3")
	require.Contains(t, st, "set routing-options static route 0.0.0.0/0 next-hop 10.0.1.2")
	require.Contains(t, st, "set routing-options rib-import kernel table 100")
	again, err := Parse("again", strings.NewReader(strings.Join(st, "\n")))
	require.NoError(t, err)
	require.Equal(t, st, again.Statements())
	for i := range again.StaticRoutes {
		again.StaticRoutes[i].Line = c.StaticRoutes[i].Line
	}
	require.Equal(t, c.StaticRoutes, again.StaticRoutes)

	// Without a table: the main table, rendered without it.
	c, err = Parse("main.conf", strings.NewReader("set routing-options rib-import kernel\n"))
	require.NoError(t, err)
	require.Equal(t, RIBImport{Kernel: true, Table: DefaultKernelTable}, c.RIBImport)
	require.Contains(t, c.Statements(), "set routing-options rib-import kernel")
	c, err = Parse("main.conf", strings.NewReader("set routing-options rib-import kernel table 254\n"))
	require.NoError(t, err)
	require.Contains(t, c.Statements(), "set routing-options rib-import kernel")
	require.NotContains(t, c.Statements(), "set routing-options rib-import kernel table 254")
}

func TestStaticRouteErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"set routing-options static route 10.9.0.0/16", "incomplete statement"},
		{"set routing-options static route 10.9.0.0/16 next-hop", "expecting next-hop <value>"},
		{"set routing-options static route 10.9.0.1/16 next-hop 10.0.0.2", "host bits set (did you mean 10.9.0.0/16?)"},
		{"set routing-options static route 10.9.0.0/33 next-hop 10.0.0.2", "invalid IPv4 prefix"},
		{"set routing-options static route 2001:db8::/32 next-hop 10.0.0.2", "invalid IPv4 prefix"},
		{"set routing-options static route 10.9.0.0/16 next-hop 10.0.0.300", "invalid next-hop"},
		{"set routing-options static route 10.9.0.0/16 next-hop 224.0.0.5", "not a unicast address"},
		{"set routing-options static route 10.9.0.0/16 next-hop 0.0.0.0", "not a unicast address"},
		{"set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 preference 0", "invalid preference \"0\" (range 1..4294967295)"},
		{"set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 metric 4294967296", "invalid metric"},
		{"set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 metric 1 metric 2", "metric given twice"},
		{"set routing-options static route 10.9.0.0/16 next-hop 10.0.0.2 discard", "unknown static route option \"discard\""},
		{"set routing-options static 10.9.0.0/16 next-hop 10.0.0.2", "expecting 'static route <prefix>"},
		{"set routing-options rib-import bgp", "expecting 'rib-import kernel [table <n>]'"},
		{"set routing-options rib-import kernel table 255", "not 255"},
		{"set routing-options rib-import kernel table 0", "invalid kernel table"},
		{"set routing-options rib-import kernel table main", "invalid kernel table"},
		{"set routing-options rib-import kernel table 5 now", "unexpected \"table 5 now\""},
		{"set routing-options frobnicate", "rib-import kernel, static route"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			_, err := Parse("t.conf", strings.NewReader("set system host-name x\n"+tc.line+"\n"))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid))
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "t.conf:2:")
		})
	}
	// Cross-statement checks name the line of the route.
	for _, tc := range []struct{ conf, want string }{
		{"set interfaces xe-3/1/0 unit 0 family inet address 10.0.0.1/24\nset routing-options static route 10.9.0.0/16 next-hop 10.0.0.1",
			"line 2: invalid configuration: static route 10.9.0.0/16: next-hop 10.0.0.1 is the address of xe-3/1/0.0"},
		{"set system host-name x\nset routing-options static route 10.9.0.0/16 preference 7",
			"line 2: invalid configuration: static route 10.9.0.0/16 has no next-hop"},
	} {
		_, err := Parse("v.conf", strings.NewReader(tc.conf))
		require.ErrorIs(t, err, ErrInvalid)
		require.Contains(t, err.Error(), tc.want)
	}
}

func TestMulticastStatements(t *testing.T) {
	text := `set interfaces lo0 unit 0 family inet address 10.255.0.1/32
set interfaces ae91 unit 0 family inet address 10.128.2.1/24
set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24
set protocols pim interface ae91.0 priority 10 hello-interval 10 mode sparse
set protocols pim interface xe-3/0/0.0
set protocols pim rp static address 10.255.0.9 group-ranges 239.0.0.0/8
set protocols pim rp static address 10.255.0.9 group-ranges 238.0.0.0/8
set protocols pim rp local address 10.255.0.1 group-ranges 225.0.0.0/8
set protocols pim rp bootstrap family inet priority 200
set protocols pim spt-threshold infinity
set protocols pim ssm-groups 233.0.0.0/8
set protocols pim timers register-suppression 10 register-probe 2
set protocols pim timers keepalive 30 bootstrap-period 5
set protocols igmp interface ae91.0 version 2
set protocols igmp interface ae91.0 static group 239.1.1.1
set protocols igmp interface ae91.0 static group 232.1.1.1 source 10.0.0.9
`
	c, err := Parse("m.conf", strings.NewReader(text))
	require.NoError(t, err)
	pi, ok := c.PIM.Interface("ae91.0")
	require.True(t, ok)
	require.Equal(t, uint32(10), pi.Priority)
	require.Equal(t, 10, pi.HelloInterval)
	require.Len(t, c.PIM.RPStatic, 1)
	require.Len(t, c.PIM.RPStatic[0].GroupRanges, 2)
	require.Equal(t, netip.MustParseAddr("10.255.0.1"), c.PIM.RPLocal.Address)
	require.Equal(t, 200, c.PIM.Bootstrap.Priority)
	require.True(t, c.PIM.SPTThresholdInfinity)
	require.Equal(t, PIMTimers{RegisterSuppression: 10, RegisterProbe: 2, Keepalive: 30, BootstrapPeriod: 5, Line: 13}, c.PIM.Timers)
	require.Len(t, c.IGMP.Static, 2)
	require.False(t, c.IGMP.Static[0].Source.IsValid(), "(*,G)")
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.255.0.1/32")}, c.LoopbackAddresses())
	// Rendered back, the statements parse to the same configuration.
	again, err := Parse("again.conf", strings.NewReader(strings.Join(c.Statements(), "\n")+"\n"))
	require.NoError(t, err)
	require.Equal(t, c.Statements(), again.Statements())

	for stmt, want := range map[string]string{
		"set protocols pim interface ae91.0 mode dense":                        "sparse only",
		"set protocols pim rp local address 10.9.9.9":                          "already 10.255.0.1",
		"set protocols pim rp static address 10.1.1.1 group-ranges 10.0.0.0/8": "invalid group range",
		"set protocols pim interface ae7.0":                                    "interface not configured",
		"set interfaces lo0 unit 0 family inet address 10.1.1.1/24":            "a loopback address is a /32",
		"set protocols igmp interface ae91.0 version 4":                        "version 2|3",
		"set protocols pim rp bootstrap family inet6 priority 1":               "inet only",
		"set protocols pim timers register-probe 5":                            "less than half of register-suppression 10 s",
		"set protocols pim timers hello 5":                                     "unknown pim timer",
		"set protocols pim timers keepalive 0":                                 "keepalive",
		"set protocols pim timers register-suppression":                        "expecting 'pim timers",
	} {
		_, err := Parse("bad.conf", strings.NewReader(text+stmt+"\n"))
		require.ErrorContains(t, err, want, stmt)
	}
	_, err = Parse("bad.conf", strings.NewReader("set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24\nset protocols pim rp local address 10.9.9.9\n"))
	require.ErrorContains(t, err, "not one of this router's addresses")
}

func TestMSDPStatements(t *testing.T) {
	text := `set interfaces lo0 unit 0 family inet address 10.255.0.1/32
set interfaces xe-3/0/0 unit 0 family inet address 10.0.0.1/24
set protocols msdp local-address 10.255.0.1
set protocols msdp keep-alive 30
set protocols msdp hold-time 90
set protocols msdp sa-hold-time 150
set protocols msdp active-source-limit maximum 20000 threshold 15000 log-warning 80 log-interval 60
set protocols msdp peer 10.255.0.2 authentication-key s3cret
set protocols msdp peer 10.255.0.2 default-peer
set protocols msdp peer 10.255.0.2 active-source-limit maximum 500
set protocols msdp peer 10.255.0.2 import only-239
set protocols msdp group mesh1 mode mesh-group
set protocols msdp group mesh1 peer 10.255.0.3
set protocols msdp group mesh1 peer 10.255.0.4 local-address 10.255.0.1
set protocols msdp local-source 10.0.0.9 group 239.9.9.9
set protocols msdp traceoptions flag nsr-synchronization
set protocols msdp nonstop-routing-disable
set protocols msdp server address 10.255.0.1
set protocols msdp server accept-rps 10.255.0.0/16
set protocols msdp group-specific-peering local-address 10.255.0.1
set policy-options policy-statement only-239 term a from route-filter 239.0.0.0/8 orlonger
set policy-options policy-statement only-239 term a from source-address-filter 10.0.0.0/8 prefix-length-range /16-/32
set policy-options policy-statement only-239 term a from rp-address-filter 10.255.0.0/16 upto /32
set policy-options policy-statement only-239 term a then accept
set policy-options policy-statement only-239 term b then reject
`
	c, err := Parse("m.conf", strings.NewReader(text))
	require.NoError(t, err)
	m := c.MSDP
	require.True(t, m.Enabled())
	require.Equal(t, 30, m.KeepAlive)
	require.Len(t, m.Peers, 3)
	require.True(t, m.Peers[0].DefaultPeer)
	require.Equal(t, "mesh1", m.Peers[1].Group)
	require.True(t, m.Groups[0].MeshGroup)
	require.Equal(t, 500, m.Peers[0].ActiveSourceLimit.Maximum)
	require.Len(t, c.Policies["only-239"].Terms, 2)
	require.Equal(t, 16, c.Policies["only-239"].Terms[0].Source[0].Min)
	again, err := Parse("again.conf", strings.NewReader(strings.Join(c.Statements(), "\n")+"\n"))
	require.NoError(t, err)
	require.Equal(t, c.Statements(), again.Statements())
	for stmt, want := range map[string]string{
		"set protocols msdp keep-alive 5":                                               "range 10..60",
		"set protocols msdp peer 10.1.1.1 import nope":                                  `policy "nope" is not defined`,
		"set protocols msdp group mesh2 peer 10.255.0.3":                                "already in group mesh1",
		"set protocols msdp peer 10.1.1.1 active-source-limit maximum 5 threshold 9":    "above maximum",
		"set protocols msdp traceoptions flag bogus":                                    "unknown traceoptions flag",
		"set policy-options policy-statement p term a from route-filter 239.0.0.0/8 up": "unknown match type",
	} {
		_, err := Parse("bad.conf", strings.NewReader(text+stmt+"\n"))
		require.ErrorContains(t, err, want, stmt)
	}
}
