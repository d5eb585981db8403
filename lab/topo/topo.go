// Package topo reads lab topology files: the subset of containerlab's
// topology format (https://containerlab.dev/manual/topo-def-file) that the
// lab runner needs, so that a lab written for it can later run under
// containerlab where a container engine exists.
//
// A file has a name, optional topology.defaults and topology.kinds (merged
// into each node, node values first), topology.nodes and topology.links,
// whose endpoints are "node:interface" strings. Three kinds are known:
//
//   - mxfwd: an mxfwd router (one RE, one afpacket FPC per slot). Its
//     interfaces are the platform's ports, written xe-F/P/N (or xe-F-P-N,
//     the Linux name they get, which is also what containerlab needs); the
//     FPC slots are the F of its ports. startup-config (or config) is a file
//     of set statements, or the statements inline; so is a bind onto
//     /config/re.conf, what the mxfwd container image reads.
//   - frr: FRRouting's zebra, staticd, pimd (and ospfd or bgpd when the
//     configuration has a "router ospf" or "router bgp" block). startup-config
//     is an integrated frr.conf; so is a bind onto /etc/frr/frr.conf, as
//     containerlab's FRR labs write it.
//   - linux: a host; exec lines set its addresses and routes.
//
// A node of kind linux whose image is an mxfwd or FRRouting image is taken
// as that kind, so that a file written for containerlab (where every such
// node is kind linux) runs here unchanged.
//
// Parse and Load only read and validate; they create nothing. Values are
// immutable after Parse returns and safe to share between goroutines.
package topo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is what a node runs.
type Kind string

// The node kinds.
const (
	KindMxfwd Kind = "mxfwd"
	KindFRR   Kind = "frr"
	KindLinux Kind = "linux"
)

// Limits on names, so that every derived name (network namespace, Unix
// socket path under the run directory) stays within what Linux accepts.
const (
	MaxLabName   = 32
	MaxNodeName  = 24
	MaxIfNameLen = 15 // IFNAMSIZ - 1
	maxFileSize  = 1 << 20
	maxNodes     = 256
	maxLinks     = 1024
)

// FPCDrivers are the drivers an mxfwd node's FPCs may run in a lab: those
// with real Linux ports (cmd/fpc's table).
var FPCDrivers = []string{"afpacket", "xdp"}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid topology")

// Topology is a parsed, validated lab.
type Topology struct {
	Name string
	// Dir is the directory of the topology file; relative paths in the
	// file are relative to it.
	Dir   string
	Nodes []*Node // sorted by name
	Links []Link
}

// Node is one lab node.
type Node struct {
	Name  string
	Kind  Kind
	Image string // informational (containerlab); not used here
	// Config is the node's configuration text: set statements (mxfwd) or
	// an integrated frr.conf (frr). Empty if none was given.
	Config string
	// ConfigFile is where Config came from, "" if inline or generated.
	ConfigFile string
	// Daemons is, for frr nodes, the FRR daemons to start in order
	// (zebra first).
	Daemons []string
	Exec    []string          // shell commands run in the node after start-up
	Env     map[string]string // environment of exec commands and node processes
	Sysctls map[string]string // set in the node's namespace before anything starts
	// HostInterfaces (mxfwd) asks for `re run --host-interfaces`; nil means
	// "if the re binary has the flag".
	HostInterfaces *bool
	// FPCOptions (mxfwd) are extra driver options (KEY=VALUE) for every FPC.
	FPCOptions []string
	// FPCDriver (mxfwd) is the driver of every FPC (`fpc run --driver`):
	// one of FPCDrivers; "" is afpacket.
	FPCDriver string
	// Interfaces are the node's link ends, in link order.
	Interfaces []*Interface
}

// Interface is one end of a link on a node.
type Interface struct {
	Node string
	// Name is the interface as the node's platform calls it: xe-3/1/0 on
	// mxfwd nodes, the Linux name elsewhere.
	Name string
	// Linux is the Linux interface name (<= 15 bytes): xe-3-1-0 for
	// xe-3/1/0.
	Linux string
	// Slot is the FPC slot of an mxfwd port, -1 elsewhere.
	Slot int
}

// String is "node:name".
func (i *Interface) String() string { return i.Node + ":" + i.Name }

// Link is a point-to-point link (a veth pair).
type Link struct {
	A, B *Interface
	MTU  int // 0: the default (1500)
}

