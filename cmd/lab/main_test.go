package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot(&app{})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHelpListsCommands(t *testing.T) {
	out, err := run(t, "--help")
	require.NoError(t, err)
	for _, c := range []string{"up", "down", "status", "exec", "cli", "vty", "capture", "traffic"} {
		assert.Contains(t, out, "\n  "+c+" ")
	}
	out, err = run(t, "traffic", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "send")
	assert.Contains(t, out, "recv")
}

func TestNoLab(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "--run-dir", dir, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "no lab is up")
	assert.Contains(t, out, "IP_MROUTE")
	_, err = run(t, "--run-dir", dir, "down")
	assert.ErrorContains(t, err, "no lab is up")
	_, err = run(t, "--run-dir", dir, "cli", "r1", "show version")
	assert.ErrorContains(t, err, "no lab is up")
	_, err = run(t, "--run-dir", dir, "down", "nosuchlab")
	assert.ErrorContains(t, err, "no such lab")
}

func TestSeveralLabsNeedAName(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, n), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n, "state.json"), []byte("{}"), 0o644))
	}
	_, err := run(t, "--run-dir", dir, "exec", "r1", "--", "true")
	assert.ErrorContains(t, err, "several labs are up ([a b])")
}

func TestUpRejectsBadTopology(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yml")
	require.NoError(t, os.WriteFile(p, []byte("name: x\ntopology:\n  nodes:\n    r: {kind: junos}\n"), 0o644))
	_, err := run(t, "--run-dir", t.TempDir(), "up", p)
	assert.ErrorContains(t, err, `"junos" is not supported here`)
}
