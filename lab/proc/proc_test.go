package proc

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestStartIdentifyStop(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sleep.log")
	id, err := Start(Spec{Argv: []string{"sh", "-c", "echo started; exec sleep 30"}, Log: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(id.Pid, syscall.SIGKILL) })
	assert.True(t, id.Alive())
	got, err := Identify(id.Pid)
	require.NoError(t, err)
	assert.Equal(t, id, got)
	sid, err := unix.Getsid(id.Pid)
	require.NoError(t, err)
	assert.Equal(t, id.Pid, sid, "detached: leads its own session")

	// Same pid, other start time: a different process, never signalled.
	other := Ident{Pid: id.Pid, Start: id.Start + 1}
	assert.False(t, other.Alive())
	assert.ErrorIs(t, other.Stop(syscall.SIGKILL, time.Second), ErrNotRunning)
	assert.True(t, id.Alive(), "the real process survived")

	require.Eventually(t, func() bool { b, _ := os.ReadFile(log); return string(b) == "started\n" }, 5*time.Second, 10*time.Millisecond,
		"output goes to the log")
	require.NoError(t, id.Stop(syscall.SIGTERM, 5*time.Second))
	assert.False(t, id.Alive(), "stopped (and reaped or zombie: not alive either way)")
	assert.ErrorIs(t, id.Stop(0, time.Second), ErrNotRunning)
}

func TestStopEscalatesToKill(t *testing.T) {
	id, err := Start(Spec{Argv: []string{"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, Log: filepath.Join(t.TempDir(), "l")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(id.Pid, syscall.SIGKILL) })
	time.Sleep(100 * time.Millisecond) // let the trap be set
	require.NoError(t, id.Stop(syscall.SIGTERM, 200*time.Millisecond))
	assert.False(t, id.Alive())
}

func TestStartFailure(t *testing.T) {
	_, err := Start(Spec{Argv: []string{"/nonexistent/binary"}, Log: filepath.Join(t.TempDir(), "l")})
	assert.Error(t, err)
	_, err = Start(Spec{Log: filepath.Join(t.TempDir(), "l")})
	assert.Error(t, err)
}

func TestStartTimeParsesOddNames(t *testing.T) {
	// The command name may hold spaces and parentheses.
	dir := t.TempDir()
	exe := filepath.Join(dir, "a) b (c")
	require.NoError(t, os.Symlink("/bin/sleep", exe))
	id, err := Start(Spec{Argv: []string{exe, "30"}, Log: filepath.Join(dir, "l")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(id.Pid, syscall.SIGKILL) })
	st, zombie, err := StartTime(id.Pid)
	require.NoError(t, err)
	assert.False(t, zombie)
	assert.Equal(t, id.Start, st)
	assert.NotZero(t, st)
}
