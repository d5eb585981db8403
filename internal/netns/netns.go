// Package netns runs code inside another Linux network namespace: for the
// drivers whose ports live in one (option "netns"), MSDP's sockets in a
// lab node's namespace, and their tests.
//
// Concurrency: Run may be called from any goroutine; fn runs on a fresh
// goroutine whose OS thread is locked and switched into the namespace, so
// the caller's thread never changes namespace.
package netns

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Path turns a namespace option into a path: a bare name is looked up under
// /run/netns (where `ip netns add` puts it), anything with a slash is used
// as is (e.g. /proc/1234/ns/net). Empty means the caller's namespace.
func Path(name string) string {
	if name == "" || strings.ContainsRune(name, '/') {
		return name
	}
	return filepath.Join("/run/netns", name)
}

// Run runs fn on a goroutine-locked OS thread switched into the network
// namespace at path (see Path), then switches back. Sockets created by fn
// stay in that namespace for their whole life and may be used from any
// thread afterwards. An empty path runs fn in place.
//
// If switching back fails the thread stays locked, so the runtime throws it
// away when the goroutine exits instead of reusing it in the wrong
// namespace; that is why fn runs on a fresh goroutine.
func Run(path string, fn func() error) error {
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
			errc <- fmt.Errorf("leave netns %s: %w (after: %v)", path, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
