// Package netns creates, identifies and deletes the named network
// namespaces of a lab, runs code inside one, and finds the processes that
// live in one.
//
// Namespaces are created with iproute2 (`ip netns add`, which bind-mounts
// them under /run/netns) so that every other tool (ip -n, ip netns exec,
// tcpdump in `ip netns exec`) sees them. A namespace is identified by the
// device and inode of its bind mount: the lab records them when it creates
// one and deletes only a namespace whose identity still matches, so that a
// namespace of the same name created by someone else is never touched.
//
// Do runs a function on an OS thread switched into a namespace; sockets it
// creates stay in that namespace and may be used from any goroutine after
// it returns. Functions here are safe for concurrent use.
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// ErrNotOurs is returned when a namespace exists but is not the one that
// was recorded.
var ErrNotOurs = errors.New("namespace is not the one the lab created")

// ID identifies a namespace: the device and inode of its nsfs file.
type ID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id.Ino == 0 }

// Path returns the bind-mount path of a named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// Exists reports whether a named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// Identify returns the identity of the namespace at path (a /run/netns
// entry or a /proc/PID/ns/net link).
func Identify(path string) (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ID{}, fmt.Errorf("netns: stat %s: %w", path, err)
	}
	return ID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// Add creates a named namespace with lo up and returns its identity. It
// fails if the name exists.
func Add(name string) (ID, error) {
	if Exists(name) {
		return ID{}, fmt.Errorf("netns %s: already exists: %w", name, os.ErrExist)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return ID{}, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	id, err := Identify(Path(name))
	if err != nil {
		return ID{}, err
	}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return id, fmt.Errorf("ip -n %s link set lo up: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return id, nil
}

// Delete removes a named namespace if its identity is id. A missing
// namespace is not an error. With a zero id (the lab crashed between
// creating it and recording it) the namespace is deleted by name.
func Delete(name string, id ID) error {
	cur, err := Identify(Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !id.IsZero() && cur != id {
		return fmt.Errorf("netns %s (dev %d ino %d, recorded %d/%d): %w", name, cur.Dev, cur.Ino, id.Dev, id.Ino, ErrNotOurs)
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Pids returns the processes whose network namespace is id (what `ip
// netns pids` prints), found through /proc/PID/ns/net.
func Pids(id ID) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		got, err := Identify(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && got == id {
			pids = append(pids, pid)
		}
	}
	return pids
}

// InUse reports whether any process still holds namespace id (so that it,
// and its interfaces, outlive the bind mount's removal).
func InUse(id ID) bool { return len(Pids(id)) > 0 }

// Do runs fn on a locked OS thread switched into the namespace at path
// (empty: the caller's namespace, fn runs in place). If switching back
// fails the thread stays locked and the runtime discards it when the
// goroutine ends, which is why fn runs on a fresh goroutine.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if onMainThread() {
			errc <- awayFromMain(func() error { return Do(path, fn) })
			return
		}
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open %s: %w", path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: leave %s: %w (after: %v)", path, err, ferr)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DoFresh runs fn on an OS thread moved into a new, empty network
// namespace that exists only as long as fn runs: nothing is mounted,
// nothing is left behind. The thread is discarded afterwards.
func DoFresh(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if onMainThread() {
			errc <- awayFromMain(func() error { return DoFresh(fn) })
			return
		}
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: unshare: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// onMainThread reports whether the calling (locked) goroutine runs on the
// process's main thread. That thread never exits, even when a goroutine
// locked to it ends (the runtime parks it for good), and /proc/PID/ns/net
// shows its namespace as the whole process's: it must never be left in
// another namespace.
func onMainThread() bool { return unix.Gettid() == unix.Getpid() }

// awayFromMain runs work while the caller keeps the main thread locked, so
// that the goroutines work starts cannot be scheduled on it; then unlocks.
func awayFromMain(work func() error) error {
	err := work()
	runtime.UnlockOSThread()
	return err
}
