package msdp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

type entry = msdpmsg.Entry

// pendingFlood is one originator's entries waiting for flushFloods.
type pendingFlood struct {
	rp      netip.Addr
	entries []entry
}

// floodPacing: a cached (S,G) is re-flooded at most once per half
// SA-Advertisement-Period, i.e. no more than twice per period (RFC 3618
// §4: "advertise from the cache at a period of no more than twice per
// SA-Advertisement-Timer interval").
const floodPacing = int64(SAAdvertisementPeriod / 2)

// dumpChunk is how many cache entries one step of a new peer's cache dump
// examines: about 200 KB of TLVs, a few milliseconds of the owner's time,
// so that a dump of a million SAs never holds the owner (or a peer's output
// queue) for long.
const dumpChunk = 16384

// advWindow groups local sources whose periodic advertisement is due
// within it into one round of SAs; the next advertisement is then
// scheduled SA-Advertisement-Period plus a jitter of [advWindow,
// 2·advWindow) later, so that no (S,G) is advertised twice within a
// period (RFC 3618 §5.1 R3) and rounds drift apart (§5.2 R4: spread).
const advWindow = int64(time.Second)

// receive processes the TLVs of one read.
func (e *Engine) receive(p *peer, ev Received, now int64, out []Action) []Action {
	if at := e.ns(ev.At); at > p.lastHeard {
		p.lastHeard = at
	}
	if len(ev.Msgs) > 0 {
		p.lastReceived = max(now, e.ns(ev.At))
	}
	defer func() { e.pending = e.pending[:0]; clear(e.pendIdx) }()
	for _, m := range ev.Msgs {
		switch m := m.(type) {
		case msdpmsg.KeepAlive:
			p.stats.KeepAliveReceived++
		case *msdpmsg.SourceActive:
			out = e.receiveSA(p, m, false, now, out)
		case *msdpmsg.SAResponse:
			out = e.receiveSA(p, &m.SourceActive, true, now, out)
		case *msdpmsg.SARequest:
			out = e.receiveSARequest(p, m, now, out)
		default:
			// RFC 3618 §13: silently discarded, no reset.
			p.stats.UnknownReceived++
		}
		if p.state != StateEstablished {
			return out
		}
	}
	out = e.flushFloods(p, now, out)
	if ev.Err != nil {
		field := ""
		var fe *msdpmsg.FormatError
		if errors.As(ev.Err, &fe) {
			field = fe.Field
		}
		if p.errLogs.allow(now) {
			e.log.Warn("msdp TLV format error: resetting the session (RFC 3618 §13)", "peer", p.addr, "field", field, "err", ev.Err)
		}
		out = e.peerInput(p, input{kind: inFormatError, reason: "TLV format error: " + ev.Err.Error()}, now, out)
	}
	return out
}

