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
