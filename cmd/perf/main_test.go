package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/perf/perfcli"
)

// The command wires perfcli: `perf drivers` lists the driver table.
func TestDriversCommand(t *testing.T) {
	c := perfcli.New()
	var b bytes.Buffer
	c.SetOut(&b)
	c.SetErr(&b)
	c.SetArgs([]string{"drivers"})
	require.NoError(t, c.Execute())
	for _, d := range []string{"swpfe", "trio", "afpacket"} {
		require.Contains(t, b.String(), d)
	}
}