func validEntry(en entry) bool {
	return en.Group.IsMulticast() && !en.Source.IsMulticast() && !en.Source.IsUnspecified() &&
		en.Source != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// receiveSA processes a Source-Active (or, with response, an
// SA-Response) from p: peer-RPF, the cache, PIM, the flood.
func (e *Engine) receiveSA(p *peer, sa *msdpmsg.SourceActive, response bool, now int64, out []Action) []Action {
	if response {
		p.stats.SAResponseReceived++
	} else {
		p.stats.SAReceived++
	}
	p.stats.SAEntriesReceived += uint64(len(sa.Entries))
	if len(sa.Data) > 0 {
		p.stats.DataPackets++
	}
	if e.own[sa.RP] {
		p.stats.OwnSAs++
		return out
	}
	// An SA-Response answers our own request: not checked, not flooded.
	if !response {
		var rule RPFRule
		switch {
		case p.mesh != "":
			rule = RPFMeshGroup
		case p.internal:
			rule = RPFInternal
		default:
			rule = e.peerRPF(sa.RP, p)
		}
		if rule == RPFFail {
			p.stats.RPFFailures++
			return out
		}
	}
	rp32 := u32(sa.RP)
	fwd := e.fwd[:0]
	lastKept := false
	for i, en := range sa.Entries {
		lastKept = false
		if !validEntry(en) {
			p.stats.BadEntries++
			continue
		}
		k := mkKey(en.Group, en.Source)
		idx := e.cache.find(k)
		if idx >= 0 {
			c := e.cache.at(idx)
			e.cache.touch(idx, now)
			if c.peer != p.idx {
				e.movePeerCount(c, p)
			}
			c.rp = rp32
			if c.flags&flagRejected != 0 {
				continue
			}
			if !response && now-c.forwarded >= floodPacing {
				c.forwarded = now
				fwd = append(fwd, en)
				lastKept = i == len(sa.Entries)-1
			}
			continue
		}
		ok := accepts(p.importChain, en.Group, en.Source, sa.RP)
		if !e.admit(p, now) {
			continue
		}
		var flags uint8
		if !ok {
			flags = flagRejected
		}
		idx = e.cache.insert(k, rp32, p.idx, now, flags)
		p.saCount++
		if !ok {
			p.stats.PolicyRejected++
			continue
		}
		p.saAccepted++
		c := e.cache.at(idx)
		if !response {
			c.forwarded = now
			fwd = append(fwd, en)
			lastKept = i == len(sa.Entries)-1
		}
		if _, joined := e.starG[u32(en.Group)]; joined {
			c.flags |= flagJoined
			out = append(out, JoinSource{Source: en.Source, Group: en.Group, RP: sa.RP})
		}
	}
	var data []byte
	if len(sa.Data) > 0 && len(sa.Entries) > 0 {
		last := sa.Entries[len(sa.Entries)-1]
		if dataMatches(sa.Data, last) {
			if lastKept {
				data = sa.Data
			}
			if _, joined := e.starG[u32(last.Group)]; joined {
				if i := e.cache.find(mkKey(last.Group, last.Source)); i >= 0 && e.cache.at(i).flags&flagRejected == 0 {
					out = append(out, DeliverData{Source: last.Source, Group: last.Group, Packet: sa.Data})
				}
			}
		}
	}
	if len(fwd) > 0 {
		if data != nil {
			out = e.flood(p, sa.RP, fwd, data, now, out)
		} else {
			e.deferFlood(sa.RP, fwd)
		}
	}
	e.fwd = fwd[:0]
	return out
}

// deferFlood keeps entries to flood when the whole read is processed:
// the SAs of one read that share an originator go out together, in
// 255-entry TLVs, whatever the TLVs they came in (a peer sending one entry
// per SA costs one flood per read, not one per SA).
func (e *Engine) deferFlood(rp netip.Addr, entries []entry) {
	if n := len(e.pending); n > 0 && e.pending[n-1].rp == rp {
		// Consecutive SAs of one originator: no map lookup.
		e.pending[n-1].entries = append(e.pending[n-1].entries, entries...)
		return
	}
	i, ok := e.pendIdx[rp]
	if !ok {
		i = len(e.pending)
		e.pendIdx[rp] = i
		if i < cap(e.pending) {
			e.pending = e.pending[:i+1]
			e.pending[i].rp, e.pending[i].entries = rp, e.pending[i].entries[:0]
		} else {
			e.pending = append(e.pending, pendingFlood{rp: rp})
		}
	}
	e.pending[i].entries = append(e.pending[i].entries, entries...)
}

// flushFloods floods what deferFlood kept, in order of first appearance.
func (e *Engine) flushFloods(from *peer, now int64, out []Action) []Action {
	for i := range e.pending {
		pf := &e.pending[i]
		out = e.flood(from, pf.rp, pf.entries, nil, now, out)
	}
	e.pending = e.pending[:0]
	clear(e.pendIdx)
	return out
}

// dataMatches checks an encapsulated packet against the entry it belongs
// to (RFC 3618 §12.2.1: it must reflect the last entry's source and
// group): an IPv4 header from Source to Group.
func dataMatches(d []byte, en entry) bool {
	if len(d) < 20 || d[0]>>4 != 4 || int(d[0]&0xf)*4 < 20 {
		return false
	}
	return binary.BigEndian.Uint32(d[12:16]) == u32(en.Source) && binary.BigEndian.Uint32(d[16:20]) == u32(en.Group)
}

func (e *Engine) movePeerCount(c *saEntry, to *peer) {
	if c.peer >= 0 {
		if from := e.peers[c.peer]; from != nil {
			from.saCount--
			if c.flags&flagRejected == 0 {
				from.saAccepted--
			}
		}
	}
	c.peer = to.idx
	to.saCount++
	if c.flags&flagRejected == 0 {
		to.saAccepted++
	}
}

// admit applies the active-source limits to a new SA from p: refuse at
// the maximum, drop at random between threshold and maximum (RED), and
// warn at log-warning percent of the maximum.
func (e *Engine) admit(p *peer, now int64) bool {
	if !e.underLimit(e.limit, e.cache.n, now, &e.limitLogAt, "global", netip.Addr{}) {
		e.stats.ActiveSourceExceeded++
		return false
	}
	if p.limit != nil && !e.underLimit(*p.limit, p.saCount, now, &p.limitLogAt, "peer", p.addr) {
		p.stats.ActiveSourceExceeded++
		return false
	}
	return true
}

func (e *Engine) underLimit(l Limit, n int, now int64, logAt *int64, scope string, peerAddr netip.Addr) bool {
	if l.Maximum <= 0 {
		return true
	}
	if l.LogWarning > 0 && n*100 >= l.LogWarning*l.Maximum {
		if *logAt == 0 || now-*logAt >= max(int64(l.LogInterval), int64(time.Second)) {
			*logAt = now
			e.log.Warn("msdp active sources near the limit", "scope", scope, "peer", peerAddr, "count", n, "maximum", l.Maximum, "log-warning-percent", l.LogWarning)
		}
	}
	if n >= l.Maximum {
		return false
	}
	if l.Threshold > 0 && n >= l.Threshold && l.Maximum > l.Threshold {
		// Drop probability rises linearly from 0 at the threshold to 1 at
		// the maximum.
		return e.rand.IntN(l.Maximum-l.Threshold) >= n-l.Threshold
	}
	return true
}

// floodTarget tells whether q takes an SA that came from `from` (nil:
// originated here) with originator rp, and whether it takes it only
// entry by entry (export policy or a group-specific scope).
func (e *Engine) floodTarget(from, q *peer, rp netip.Addr) (send, perEntry bool) {
	if q.state != StateEstablished || q == from || q.addr == rp {
		return false, false
	}
	if from != nil && from.mesh != "" && q.mesh == from.mesh {
		// RFC 3618 §10.2: never to the members of the mesh group it came from.
		return false, false
	}
	if from != nil && from.internal && q.internal {
		// Seed 001 §5: an internal RP's SA is never reflected to the other
		// internal RPs (and an RP never returns the server's SAs to it).
		return false, false
	}
	perEntry = len(q.exportChain) > 0 || (q.internal && e.cfg.Server != nil)
	return true, perEntry
}

// entryFor applies q's per-entry filters: its export policy and, for an
// internal RP at a server, the group scope (only the groups it is the
// elected RP for, seed 001 §5).
func (e *Engine) entryFor(q *peer, en entry, rp netip.Addr) bool {
	if q.internal && e.cfg.Server != nil && e.gsp.electedRP(en.Group) != q.addr {
		return false
	}
	return accepts(q.exportChain, en.Group, en.Source, rp)
}

// flood sends the entries (all with originator rp) to every peer that
// takes them. Peers with no per-entry filter share one encoding.
func (e *Engine) flood(from *peer, rp netip.Addr, entries []entry, data []byte, now int64, out []Action) []Action {
	var shared []byte
	var sharedTLVs int
	for _, q := range e.order {
		send, perEntry := e.floodTarget(from, q, rp)
		if !send {
			continue
		}
		if !perEntry {
			if shared == nil {
				shared, sharedTLVs = encodeSAs(msdpmsg.TypeSourceActive, rp, entries, data)
			}
			q.stats.SASent += uint64(sharedTLVs)
			q.stats.SAEntriesSent += uint64(len(entries))
			out = e.send(q, shared, now, out)
			continue
		}
		sel := e.entriesPool[:0]
		for _, en := range entries {
			if e.entryFor(q, en, rp) {
				sel = append(sel, en)
			}
		}
		e.entriesPool = sel[:0]
		if len(sel) == 0 {
			continue
		}
		d := data
		if len(sel) != len(entries) || sel[len(sel)-1] != entries[len(entries)-1] {
			d = nil
		}
		b, n := encodeSAs(msdpmsg.TypeSourceActive, rp, sel, d)
		q.stats.SASent += uint64(n)
		q.stats.SAEntriesSent += uint64(len(sel))
		out = e.send(q, b, now, out)
	}
	return out
}

// encodeSAs encodes entries as SA (or SA-Response) TLVs of at most 255
// entries; data rides on the last TLV if it fits. It returns the bytes
// and the number of TLVs.
func encodeSAs(t msdpmsg.Type, rp netip.Addr, entries []entry, data []byte) ([]byte, int) {
	n := (len(entries) + msdpmsg.MaxEntries - 1) / msdpmsg.MaxEntries
	b := make([]byte, 0, n*msdpmsg.SAHeaderLen+len(entries)*msdpmsg.EntryLen+len(data))
	for i := 0; i < len(entries); i += msdpmsg.MaxEntries {
		chunk := entries[i:min(i+msdpmsg.MaxEntries, len(entries))]
		var d []byte
		if i+len(chunk) == len(entries) && len(data) <= msdpmsg.MaxDataLen(len(chunk)) {
			d = data
		}
		var err error
		if b, err = msdpmsg.AppendSA(b, t, rp, chunk, d); err != nil {
			// Entries come from decoded or validated IPv4 addresses.
			panic("msdp: encoding a validated SA: " + err.Error())
		}
	}
	return b, n
}

// bucketByRP groups entries by originator (an SA carries one RP).
func (e *Engine) bucketByRP(add func(func(rp netip.Addr, en entry))) []netip.Addr {
	for rp, l := range e.rpBuckets {
		e.rpBuckets[rp] = l[:0]
	}
	var rps []netip.Addr
	add(func(rp netip.Addr, en entry) {
		l := e.rpBuckets[rp]
		if len(l) == 0 {
			rps = append(rps, rp)
		}
		e.rpBuckets[rp] = append(l, en)
	})
	if len(e.rpBuckets) > 4096 {
		// Do not keep buckets for a burst of many originators.
		defer clear(e.rpBuckets)
	}
	slices.SortFunc(rps, netip.Addr.Compare)
	return rps
}

// dumpStep sends the next chunk of the cache to a peer: local sources
// first, then cached SAs, encoded per originator, one Send per step paced
// by Drained. As the advertisement to a peer that came up (RFC 3618 §5.2)
// it sends the SAs the peer takes by the flooding rules; as the answer to
// an all-groups SA-Request (response set) it sends SA-Responses of
// everything not learnt from the peer.
func (e *Engine) dumpStep(p *peer, now int64, out []Action) []Action {
	d := &p.dump
	typ := msdpmsg.TypeSourceActive
	if d.response {
		typ = msdpmsg.TypeSAResponse
	}
	take := func(from *peer, en entry, rp netip.Addr) bool {
		if d.response {
			return from != p && accepts(p.exportChain, en.Group, en.Source, rp)
		}
		if ok, _ := e.floodTarget(from, p, rp); !ok {
			return false
		}
		return e.entryFor(p, en, rp)
	}
	var buf []byte
	tlvs, entries := 0, 0
	encode := func(rps []netip.Addr) {
		for _, rp := range rps {
			b, n := encodeSAs(typ, rp, e.rpBuckets[rp], nil)
			buf = append(buf, b...)
			tlvs += n
			entries += len(e.rpBuckets[rp])
		}
	}
	if !d.localsDone {
		d.localsDone = true
		encode(e.bucketByRP(func(add func(netip.Addr, entry)) {
			for _, l := range e.sortedLocals() {
				rp := e.originator(l)
				en := entry{Group: l.group, Source: l.source}
				if take(nil, en, rp) {
					add(rp, en)
				}
			}
		}))
	}
	done := false
	for !done {
		end := min(int(d.cursor)+dumpChunk, int(e.cache.slots))
		encode(e.bucketByRP(func(add func(netip.Addr, entry)) {
			for i := int(d.cursor); i < end; i++ {
				c := e.cache.at(int32(i))
				if c.flags&flagLive == 0 || c.flags&flagRejected != 0 {
					continue
				}
				var from *peer
				if c.peer >= 0 {
					from = e.peers[c.peer]
				}
				rp := addrOf(c.rp)
				en := entry{Group: addrOf(c.key.group()), Source: addrOf(c.key.source())}
				if take(from, en, rp) {
					add(rp, en)
				}
			}
		}))
		d.cursor = int32(end)
		done = end >= int(e.cache.slots)
		if len(buf) > 0 {
			break
		}
	}
	if done {
		*d = dumpState{}
	}
	if len(buf) == 0 {
		return out
	}
	if typ == msdpmsg.TypeSAResponse {
		p.stats.SAResponseSent += uint64(tlvs)
	} else {
		p.stats.SASent += uint64(tlvs)
	}
	p.stats.SAEntriesSent += uint64(entries)
	p.lastSent = now
	return append(out, Send{Peer: p.addr, Conn: p.conn, Data: buf, WantDrained: !done})
}

// receiveSARequest answers an SA-Request with the cached and local
// sources of the group, except those learnt from the requester, in
// SA-Response TLVs. An all-groups request (0.0.0.0, seed 001 §5: a
// server after a restart) is answered from the whole cache, paced like a
// cache dump.
func (e *Engine) receiveSARequest(p *peer, req *msdpmsg.SARequest, now int64, out []Action) []Action {
	p.stats.SARequestReceived++
	all := !req.Group.IsValid() || req.Group.IsUnspecified()
	if all {
		if p.dump.active {
			return out // a dump is under way: it carries the same SAs
		}
		p.dump = dumpState{active: true, response: true}
		return e.dumpStep(p, now, out)
	}
	if !req.Group.IsMulticast() {
		return out
	}
	rps := e.bucketByRP(func(add func(netip.Addr, entry)) {
		for _, l := range e.sortedLocals() {
			if l.group == req.Group {
				rp := e.originator(l)
				if en := (entry{Group: l.group, Source: l.source}); accepts(p.exportChain, en.Group, en.Source, rp) {
					add(rp, en)
				}
			}
		}
		e.cache.group(u32(req.Group), func(i int32) {
			c := e.cache.at(i)
			if c.flags&flagRejected != 0 || c.peer == p.idx {
				return
			}
			rp := addrOf(c.rp)
			en := entry{Group: addrOf(c.key.group()), Source: addrOf(c.key.source())}
			if accepts(p.exportChain, en.Group, en.Source, rp) {
				add(rp, en)
			}
		})
	})
	var buf []byte
	for _, rp := range rps {
		b, n := encodeSAs(msdpmsg.TypeSAResponse, rp, e.rpBuckets[rp], nil)
		buf = append(buf, b...)
		p.stats.SAResponseSent += uint64(n)
		p.stats.SAEntriesSent += uint64(len(e.rpBuckets[rp]))
	}
	if len(buf) == 0 {
		return out
	}
	return e.send(p, buf, now, out)
}

// sendSARequest asks p for the sources of group g.
func (e *Engine) sendSARequest(p *peer, g netip.Addr, now int64, out []Action) []Action {
	b, _ := msdpmsg.Encode(&msdpmsg.SARequest{Group: g})
	p.stats.SARequestSent++
	return e.send(p, b, now, out)
}

// dropEntry removes cache entry i, telling PIM if it had joined.
func (e *Engine) dropEntry(i int32, out []Action) []Action {
	c := e.cache.at(i)
	if c.peer >= 0 {
		if p := e.peers[c.peer]; p != nil {
			p.saCount--
			if c.flags&flagRejected == 0 {
				p.saAccepted--
			}
		}
	}
	if c.flags&flagJoined != 0 {
		out = append(out, SourceGone{Source: addrOf(c.key.source()), Group: addrOf(c.key.group())})
	}
	e.cache.remove(i)
	return out
}

// expireCache runs the SA-State timers (RFC 3618 §5.3).
func (e *Engine) expireCache(now int64, out []Action) []Action {
	hold := int64(e.cfg.SAHoldTime)
	for e.cache.head >= 0 && now >= e.cache.at(e.cache.head).refreshed+hold {
		out = e.dropEntry(e.cache.head, out)
		e.stats.Expired++
	}
	return out
}

// starGEvent: a new (*,G) joins every cached source of G (RFC 3618 §3
// SHOULD) and, at a seed 001 RP, asks the server with an SA-Request.
func (e *Engine) starGEvent(ev StarGEvent, now int64, out []Action) []Action {
	if !ev.Group.Is4() || !ev.Group.IsMulticast() {
		return out
	}
	g := u32(ev.Group)
	if !ev.Joined {
		delete(e.starG, g)
		e.cache.group(g, func(i int32) { e.cache.at(i).flags &^= flagJoined })
		return out
	}
	if _, ok := e.starG[g]; ok {
		return out
	}
	e.starG[g] = struct{}{}
	for _, i := range e.cache.groupIndexes(g) {
		c := e.cache.at(i)
		if c.flags&flagRejected != 0 || c.flags&flagJoined != 0 {
			continue
		}
		c.flags |= flagJoined
		out = append(out, JoinSource{Source: addrOf(c.key.source()), Group: ev.Group, RP: addrOf(c.rp)})
	}
	if s := e.gsp.serverPeer(e); s != nil && s.state == StateEstablished {
		out = e.sendSARequest(s, ev.Group, now, out)
	}
	return out
}

// originator is the RP address of the SAs for local source l.
func (e *Engine) originator(l *localSA) netip.Addr {
	if e.cfg.OriginatorID.IsValid() {
		return e.cfg.OriginatorID
	}
	return l.rp
}

func (e *Engine) sortedLocals() []*localSA {
	ls := make([]*localSA, 0, len(e.locals))
	for _, l := range e.locals {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *localSA) int {
		if c := a.group.Compare(b.group); c != 0 {
			return c
		}
		return a.source.Compare(b.source)
	})
	return ls
}

