package trio

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/hal/haltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

// seedLines normalises a vty capture the way the blog rendered it: NBSPs
// become spaces, the prompt, blank lines and the author's elisions ([…],
// [..], [...]) go, trailing spaces are trimmed ("15, " in the seed).
func seedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\u00a0", " "), "\n") {
		l = strings.TrimRight(l, " \t\r")
		switch {
		case l == "", strings.Contains(l, "vty)#"), l == "[…]", l == "[..]", l == "[...]":
			continue
		}
		out = append(out, l)
	}
	return out
}

func readSeed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestShowNHDBIDSeedComposite(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	mustApply(t, d, seedOps()...)

	var b bytes.Buffer
	require.NoError(t, d.NHDetail(seedComposite, &b))
	// Every line of the seed's capture, in order, and nothing else.
	assert.Equal(t, seedLines(readSeed(t, "seed003_show_nhdb_id_1173.txt")), seedLines(b.String()))
	// The exact layout, blank lines included.
	golden(t, "show_nhdb_id_1173.golden", b.String())

	// The vty command gives the same text.
	var v bytes.Buffer
	handled, err := d.HandleVty([]string{"show", "nhdb", "id", "1173"}, &v)
	require.NoError(t, err)
	assert.True(t, handled)
	assert.Equal(t, b.String(), v.String())
}

func TestShowNHDBIDOtherTypes(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	mustApply(t, d, seedOps()...)
	var b bytes.Buffer
	for _, id := range []hal.NHID{seedNHM1, seedNHAE, seedIndirect, hal.NHResolveID, hal.NHMDiscardID} {
		require.NoError(t, d.NHDetail(id, &b))
	}
	golden(t, "show_nhdb_id_others.golden", b.String())
	// The confirmed header (reference-junos.md 2.9) and its column layout.
	lines := strings.Split(b.String(), "\n")
	assert.Equal(t, "   ID      Type      Interface    Next Hop Addr    Protocol       Encap     MTU               Flags  PFE internal Flags", lines[0])
	assert.Equal(t, " 1378   Unicast  xe-3/1/0.0     -                      IPv4      Ethernet  1500  0x0000000000000000  0x0000000000000000", lines[2])

	err := d.NHDetail(4242, &b)
	assert.ErrorIs(t, err, hal.ErrNotFound)
}

func TestShowNHDBIDDeepTrees(t *testing.T) {
	// Six PFEs, binary: the drawing indents by depth.
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	var ops []hal.Op
	var members []hal.NHID
	for i, p := range []hal.PFEID{1, 4, 6, 9, 13, 15} {
		idx := hal.IFLIndex(500 + i)
		ops = append(ops, setIFL(phys(idx, "xe-port", p)), setNH(hal.NextHop{ID: hal.NHID(600 + i), Type: hal.NHUnicast, IFL: idx}))
		members = append(members, hal.NHID(600+i))
	}
	ops = append(ops, setNH(hal.NextHop{ID: 1174, Type: hal.NHComposite, Members: members}))
	mustApply(t, d, ops...)
	var b bytes.Buffer
	require.NoError(t, d.NHDetail(1174, &b))
	golden(t, "show_nhdb_id_binary6.golden", b.String())
	// 1174 mod 6 = 4: the list starts at its fifth PFE.
	assert.Contains(t, b.String(), "mcast-tree:\nnfes:6, hash:4\n13,15,1,4,6,9,\n        Root\n    13\n        1\n        4\n    15\n        6\n        9\n")
	assert.Contains(t, b.String(), "reverse-mcast-tree:\nnfes:6, hash:4\n9,6,4,1,15,13,\n        Root\n    9\n        4\n        1\n    6\n        15\n        13\n")

	require.NoError(t, d.SetOption(OptNetworkServices, "enhanced-ip"))
	b.Reset()
	require.NoError(t, d.NHDetail(1174, &b))
	golden(t, "show_nhdb_id_unary6.golden", b.String())
	assert.Contains(t, b.String(), "13,15,1,4,6,9,\n        Root\n    13\n        15\n            1\n                4\n                    6\n                        9\n")
}

func TestShowNHDBMcastResolve(t *testing.T) {
	d := newTestDriver(t, haltest.NewRecorder(), nil)
	mustApply(t, d, seedOps()...)
	var b bytes.Buffer
	handled, err := d.HandleVty([]string{"show nhdb mcast resolve"}, &b)
	require.NoError(t, err)
	require.True(t, handled)
	assert.Equal(t, seedLines(readSeed(t, "seed003_show_nhdb_mcast_resolve.txt")), seedLines(b.String()))
	assert.Equal(t, "Nexthop Info:\n   ID      Type    Protocol    Resolve-Rate\n-----  --------  ----------  ---------------\n  983   Resolve        IPv4               66\n", b.String())

	require.NoError(t, d.SetOption(OptResolveRate, "500"))
	b.Reset()
	_, err = d.HandleVty([]string{"show", "nhdb", "mcast", "resolve"}, &b)
	require.NoError(t, err)
	assert.Contains(t, b.String(), "  983   Resolve        IPv4              500\n")
	assert.ErrorIs(t, d.SetOption(OptResolveRate, "5000"), hal.ErrInvalid)
	assert.ErrorIs(t, d.SetOption(OptResolveRate, "fast"), hal.ErrInvalid)
}

func TestShowReplicationStats(t *testing.T) {
	rec := haltest.NewRecorder()
	d := newTestDriver(t, rec, nil)
	mustApply(t, d, seedOps()...)
	// Four flows into ae90.0 (PFE 12): each reaches PFE 13 or 15.
	for i := range 4 {
		s := netip.AddrFrom4([4]byte{10, 128, 1, byte(10 + i)})
		mustApply(t, d, setRoute(hal.Route{Key: hal.SG(s, seedGroup), NH: seedIndirect, RPF: seedUpstream}))
		require.NoError(t, d.Input(seedUpstream, [][]byte{haltest.Frame(s, seedGroup, 64, 50, nil)}))
	}
	require.NoError(t, d.Input(seedUpstream, [][]byte{haltest.Frame(seedSource, seedGroup, 1, 50, nil)}))
	var b bytes.Buffer
	handled, err := d.HandleVty([]string{"show", "mcast", "replication", "stats"}, &b)
	require.NoError(t, err)
	require.True(t, handled)
	out := b.String()
	t.Log("\n" + out)
	assert.Contains(t, out, "Replication mode: binary (fpc 3, card -)")
	assert.Contains(t, out, "Resolve-Rate: 66")
	assert.Contains(t, out, "Fabric load: 4 copies")
	st, err := d.PFEStats(12)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.Ingress)
	assert.Equal(t, uint64(4), st.FabricTx)
	assert.Equal(t, uint64(1), st.Drops[DropTTL])
	s13, _ := d.PFEStats(13)
	s15, _ := d.PFEStats(15)
	assert.Equal(t, uint64(4), s13.FabricRx+s15.FabricRx)
	assert.Equal(t, uint64(4), s13.LocalCopies+s15.LocalCopies)

	_, err = d.HandleVty([]string{"clear", "mcast", "replication", "stats"}, &b)
	require.NoError(t, err)
	st, _ = d.PFEStats(12)
	assert.Zero(t, st.FabricTx)

	handled, err = d.HandleVty([]string{"show", "version"}, &b)
	assert.NoError(t, err)
	assert.False(t, handled)
	_, err = d.HandleVty([]string{"show", "nhdb", "id", "x"}, &b)
	assert.ErrorIs(t, err, hal.ErrInvalid)
	assert.NotEmpty(t, d.VtyCommands())
}
