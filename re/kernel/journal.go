package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Journal record kinds and verbs.
const (
	jRoute uint8 = iota + 1
	jNH
	jComp
	jIFL

	vAdd uint8 = iota + 1
	vChange
	vDelete
)

// Flag bits the seed's rtsockmon shows on deletes: a deleted (S,G) route
// prints flags=0x818e where it was added with 0x800e, a deleted indirect
// flags=0x6 where it was added with 0x4.
const (
	routeDeleteFlags = 0x0180
	nhDeleteFlags    = 0x2
	indirectNHFlags  = 0x4
)

// jrec is one journal record, kept compact and formatted only when read so
// that journaling costs little on the join path.
type jrec struct {
	at     time.Time
	what   uint8
	verb   uint8
	nhType hal.NHType
	mcast  bool // multicast (OIL) NH
	id     hal.NHID
	ifidx  hal.IFLIndex
	flags  hal.RouteFlags
	key    hal.RouteKey
	comp   []hal.NHID
	derv   []hal.NHID
	name   string
}

// journal is a bounded ring of records numbered from 0.
type journal struct {
	ring []jrec
	next uint64 // sequence number of the next record
}

func (j *journal) init(size int) { j.ring = make([]jrec, size) }

func (j *journal) add(r jrec) {
	j.ring[j.next%uint64(len(j.ring))] = r
	j.next++
}

// Journal returns the journal lines with sequence numbers >= since, oldest
// first, and the sequence number to pass next time. Lines that fell out of
// the ring (JournalSize) are skipped. A `monitor kernel` follower starts with
// since = 0 (or the next returned by an earlier call) and polls.
func (k *Kernel) Journal(since uint64) (lines []string, next uint64) {
	k.mu.Lock()
	recs, next := k.journalRecsLocked(since)
	k.mu.Unlock()
	lines = make([]string, len(recs))
	for i := range recs {
		lines[i] = recs[i].String()
	}
	return lines, next
}

func (k *Kernel) journalRecsLocked(since uint64) ([]jrec, uint64) {
	j := &k.journal
	oldest := uint64(0)
	if j.next > uint64(len(j.ring)) {
		oldest = j.next - uint64(len(j.ring))
	}
	if since < oldest {
		since = oldest
	}
	if since >= j.next {
		return nil, j.next
	}
	out := make([]jrec, 0, j.next-since)
	for s := since; s < j.next; s++ {
		out = append(out, j.ring[s%uint64(len(j.ring))])
	}
	return out, j.next
}

func verbName(v uint8) string {
	switch v {
	case vAdd:
		return "add"
	case vChange:
		return "change"
	case vDelete:
		return "delete"
	}
	return "?"
}

// String formats the record as rtsockmon -t does (seed 003):
//
//	[15:23:31] rpd      P    NH-comp    add     nh=comp idx=1173 refcnt=0, af=inet, tid=0 hw_token=0 fn=multicast comp=1048583, derv=1339,1341,
//	[15:23:31] rpd      P    nexthop    add     inet nh=indr flags=0x4 idx=1048590 ifidx=0 filteridx=0
//	[15:23:31] rpd      P    route      add     inet 232.0.7.1,10.128.1.10 tid=0 plen=64 type=user flags=0x800e nh=indr nhflags=0x4 nhidx=1048590 rt_nhiflist = 0 altfwdnhidx=0 filtidx=0
func (r jrec) String() string {
	var b strings.Builder
	proc, obj := "rpd", ""
	switch r.what {
	case jRoute:
		obj = "route"
	case jNH:
		obj = "nexthop"
	case jComp:
		obj = "NH-comp"
	case jIFL:
		proc, obj = "dcd", "iflogical"
	}
	fmt.Fprintf(&b, "[%s] %-9s%-5s%-11s%-8s", r.at.Format("15:04:05"), proc, "P", obj, verbName(r.verb))
	del := r.verb == vDelete
	switch r.what {
	case jRoute:
		flags := uint32(r.flags)
		if del && r.key.IsSG() {
			flags |= routeDeleteFlags
		}
		b.WriteString("inet ")
		typ, plen := "user", r.key.PrefixLen
		if r.key.IsSG() {
			b.WriteString(r.key.Group.String() + "," + r.key.Source.String())
		} else {
			typ = "perm"
			b.WriteString(r.key.Group.String())
		}
		nhflags := 0
		if r.nhType == hal.NHIndirect {
			nhflags = indirectNHFlags
		}
		fmt.Fprintf(&b, " tid=0 plen=%d type=%s flags=%#x nh=%s nhflags=%#x nhidx=%d rt_nhiflist = 0 altfwdnhidx=0 filtidx=0",
			plen, typ, flags, nhAbbrev(r.nhType, false), nhflags, r.id)
	case jComp:
		fmt.Fprintf(&b, "nh=comp idx=%d refcnt=0, af=inet, tid=0 hw_token=0 fn=multicast comp=%s, derv=",
			r.id, joinIDs(r.comp))
		for _, d := range r.derv {
			b.WriteString(strconv.FormatUint(uint64(d), 10))
			b.WriteByte(',')
		}
	case jNH:
		flags := 0
		if r.nhType == hal.NHIndirect {
			flags = indirectNHFlags
		}
		if del {
			flags |= nhDeleteFlags
		}
		fmt.Fprintf(&b, "inet nh=%s flags=%#x idx=%d ifidx=%d filteridx=0", nhAbbrev(r.nhType, r.mcast), flags, r.id, r.ifidx)
	case jIFL:
		fmt.Fprintf(&b, "%s index=%d", r.name, r.ifidx)
	}
	return b.String()
}

// nhAbbrev is the Junos next-hop type abbreviation.
func nhAbbrev(t hal.NHType, mcast bool) string {
	if mcast {
		return "mcrt"
	}
	switch t {
	case hal.NHUnicast:
		return "ucst"
	case hal.NHAggregate:
		return "aggr"
	case hal.NHComposite:
		return "comp"
	case hal.NHIndirect:
		return "indr"
	case hal.NHResolve:
		return "rslv"
	case hal.NHMDiscard:
		return "mdsc"
	case hal.NHDiscard:
		return "dscd"
	}
	return "unkn"
}

func joinIDs(ids []hal.NHID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}
