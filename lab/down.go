package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/proc"
	"github.com/mxfwd/mxfwd/lab/topo"
)

// lockWait is how long Down waits for another lab command (e.g. an `up`
// still running) to release the lab.
const lockWait = 30 * time.Second

// Down tears the lab down (see Destroy).
func (l *Lab) Down() error {
	unlock, err := lockDir(l.st.Dir, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	l.reload()
	return l.teardown()
}

// Destroy tears down the lab called name from its state file alone: what
// `lab down` does, also after the runner crashed half-way through `up`.
// A run directory without a state file (a crash before anything was
// created) is removed.
func Destroy(o Options, name string) error {
	o.fill()
	if err := topo.CheckLabName(name); err != nil {
		return err
	}
	dir := filepath.Join(o.RunRoot, name)
	if _, err := os.Stat(dir); err != nil {
		hint := ""
		if ents, err := os.ReadDir(netns.Dir); err == nil {
			var left []string
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), NetnsName(name, "")) {
					left = append(left, e.Name())
				}
			}
			if len(left) > 0 {
				hint = fmt.Sprintf(" (namespaces %s exist, but without the lab's state nothing proves they are its: check and remove them with `ip netns del`)", strings.Join(left, ", "))
			}
		}
		return fmt.Errorf("lab %s: %s: %w%s", name, dir, ErrNoLab, hint)
	}
	unlock, err := lockDir(dir, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(dir)
	if errors.Is(err, ErrNoLab) {
		return os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	l := &Lab{log: o.Logger.With("lab", name), st: st}
	return l.teardown()
}

// teardown undoes everything in the state, in reverse order; the caller
// holds the directory lock. It goes on after errors and reports them all;
// the run directory is kept if a namespace could not be removed, so that
// Destroy can be run again.
func (l *Lab) teardown() error {
	_ = l.update(func(s *State) { s.Phase = PhaseStopping })
	l.mu.Lock()
	st := *l.st
	procs := append([]ProcRecord(nil), st.Procs...)
	nss := append([]NSRecord(nil), st.Namespaces...)
	l.mu.Unlock()
	var errs []error

	// Captures first: SIGINT so that tcpdump flushes its file.
	for _, p := range procs {
		if p.Role == roleCapture {
			_ = p.Stop(syscall.SIGINT, 3*time.Second)
		}
	}
	// Daemons in reverse start order (FPCs before their RE, pimd before
	// zebra).
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Role == roleCapture {
			continue
		}
		if err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil && !errors.Is(err, proc.ErrNotRunning) {
			errs = append(errs, fmt.Errorf("stop %s/%s (pid %d): %w", p.Node, p.Role, p.Pid, err))
		}
	}
	// Anything still running inside the lab's own namespaces was started
	// in them (exec lines, `lab exec` shells, a process whose record was
	// lost in a crash): the namespaces are the lab's, so are they.
	for _, ns := range nss {
		id := ns.ID
		if id.IsZero() {
			// Created, then the runner crashed before recording it.
			cur, err := netns.Identify(netns.Path(ns.Name))
			if err != nil {
				continue
			}
			id = cur
		}
		if err := killAll(id, l.log.With("netns", ns.Name)); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: %w", ns.Name, err))
		}
	}
	// FRR daemons keep a crash-log directory per pid that only a clean
	// exit removes.
	for _, p := range procs {
		if isFRRDaemon(p.Role) {
			_ = os.RemoveAll(filepath.Join("/var/tmp/frr", p.Role+"."+strconv.Itoa(p.Pid)))
		}
	}
	keep := false
	for i := len(nss) - 1; i >= 0; i-- {
		ns := nss[i]
		if err := netns.Delete(ns.Name, ns.ID); err != nil {
			errs = append(errs, err)
			if !errors.Is(err, netns.ErrNotOurs) {
				keep = true
			}
			continue
		}
		if !ns.ID.IsZero() && netns.InUse(ns.ID) {
			errs = append(errs, fmt.Errorf("netns %s: deleted, but a process still holds it", ns.Name))
			keep = true
		}
	}
	if keep {
		_ = l.update(func(s *State) { s.Phase, s.Error = PhaseFailed, errors.Join(errs...).Error() })
		return fmt.Errorf("lab %s: not everything could be removed (run down again): %w", st.Name, errors.Join(errs...))
	}
	if err := os.RemoveAll(st.Dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab %s: %w", st.Name, errors.Join(errs...))
	}
	l.log.Info("lab down")
	return nil
}

func isFRRDaemon(role string) bool {
	switch role {
	case "zebra", "staticd", "pimd", "ospfd", "bgpd":
		return true
	}
	return false
}

// killAll stops every process in namespace id: SIGTERM, then SIGKILL
// after 2 s.
func killAll(id netns.ID, log interface{ Warn(string, ...any) }) error {
	var ids []proc.Ident
	for _, pid := range netns.Pids(id) {
		if pid == os.Getpid() {
			continue
		}
		pi, err := proc.Identify(pid)
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		log.Warn("stopping a process left in the lab's namespace", "pid", pid, "cmd", strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		_ = pi.Signal(syscall.SIGTERM)
		ids = append(ids, pi)
	}
	for _, pi := range ids {
		if !pi.Wait(2 * time.Second) {
			_ = pi.Signal(syscall.SIGKILL)
		}
	}
	for _, pi := range ids {
		if !pi.Wait(2 * time.Second) {
			return fmt.Errorf("pid %d survived SIGKILL", pi.Pid)
		}
	}
	return nil
}
