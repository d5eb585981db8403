package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPath(t *testing.T) {
	assert.Equal(t, "", Path(""))
	assert.Equal(t, "/run/netns/r1", Path("r1"))
	assert.Equal(t, "/proc/1234/ns/net", Path("/proc/1234/ns/net"))
	assert.Equal(t, "./x", Path("./x"))
}

// nsIno is the inode of the calling thread's network namespace.
func nsIno(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/proc/thread-self/ns/net", &st))
	return st.Ino
}

// TestRun enters a namespace made for the test (prefix xt): fn sees the
// namespace's own interfaces and inode, a socket made in fn stays there,
// fn's error comes back, and the caller's thread never moves.
func TestRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (creates a network namespace, setns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip) to create a namespace")
	}
	name := fmt.Sprintf("xt%d-netns", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "add", "xt0", "type", "veth", "peer", "name", "xt1").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	var want unix.Stat_t
	require.NoError(t, unix.Stat(Path(name), &want))

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := nsIno(t)
	require.NotEqual(t, want.Ino, before)

	var inside uint64
	var fd int
	err := Run(Path(name), func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		inside = st.Ino
		if _, err := net.InterfaceByName("xt0"); err != nil {
			return fmt.Errorf("the namespace's veth: %w", err)
		}
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	require.NoError(t, err)
	defer unix.Close(fd)
	assert.Equal(t, want.Ino, inside, "fn ran in the namespace")
	assert.Equal(t, before, nsIno(t), "the caller's thread did not move")
	_, err = net.InterfaceByName("xt0")
	assert.Error(t, err, "the veth is not in the caller's namespace")
	// The socket stays in the namespace: binding to its veth's address
	// works only there.
	out, err := exec.Command("ip", "-n", name, "addr", "add", "10.77.0.1/24", "dev", "xt0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("ip", "-n", name, "link", "set", "xt0", "up").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{10, 77, 0, 1}}))

	errFn := errors.New("from fn")
	assert.ErrorIs(t, Run(Path(name), func() error { return errFn }), errFn)
	assert.Equal(t, before, nsIno(t))
}

func TestRunErrors(t *testing.T) {
	ran := false
	require.NoError(t, Run("", func() error { ran = true; return nil }), "empty path: in place")
	assert.True(t, ran)
	err := Run("/run/netns/xt-does-not-exist", func() error {
		t.Error("fn ran without a namespace")
		return nil
	})
	assert.ErrorIs(t, err, unix.ENOENT)
	assert.ErrorContains(t, err, "xt-does-not-exist")
}
