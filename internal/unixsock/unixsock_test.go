package unixsock

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A socket appears with the mode asked for, never with the umask's, and
// no temporary name is left behind; a directory others may write is
// refused.
func TestListenModeAndDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	path := filepath.Join(dir, "mirror.sock")
	ln, err := Listen(path, 0o600, -1)
	require.NoError(t, err)
	defer ln.Close()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NotZero(t, fi.Mode()&os.ModeSocket)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "only the socket")

	// A second Listen replaces the path (callers check liveness first).
	ln2, err := Listen(path, 0o660, -1)
	require.NoError(t, err)
	ln2.Close()

	open := filepath.Join(t.TempDir(), "open")
	require.NoError(t, os.Mkdir(open, 0o777))
	require.NoError(t, os.Chmod(open, 0o777))
	_, err = Listen(filepath.Join(open, "x.sock"), 0o600, -1)
	require.ErrorContains(t, err, "has mode 0777: refusing")

	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	require.ErrorContains(t, CheckDir(link), "is a symbolic link")
	require.NoError(t, CheckDir(filepath.Join(t.TempDir(), "new", "dir")), "a missing directory is made")
}

// SamePeer accepts a peer of this user and refuses one of another user,
// naming its pid and uid.
func TestSamePeer(t *testing.T) {
	dir := t.TempDir()
	// The other user must reach the socket: t.TempDir's parent is 0700.
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	path := filepath.Join(dir, "s.sock")
	ln, err := Listen(path, 0o666, -1)
	require.NoError(t, err)
	defer ln.Close()

	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	s, err := ln.AcceptUnix()
	require.NoError(t, err)
	require.NoError(t, SamePeer(s), "this process")
	require.NoError(t, SamePeer(c.(*net.UnixConn)), "both ends")
	s.Close()

	if os.Geteuid() != 0 {
		t.Skip("skipped the foreign peer: needs root to run a process as another user")
	}
	// perl-base is Essential on Debian: /usr/bin/perl is always there,
	// and nobody can run it (unlike a toolchain under /root).
	perl, err := exec.LookPath("/usr/bin/perl")
	if err != nil {
		t.Skipf("skipped the foreign peer: needs /usr/bin/perl to connect as another user: %v", err)
	}
	cmd := exec.Command(perl, "-e", `use Socket; socket(S, PF_UNIX, SOCK_STREAM, 0) or die; connect(S, pack_sockaddr_un($ARGV[0])) or die "connect: $!"; sleep 5`, path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	_ = ln.SetDeadline(time.Now().Add(10 * time.Second))
	f, err := ln.AcceptUnix()
	require.NoError(t, err)
	defer f.Close()
	err = SamePeer(f)
	require.True(t, errors.Is(err, ErrForeignPeer), "%v", err)
	require.ErrorContains(t, err, "uid 65534")
}
