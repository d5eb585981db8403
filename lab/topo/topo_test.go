package topo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleDir = "../../examples/labs"

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(exampleDir, "*.clab.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4, "examples/labs should hold the example labs")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			top, err := Load(f)
			require.NoError(t, err)
			for _, n := range top.Nodes {
				if n.Kind == KindMxfwd {
					assert.NotEmpty(t, n.Config, "%s: mxfwd node without configuration", n.Name)
					assert.Equal(t, []int{3}, n.Slots(), "%s: the examples use FPC 3", n.Name)
					assert.NotEmpty(t, n.ConfigFile)
				}
				assert.NotEmpty(t, n.Interfaces, "%s: node without links", n.Name)
			}
		})
	}
}

func TestParseTriangle(t *testing.T) {
	top, err := Load(filepath.Join(exampleDir, "triangle.clab.yml"))
	require.NoError(t, err)
	assert.Equal(t, "triangle", top.Name)
	var names []string
	for _, n := range top.Nodes {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"h2", "h3", "r1", "r2", "r3", "src1"}, names, "nodes sorted by name")
	r1 := top.Node("r1")
	require.NotNil(t, r1)
	assert.Equal(t, KindMxfwd, r1.Kind)
	assert.Contains(t, r1.Config, "set interfaces xe-3/0/0 unit 0 family inet address 10.0.1.1/24")
	i := r1.Interface("xe-3/1/1")
	require.NotNil(t, i)
	assert.Equal(t, "xe-3-1-1", i.Linux)
	assert.Equal(t, 3, i.Slot)
	assert.Same(t, i, r1.Interface("xe-3-1-1"), "found by its Linux name too")
	h2 := top.Node("h2")
	assert.Equal(t, KindLinux, h2.Kind)
	assert.Equal(t, -1, h2.Interfaces[0].Slot)
	assert.Len(t, top.Links, 6)
	assert.Equal(t, "src1:eth1", top.Links[0].A.String())
	assert.Equal(t, "r1:xe-3/0/0", top.Links[0].B.String())
}

func TestParseFRRDaemonsAndBinds(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.conf"), []byte("hostname f\nrouter ospf\n ospf router-id 10.0.0.1\n"), 0o644))
	top, err := Parse([]byte(`
name: x
topology:
  kinds:
    linux:
      image: quay.io/frrouting/frr:8.4.1
  nodes:
    f:
      kind: linux
      binds: ["f.conf:/etc/frr/frr.conf", "daemons:/etc/frr/daemons"]
    h:
      kind: linux
      image: alpine
  links:
    - endpoints: ["f:eth1", "h:eth1"]
`), dir)
	require.NoError(t, err)
	f := top.Node("f")
	assert.Equal(t, KindFRR, f.Kind, "kind linux with an FRR image is an frr node")
	assert.Equal(t, []string{"zebra", "staticd", "pimd", "ospfd"}, f.Daemons)
	assert.Contains(t, f.Config, "router ospf")
	assert.Equal(t, KindLinux, top.Node("h").Kind, "node image overrides the kind's")
}

// A containerlab file: kind linux with an mxfwd image, Linux port names,
// the configuration bound to where the container reads it.
func TestParseContainerlabMxfwdNode(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "r1.conf"), []byte("set system host-name r1\n"), 0o644))
	top, err := Parse([]byte(`
name: c
topology:
  nodes:
    r1:
      kind: linux
      image: ghcr.io/mxfwd/mxfwd:latest
      binds: ["r1.conf:/config/re.conf:ro"]
    h: {kind: linux, image: alpine}
  links:
    - endpoints: ["r1:xe-3-1-0", "h:eth1"]
`), dir)
	require.NoError(t, err)
	r1 := top.Node("r1")
	assert.Equal(t, KindMxfwd, r1.Kind)
	assert.Equal(t, "set system host-name r1\n", r1.Config)
	assert.Equal(t, "xe-3/1/0", r1.Interfaces[0].Name)
	assert.Equal(t, []int{3}, r1.Slots())
}

