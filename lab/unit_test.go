package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/internal/daemon"
	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/proc"
	"github.com/mxfwd/mxfwd/lab/topo"
)

func TestSplitRP(t *testing.T) {
	main, late := splitRP("hostname a\ninterface eth1\n ip pim\nexit\nip pim rp 10.0.0.1 224.0.0.0/4\nip route 10.1.0.0/24 10.0.0.2\nip pim rp 10.0.0.2 239.0.0.0/8\n")
	assert.Equal(t, "ip pim rp 10.0.0.1 224.0.0.0/4\nip pim rp 10.0.0.2 239.0.0.0/8\n", late)
	assert.NotContains(t, main, "ip pim rp")
	assert.Contains(t, main, "ip route 10.1.0.0/24 10.0.0.2\n")
	assert.Contains(t, main, "interface eth1\n ip pim\n")
	_, late = splitRP("hostname a\n")
	assert.Empty(t, late)
}

func TestFRRConfigHelpers(t *testing.T) {
	assert.Equal(t, "b", frrHostname("frr version 8.4\nhostname b\n"))
	assert.Equal(t, "", frrHostname("interface eth1\n"))
	n := &topo.Node{Name: "f", Interfaces: []*topo.Interface{{Linux: "eth1"}, {Linux: "eth2"}}}
	assert.Equal(t, "hostname f\n!\ninterface eth1\n ip pim\nexit\n!\ninterface eth2\n ip pim\nexit\n!\n", generatedFRRConfig(n))
	for line, rejected := range map[string]bool{
		"line 3: % Unknown command[4]: router pim": true,
		"% Command incomplete":                     true,
		"Failed to add static mroute":              false,
	} {
		assert.Equal(t, rejected, frrRejected.MatchString(line), line)
	}
}

func TestLinuxIfName(t *testing.T) {
	r := NodeRecord{Kind: "mxfwd", Interfaces: []PortRecord{{Name: "xe-3/0/0", Linux: "xe-3-0-0"}}}
	assert.Equal(t, "xe-3-0-0", linuxIfName(r, "xe-3/0/0"))
	assert.Equal(t, "xe-4-1-2", linuxIfName(r, "xe-4/1/2"), "a port the topology does not link")
	assert.Equal(t, "xe-3-0-0.0", linuxIfName(r, "xe-3-0-0.0"), "a host interface passes through")
	assert.Equal(t, "any", linuxIfName(NodeRecord{Kind: "linux"}, "any"))
}

func TestSetEnv(t *testing.T) {
	env := setEnv([]string{"A=1", "PATH=/bin", "AB=2"}, "A", "3")
	assert.Equal(t, []string{"PATH=/bin", "AB=2", "A=3"}, env)
}

func TestCheckPaths(t *testing.T) {
	top := &topo.Topology{Nodes: []*topo.Node{{Name: "r1"}}}
	assert.NoError(t, checkPaths("/run/mxlab", "lab", top))
	err := checkPaths("/"+strings.Repeat("x", 100), "lab", top)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "longer than 107 bytes")
}

func TestStateRoundTripAndList(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(root, "not-a-lab"), 0o755))
	st := &State{Version: stateVersion, Name: "a", Dir: dir, Phase: PhaseUp, Created: time.Unix(100, 0).UTC(),
		Namespaces: []NSRecord{{Node: "r1", Name: "mxl-a-r1", ID: netns.ID{Dev: 4, Ino: 4026532000}}},
		Procs:      []ProcRecord{{Node: "r1", Role: "re", Ident: proc.Ident{Pid: 42, Start: 7}, Argv: []string{"re", "run"}}}}
	require.NoError(t, st.save())
	got, err := loadState(dir)
	require.NoError(t, err)
	assert.Equal(t, st, got)
	names, err := List(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, names)
	_, err = loadState(filepath.Join(root, "not-a-lab"))
	assert.ErrorIs(t, err, ErrNoLab)
	names, err = List(filepath.Join(root, "missing"))
	assert.NoError(t, err)
	assert.Empty(t, names)
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir, 0)
	require.NoError(t, err)
	_, err = lockDir(dir, 100*time.Millisecond)
	require.Error(t, err, "a second holder waits, then gives up")
	unlock()
	unlock2, err := lockDir(dir, 0)
	require.NoError(t, err)
	unlock2()
}

// Each node gets its own key, which the daemons accept (mode 0600, long
// enough) and which differs between nodes.
func TestWriteKeyFile(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	pa, err := writeKeyFile(a)
	require.NoError(t, err)
	pb, err := writeKeyFile(b)
	require.NoError(t, err)
	fi, err := os.Stat(pa)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	ka, err := daemon.ReadKeyFile(pa)
	require.NoError(t, err)
	kb, err := daemon.ReadKeyFile(pb)
	require.NoError(t, err)
	assert.NotEqual(t, ka, kb)
	assert.Equal(t, []string{"--auth-key-file", pa}, keyArgs(&NodeRecord{AuthKeyFile: pa}))
	assert.Empty(t, keyArgs(&NodeRecord{}))
}