// localSource handles PIM's news of a local source.
func (e *Engine) localSource(ev LocalSourceEvent, now int64, out []Action) []Action {
	if !ev.Source.Is4() || !ev.Group.Is4() || !validEntry(entry{Group: ev.Group, Source: ev.Source}) {
		return out
	}
	k := mkKey(ev.Group, ev.Source)
	l := e.locals[k]
	if !ev.Active {
		if l == nil {
			return out
		}
		l.fromPIM = false
		if !l.fromConfig {
			// MSDP has no withdrawal: peers let the SA time out.
			delete(e.locals, k)
		}
		return out
	}
	if !ev.RP.Is4() && !e.cfg.OriginatorID.IsValid() {
		return out
	}
	if l != nil {
		l.fromPIM = true
		if ev.RP.IsValid() {
			l.rp = ev.RP
			e.own[ev.RP] = true
		}
		return out
	}
	l = &localSA{source: ev.Source, group: ev.Group, rp: ev.RP, created: now, fromPIM: true}
	if ev.RP.IsValid() {
		e.own[ev.RP] = true
	}
	e.locals[k] = l
	return e.originate([]*localSA{l}, now, out)
}

// syncConfiguredSources originates the configured local sources and
// forgets the ones no longer configured.
func (e *Engine) syncConfiguredSources(now int64, out []Action) []Action {
	want := map[saKey]bool{}
	var added []*localSA
	for _, s := range e.cfg.LocalSources {
		k := mkKey(s.Group, s.Source)
		want[k] = true
		if l := e.locals[k]; l != nil {
			l.fromConfig = true
			continue
		}
		l := &localSA{source: s.Source, group: s.Group, rp: e.cfg.OriginatorID, created: now, fromConfig: true}
		e.locals[k] = l
		added = append(added, l)
	}
	for k, l := range e.locals {
		if l.fromConfig && !want[k] {
			l.fromConfig = false
			if !l.fromPIM {
				delete(e.locals, k)
			}
		}
	}
	if len(added) > 0 && e.started {
		return e.originate(added, now, out)
	}
	e.recomputeAdv()
	return out
}

