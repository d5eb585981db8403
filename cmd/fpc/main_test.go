package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseKV(t *testing.T) {
	m, err := parseKV([]string{"xe-3/1/0=veth31", "xe-3/3/1=veth33"}, "--port")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"xe-3/1/0": "veth31", "xe-3/3/1": "veth33"}, m)
	for _, bad := range [][]string{{"xe-3/1/0"}, {"=veth1"}, {"a="}, {"a=b", "a=c"}} {
		_, err := parseKV(bad, "--port")
		require.ErrorContains(t, err, "--port", bad)
	}
}

func TestDriversTable(t *testing.T) {
	for _, n := range []string{"swpfe", "trio", "afpacket", "xdp"} {
		require.NotNil(t, drivers[n].new, n)
	}
	var b bytes.Buffer
	c := (&app{}).driversCmd()
	c.SetOut(&b)
	require.NoError(t, c.Execute())
	require.Contains(t, b.String(), "swpfe")
	require.Equal(t, "afpacket, swpfe, trio, xdp", driverNames())
}

func TestRunRejectsUnknownDriver(t *testing.T) {
	c := (&app{}).runCmd()
	c.SilenceErrors, c.SilenceUsage = true, true
	c.SetArgs([]string{"--slot", "3", "--driver", "bogus"})
	c.SetOut(&bytes.Buffer{})
	c.SetErr(&bytes.Buffer{})
	require.ErrorContains(t, c.Execute(), `unknown driver "bogus" (available: afpacket, swpfe, trio, xdp)`)
}
