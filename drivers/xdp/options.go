package xdp

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Defaults of the table sizes (BPF map max_entries) and the upcall
// interval. Every table is allocated when the driver starts; see the
// package comment for what each holds.
const (
	// 64k (S,G) routes: about 6 MiB of kernel memory with their
	// counters on a 2-CPU machine (hash element ~80 B, per-CPU counters
	// 16 B per CPU); `routes` raises it.
	defaultRoutes = 65536
	// IFL counter slots: an FPC has at most a few hundred IFLs.
	defaultIFLs = 4096
	// Route entry next hops (distinct Indirect NHs that routes use).
	defaultNHs = 16384
	// OIL variants: one per (entry NH, sublist). 4096 x 1,096 bytes = 4.4
	// MiB, plus one devmap each.
	defaultOILs = 4096
	// Resolve and wrong-interface events per (S,G) (and ingress) at most
	// every 100 ms: the FPC's throttle (66/s per card, one outstanding
	// request per (S,G)) and its 3 s wrong-interface limit see every flow
	// promptly without the kernel flooding user space at line rate.
	defaultUpcallInterval = 100 * time.Millisecond
	// ARP and local traps (one per address each): the RE traps ARP and
	// IPv4 to every address of the router, a few hundred IFLs at most.
	defaultTrapAddrs = 4096
)

// Mode is how a port runs the data path.
type Mode string

// The data path modes, in the order auto tries them (see modeOrder).
const (
	ModeNative  Mode = "native"  // XDP in the NIC driver: devmap broadcast
	ModeGeneric Mode = "generic" // XDP on the skb (any device): devmap broadcast
	ModeTC      Mode = "tc"      // tc (TCX) ingress on the skb: bpf_clone_redirect per copy
	ModeAuto    Mode = "auto"
)

// options are the driver settings from hal.Config.Options.
type options struct {
	Netns string // "netns": namespace holding the ports (name under /run/netns or a path)
	// "mode": auto (default), native, generic or tc for every port;
	// "mode.<port>" (e.g. mode.xe-3/0/0=tc) for one.
	Mode     Mode
	PortMode map[string]Mode

	Routes int // "routes": (S,G) and prefix routes
	IFLs   int // "ifls": IFLs with counters
	NHs    int // "nhs": route entry next hops
	OILs   int // "oils": OIL variants

	TrapAddrs int // "trap-addrs": ARP and local traps

	UpcallInterval time.Duration // "upcall-interval"
}

func parseOptions(m map[string]string) (options, error) {
	o := options{
		Mode: ModeAuto, PortMode: map[string]Mode{},
		Routes: defaultRoutes, IFLs: defaultIFLs, NHs: defaultNHs, OILs: defaultOILs,
		TrapAddrs: defaultTrapAddrs, UpcallInterval: defaultUpcallInterval,
	}
	intOpt := func(key string, dst *int, min, max int) error {
		v, ok := m[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("option %s=%q: want an integer in [%d, %d]: %w", key, v, min, max, hal.ErrInvalid)
		}
		*dst = n
		return nil
	}
	for _, e := range []error{
		intOpt("routes", &o.Routes, 16, 1<<24),
		intOpt("ifls", &o.IFLs, 16, 1<<20),
		intOpt("nhs", &o.NHs, 16, 1<<22),
		intOpt("oils", &o.OILs, 16, 1<<20),
		intOpt("trap-addrs", &o.TrapAddrs, 16, 1<<20),
	} {
		if e != nil {
			return o, e
		}
	}
	mode := func(key, v string) (Mode, error) {
		switch md := Mode(v); md {
		case ModeAuto, ModeNative, ModeGeneric, ModeTC:
			return md, nil
		}
		return "", fmt.Errorf("option %s=%q: want auto, native, generic or tc: %w", key, v, hal.ErrInvalid)
	}
	for k, v := range m {
		switch {
		case k == "mode":
			md, err := mode(k, v)
			if err != nil {
				return o, err
			}
			o.Mode = md
		case strings.HasPrefix(k, "mode."):
			md, err := mode(k, v)
			if err != nil {
				return o, err
			}
			o.PortMode[strings.TrimPrefix(k, "mode.")] = md
		}
	}
	if v, ok := m["upcall-interval"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			return o, fmt.Errorf("option upcall-interval=%q: want a duration in [0, 1m]: %w", v, hal.ErrInvalid)
		}
		o.UpcallInterval = d
	}
	o.Netns = m["netns"]
	return o, nil
}
