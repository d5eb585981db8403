package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// GIR is `set protocols pim graceful-insertion-removal …` (seed 002,
// issue #16): PIM graceful insertion and removal over the PIM Flooding
// Mechanism.
type GIR struct {
	// TLVType is the GIR TLV's type (`tlv-type N`, 2..32767; 0: the
	// default, 32766 — the draft leaves it "TBD" and RFC 8364's registry
	// has no experimental range; see re/pim/pimmsg DefaultGIRType).
	TLVType uint16
	// Maintenance (`maintenance [start S] [stop T]`) puts the router in
	// maintenance: committing it announces a removal window, removing it
	// announces an insertion window of InsertionWindow seconds.
	Maintenance *GIRMaintenance
	// InsertionWindow (`insertion-window N`) is the stop announced when
	// leaving maintenance (start 0); 0 announces "fully operational" at
	// once. HasInsertionWindow tells an explicit 0 from the default.
	InsertionWindow    int
	HasInsertionWindow bool
	// AnnounceInterval (`announce-interval S`) is the period of the
	// announcements (0: 60 s, the draft's recommendation).
	AnnounceInterval int
	// AnnounceCopies (`announce-copies N`) is how many copies of a new
	// announcement are sent one second apart (0: 3).
	AnnounceCopies int
	// AdvertiseSources (`advertise-sources`) lists our (S,G) sources in
	// the TLV (the draft's source-prefix optimisation, our encoding);
	// without it the TLV is the draft's exact 8-byte form.
	AdvertiseSources bool
	// Originator (`originator-address A`) is the address in the PFMs this
	// router originates (RFC 8364 §3.3: configurable; it must be routable
	// in the domain). Invalid: the first lo0 address, else the first PIM
	// interface's.
	Originator netip.Addr
	// Boundaries (`boundary IFL`) are administrative boundaries for every
	// PFM, both ways (RFC 8364 §3.2): nothing is accepted or sent there.
	Boundaries []string
	// MaxMessageRate (`max-message-rate N`, per minute) and MinMessageGap
	// (`min-message-gap MS`) are RFC 8364 §3.3's Max_PFM_Message_Rate and
	// Min_PFM_Message_Gap (0: 6 and 1000 ms).
	MaxMessageRate int
	MinMessageGap  int
	// Line is the first GIR statement's line.
	Line int
}

// GIRMaintenance is `maintenance [start S] [stop T]`.
type GIRMaintenance struct {
	Start, Stop       int // seconds
	HasStart, HasStop bool
	Line              int
}

// The defaults of a removal window and of an insertion window, in seconds
// (re/pim/gir uses the same values for `request pim maintenance`).
const (
	GIRDefaultStart     = 10
	GIRDefaultStop      = 300
	GIRDefaultInsertion = 300
	girMaxSeconds       = 86400
)

// Window returns the removal window to announce (defaults filled in).
func (m *GIRMaintenance) Window() (start, stop int) {
	start, stop = GIRDefaultStart, GIRDefaultStop
	if m.HasStart {
		start = m.Start
	}
	if m.HasStop {
		stop = m.Stop
	}
	return start, stop
}

// Insertion returns the insertion window's stop, in seconds.
func (g *GIR) Insertion() int {
	if g.HasInsertionWindow {
		return g.InsertionWindow
	}
	return GIRDefaultInsertion
}

