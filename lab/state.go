package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/mxfwd/mxfwd/lab/netns"
	"github.com/mxfwd/mxfwd/lab/proc"
)

// stateFile is the name of the state file in a lab's run directory.
const stateFile = "state.json"

// stateVersion is bumped when State changes incompatibly.
const stateVersion = 1

// Phases of a lab.
const (
	PhaseStarting = "starting"
	PhaseUp       = "up"
	PhaseFailed   = "failed"
	PhaseStopping = "stopping"
)

// State is everything the lab created, written to the run directory
// before (intent) and after each step, so that Down can undo a lab whose
// runner crashed at any point.
type State struct {
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	Topology string    `json:"topology"` // the topology file it was started from
	Dir      string    `json:"dir"`      // the run directory
	BinDir   string    `json:"bin_dir,omitempty"`
	Created  time.Time `json:"created"`
	Phase    string    `json:"phase"`
	Error    string    `json:"error,omitempty"`
	Mroute   Mroute    `json:"mroute"`
	// Namespaces are recorded before `ip netns add` (ID zero) and again
	// with their ID once created.
	Namespaces []NSRecord   `json:"namespaces"`
	Links      []LinkRecord `json:"links"`
	Nodes      []NodeRecord `json:"nodes"`
	Procs      []ProcRecord `json:"procs"`
}

// NSRecord is a namespace the lab created.
type NSRecord struct {
	Node string   `json:"node"`
	Name string   `json:"name"`
	ID   netns.ID `json:"id"`
}

// LinkRecord is a veth pair; its ends live in lab namespaces and go away
// with them.
type LinkRecord struct {
	A      string `json:"a"` // node:interface as written in the topology
	B      string `json:"b"`
	ANetns string `json:"a_netns"`
	ALinux string `json:"a_linux"`
	BNetns string `json:"b_netns"`
	BLinux string `json:"b_linux"`
	MTU    int    `json:"mtu,omitempty"`
}

// NodeRecord describes a node as started.
type NodeRecord struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Netns string `json:"netns"`
	Dir   string `json:"dir"` // the node's run directory (sockets, logs, configs)
	// mxfwd
	Slots          []int        `json:"slots,omitempty"`
	Ports          []PortRecord `json:"ports,omitempty"`
	HostInterfaces bool         `json:"host_interfaces,omitempty"`
	HostIfNote     string       `json:"host_interfaces_note,omitempty"`
	// Redundant: the configuration asks for graceful switchover; the node
	// runs two routing engines, re0 and re1 (issue #17).
	Redundant bool `json:"redundant,omitempty"`
	// AuthKeyFile is the node's IPC key (mode 0600, generated at
	// creation): its RE and FPCs run with --auth-key-file, so that nothing
	// else in the namespace registers as a card. Empty when bin/re has no
	// --auth-key-file.
	AuthKeyFile string `json:"auth_key_file,omitempty"`
	// frr
	Daemons []string `json:"daemons,omitempty"`
	// every node
	Interfaces []PortRecord `json:"interfaces,omitempty"`
	Env        []string     `json:"env,omitempty"` // extra environment of commands run in the node
}

// PortRecord maps an interface name as written to its Linux name.
type PortRecord struct {
	Name  string `json:"name"`
	Linux string `json:"linux"`
}

// Roles of recorded processes that are not node daemons.
const roleCapture = "capture"

// ProcRecord is a process the lab started.
type ProcRecord struct {
	Node string `json:"node"`
	Role string `json:"role"` // re, fpc3, zebra, pimd, capture, ...
	proc.Ident
	Argv []string `json:"argv"`
	Log  string   `json:"log"`
	File string   `json:"file,omitempty"` // capture file
}

// save writes the state atomically.
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: save state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, stateFile)); err != nil {
		return fmt.Errorf("lab: save state: %w", err)
	}
	return nil
}

// ErrNoLab is returned when a lab has no run directory or state.
var ErrNoLab = errors.New("no such lab")

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab: %s: %w", dir, ErrNoLab)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("lab: %s: state version %d, this lab understands %d", dir, s.Version, stateVersion)
	}
	s.Dir = dir
	return &s, nil
}

// node returns the record of a node, or nil.
func (s *State) node(name string) *NodeRecord {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

// DefaultRunRoot is where labs keep their run directories: $MXLAB_RUN_DIR,
// else /run/mxlab.
func DefaultRunRoot() string {
	if d := os.Getenv("MXLAB_RUN_DIR"); d != "" {
		return d
	}
	return "/run/mxlab"
}

// List returns the names of the labs under root that have a state file.
func List(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), stateFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// lockDir takes an exclusive flock on dir, waiting up to wait. The lock
// is held by the open descriptor (close-on-exec, so no child inherits it)
// and released by the returned function or when the process dies. If the
// wait expires it returns an error wrapping syscall.EWOULDBLOCK.
func lockDir(dir string, wait time.Duration) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: lock %s: %w", dir, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lab: lock %s (another lab command is running on it): %w", dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reload replaces the in-memory state with the file's (another process
// may have changed it); the caller holds the directory lock.
func (l *Lab) reload() {
	st, err := loadState(l.st.Dir)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
}
