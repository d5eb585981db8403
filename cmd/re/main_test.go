package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIPCDecodeHex(t *testing.T) {
	c := (&app{}).ipcCmd()
	var b bytes.Buffer
	c.SetOut(&b)
	c.SetArgs([]string{"decode", "--hex", "010000001c00000006000e0014000100000003d70000014b004002efe80007010a80010a"})
	require.NoError(t, c.Execute())
	require.Contains(t, b.String(), "type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,")
	c = (&app{}).ipcCmd()
	c.SilenceErrors, c.SilenceUsage = true, true
	c.SetArgs([]string{"decode"})
	require.ErrorContains(t, c.Execute(), "give --hex HEX or -r FILE.pcap")
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	require.NoError(t, os.WriteFile(good, []byte("set system host-name bob\n"), 0o644))
	bad := filepath.Join(dir, "bad.conf")
	require.NoError(t, os.WriteFile(bad, []byte("set system host-name bob\nset nonsense\n"), 0o644))
	c := (&app{}).configCmd()
	c.SilenceErrors, c.SilenceUsage = true, true
	var b bytes.Buffer
	c.SetOut(&b)
	c.SetArgs([]string{"check", good})
	require.NoError(t, c.Execute())
	require.Contains(t, b.String(), "statements OK")
	c.SetArgs([]string{"check", bad})
	require.ErrorContains(t, c.Execute(), "bad.conf:2:")
	b.Reset()
	c.SetArgs([]string{"statements"})
	require.NoError(t, c.Execute())
	require.Contains(t, b.String(), "set forwarding-options multicast resolve-rate <100..1000>")
}
