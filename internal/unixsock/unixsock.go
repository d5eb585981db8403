// Package unixsock makes the Unix sockets through which the daemons are
// driven (the CLI and vty sockets, the non-stop routing mirror channel)
// safe from other local users: the directory holding a socket must be the
// process's own and writable by nobody else (whoever can write it could
// replace the socket and receive the commands or the replicated state), a
// socket is never reachable with the umask's mode (it is bound under a
// temporary name, given its mode and group, then moved into place), and
// the peer's credentials can be read (SO_PEERCRED).
//
// Functions are safe for concurrent use; nothing is global.
package unixsock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// CheckDir makes dir (0755) if it is missing, and refuses one that is a
// symbolic link, that another user owns, or that group or others may
// write.
func CheckDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("socket directory %s is a symbolic link: refusing (give the real directory)", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); int(st.Uid) != uid {
			return fmt.Errorf("socket directory %s belongs to uid %d, not to this process (uid %d): refusing, another user could replace the socket; use a directory of your own", dir, st.Uid, uid)
		}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("socket directory %s has mode %04o: refusing, group or others may write it and replace the socket; chmod go-w %s or use another directory", dir, perm, dir)
	}
	return nil
}

// Listen binds a Unix stream socket at path with mode and, when gid >= 0,
// that group, after checking its directory (CheckDir). An existing file
// at path is replaced: callers that must not steal a live socket check
// first. The listener does not unlink path when closed.
func Listen(path string, mode os.FileMode, gid int) (*net.UnixListener, error) {
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(fmt.Errorf("socket %s mode: %w", path, err))
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("socket %s group %d: %w", path, gid, err))
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("socket %s: %w", path, err))
	}
	return ln, nil
}

// ErrForeignPeer is wrapped by SamePeer for a peer of another user.
var ErrForeignPeer = errors.New("peer runs as another user")

// SamePeer checks with SO_PEERCRED that the process at the other end of c
// runs as this process's effective user.
func SamePeer(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("peer credentials: %w", cerr)
	}
	if uid := os.Geteuid(); int(cred.Uid) != uid {
		return fmt.Errorf("%w: pid %d uid %d (this process: uid %d)", ErrForeignPeer, cred.Pid, cred.Uid, uid)
	}
	return nil
}
