package trio

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/mxfwd/mxfwd/hal"
)

// vty commands of the driver (hal.VtyHandler).
const (
	cmdShowNHDBID       = "show nhdb id"
	cmdShowResolve      = "show nhdb mcast resolve"
	cmdShowReplStats    = "show mcast replication stats"
	cmdClearReplStats   = "clear mcast replication stats"
	nhdbHeaderComposite = "   ID      Type      Interface    Next Hop Addr    Protocol       Encap     MTU       Flags  PFE internal Flags\n" +
		"-----  --------  -------------  ---------------  ----------  ------------  ----  ----------  --------------------\n"
	nhdbHeader = "   ID      Type      Interface    Next Hop Addr    Protocol       Encap     MTU               Flags  PFE internal Flags\n" +
		"-----  --------  -------------  ---------------  ----------  ------------  ----  ------------------  ------------------\n"
	resolveHeader = "Nexthop Info:\n" +
		"   ID      Type    Protocol    Resolve-Rate\n" +
		"-----  --------  ----------  ---------------\n"
)

// VtyCommands lists the driver's vty commands.
func (d *Driver) VtyCommands() []string {
	return []string{cmdShowNHDBID + " <id>", cmdShowResolve, cmdShowReplStats, cmdClearReplStats}
}

// HandleVty runs one of the driver's vty commands. args is the command
// line, split into words (a single string holding the whole line works
// too).
func (d *Driver) HandleVty(args []string, w io.Writer) (bool, error) {
	if d.closed.Load() {
		return false, d.errClosed()
	}
	words := strings.Fields(strings.Join(args, " "))
	asJSON := false
	if n := len(words); n > 0 && words[n-1] == "--json" {
		asJSON, words = true, words[:n-1]
	}
	line := strings.Join(words, " ")
	switch {
	case line == cmdShowResolve && asJSON:
		return true, writeJSON(w, map[string]any{"id": hal.NHResolveID, "type": "Resolve", "protocol": "IPv4", "resolve-rate": d.set.Load().resolveRate})
	case line == cmdShowResolve:
		return true, d.showResolve(w)
	case line == cmdShowReplStats && asJSON:
		return true, writeJSON(w, d.ReplicationStats())
	case line == cmdShowReplStats:
		return true, d.showReplication(w)
	case line == cmdClearReplStats:
		d.ResetReplicationStats()
		return true, nil
	case len(words) == 4 && strings.HasPrefix(line, cmdShowNHDBID+" "):
		id, err := strconv.ParseUint(words[3], 10, 32)
		if err != nil {
			return true, fmt.Errorf("nhdb id %q: %w", words[3], hal.ErrInvalid)
		}
		return true, d.NHDetail(hal.NHID(id), w)
	}
	return false, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// NHDetail writes `show nhdb id N`: for a composite, the header, the
// kernel nh-list, the expanded sublists and each sublist's mcast-tree and
// reverse-mcast-tree (seed 003); for other NH types the header and one row.
func (d *Driver) NHDetail(id hal.NHID, w io.Writer) error {
	if d.closed.Load() {
		return d.errClosed()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.nhs.load(id)
	if !ok {
		return fmt.Errorf("nh %d: %w", id, hal.ErrNotFound)
	}
	bw := bufio.NewWriter(w)
	st := e.st.Load()
	if st.nh.Type != hal.NHComposite {
		bw.WriteString(nhdbHeader)
		bw.WriteString(d.nhRowLocked(st.nh))
		return bw.Flush()
	}
	bw.WriteString(nhdbHeaderComposite)
	fmt.Fprintf(bw, "%5d  %8s  %-13s  %-15s  %10s  %12s  %4d  0x%08x 0x%08x\n\n", id, hal.NHComposite, "-", "-", "IPv4", "-", 0, 0, 0)
	d.writeExpansionLocked(bw, st)
	return bw.Flush()
}

// nhRowLocked is the one-line `show nhdb id` row of a non-composite NH.
func (d *Driver) nhRowLocked(nh hal.NextHop) string {
	ifname, encap, mtu := "-", "-", 0
	if nh.IFL != 0 {
		if ie, ok := d.ifls.load(nh.IFL); ok {
			ifl := ie.st.Load().ifl
			ifname, encap, mtu = ifl.Name, "Ethernet", int(ifl.MTU)
		}
	}
	return fmt.Sprintf("%5d  %8s  %-13s  %-15s  %10s  %12s  %4d  0x%016x  0x%016x\n", nh.ID, nh.Type, ifname, "-", "IPv4", encap, mtu, 0, 0)
}

// writeExpansionLocked writes the multicast body of a composite.
func (d *Driver) writeExpansionLocked(w *bufio.Writer, st *nhState) {
	c := st.comp
	w.WriteString("Kernel nh-list:\n")
	for _, m := range st.nh.Members {
		d.writeNHTreeLocked(w, m, 0)
	}
	fmt.Fprintf(w, "\n#sublists: %d\n#fwd-nhs per sublist: %d\nExpanded sublists:\n", len(c.sublists), c.fwdPer)
	for j := range c.sublists {
		fmt.Fprintf(w, "Sublist %d:\n", j)
		for _, f := range c.sublists[j].fwd {
			w.WriteString(d.nhLineLocked(f.nh))
			w.WriteByte('\n')
		}
		w.WriteByte('\n')
	}
	w.WriteString("--------------\n")
	set := d.set.Load()
	mode := set.modeFor(d.slot)
	for j := range c.sublists {
		sl := &c.sublists[j]
		fmt.Fprintf(w, "Sublist %d:\n", j)
		for _, rev := range []bool{false, true} {
			if rev {
				w.WriteString("reverse-mcast-tree:\n")
			} else {
				w.WriteString("mcast-tree:\n")
			}
			writeTree(w, buildTree(mode, c.id, sl.pfes, -1, 0, false, rev, set))
			w.WriteByte('\n')
		}
	}
}

// writeTree draws a tree as `show nhdb id` does: `nfes:N, hash:H` (H is the
// rotation start, nh mod N), the PFE list in tree order, then `Root` at
// column 8 and every PFE in pre-order, indented 4 columns per fabric hop
// (depth 1 at column 4, as in seed 003's single-PFE trees).
func writeTree(w *bufio.Writer, t Tree) {
	fmt.Fprintf(w, "nfes:%d, hash:%d\n", len(t.Order), t.Start)
	for _, p := range t.Order {
		fmt.Fprintf(w, "%d,", p)
	}
	w.WriteString("\n        Root\n")
	var walk func(i, depth int)
	walk = func(i, depth int) {
		first, n := children(t.Mode, i, len(t.Order))
		for c := first; c < first+n; c++ {
			fmt.Fprintf(w, "%s%d\n", strings.Repeat("    ", depth), t.Order[c])
			walk(c, depth+1)
		}
	}
	walk(-1, 1)
}

// writeNHTreeLocked writes the recursive nh-list line of id and, for an
// aggregate, its members, indented 4 spaces per level.
func (d *Driver) writeNHTreeLocked(w *bufio.Writer, id hal.NHID, depth int) {
	w.WriteString(strings.Repeat("    ", depth))
	w.WriteString(d.nhLineLocked(id))
	w.WriteByte('\n')
	if depth > 8 {
		return
	}
	e, ok := d.nhs.load(id)
	if !ok {
		return
	}
	nh := e.st.Load().nh
	switch nh.Type {
	case hal.NHAggregate, hal.NHComposite:
		for _, m := range nh.Members {
			d.writeNHTreeLocked(w, m, depth+1)
		}
	case hal.NHIndirect:
		d.writeNHTreeLocked(w, nh.Target, depth+1)
	}
}

// nhLineLocked is the `1378(Unicast, IPv4, ifl:395:xe-3/1/0.0, pfe-id:13)`
// form of an NH.
func (d *Driver) nhLineLocked(id hal.NHID) string {
	e, ok := d.nhs.load(id)
	if !ok {
		return fmt.Sprintf("%d(-)", id)
	}
	nh := e.st.Load().nh
	ifl, name, pfe := hal.IFLIndex(0), "-", hal.PFEID(0)
	if nh.IFL != 0 {
		ifl = nh.IFL
		if ie, ok := d.ifls.load(nh.IFL); ok {
			s := ie.st.Load().ifl
			name = s.Name
			if s.Kind == hal.IFLPhysical {
				pfe = s.PFE
			}
		}
	}
	extra := ""
	switch nh.Type {
	case hal.NHComposite:
		extra = ", comp-fn:multicast"
	case hal.NHIndirect:
		extra = ", i-ifl:0:-"
	}
	return fmt.Sprintf("%d(%s, IPv4, ifl:%d:%s, pfe-id:%d%s)", id, nh.Type, ifl, name, pfe, extra)
}

// showResolve writes `show nhdb mcast resolve`: every Resolve NH with the
// card's resolve rate (66/s unless resolve-rate is set).
func (d *Driver) showResolve(w io.Writer) error {
	rate := d.set.Load().resolveRate
	var ids []hal.NHID
	d.nhs.rangeAll(func(id hal.NHID, e *nhEntry) bool {
		if e.st.Load().nh.Type == hal.NHResolve {
			ids = append(ids, id)
		}
		return true
	})
	slices.Sort(ids)
	bw := bufio.NewWriter(w)
	bw.WriteString(resolveHeader)
	for _, id := range ids {
		fmt.Fprintf(bw, "%5d  %8s  %10s  %15d\n", id, hal.NHResolve, "IPv4", rate)
	}
	return bw.Flush()
}

// showReplication writes `show mcast replication stats`: the mode, then
// per PFE that saw traffic its packets, local copies, fabric copies and
// drops, the drops by reason, and the fabric load.
func (d *Driver) showReplication(w io.Writer) error {
	set := d.set.Load()
	bw := bufio.NewWriter(w)
	card := set.cardType[0]
	if d.slot >= 0 && d.slot < MaxFPCs {
		card = set.cardType[d.slot]
	}
	if card == "" {
		card = "-"
	}
	ns, mr := set.netServices, set.replication
	if ns == "" {
		ns = "-"
	}
	if mr == "" {
		mr = "-"
	}
	var leaf []string
	for p := range MaxPFEs {
		if set.leafOnly(hal.PFEID(p)) {
			leaf = append(leaf, strconv.Itoa(p))
		}
	}
	if len(leaf) == 0 {
		leaf = []string{"-"}
	}
	fmt.Fprintf(bw, "Replication mode: %s (fpc %d, card %s)\n", set.modeFor(d.slot), d.slot, card)
	fmt.Fprintf(bw, "network-services: %s, multicast-replication: %s, no-mcast-replication PFEs: %s\n", ns, mr, strings.Join(leaf, " "))
	fmt.Fprintf(bw, "Resolve-Rate: %d\n\n", set.resolveRate)

	stats := d.ReplicationStats()
	fmt.Fprintf(bw, "%5s  %12s  %12s  %12s  %12s  %14s  %8s  %8s  %10s\n", "PFE", "Ingress", "Local copies", "Fabric tx", "Fabric rx", "Fabric bytes", "Punts", "Resolves", "Drops")
	var totTx, totBytes, busiest uint64
	busy, senders := hal.PFEID(0), 0
	for _, s := range stats {
		fmt.Fprintf(bw, "%5d  %12d  %12d  %12d  %12d  %14d  %8d  %8d  %10d\n", s.PFE, s.Ingress, s.LocalCopies, s.FabricTx, s.FabricRx, s.FabricBytes, s.Punts, s.Resolves, s.Total())
		totTx += s.FabricTx
		totBytes += s.FabricBytes
		if s.FabricTx > 0 {
			senders++
		}
		if s.FabricTx > busiest {
			busiest, busy = s.FabricTx, s.PFE
		}
	}
	bw.WriteString("\nDrops by reason:\n")
	fmt.Fprintf(bw, "%5s", "PFE")
	for r := range numDrops {
		fmt.Fprintf(bw, "  %10s", r)
	}
	bw.WriteByte('\n')
	for _, s := range stats {
		fmt.Fprintf(bw, "%5d", s.PFE)
		for _, v := range s.Drops {
			fmt.Fprintf(bw, "  %10d", v)
		}
		bw.WriteByte('\n')
	}
	fmt.Fprintf(bw, "\nFabric load: %d copies, %d bytes", totTx, totBytes)
	if totTx > 0 {
		fmt.Fprintf(bw, "; busiest PFE %d sends %d (%.1f%%); %.1f copies per sending PFE", busy, busiest, 100*float64(busiest)/float64(totTx), float64(totTx)/float64(senders))
	}
	bw.WriteByte('\n')
	return bw.Flush()
}
