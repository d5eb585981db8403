// Package proc starts the long-lived processes of a lab detached from the
// caller (own session, output to a log file), identifies them by pid and
// kernel start time, and stops them.
//
// A pid alone is not an identity: after a crash and a reboot of the lab
// runner the pid may belong to another process. Every record carries the
// process's start time (field 22 of /proc/PID/stat, in clock ticks since
// boot), and Stop signals a pid only while its start time still matches,
// the rule of the FRR harness in ../shared/interop. A zombie counts as
// exited.
//
// Start reaps its child on a goroutine that ends when the child exits, so
// that a long-running caller (a test) accumulates no zombies; a caller that
// exits earlier hands its children to init. Functions are safe for
// concurrent use.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Stop when the recorded process is gone or
// its pid now belongs to another process.
var ErrNotRunning = errors.New("process not running")

// Ident is a process identity: pid and kernel start time.
type Ident struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// StartTime returns the start time of pid (clock ticks after boot) and
// whether it is a zombie.
func StartTime(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses: fields are counted after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("proc: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 {
		return 0, false, fmt.Errorf("proc: /proc/%d/stat: %d fields after the name", pid, len(f))
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("proc: /proc/%d/stat: starttime %q: %w", pid, f[19], err)
	}
	return st, f[0] == "Z" || f[0] == "X", nil
}

// Identify returns the identity of a running pid.
func Identify(pid int) (Ident, error) {
	st, zombie, err := StartTime(pid)
	if err != nil {
		return Ident{}, fmt.Errorf("proc: pid %d: %w", pid, ErrNotRunning)
	}
	if zombie {
		return Ident{}, fmt.Errorf("proc: pid %d exited: %w", pid, ErrNotRunning)
	}
	return Ident{Pid: pid, Start: st}, nil
}

// Alive reports whether the process is still the one recorded and has not
// exited.
func (id Ident) Alive() bool {
	if id.Pid <= 0 {
		return false
	}
	st, zombie, err := StartTime(id.Pid)
	return err == nil && !zombie && st == id.Start
}

// Spec describes a process to start.
type Spec struct {
	Argv []string
	Env  []string // full environment; nil: the caller's
	Dir  string
	Log  string // file that receives stdout and stderr (appended)
}

// Start starts a detached process (new session, stdin /dev/null) and
// returns its identity.
func Start(s Spec) (Ident, error) {
	if len(s.Argv) == 0 {
		return Ident{}, errors.New("proc: empty command")
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Ident{}, fmt.Errorf("proc: log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env, cmd.Dir = s.Env, s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Ident{}, fmt.Errorf("proc: start %s: %w", s.Argv[0], err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reaper: ends when the child exits
	st, _, err := StartTime(pid)
	if err != nil {
		// It exited already (and may be reaped): report it as such.
		return Ident{Pid: pid}, fmt.Errorf("proc: %s exited at once: %w", s.Argv[0], ErrNotRunning)
	}
	return Ident{Pid: pid, Start: st}, nil
}

// Signal sends sig to the process if it is still the recorded one.
func (id Ident) Signal(sig syscall.Signal) error {
	if !id.Alive() {
		return fmt.Errorf("proc: pid %d: %w", id.Pid, ErrNotRunning)
	}
	return syscall.Kill(id.Pid, sig)
}

// Wait waits up to d for the process to exit, and all its threads with
// it, and reports whether it did. A multi-threaded process killed by a
// signal shows its main thread as a zombie while the other threads are
// still exiting and hold its files (sockets, TAP devices): a process
// started in its place at once would find them busy.
func (id Ident) Wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for id.Alive() || !id.threadsGone() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// threadsGone reports whether no thread of the process is left but a
// zombie main thread (or the pid is gone or someone else's).
func (id Ident) threadsGone() bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", id.Pid))
	if err != nil {
		return true
	}
	if st, _, err := StartTime(id.Pid); err != nil || st != id.Start {
		return true
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil || tid == id.Pid {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", id.Pid, tid)); err == nil {
			return false
		}
	}
	return true
}

// Stop sends sig (SIGTERM if 0), waits up to grace for the process to
// exit, then kills it. It returns ErrNotRunning if the process was already
// gone (which callers usually ignore).
func (id Ident) Stop(sig syscall.Signal, grace time.Duration) error {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if err := id.Signal(sig); err != nil {
		return err
	}
	if id.Wait(grace) {
		return nil
	}
	if err := id.Signal(syscall.SIGKILL); err != nil {
		return nil // exited between the two checks
	}
	if !id.Wait(2 * time.Second) {
		return fmt.Errorf("proc: pid %d survived SIGKILL", id.Pid)
	}
	return nil
}
