package trio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mxfwd/mxfwd/hal"
)

// Option keys. The run-time keys are those of hal.Tunable; the table sizes
// are read from hal.Config.Options at construction only.
const (
	OptResolveRate          = "resolve-rate"          // 66..1000 resolves/s per card (printed by `show nhdb mcast resolve`)
	OptNetworkServices      = "network-services"      // "enhanced-ip" selects unary trees
	OptMulticastReplication = "multicast-replication" // "ingress" | "local-latency-fairness" | ""

	OptRoutes     = "routes"      // route table size (default DefaultRoutes)
	OptNHs        = "nhs"         // next-hop table size (default DefaultNHs)
	OptMcastLists = "mcast-lists" // multicast lists, one per sublist (default DefaultMcastLists)
	OptIFLs       = "ifls"        // interface table size (default DefaultIFLs)
	OptOpLog      = "op-log"      // programming log ring size (default DefaultOpLog)
)

// Defaults of the finite tables. 1M routes and next hops is the order of
// magnitude of a Trio PFE's route and NH memory; 64K multicast lists matches
// the "Multicast Lists" zone of `show nhdb zones` on an MPC.
const (
	DefaultRoutes      = 1 << 20
	DefaultNHs         = 1 << 20
	DefaultMcastLists  = 1 << 16
	DefaultIFLs        = 1 << 16
	DefaultOpLog       = 4096
	DefaultResolveRate = 66 // seed 003: "Each TRIO based card is limited to 66 resolutions per second"
)

// Limits of the model's PFE numbering: PFE = FPC*4 + PIC over the
// chassis' slots (hal.MaxSlot: an MX960's twelve).
const (
	MaxFPCs     = int(hal.MaxSlot) + 1
	PICsPerFPC  = 4
	MaxPFEs     = MaxFPCs * PICsPerFPC
	pfeMaskWord = (MaxPFEs + 63) / 64
)

// ReplicationMode is how a tree is laid out over the egress PFEs.
type ReplicationMode uint8

// Replication modes.
const (
	// ModeBinary: root feeds entries 0 and 1, entry i feeds 2i+2 and 2i+3
	// (MPC1/MPC2 class, the default).
	ModeBinary ReplicationMode = 1
	// ModeUnary: a chain root -> L[0] -> L[1] -> ... (MPC3/MPC4/16x10GE
	// class, or network-services enhanced-ip).
	ModeUnary ReplicationMode = 2
	// ModeIngress: the root feeds every entry (multicast-replication
	// ingress).
	ModeIngress ReplicationMode = 3
	// ModeLocalLatencyFairness: "complete parallel replication"; in the
	// model every egress PFE is fed directly by the ingress PFE, as in
	// ModeIngress (the real knob also changes local port scheduling, which
	// the model does not time).
	ModeLocalLatencyFairness ReplicationMode = 4
)

func (m ReplicationMode) String() string {
	switch m {
	case ModeBinary:
		return "binary"
	case ModeUnary:
		return "unary"
	case ModeIngress:
		return "ingress"
	case ModeLocalLatencyFairness:
		return "local-latency-fairness"
	}
	return fmt.Sprintf("ReplicationMode(%d)", uint8(m))
}

// settings is an immutable snapshot of the run-time options; the packet path
// loads it once per Input call.
type settings struct {
	resolveRate int
	netServices string
	replication string
	cardType    [MaxFPCs]string
	noRepl      [pfeMaskWord]uint64
}

func defaultSettings() *settings {
	return &settings{resolveRate: DefaultResolveRate}
}

// modeFor returns the tree layout used when a packet enters on fpc.
func (s *settings) modeFor(fpc int) ReplicationMode {
	switch s.replication {
	case "ingress":
		return ModeIngress
	case "local-latency-fairness":
		return ModeLocalLatencyFairness
	}
	if s.netServices == "enhanced-ip" {
		return ModeUnary
	}
	if fpc >= 0 && fpc < MaxFPCs {
		if m, _ := cardMode(s.cardType[fpc]); m != 0 {
			return m
		}
	}
	return ModeBinary
}

// leafOnly reports whether PFE p is configured no-mcast-replication.
func (s *settings) leafOnly(p hal.PFEID) bool {
	return int(p) < MaxPFEs && s.noRepl[p/64]&(1<<(p%64)) != 0
}