func TestParseDefaultsAndKinds(t *testing.T) {
	top, err := Parse([]byte(`
name: d
topology:
  defaults:
    kind: mxfwd
    env: {A: "1"}
  kinds:
    mxfwd:
      fpc-options: [batch=32]
  nodes:
    r1:
      startup-config: |
        set system host-name r1
    r2:
      env: {B: "2"}
      host-interfaces: false
      fpc-driver: xdp
      startup-config: |
        set system host-name r2
  links:
    - endpoints: ["r1:xe-0/0/0", "r2:xe-1-2-3"]
      mtu: 9000
`), t.TempDir())
	require.NoError(t, err)
	r1, r2 := top.Node("r1"), top.Node("r2")
	assert.Equal(t, KindMxfwd, r1.Kind)
	assert.Equal(t, []string{"batch=32"}, r1.FPCOptions)
	assert.Equal(t, "", r1.FPCDriver, "afpacket")
	assert.Equal(t, "xdp", r2.FPCDriver)
	enc, err := top.Encode()
	require.NoError(t, err)
	back, err := Parse(enc, t.TempDir())
	require.NoError(t, err, "%s", enc)
	assert.Equal(t, "xdp", back.Node("r2").FPCDriver, "fpc-driver survives Encode")
	assert.Equal(t, map[string]string{"A": "1"}, r1.Env)
	assert.Equal(t, map[string]string{"A": "1", "B": "2"}, r2.Env)
	assert.Nil(t, r1.HostInterfaces)
	require.NotNil(t, r2.HostInterfaces)
	assert.False(t, *r2.HostInterfaces)
	assert.Equal(t, "set system host-name r1\n", r1.Config)
	assert.Empty(t, r1.ConfigFile)
	assert.Equal(t, []int{1}, r2.Slots())
	assert.Equal(t, "xe-1/2/3", r2.Interfaces[0].Name)
	assert.Equal(t, 9000, top.Links[0].MTU)
}

func TestPortName(t *testing.T) {
	for _, tc := range []struct {
		in, name, linux string
		slot            int
		ok              bool
	}{
		{"xe-3/1/0", "xe-3/1/0", "xe-3-1-0", 3, true},
		{"xe-3-1-0", "xe-3/1/0", "xe-3-1-0", 3, true},
		{"xe-11/3/47", "xe-11/3/47", "xe-11-3-47", 11, true},
		{"xe-0/0/0", "xe-0/0/0", "xe-0-0-0", 0, true},
		{"xe-3/4/0", "", "", 0, false},   // PIC 4
		{"xe-3/1", "", "", 0, false},     // too short
		{"ge-3/1/0", "", "", 0, false},   // only xe ports exist in the configuration
		{"xe-123/1/0", "", "", 0, false}, // FPC > 99
		{"ae0", "", "", 0, false},
	} {
		name, linux, slot, err := PortName(tc.in)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrInvalid, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.name, name)
		assert.Equal(t, tc.linux, linux)
		assert.Equal(t, tc.slot, slot)
		assert.LessOrEqual(t, len(linux), MaxIfNameLen)
	}
}