// originate advertises local sources now (the triggered SA of RFC 3618
// §5.1 and the periodic ones) and schedules their next advertisement.
func (e *Engine) originate(ls []*localSA, now int64, out []Action) []Action {
	rps := e.bucketByRP(func(add func(netip.Addr, entry)) {
		for _, l := range ls {
			add(e.originator(l), entry{Group: l.group, Source: l.source})
			l.nextAdv = now + int64(SAAdvertisementPeriod) + advWindow + e.rand.Int64N(advWindow)
			if e.advAt == 0 || l.nextAdv < e.advAt {
				e.advAt = l.nextAdv
			}
		}
	})
	for _, rp := range rps {
		es := slices.Clone(e.rpBuckets[rp])
		e.stats.Originated += uint64(len(es))
		out = e.flood(nil, rp, es, nil, now, out)
	}
	return out
}

// advertise is the SA-Advertisement timer: every local source due within
// advWindow is advertised in one round. advAt may be early (a source was
// withdrawn since): then nothing is due and it is recomputed.
func (e *Engine) advertise(now int64, out []Action) []Action {
	var due []*localSA
	for _, l := range e.locals {
		if l.nextAdv <= now+advWindow {
			due = append(due, l)
		}
	}
	slices.SortFunc(due, func(a, b *localSA) int {
		if c := a.group.Compare(b.group); c != 0 {
			return c
		}
		return a.source.Compare(b.source)
	})
	out = e.originate(due, now, out)
	e.recomputeAdv()
	return out
}

// recomputeAdv sets advAt to the earliest scheduled advertisement.
func (e *Engine) recomputeAdv() {
	e.advAt = 0
	for _, l := range e.locals {
		if l.nextAdv != 0 && (e.advAt == 0 || l.nextAdv < e.advAt) {
			e.advAt = l.nextAdv
		}
	}
}