// Node returns the node with the given name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Slots returns the FPC slots of an mxfwd node, ascending.
func (n *Node) Slots() []int {
	seen := map[int]bool{}
	var s []int
	for _, i := range n.Interfaces {
		if i.Slot >= 0 && !seen[i.Slot] {
			seen[i.Slot] = true
			s = append(s, i.Slot)
		}
	}
	sort.Ints(s)
	return s
}

// Interface finds a node's interface by its platform or Linux name.
func (n *Node) Interface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name || i.Linux == name {
			return i
		}
	}
	return nil
}

// bindTargets are the container paths whose bound file is a node's
// configuration: FRR's integrated frr.conf, and what the mxfwd container's
// entry point reads (examples/labs/docker).
var bindTargets = map[Kind]string{KindFRR: "/etc/frr/frr.conf", KindMxfwd: "/config/re.conf"}

// rawNode is a node as written. Fields of containerlab's node definition
// that mean nothing without containers are accepted and ignored, so that a
// containerlab file loads; anything else is an error (a typo must not pass
// silently).
type rawNode struct {
	Kind           string            `yaml:"kind"`
	Image          string            `yaml:"image"`
	StartupConfig  *string           `yaml:"startup-config"`
	Config         *string           `yaml:"config"`
	Binds          []string          `yaml:"binds"`
	Exec           []string          `yaml:"exec"`
	Env            map[string]string `yaml:"env"`
	Sysctls        map[string]string `yaml:"sysctls"`
	HostInterfaces *bool             `yaml:"host-interfaces"`
	FPCOptions     []string          `yaml:"fpc-options"`
	FPCDriver      string            `yaml:"fpc-driver"`

	// containerlab fields that have no meaning here
	Type                 any `yaml:"type"`
	License              any `yaml:"license"`
	Labels               any `yaml:"labels"`
	Group                any `yaml:"group"`
	MgmtIPv4             any `yaml:"mgmt-ipv4"`
	MgmtIPv6             any `yaml:"mgmt-ipv6"`
	NetworkMode          any `yaml:"network-mode"`
	Ports                any `yaml:"ports"`
	Cmd                  any `yaml:"cmd"`
	Entrypoint           any `yaml:"entrypoint"`
	User                 any `yaml:"user"`
	CPU                  any `yaml:"cpu"`
	CPUSet               any `yaml:"cpu-set"`
	Memory               any `yaml:"memory"`
	ImagePullPolicy      any `yaml:"image-pull-policy"`
	EnforceStartupConfig any `yaml:"enforce-startup-config"`
	SuppressStartup      any `yaml:"suppress-startup-config"`
	StartupDelay         any `yaml:"startup-delay"`
	Stages               any `yaml:"stages"`
	Capabilities         any `yaml:"cap-add"`
	DNS                  any `yaml:"dns"`
	Aliases              any `yaml:"aliases"`
	Runtime              any `yaml:"runtime"`
	Devices              any `yaml:"devices"`
	EnvFiles             any `yaml:"env-files"`
	Healthcheck          any `yaml:"healthcheck"`
}

type rawLink struct {
	Endpoints []string `yaml:"endpoints"`
	MTU       int      `yaml:"mtu"`
	Type      any      `yaml:"type"`
	Vars      any      `yaml:"vars"`
	Labels    any      `yaml:"labels"`
}

type rawFile struct {
	Name     string `yaml:"name"`
	Prefix   any    `yaml:"prefix"`
	Mgmt     any    `yaml:"mgmt"`
	Settings any    `yaml:"settings"`
	Debug    any    `yaml:"debug"`
	Topology struct {
		Defaults *rawNode            `yaml:"defaults"`
		Kinds    map[string]*rawNode `yaml:"kinds"`
		Nodes    map[string]*rawNode `yaml:"nodes"`
		Links    []rawLink           `yaml:"links"`
	} `yaml:"topology"`
}

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	linuxIfRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	portRE     = regexp.MustCompile(`^xe-([0-9]{1,2})[/-]([0-9])[/-]([0-9]{1,2})$`)
	sysctlRE   = regexp.MustCompile(`^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$`)
)

