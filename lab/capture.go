package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/mxfwd/mxfwd/lab/topo"
)

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// linuxIfName maps an interface as the user wrote it (xe-3/0/0 on an
// mxfwd node) to the Linux name in the node's namespace; names the lab
// does not know (a host interface the RE created, "any") pass through.
func linuxIfName(n NodeRecord, iface string) string {
	for _, p := range n.Interfaces {
		if p.Name == iface {
			return p.Linux
		}
	}
	if n.Kind == string(topo.KindMxfwd) {
		if _, linux, _, err := topo.PortName(iface); err == nil {
			return linux
		}
	}
	return iface
}

// StartCapture starts tcpdump on an interface of a node, writing file
// (-U: flushed per packet, -Z root: written as root), and returns once
// tcpdump listens. It runs until StopCaptures or Down.
func (l *Lab) StartCapture(ctx context.Context, node, iface, file string, filter ...string) (ProcRecord, error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return ProcRecord{}, fmt.Errorf("capture: tcpdump not installed (apt-get install tcpdump): %w", err)
	}
	unlock, err := lockDir(l.st.Dir, lockWait)
	if err != nil {
		return ProcRecord{}, err
	}
	defer unlock()
	l.reload()
	n, err := l.Node(node)
	if err != nil {
		return ProcRecord{}, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return ProcRecord{}, err
	}
	ifname := linuxIfName(n, iface)
	argv := append([]string{"tcpdump", "-i", ifname, "-n", "-U", "-s", "0", "-Z", "root", "-w", abs}, filter...)
	logName := "capture-" + unsafeFileChars.ReplaceAllString(filepath.Base(abs), "_") + ".log"
	_ = os.Remove(filepath.Join(n.Dir, logName))
	p, err := l.startProc(node, roleCapture, argv, os.Environ(), logName)
	if err != nil {
		return p, err
	}
	_ = l.update(func(s *State) {
		for i := range s.Procs {
			if s.Procs[i].Pid == p.Pid && s.Procs[i].Start == p.Start {
				s.Procs[i].File = abs
			}
		}
	})
	p.File = abs
	if err := waitFor(ctx, "tcpdump listening", 10*time.Second, &p, func() bool {
		b, _ := os.ReadFile(p.Log)
		return strings.Contains(string(b), "listening on")
	}); err != nil {
		_ = p.Stop(syscall.SIGINT, time.Second)
		return p, fmt.Errorf("capture on %s:%s: %w", node, ifname, err)
	}
	return p, nil
}

// Captures returns the running captures (all nodes if node is "").
func (l *Lab) Captures(node string) []ProcRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ProcRecord
	for _, p := range l.st.Procs {
		if p.Role == roleCapture && (node == "" || p.Node == node) {
			out = append(out, p)
		}
	}
	return out
}

// StopCaptures stops captures (SIGINT, so tcpdump flushes and prints its
// counts) of a node (all if node is ""), only the one writing file if file
// is set, and returns tcpdump's closing lines.
func (l *Lab) StopCaptures(node, file string) (string, error) {
	unlock, err := lockDir(l.st.Dir, lockWait)
	if err != nil {
		return "", err
	}
	defer unlock()
	l.reload()
	if file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
	}
	var report strings.Builder
	stopped := map[int]bool{}
	for _, p := range l.Captures(node) {
		if file != "" && p.File != file {
			continue
		}
		_ = p.Stop(syscall.SIGINT, 5*time.Second)
		stopped[p.Pid] = true
		b, _ := os.ReadFile(p.Log)
		fmt.Fprintf(&report, "%s: %s -> %s\n", p.Node, strings.Join(p.Argv[1:3], " "), p.File)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.Contains(line, "packets") {
				fmt.Fprintf(&report, "  %s\n", line)
			}
		}
	}
	err = l.update(func(s *State) {
		kept := s.Procs[:0]
		for _, p := range s.Procs {
			if !(p.Role == roleCapture && stopped[p.Pid]) {
				kept = append(kept, p)
			}
		}
		s.Procs = kept
	})
	if len(stopped) == 0 {
		return "", fmt.Errorf("no capture running (node %q, file %q)", node, file)
	}
	return report.String(), err
}