func (s *settings) anyLeafOnly() bool {
	for _, w := range s.noRepl {
		if w != 0 {
			return true
		}
	}
	return false
}

// cardMode classifies a card type (REFERENCE.md decision 4): DPC/DPCE,
// MPC1, MPC2 are binary; MPC3 and later, and the MPC 16x10GE, are unary.
// "" means unset (0, true); an unknown name returns ok=false.
func cardMode(t string) (ReplicationMode, bool) {
	u := strings.ToUpper(strings.TrimSpace(t))
	switch {
	case u == "":
		return 0, true
	case strings.Contains(u, "16X10GE") || strings.Contains(u, "16XGE"):
		return ModeUnary, true
	case strings.HasPrefix(u, "DPC"):
		return ModeBinary, true
	case strings.HasPrefix(u, "MPC"):
		rest := strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(u, "MPC"), "-"), " ")
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(rest[:end])
		if err != nil {
			return 0, false
		}
		if n <= 2 {
			return ModeBinary, true
		}
		return ModeUnary, true
	}
	return 0, false
}

// apply sets one option on a copy of s. Unknown keys return handled=false.
func (s *settings) apply(key, value string) (handled bool, err error) {
	bad := func() error { return fmt.Errorf("option %s=%q: %w", key, value, hal.ErrInvalid) }
	v := strings.TrimSpace(value)
	switch key {
	case OptResolveRate:
		n, err := strconv.Atoi(v)
		if err != nil || n < DefaultResolveRate || n > 1000 {
			return true, bad()
		}
		s.resolveRate = n
		return true, nil
	case OptNetworkServices:
		switch v {
		case "", "ip", "ethernet", "enhanced-ip", "enhanced-ethernet", "enhanced-mode", "lan":
			s.netServices = v
			return true, nil
		}
		return true, bad()
	case OptMulticastReplication:
		switch v {
		case "", "default":
			s.replication = ""
		case "ingress", "local-latency-fairness":
			s.replication = v
		default:
			return true, bad()
		}
		return true, nil
	}
	// fpc.N.type, fpc.N.pic.M.no-mcast-replication
	parts := strings.Split(key, ".")
	if len(parts) < 3 || parts[0] != "fpc" {
		return false, nil
	}
	fpc, err := strconv.Atoi(parts[1])
	switch {
	case len(parts) == 3 && parts[2] == "type":
		if err != nil || fpc < 0 || fpc >= MaxFPCs {
			return true, bad()
		}
		if _, ok := cardMode(v); !ok {
			return true, bad()
		}
		s.cardType[fpc] = v
		return true, nil
	case len(parts) == 5 && parts[2] == "pic" && parts[4] == "no-mcast-replication":
		pic, perr := strconv.Atoi(parts[3])
		if err != nil || perr != nil || fpc < 0 || fpc >= MaxFPCs || pic < 0 || pic >= PICsPerFPC {
			return true, bad()
		}
		on := false
		if v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return true, bad()
			}
			on = b
		}
		p := hal.PFEOf(fpc, pic)
		if on {
			s.noRepl[p/64] |= 1 << (p % 64)
		} else {
			s.noRepl[p/64] &^= 1 << (p % 64)
		}
		return true, nil
	}
	return false, nil
}

// limits are the finite table sizes, fixed at construction.
type limits struct {
	routes, nhs, mcastLists, ifls, opLog int
}

func parseLimits(opts map[string]string) (limits, error) {
	l := limits{routes: DefaultRoutes, nhs: DefaultNHs, mcastLists: DefaultMcastLists, ifls: DefaultIFLs, opLog: DefaultOpLog}
	for key, dst := range map[string]*int{OptRoutes: &l.routes, OptNHs: &l.nhs, OptMcastLists: &l.mcastLists, OptIFLs: &l.ifls, OptOpLog: &l.opLog} {
		v, ok := opts[key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1<<26 {
			return l, fmt.Errorf("option %s=%q: %w", key, v, hal.ErrInvalid)
		}
		*dst = n
	}
	return l, nil
}

func isLimitKey(k string) bool {
	switch k {
	case OptRoutes, OptNHs, OptMcastLists, OptIFLs, OptOpLog:
		return true
	}
	return false
}