// Load reads and parses the topology file at path.
func Load(path string) (*Topology, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("topology %s: %d bytes, more than %d: %w", path, fi.Size(), maxFileSize, ErrInvalid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	t, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a topology; dir resolves relative file names in it (config
// files are read during Parse).
func Parse(data []byte, dir string) (*Topology, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", len(data), maxFileSize, ErrInvalid)
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if raw.Name == "" {
		return nil, fmt.Errorf("name: missing: %w", ErrInvalid)
	}
	if err := CheckLabName(raw.Name); err != nil {
		return nil, err
	}
	if len(raw.Topology.Nodes) == 0 {
		return nil, fmt.Errorf("topology.nodes: no nodes: %w", ErrInvalid)
	}
	if len(raw.Topology.Nodes) > maxNodes || len(raw.Topology.Links) > maxLinks {
		return nil, fmt.Errorf("topology: more than %d nodes or %d links: %w", maxNodes, maxLinks, ErrInvalid)
	}
	t := &Topology{Name: raw.Name, Dir: dir}
	names := make([]string, 0, len(raw.Topology.Nodes))
	for n := range raw.Topology.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		n, err := buildNode(name, raw.Topology.Nodes[name], raw.Topology.Defaults, raw.Topology.Kinds, dir)
		if err != nil {
			return nil, err
		}
		t.Nodes = append(t.Nodes, n)
	}
	used := map[string]string{} // node:linux-name -> link
	for i, rl := range raw.Topology.Links {
		where := fmt.Sprintf("topology.links[%d]", i)
		if len(rl.Endpoints) != 2 {
			return nil, fmt.Errorf("%s.endpoints: want 2 endpoints, have %d: %w", where, len(rl.Endpoints), ErrInvalid)
		}
		if rl.MTU != 0 && (rl.MTU < 576 || rl.MTU > 9216) {
			return nil, fmt.Errorf("%s.mtu: %d is outside 576..9216: %w", where, rl.MTU, ErrInvalid)
		}
		var ends [2]*Interface
		for j, ep := range rl.Endpoints {
			ifc, err := t.endpoint(ep)
			if err != nil {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w", where, j, err)
			}
			key := ifc.Node + ":" + ifc.Linux
			if prev, dup := used[key]; dup {
				return nil, fmt.Errorf("%s.endpoints[%d]: %s is already used by %s: %w", where, j, ep, prev, ErrInvalid)
			}
			used[key] = where
			ends[j] = ifc
		}
		for _, e := range ends {
			n := t.Node(e.Node)
			n.Interfaces = append(n.Interfaces, e)
		}
		t.Links = append(t.Links, Link{A: ends[0], B: ends[1], MTU: rl.MTU})
	}
	for _, n := range t.Nodes {
		if n.Kind == KindFRR {
			n.Daemons = frrDaemons(n.Config)
		}
	}
	return t, nil
}

// CheckLabName validates a lab name (lower-case letters, digits and '-').
func CheckLabName(name string) error {
	if len(name) > MaxLabName || !labNameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: want 1-%d of a-z, 0-9 and '-', starting with a letter or digit: %w", name, MaxLabName, ErrInvalid)
	}
	return nil
}

func (t *Topology) endpoint(ep string) (*Interface, error) {
	node, ifname, ok := strings.Cut(ep, ":")
	if !ok || node == "" || ifname == "" {
		return nil, fmt.Errorf("%q: want node:interface: %w", ep, ErrInvalid)
	}
	n := t.Node(node)
	if n == nil {
		return nil, fmt.Errorf("%q: no node %q: %w", ep, node, ErrInvalid)
	}
	if n.Kind == KindMxfwd {
		name, linux, slot, err := PortName(ifname)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ep, err)
		}
		return &Interface{Node: node, Name: name, Linux: linux, Slot: slot}, nil
	}
	if err := checkLinuxIf(ifname); err != nil {
		return nil, fmt.Errorf("%q: %w", ep, err)
	}
	return &Interface{Node: node, Name: ifname, Linux: ifname, Slot: -1}, nil
}

// PortName maps an mxfwd port, written xe-F/P/N or xe-F-P-N, to its
// platform name, its Linux name and its FPC slot F.
func PortName(s string) (name, linux string, slot int, err error) {
	m := portRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", 0, fmt.Errorf("port %q: want xe-FPC/PIC/PORT (or xe-FPC-PIC-PORT): %w", s, ErrInvalid)
	}
	f, _ := strconv.Atoi(m[1])
	p, _ := strconv.Atoi(m[2])
	n, _ := strconv.Atoi(m[3])
	if p > 3 {
		return "", "", 0, fmt.Errorf("port %q: PIC %d: an FPC has PICs 0-3: %w", s, p, ErrInvalid)
	}
	return fmt.Sprintf("xe-%d/%d/%d", f, p, n), fmt.Sprintf("xe-%d-%d-%d", f, p, n), f, nil
}

