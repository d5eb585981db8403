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

// The RE refuses to serve FPCs on a non-loopback address without
// authentication, and says how to proceed.
func TestRunRefusesAnOpenPortWithoutAuth(t *testing.T) {
	c := (&app{socket: filepath.Join(t.TempDir(), "re.sock")}).runCmd()
	c.SilenceErrors, c.SilenceUsage = true, true
	c.SetArgs([]string{"--listen", "0.0.0.0:0", "--metrics", ""})
	err := c.Execute()
	require.ErrorContains(t, err, "refusing to serve FPCs on a non-loopback address without authentication")
	require.ErrorContains(t, err, "--auth-key-file")
	require.ErrorContains(t, err, "--insecure")

	// A key file others may read is refused.
	key := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o644))
	c = (&app{socket: filepath.Join(t.TempDir(), "re.sock")}).runCmd()
	c.SilenceErrors, c.SilenceUsage = true, true
	c.SetArgs([]string{"--listen", "0.0.0.0:0", "--metrics", "", "--auth-key-file", key})
	require.ErrorContains(t, c.Execute(), "chmod 600")
}