func TestParseErrors(t *testing.T) {
	node := func(extra string) string {
		return "name: e\ntopology:\n  nodes:\n    h1:\n      kind: linux\n" + extra + "    h2:\n      kind: linux\n  links:\n    - endpoints: [\"h1:eth1\", \"h2:eth1\"]\n"
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"missing name", "topology:\n  nodes:\n    h: {kind: linux}\n", "name: missing"},
		{"bad lab name", "name: Lab_1\ntopology:\n  nodes:\n    h: {kind: linux}\n", "lab name"},
		{"no nodes", "name: e\ntopology: {}\n", "no nodes"},
		{"typo in a node field", node("      exce: [true]\n"), "exce"},
		{"unknown top-level field", "name: e\ntopolgy: {}\n", "topolgy"},
		{"unknown kind", "name: e\ntopology:\n  nodes:\n    h: {kind: nokia_srlinux}\n", "not supported here"},
		{"missing kind", "name: e\ntopology:\n  nodes:\n    h: {}\n", "missing"},
		{"bad node name", "name: e\ntopology:\n  nodes:\n    h.1: {kind: linux}\n", "node name"},
		{"endpoint to unknown node", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:eth1\", \"x:eth1\"]\n", `no node "x"`},
		{"endpoint without interface", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:eth1\", \"h\"]\n", "want node:interface"},
		{"three endpoints", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:a\", \"h:b\", \"h:c\"]\n", "want 2 endpoints"},
		{"interface used twice", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:a\", \"h:b\"]\n    - endpoints: [\"h:a\", \"h:c\"]\n", "already used"},
		{"mxfwd port twice under both names", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd}\n  links:\n    - endpoints: [\"r:xe-3/0/0\", \"r:xe-3-0-0\"]\n", "already used"},
		{"bad mxfwd port", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd}\n    h: {kind: linux}\n  links:\n    - endpoints: [\"r:eth1\", \"h:eth1\"]\n", "want xe-FPC/PIC/PORT"},
		{"linux name too long", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:abcdefghijklmnop\", \"h:b\"]\n", "Linux interface name"},
		{"lo as link end", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:lo\", \"h:b\"]\n", "not lo"},
		{"mtu out of range", "name: e\ntopology:\n  nodes:\n    h: {kind: linux}\n  links:\n    - endpoints: [\"h:a\", \"h:b\"]\n      mtu: 100000\n", "mtu"},
		{"startup-config on a host", node("      startup-config: x.conf\n"), "no startup-config"},
		{"missing config file", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd, startup-config: nope.conf}\n", "nope.conf"},
		{"config and startup-config", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd, startup-config: a, config: b}\n", "not both"},
		{"host-interfaces on a host", node("      host-interfaces: true\n"), "for mxfwd nodes"},
		{"bad fpc option", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd, fpc-options: [batch]}\n", "KEY=VALUE"},
		{"unknown fpc driver", "name: e\ntopology:\n  nodes:\n    r: {kind: mxfwd, fpc-driver: swpfe}\n", "fpc-driver"},
		{"fpc driver on a host", node("      fpc-driver: xdp\n"), "for mxfwd nodes"},
		{"empty exec line", node("      exec: [\"  \"]\n"), "empty command"},
		{"bad sysctl key", node("      sysctls: {\"../x\": \"1\"}\n"), "bad key"},
		{"not yaml", "name: [", "invalid topology"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), t.TempDir())
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid) || errors.Is(err, os.ErrNotExist), "error %v should wrap ErrInvalid", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoadTooBig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("#", maxFileSize+1)), 0o644))
	_, err := Load(p)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestEncodeRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(exampleDir, "*.clab.yml"))
	require.NoError(t, err)
	for _, f := range files {
		t1, err := Load(f)
		require.NoError(t, err)
		enc, err := t1.Encode()
		require.NoError(t, err)
		t2, err := Parse(enc, t.TempDir())
		require.NoError(t, err, "%s", enc)
		enc2, err := t2.Encode()
		require.NoError(t, err)
		assert.Equal(t, string(enc), string(enc2), f)
		assert.Equal(t, len(t1.Links), len(t2.Links))
		for i, n := range t1.Nodes {
			assert.Equal(t, n.Config, t2.Nodes[i].Config, "%s: config inlined verbatim", n.Name)
			assert.Equal(t, n.Interfaces, t2.Nodes[i].Interfaces)
		}
	}
}

// FuzzParse: no input panics Parse; whatever parses is well formed and
// survives Encode -> Parse -> Encode unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(exampleDir, "*.clab.yml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: a\ntopology:\n  nodes:\n    r: {kind: mxfwd, startup-config: \"set x\\n\"}\n    h: {kind: linux}\n  links:\n    - endpoints: [r:xe-1/2/3, h:e0]\n"))
	f.Add([]byte("name: a\ntopology:\n  nodes:\n    r: {kind: mxfwd, fpc-driver: xdp}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		t1, err := Parse(data, dir)
		if err != nil {
			return
		}
		for _, l := range t1.Links {
			for _, e := range []*Interface{l.A, l.B} {
				require.NotNil(t, t1.Node(e.Node))
				require.LessOrEqual(t, len(e.Linux), MaxIfNameLen)
				require.NotEmpty(t, e.Linux)
			}
		}
		enc, err := t1.Encode()
		require.NoError(t, err)
		t2, err := Parse(enc, dir)
		require.NoError(t, err, "%s", enc)
		enc2, err := t2.Encode()
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2))
	})
}
