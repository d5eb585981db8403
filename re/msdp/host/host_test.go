package host

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/msdp"
)

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse("test.conf", strings.NewReader(text))
	require.NoError(t, err)
	return c
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// The operator's statements map onto the engine's configuration: timers,
// peers with their group, local address and key (the global key when a
// peer has none), mesh groups, limits, policies and local sources with
// the originator's address.
func TestConfigMapsTheStatements(t *testing.T) {
	c := parse(t, `set interfaces lo0 unit 0 family inet address 10.255.0.1/32
set interfaces lo0 unit 0 family inet address 10.255.0.9/32
set protocols pim rp local address 10.255.0.9
set protocols msdp local-address 10.0.0.1
set protocols msdp keep-alive 30
set protocols msdp hold-time 90
set protocols msdp sa-hold-time 120
set protocols msdp authentication-key global-secret
set protocols msdp peer 10.0.0.2
set protocols msdp peer 10.0.0.3 authentication-key own
set protocols msdp peer 10.0.0.3 active-source-limit maximum 50 threshold 40
set protocols msdp group mesh mode mesh-group
set protocols msdp group mesh peer 10.0.1.2 local-address 10.0.1.1
set protocols msdp active-source-limit maximum 1000
set protocols msdp local-source 10.1.0.2 group 239.1.1.1
set protocols msdp import from-customer
set policy-options policy-statement from-customer term t1 from source-address-filter 10.1.0.0/16 orlonger
set policy-options policy-statement from-customer term t1 then reject
`)
	mc, err := Config(c)
	require.NoError(t, err)
	require.Equal(t, ip("10.0.0.1"), mc.LocalAddress)
	require.Equal(t, 30*time.Second, mc.KeepAlive)
	require.Equal(t, 90*time.Second, mc.HoldTime)
	require.Equal(t, 120*time.Second, mc.SAHoldTime)
	require.Equal(t, ip("10.255.0.9"), mc.OriginatorID, "local sources carry this router's RP address")
	require.Equal(t, []msdp.LocalSource{{Source: ip("10.1.0.2"), Group: ip("239.1.1.1")}}, mc.LocalSources)
	require.Equal(t, 1000, mc.ActiveSourceLimit.Maximum)
	byAddr := map[netip.Addr]msdp.PeerConfig{}
	for _, p := range mc.Peers {
		byAddr[p.Address] = p
	}
	require.Len(t, byAddr, 3)
	require.Equal(t, "global-secret", byAddr[ip("10.0.0.2")].AuthenticationKey, "the global key by default")
	require.Equal(t, "own", byAddr[ip("10.0.0.3")].AuthenticationKey)
	require.Equal(t, 50, byAddr[ip("10.0.0.3")].ActiveSourceLimit.Maximum)
	require.Equal(t, "mesh", byAddr[ip("10.0.1.2")].Group)
	require.Equal(t, msdp.ModeMeshGroup, mc.Groups["mesh"].Mode)
	require.Equal(t, []string{"from-customer"}, mc.Import)
	pol := mc.Policies["from-customer"]
	require.NotNil(t, pol)
	require.Len(t, pol.Terms, 1)
	require.Equal(t, msdp.VerdictReject, pol.Terms[0].Then)
	require.Equal(t, msdp.OrLonger, pol.Terms[0].Source[0].Type)
}

func TestConfigDefaultsAndRoles(t *testing.T) {
	// Without local-address, lo0 is the peering address.
	mc, err := Config(parse(t, `set interfaces lo0 unit 0 family inet address 10.255.0.1/32
set protocols msdp peer 10.0.0.2
set protocols msdp server
`))
	require.NoError(t, err)
	require.Equal(t, ip("10.255.0.1"), mc.LocalAddress)
	require.NotNil(t, mc.Server)
	require.Equal(t, ip("10.255.0.1"), mc.Server.Address, "the server's address defaults to the peering address")

	// Group-specific peering uses the RP's address.
	mc, err = Config(parse(t, `set interfaces lo0 unit 0 family inet address 10.255.0.7/32
set protocols pim rp local address 10.255.0.7
set protocols msdp group-specific-peering
`))
	require.NoError(t, err)
	require.NotNil(t, mc.RP)
	require.Equal(t, ip("10.255.0.7"), mc.RP.Address)

	// A server with no address at all is an error naming what to set.
	_, err = Config(parse(t, "set protocols msdp server\n"))
	require.ErrorContains(t, err, "msdp server: no address")
	_, err = Config(parse(t, "set protocols msdp group-specific-peering\n"))
	require.ErrorContains(t, err, "group-specific-peering: no address")
}