func (c *Config) applyGIR(w []string, line int) error {
	const syntax = "graceful-insertion-removal tlv-type <2..32767> | maintenance [start <s>] [stop <s>] | insertion-window <s> | announce-interval <s> | announce-copies <n> | advertise-sources | originator-address <address> | boundary <ifl> | max-message-rate <n> | min-message-gap <ms>"
	g := &c.PIM.GIR
	if g.Line == 0 {
		g.Line = line
	}
	if len(w) == 0 {
		return bad("incomplete statement, expecting %s", syntax)
	}
	switch w[0] {
	case "tlv-type":
		n, err := uintStmt(w[1:], "graceful-insertion-removal tlv-type", "graceful-insertion-removal tlv-type <2..32767>", 2, 0x7fff)
		if err != nil {
			return err
		}
		g.TLVType = uint16(n)
		return nil
	case "maintenance":
		m := g.Maintenance
		if m == nil {
			m = &GIRMaintenance{Line: line}
		}
		rest := w[1:]
		for ; len(rest) > 0; rest = rest[2:] {
			if len(rest) < 2 {
				return bad("graceful-insertion-removal maintenance: %q needs a value (seconds)", rest[0])
			}
			switch rest[0] {
			case "start":
				n, err := parseUint(rest[1], "maintenance start", 0, girMaxSeconds)
				if err != nil {
					return err
				}
				m.Start, m.HasStart = n, true
			case "stop":
				n, err := parseUint(rest[1], "maintenance stop", 1, girMaxSeconds)
				if err != nil {
					return err
				}
				m.Stop, m.HasStop = n, true
			default:
				return bad("unknown graceful-insertion-removal maintenance statement %q (expected start, stop)", rest[0])
			}
		}
		if s, t := m.Window(); t < s {
			return bad("graceful-insertion-removal maintenance: stop %d s is before start %d s (both count from the announcement)", t, s)
		}
		g.Maintenance = m
		return nil
	case "insertion-window":
		n, err := uintStmt(w[1:], "graceful-insertion-removal insertion-window", "graceful-insertion-removal insertion-window <0..86400>", 0, girMaxSeconds)
		if err != nil {
			return err
		}
		g.InsertionWindow, g.HasInsertionWindow = n, true
		return nil
	case "announce-interval":
		n, err := uintStmt(w[1:], "graceful-insertion-removal announce-interval", "graceful-insertion-removal announce-interval <10..3600>", 10, 3600)
		if err != nil {
			return err
		}
		g.AnnounceInterval = n
		return nil
	case "announce-copies":
		n, err := uintStmt(w[1:], "graceful-insertion-removal announce-copies", "graceful-insertion-removal announce-copies <1..10>", 1, 10)
		if err != nil {
			return err
		}
		g.AnnounceCopies = n
		return nil
	case "originator-address":
		if len(w) != 2 {
			return bad("expecting 'graceful-insertion-removal originator-address <address>'")
		}
		a, err := addr(w[1], "originator-address")
		if err != nil {
			return err
		}
		if !a.Is4() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsLoopback() {
			return bad("originator-address %s: a routable unicast IPv4 address is needed (RFC 8364 §3.3)", a)
		}
		g.Originator = a
		return nil
	case "boundary":
		if len(w) != 2 {
			return bad("expecting 'graceful-insertion-removal boundary <ifl>'")
		}
		if err := c.ifl(w[1]); err != nil {
			return err
		}
		if !slices.Contains(g.Boundaries, w[1]) {
			g.Boundaries = append(g.Boundaries, w[1])
		}
		return nil
	case "max-message-rate":
		n, err := uintStmt(w[1:], "graceful-insertion-removal max-message-rate", "graceful-insertion-removal max-message-rate <1..60>", 1, 60)
		if err != nil {
			return err
		}
		g.MaxMessageRate = n
		return nil
	case "min-message-gap":
		n, err := uintStmt(w[1:], "graceful-insertion-removal min-message-gap", "graceful-insertion-removal min-message-gap <100..60000 ms>", 100, 60000)
		if err != nil {
			return err
		}
		g.MinMessageGap = n
		return nil
	case "advertise-sources":
		if len(w) != 1 {
			return bad("expecting 'graceful-insertion-removal advertise-sources'")
		}
		g.AdvertiseSources = true
		return nil
	}
	return bad("unknown graceful-insertion-removal statement %q (expected %s)", w[0], syntax)
}

// girStatements renders the GIR statements.
func (c *Config) girStatements(add func(string, ...any)) {
	g := &c.PIM.GIR
	const p = "set protocols pim graceful-insertion-removal"
	if g.TLVType != 0 {
		add("%s tlv-type %d", p, g.TLVType)
	}
	if m := g.Maintenance; m != nil {
		s := p + " maintenance"
		if m.HasStart {
			s += fmt.Sprintf(" start %d", m.Start)
		}
		if m.HasStop {
			s += fmt.Sprintf(" stop %d", m.Stop)
		}
		add("%s", s)
	}
	if g.HasInsertionWindow {
		add("%s insertion-window %d", p, g.InsertionWindow)
	}
	if g.AnnounceInterval != 0 {
		add("%s announce-interval %d", p, g.AnnounceInterval)
	}
	if g.AnnounceCopies != 0 {
		add("%s announce-copies %d", p, g.AnnounceCopies)
	}
	if g.AdvertiseSources {
		add("%s advertise-sources", p)
	}
	if g.Originator.IsValid() {
		add("%s originator-address %s", p, g.Originator)
	}
	for _, b := range g.Boundaries {
		add("%s boundary %s", p, b)
	}
	if g.MaxMessageRate != 0 {
		add("%s max-message-rate %d", p, g.MaxMessageRate)
	}
	if g.MinMessageGap != 0 {
		add("%s min-message-gap %d", p, g.MinMessageGap)
	}
}

// validateGIR checks the GIR statements against the rest: they need PIM.
func (c *Config) validateGIR() error {
	g := &c.PIM.GIR
	if g.Line == 0 {
		return nil
	}
	if c.PIM.Enabled() {
		if g.Originator.IsValid() && !c.IsLocalAddress(g.Originator) {
			return fmt.Errorf("line %d: %w: graceful-insertion-removal originator-address %s is not one of this router's addresses", g.Line, ErrInvalid, g.Originator)
		}
		for _, b := range g.Boundaries {
			if _, ok := c.PIM.Interface(b); !ok {
				return fmt.Errorf("line %d: %w: graceful-insertion-removal boundary %s is not a PIM interface", g.Line, ErrInvalid, b)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: %w: graceful-insertion-removal needs PIM on an interface ('set protocols pim interface <ifl>')", g.Line, ErrInvalid)
}
