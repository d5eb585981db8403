package perfcli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/perf/perfcli"
)

// TestPerfRunTiny is CI's check that `perf run` works: the real command on
// a tiny in-memory workload plus two control benchmarks, then `perf report`
// on what it wrote.
func TestPerfRunTiny(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := perfcli.New()
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"run", "--profile", "tiny", "--drivers", "swpfe,trio", "--fanout", "1,16", "--flows", "1",
		"--duration", "10ms", "--reps", "1", "--control", "ipc,tree", "--out", out})
	require.NoError(t, cmd.ExecuteContext(t.Context()), stderr.String())
	assert.Contains(t, stdout.String(), "| swpfe | 16 | 1 | none | 64 |")
	assert.Contains(t, stderr.String(), "mem/trio/fanout=16/flows=1/lag=none/size=64")
	_, err := os.Stat(filepath.Join(out, "results.json"))
	require.NoError(t, err)

	stdout.Reset()
	cmd = perfcli.New()
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"report", out})
	require.NoError(t, cmd.ExecuteContext(t.Context()))
	assert.Contains(t, stdout.String(), "| trio | 16 | 1 | none | 64 |")
}

func TestPerfRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--profile", "nosuch"},
		{"run", "--fanout", "x"},
		{"run", "--tiers", "mem,disk"},
		{"run", "--opt", "trio-mcast-lists"},
	} {
		cmd := perfcli.New()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append(args, "--out", t.TempDir()))
		assert.Error(t, cmd.ExecuteContext(t.Context()), "%v", args)
	}
}