func checkLinuxIf(s string) error {
	if len(s) > MaxIfNameLen || !linuxIfRE.MatchString(s) || s == "lo" {
		return fmt.Errorf("interface %q: want a Linux interface name (1-%d of letters, digits, '_', '-', '.'; not lo): %w", s, MaxIfNameLen, ErrInvalid)
	}
	return nil
}

// merge returns node's values, falling back to kind's and then to def's
// for every field the node leaves empty (containerlab's inheritance).
func merge(node, kind, def *rawNode) rawNode {
	out := rawNode{}
	for _, src := range []*rawNode{def, kind, node} { // later sources win
		if src == nil {
			continue
		}
		if src.Kind != "" {
			out.Kind = src.Kind
		}
		if src.Image != "" {
			out.Image = src.Image
		}
		if src.StartupConfig != nil {
			out.StartupConfig = src.StartupConfig
		}
		if src.Config != nil {
			out.Config = src.Config
		}
		if src.Binds != nil {
			out.Binds = src.Binds
		}
		if src.Exec != nil {
			out.Exec = src.Exec
		}
		if src.HostInterfaces != nil {
			out.HostInterfaces = src.HostInterfaces
		}
		if src.FPCOptions != nil {
			out.FPCOptions = src.FPCOptions
		}
		if src.FPCDriver != "" {
			out.FPCDriver = src.FPCDriver
		}
		for k, v := range src.Env {
			if out.Env == nil {
				out.Env = map[string]string{}
			}
			out.Env[k] = v
		}
		for k, v := range src.Sysctls {
			if out.Sysctls == nil {
				out.Sysctls = map[string]string{}
			}
			out.Sysctls[k] = v
		}
	}
	return out
}

func buildNode(name string, rn, def *rawNode, kinds map[string]*rawNode, dir string) (*Node, error) {
	where := "topology.nodes." + name
	if len(name) > MaxNodeName || !nodeNameRE.MatchString(name) {
		return nil, fmt.Errorf("%s: node name: want 1-%d of letters, digits, '_' and '-': %w", where, MaxNodeName, ErrInvalid)
	}
	if rn == nil {
		rn = &rawNode{}
	}
	kindName := rn.Kind
	if kindName == "" && def != nil {
		kindName = def.Kind
	}
	r := merge(rn, kinds[kindName], def)
	kind, err := resolveKind(r.Kind, r.Image)
	if err != nil {
		return nil, fmt.Errorf("%s.kind: %w", where, err)
	}
	n := &Node{Name: name, Kind: kind, Image: r.Image, Exec: r.Exec, Env: r.Env, Sysctls: r.Sysctls}
	if r.StartupConfig != nil && r.Config != nil {
		return nil, fmt.Errorf("%s: give startup-config or config, not both: %w", where, ErrInvalid)
	}
	cfg := r.StartupConfig
	if cfg == nil {
		cfg = r.Config
	}
	// Under containerlab a configuration is a file bound into the
	// container: the one the node's software reads is its configuration
	// here.
	if target := bindTargets[kind]; target != "" {
		for _, b := range r.Binds {
			src, dst, _ := strings.Cut(b, ":")
			if dst, _, _ = strings.Cut(dst, ":"); dst == target {
				if cfg != nil {
					return nil, fmt.Errorf("%s: configuration given both by startup-config and by a bind to %s: %w", where, target, ErrInvalid)
				}
				cfg = &src
			}
		}
	}
	if cfg != nil {
		if kind == KindLinux {
			return nil, fmt.Errorf("%s: a linux node has no startup-config (use exec): %w", where, ErrInvalid)
		}
		if strings.Contains(*cfg, "\n") {
			n.Config = *cfg
		} else {
			p := *cfg
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			data, err := readConfig(p)
			if err != nil {
				return nil, fmt.Errorf("%s.startup-config: %w", where, err)
			}
			n.Config, n.ConfigFile = string(data), p
		}
	}
	for i, e := range n.Exec {
		if strings.TrimSpace(e) == "" {
			return nil, fmt.Errorf("%s.exec[%d]: empty command: %w", where, i, ErrInvalid)
		}
	}
	for k := range n.Sysctls {
		if !sysctlRE.MatchString(k) {
			return nil, fmt.Errorf("%s.sysctls: bad key %q: %w", where, k, ErrInvalid)
		}
	}
	if kind != KindMxfwd && (r.HostInterfaces != nil || r.FPCOptions != nil || r.FPCDriver != "") {
		return nil, fmt.Errorf("%s: host-interfaces, fpc-options and fpc-driver are for mxfwd nodes: %w", where, ErrInvalid)
	}
	if r.FPCDriver != "" && !slices.Contains(FPCDrivers, r.FPCDriver) {
		return nil, fmt.Errorf("%s.fpc-driver: %q: want one of %s: %w", where, r.FPCDriver, strings.Join(FPCDrivers, ", "), ErrInvalid)
	}
	n.FPCDriver = r.FPCDriver
	n.HostInterfaces = r.HostInterfaces
	for _, o := range r.FPCOptions {
		if k, v, ok := strings.Cut(o, "="); !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s.fpc-options: %q: want KEY=VALUE: %w", where, o, ErrInvalid)
		}
	}
	n.FPCOptions = r.FPCOptions
	return n, nil
}

