package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
}

func TestAddIdentifyDelete(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("mxl-nt%d-a", os.Getpid())
	id, err := Add(name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	assert.True(t, Exists(name))
	got, err := Identify(Path(name))
	require.NoError(t, err)
	assert.Equal(t, id, got)
	_, err = Add(name)
	assert.ErrorIs(t, err, os.ErrExist)

	// lo is up inside, and Do runs there.
	var flags net.Flags
	require.NoError(t, Do(Path(name), func() error {
		lo, err := net.InterfaceByName("lo")
		if err == nil {
			flags = lo.Flags
		}
		return err
	}))
	assert.NotZero(t, flags&net.FlagUp)

	// A process in it is found.
	cmd := exec.Command("ip", "netns", "exec", name, "sleep", "30")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		for _, p := range Pids(id) {
			if p == cmd.Process.Pid {
				return true
			}
		}
		return false
	}, 5e9, 1e7)
	assert.True(t, InUse(id))
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	require.NoError(t, Delete(name, id))
	assert.False(t, Exists(name))
	assert.False(t, InUse(id))
	assert.NoError(t, Delete(name, id), "a missing namespace is not an error")
}

// A namespace of the same name that is not the recorded one is left alone.
func TestDeleteRefusesAnotherNamespace(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("mxl-nt%d-b", os.Getpid())
	old, err := Add(name)
	require.NoError(t, err)
	require.NoError(t, Delete(name, old))
	now, err := Add(name) // someone else's, with the same name
	require.NoError(t, err)
	t.Cleanup(func() { _ = Delete(name, now) })
	require.NotEqual(t, old, now)
	assert.ErrorIs(t, Delete(name, old), ErrNotOurs)
	assert.True(t, Exists(name))
}

func TestDoFreshLeavesNothing(t *testing.T) {
	needRoot(t)
	var inside ID
	require.NoError(t, DoFresh(func() error {
		var err error
		inside, err = Identify("/proc/thread-self/ns/net")
		return err
	}))
	own, err := Identify("/proc/self/ns/net")
	require.NoError(t, err)
	assert.NotEqual(t, own, inside, "fn ran in another namespace")
	// The thread that was moved into it exits after fn; then no thread of
	// this process is in it (its inode number may be reused by another
	// namespace at once, so other processes are not looked at).
	assert.Eventually(t, func() bool {
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			if id, err := Identify(p); err == nil && id == inside {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "a thread of this process is still in the scratch namespace")
}
