package nsr

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// mastership is the lock whose holder is the master: an exclusive flock on
// a file next to the mirror socket. The kernel releases it when the holder
// dies, however it dies, so that on one host two routing engines can never
// both be master, and a backup knows for certain when its master is gone.
type mastership struct {
	path string
	f    *os.File
}

var errLockHeld = errors.New("mastership lock held by another routing engine")

// tryLock takes the lock without waiting.
func (m *mastership) tryLock() error {
	if m.f != nil {
		return nil
	}
	f, err := os.OpenFile(m.path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("mastership lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return errLockHeld
		}
		return fmt.Errorf("mastership lock %s: %w", m.path, err)
	}
	// Record the holder, for people and for fencing.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	m.f = f
	return nil
}

// holder returns the pid written by the lock's current holder (0 when
// unknown).
func (m *mastership) holder() int {
	b, err := os.ReadFile(m.path)
	if err != nil {
		return 0
	}
	var pid int
	_, _ = fmt.Sscanf(string(b), "%d", &pid)
	return pid
}

// unlock releases the lock.
func (m *mastership) unlock() {
	if m.f != nil {
		m.f.Close()
		m.f = nil
	}
}

func (m *mastership) held() bool { return m.f != nil }