func readConfig(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes: %w", p, maxFileSize, ErrInvalid)
	}
	return os.ReadFile(p)
}

// resolveKind maps the written kind (and, for kind linux, the image) to a
// Kind.
func resolveKind(kind, image string) (Kind, error) {
	switch kind {
	case "mxfwd":
		return KindMxfwd, nil
	case "frr":
		return KindFRR, nil
	case "linux", "":
		if kind == "" {
			return "", fmt.Errorf("missing (mxfwd, frr or linux): %w", ErrInvalid)
		}
		base := image
		if i := strings.LastIndexByte(base, '/'); i >= 0 {
			base = base[i+1:]
		}
		base, _, _ = strings.Cut(base, ":")
		switch {
		case strings.HasPrefix(base, "mxfwd"):
			return KindMxfwd, nil
		case base == "frr" || strings.Contains(image, "frrouting/"):
			return KindFRR, nil
		}
		return KindLinux, nil
	}
	return "", fmt.Errorf("%q is not supported here (mxfwd, frr or linux): %w", kind, ErrInvalid)
}

// frrDaemons lists the FRR daemons a configuration needs, zebra first.
func frrDaemons(cfg string) []string {
	d := []string{"zebra", "staticd", "pimd"}
	for _, l := range strings.Split(cfg, "\n") {
		switch f := strings.Fields(l); {
		case len(f) >= 2 && f[0] == "router" && f[1] == "ospf" && !contains(d, "ospfd"):
			d = append(d, "ospfd")
		case len(f) >= 2 && f[0] == "router" && f[1] == "bgp" && !contains(d, "bgpd"):
			d = append(d, "bgpd")
		}
	}
	return d
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Encode renders t as a topology file in canonical form (sorted nodes,
// configurations inline), which Parse reads back to an equal topology.
func (t *Topology) Encode() ([]byte, error) {
	type node struct {
		Kind           string            `yaml:"kind"`
		Image          string            `yaml:"image,omitempty"`
		StartupConfig  string            `yaml:"startup-config,omitempty"`
		Exec           []string          `yaml:"exec,omitempty"`
		Env            map[string]string `yaml:"env,omitempty"`
		Sysctls        map[string]string `yaml:"sysctls,omitempty"`
		HostInterfaces *bool             `yaml:"host-interfaces,omitempty"`
		FPCOptions     []string          `yaml:"fpc-options,omitempty"`
		FPCDriver      string            `yaml:"fpc-driver,omitempty"`
	}
	type link struct {
		Endpoints []string `yaml:"endpoints,flow"`
		MTU       int      `yaml:"mtu,omitempty"`
	}
	var out struct {
		Name     string `yaml:"name"`
		Topology struct {
			Nodes map[string]node `yaml:"nodes"`
			Links []link          `yaml:"links,omitempty"`
		} `yaml:"topology"`
	}
	out.Name = t.Name
	out.Topology.Nodes = map[string]node{}
	for _, n := range t.Nodes {
		cfg := n.Config
		if cfg != "" && !strings.HasSuffix(cfg, "\n") {
			cfg += "\n" // inline configurations are told from paths by their newlines
		}
		out.Topology.Nodes[n.Name] = node{Kind: string(n.Kind), Image: n.Image, StartupConfig: cfg, Exec: n.Exec,
			Env: n.Env, Sysctls: n.Sysctls, HostInterfaces: n.HostInterfaces, FPCOptions: n.FPCOptions, FPCDriver: n.FPCDriver}
	}
	for _, l := range t.Links {
		out.Topology.Links = append(out.Topology.Links, link{Endpoints: []string{l.A.String(), l.B.String()}, MTU: l.MTU})
	}
	return yaml.Marshal(&out)
}
