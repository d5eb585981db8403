package xdp

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestObjectMatchesSources fails when bpf/fwd.c or bpf/fwd.h changed
// without `make bpf` regenerating the committed object (which records the
// hashes of what it was built from).
func TestObjectMatchesSources(t *testing.T) {
	f, err := os.Open("bpf/fwd.sources.sha256")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		require.True(t, ok, "line %q", line)
		b, err := os.ReadFile(filepath.Join("bpf", name))
		require.NoError(t, err)
		h := sha256.Sum256(b)
		assert.Equal(t, sum, hex.EncodeToString(h[:]), "bpf/%s changed since fwd_bpfel.o was built: run make bpf", name)
		seen++
	}
	assert.Equal(t, 2, seen, "hashes of fwd.c and fwd.h")
}

// TestLayouts checks the Go mirrors against the object's map definitions.
func TestLayouts(t *testing.T) {
	spec, err := loadSpec()
	require.NoError(t, err)
	cases := []struct {
		m          string
		key, value any
	}{
		{"ports", uint32(0), portVal{}},
		{"egress", uint32(0), egressVal{}},
		{"sg_routes", sgKey{}, routeVal{}},
		{"prefix_routes", lpmKey{}, routeVal{}},
		{"nhs", uint32(0), nhVal{}},
		{"oils", uint32(0), oilVal{}},
		{"ifl_stats", uint32(0), iflStatsVal{}},
		{"route_stats", uint32(0), routeStatsVal{}},
		{"pending", pendingKey{}, uint64(0)},
		{"trap_sel", uint32(0), uint32(0)},
		{"trap_cfgs", uint32(0), trapCfg{}},
		{"trap_addrs", trapAddrKey{}, uint32(0)},
	}
	for _, c := range cases {
		ms := spec.Maps[c.m]
		require.NotNil(t, ms, c.m)
		assert.Equal(t, int(ms.KeySize), binary.Size(c.key), "%s key", c.m)
		assert.Equal(t, int(ms.ValueSize), binary.Size(c.value), "%s value", c.m)
	}
	inner := spec.Maps["oil_devs"].InnerMap
	require.NotNil(t, inner)
	assert.Equal(t, int(inner.ValueSize), binary.Size(devmapVal{}))
	assert.Equal(t, uint32(maxLegs), inner.MaxEntries)
}
