package afpacket

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsPath turns the "netns" option into a path: a bare name is looked up
// under /run/netns (where `ip netns add` puts it), anything with a slash is
// used as is (e.g. /proc/1234/ns/net). Empty means the caller's namespace.
func netnsPath(name string) string {
	if name == "" || strings.ContainsRune(name, '/') {
		return name
	}
	return filepath.Join("/run/netns", name)
}

// inNetns runs fn on a goroutine-locked OS thread switched into the network
// namespace at path, then switches back. Sockets created by fn stay in that
// namespace for their whole life and may be used from any thread afterwards,
// which is how the driver serves ports that live in another namespace than
// the process. An empty path runs fn in place.
//
// If switching back fails the thread is left locked, so the runtime throws it
// away when the goroutine exits instead of reusing it in the wrong namespace;
// that is why fn runs on a fresh goroutine.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- fmt.Errorf("leave netns %s: %w (after: %v)", path, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
