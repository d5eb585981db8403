package ipc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/mxfwd/mxfwd/hal"
)

// Message keys used in errors (type/subtype names with hyphens). They are
// constants rather than catalog lookups so that the catalog, which refers
// to these methods, does not depend on itself.
const (
	keyRegister       = "tnp/register"
	keyRegisterAck    = "tnp/register-ack"
	keyKeepalive      = "tnp/keepalive"
	keyResyncBegin    = "tnp/resync-begin"
	keyResyncEnd      = "tnp/resync-end"
	keyIFLAdd         = "ifl/add"
	keyIFLChange      = "ifl/change"
	keyIFLDelete      = "ifl/delete"
	keyConfigSet      = "config/set"
	keyNHAdd          = "next-hop/add"
	keyNHChange       = "next-hop/change"
	keyNHDelete       = "next-hop/delete"
	keyResolveRequest = "next-hop/resolve-addr-request"
	keyRouteAdd       = "route/add"
	keyRouteChange    = "route/change"
	keyRouteDelete    = "route/delete"
	keyRouteHits      = "stats/route-hits"
	keyWrongIIF       = "stats/wrong-iif"
	keyIFLCounters    = "stats/ifl-counters"
	keyPunt           = "packet/punt"
	keyInject         = "packet/inject"
	keyLinkState      = "stats/link-state"
	keyTrapAdd        = "trap/add"
	keyTrapDelete     = "trap/delete"
	keyAuthChallenge  = "tnp/auth-challenge"
	keyAuthResponse   = "tnp/auth-response"
	keyAuthConfirm    = "tnp/auth-confirm"
	keyApplyError     = "stats/apply-error"
)

func hdr(t Type, s Subtype) Header { return Header{Type: t, Subtype: s, Opcode: OpcodeRequest} }

// ---- tnp ----

// Port binds an IFL name of an FPC to a driver resource ("xe-3/1/0" ->
// "veth31"), as in hal.Config.Ports.
type Port struct {
	IFL      string
	Resource string
}

// Register is the first message an FPC sends on a new connection
// (tnp/register, FPC -> RE).
//
// Body: slot u16, TNP address u32, driver name (u8 length + bytes), PFE
// count u16 + PFE ids u16 each, port count u16 + ports (IFL name and
// resource name, each u8 length + bytes).
type Register struct {
	Slot   uint16
	Addr   TNPAddr // the FPC's own TNP address, FPCAddr(Slot)
	Driver string  // "swpfe", "trio", "afpacket"
	PFEs   []hal.PFEID
	Ports  []Port
}

// Header implements Message.
func (m *Register) Header() Header { return hdr(TypeTNP, SubRegister) }

// AppendBody implements Message.
func (m *Register) AppendBody(b []byte) ([]byte, error) {
	var err error
	b = be16(b, m.Slot)
	b = be32(b, uint32(m.Addr))
	if b, err = appendStr8(b, keyRegister, "driver name", m.Driver); err != nil {
		return b, err
	}
	if err = checkCount(keyRegister, "PFE", len(m.PFEs)); err != nil {
		return b, err
	}
	b = be16(b, uint16(len(m.PFEs)))
	for _, p := range m.PFEs {
		b = be16(b, uint16(p))
	}
	if err = checkCount(keyRegister, "port", len(m.Ports)); err != nil {
		return b, err
	}
	b = be16(b, uint16(len(m.Ports)))
	for _, p := range m.Ports {
		if b, err = appendStr8(b, keyRegister, "port IFL name", p.IFL); err != nil {
			return b, err
		}
		if b, err = appendStr8(b, keyRegister, "port resource", p.Resource); err != nil {
			return b, err
		}
	}
	return b, nil
}

// DecodeBody implements Message.
func (m *Register) DecodeBody(b []byte) error {
	d := dec{b: b, key: keyRegister}
	m.Slot = d.u16("slot")
	m.Addr = TNPAddr(d.u32("TNP address"))
	m.Driver = d.str8("driver name")
	m.PFEs = nil
	if n := d.count("PFE", 2); n > 0 {
		m.PFEs = make([]hal.PFEID, n)
		for i := range m.PFEs {
			m.PFEs[i] = hal.PFEID(d.u16("PFE id"))
		}
	}
	m.Ports = nil
	if n := d.count("port", 2); n > 0 {
		m.Ports = make([]Port, n)
		for i := range m.Ports {
			m.Ports[i] = Port{IFL: d.str8("port IFL name"), Resource: d.str8("port resource")}
		}
	}
	return d.done("ports")
}

// AckCode is the result of a registration.
type AckCode uint16

// Registration results.
const (
	AckOK        AckCode = 0
	AckSlotInUse AckCode = 1 // another FPC holds the slot
	AckBadSlot   AckCode = 2 // slot out of range or not configured
	AckVersion   AckCode = 3 // incompatible protocol
	// AckNotMaster: this RE is not the master routing engine (a backup);
	// the card tries the next RE address it knows.
	AckNotMaster AckCode = 4
	// AckAuth: the registration did not prove the shared key.
	AckAuth AckCode = 5
)

func (c AckCode) String() string {
	switch c {
	case AckOK:
		return "ok"
	case AckSlotInUse:
		return "slot-in-use"
	case AckBadSlot:
		return "bad-slot"
	case AckVersion:
		return "version"
	case AckNotMaster:
		return "not master"
	case AckAuth:
		return "auth"
	}
	return fmt.Sprintf("error-%d", uint16(c))
}

// RegisterAck answers Register (tnp/register-ack, RE -> FPC, opcode 2).
//
// Body: error code u16, reason (u16 length + bytes), RE TNP address u32,
// keepalive interval in milliseconds u32.
type RegisterAck struct {
	Error     AckCode
	Reason    string        // human-readable, empty when Error is AckOK
	Master    TNPAddr       // the RE's TNP address (TNPMaster)
	Keepalive time.Duration // keepalive interval the FPC must use; whole milliseconds on the wire
}

// Header implements Message.
func (m *RegisterAck) Header() Header {
	return Header{Type: TypeTNP, Subtype: SubRegisterAck, Opcode: OpcodeReply}
}

// AppendBody implements Message.
func (m *RegisterAck) AppendBody(b []byte) ([]byte, error) {
	var err error
	b = be16(b, uint16(m.Error))
	if b, err = appendStr16(b, keyRegisterAck, "reason", m.Reason); err != nil {
		return b, err
	}
	b = be32(b, uint32(m.Master))
	ms := m.Keepalive / time.Millisecond
	if ms < 0 || ms > math.MaxUint32 || m.Keepalive%time.Millisecond != 0 {
		return b, invalid(keyRegisterAck, "keepalive interval %v is not 0..%d whole milliseconds", m.Keepalive, uint32(math.MaxUint32))
	}
	return be32(b, uint32(ms)), nil
}

// DecodeBody implements Message.
func (m *RegisterAck) DecodeBody(b []byte) error {
	d := dec{b: b, key: keyRegisterAck}
	m.Error = AckCode(d.u16("error"))
	m.Reason = d.str16("reason")
	m.Master = TNPAddr(d.u32("RE TNP address"))
	m.Keepalive = time.Duration(d.u32("keepalive interval")) * time.Millisecond
	return d.done("keepalive interval")
}

// Keepalive is sent by both ends every keepalive interval as a request
// (opcode 1); the receiver echoes it as a reply (opcode 2), from which the
// sender measures the round-trip time. Sessions handle keepalives
// themselves. Body: seq u32, sent time in Unix nanoseconds u64.
type Keepalive struct {
	Seq   uint32
	Sent  int64 // sender's clock, Unix nanoseconds; echoed unchanged
	Reply bool  // opcode 2
}

// Header implements Message.
func (m *Keepalive) Header() Header {
	h := hdr(TypeTNP, SubKeepalive)
	if m.Reply {
		h.Opcode = OpcodeReply
	}
	return h
}

func (m *Keepalive) setOpcode(op uint16) { m.Reply = op == OpcodeReply }

// AppendBody implements Message.
func (m *Keepalive) AppendBody(b []byte) ([]byte, error) {
	return be64(be32(b, m.Seq), uint64(m.Sent)), nil
}

// DecodeBody implements Message. The opcode (Reply) is set by the frame
// decoder.
func (m *Keepalive) DecodeBody(b []byte) error {
	if err := wantLen(keyKeepalive, b, 12); err != nil {
		return err
	}
	m.Seq = binary.BigEndian.Uint32(b)
	m.Sent = int64(binary.BigEndian.Uint64(b[4:]))
	return nil
}

// ResyncBegin starts a full download after (re)connection (tnp/resync-begin,
// RE -> FPC): the FPC marks what it has, the download that follows
// refreshes it. Body: generation u32.
type ResyncBegin struct{ Generation uint32 }

// Header implements Message.
func (m *ResyncBegin) Header() Header { return hdr(TypeTNP, SubResyncBegin) }

// AppendBody implements Message.
func (m *ResyncBegin) AppendBody(b []byte) ([]byte, error) { return be32(b, m.Generation), nil }

// DecodeBody implements Message.
func (m *ResyncBegin) DecodeBody(b []byte) error {
	if err := wantLen(keyResyncBegin, b, 4); err != nil {
		return err
	}
	m.Generation = binary.BigEndian.Uint32(b)
	return nil
}

// ResyncEnd ends the full download of the same generation: the FPC sweeps
// what was not refreshed (tnp/resync-end). Body: generation u32.
type ResyncEnd struct{ Generation uint32 }

// Header implements Message.
func (m *ResyncEnd) Header() Header { return hdr(TypeTNP, SubResyncEnd) }

// AppendBody implements Message.
func (m *ResyncEnd) AppendBody(b []byte) ([]byte, error) { return be32(b, m.Generation), nil }

// DecodeBody implements Message.
func (m *ResyncEnd) DecodeBody(b []byte) error {
	if err := wantLen(keyResyncEnd, b, 4); err != nil {
		return err
	}
	m.Generation = binary.BigEndian.Uint32(b)
	return nil
}

// ---- ifl ----

// Body of ifl/add and ifl/change: index u32, kind u8, PFE u16, up u8, MTU
// u16, MAC (u8 length + bytes), name (u8 length + bytes), address (u8
// family length 0 or 4, 4 address bytes, u8 prefix bits; all zero when
// there is no address), member count u16 + member IFL index u32 each.
func appendIFL(b []byte, key string, l *hal.IFL) ([]byte, error) {
	var err error
	b = be32(b, uint32(l.Index))
	b = append(b, byte(l.Kind))
	b = be16(b, uint16(l.PFE))
	b = append(b, boolByte(l.Up))
	b = be16(b, l.MTU)
	if len(l.MAC) > math.MaxUint8 {
		return b, invalid(key, "MAC length %d exceeds %d", len(l.MAC), math.MaxUint8)
	}
	b = append(b, byte(len(l.MAC)))
	b = append(b, l.MAC...)
	if b, err = appendStr8(b, key, "name", l.Name); err != nil {
		return b, err
	}
	switch {
	case !l.Addr.IsValid():
		b = append(b, 0, 0, 0, 0, 0, 0)
	case l.Addr.Addr().Unmap().Is4():
		a := l.Addr.Addr().Unmap().As4()
		bits := l.Addr.Bits()
		if l.Addr.Addr().Is4In6() {
			bits -= 96
		}
		if bits < 0 {
			return b, invalid(key, "address %s has no IPv4 prefix", l.Addr)
		}
		b = append(b, 4, a[0], a[1], a[2], a[3], byte(bits))
	default:
		return b, invalid(key, "address %s is not IPv4", l.Addr)
	}
	if err = checkCount(key, "member", len(l.Members)); err != nil {
		return b, err
	}
	b = be16(b, uint16(len(l.Members)))
	for _, x := range l.Members {
		b = be32(b, uint32(x))
	}
	return b, nil
}

func decodeIFL(b []byte, key string, l *hal.IFL) error {
	d := dec{b: b, key: key}
	l.Index = hal.IFLIndex(d.u32("index"))
	l.Kind = hal.IFLKind(d.u8("kind"))
	l.PFE = hal.PFEID(d.u16("PFE"))
	l.Up = d.bool("up")
	l.MTU = d.u16("MTU")
	l.MAC = nil
	if mac := d.bytesN("MAC", int(d.u8("MAC length"))); len(mac) > 0 {
		l.MAC = net.HardwareAddr(append([]byte(nil), mac...))
	}
	l.Name = d.str8("name")
	family := d.u8("address family length")
	addr := d.addr4("address")
	bits := d.u8("address prefix bits")
	l.Addr = netip.Prefix{}
	if d.err == nil {
		switch family {
		case 0:
			if addr != netip.IPv4Unspecified() || bits != 0 {
				d.err = malformed(key, "address %s/%d with family length 0, want zeros", addr, bits)
			}
		case 4:
			if bits > 32 {
				d.err = malformed(key, "address prefix bits %d, want 0..32", bits)
			} else {
				l.Addr = netip.PrefixFrom(addr, int(bits))
			}
		default:
			d.err = malformed(key, "address family length %d, want 0 or 4", family)
		}
	}
	l.Members = nil
	if n := d.count("member", 4); n > 0 {
		l.Members = make([]hal.IFLIndex, n)
		for i := range l.Members {
			l.Members[i] = hal.IFLIndex(d.u32("member"))
		}
	}
	return d.done("members")
}

// IFLAdd creates a logical interface on the FPC (ifl/add, RE -> FPC).
type IFLAdd struct{ IFL hal.IFL }

// Header implements Message.
func (m *IFLAdd) Header() Header { return hdr(TypeIFL, SubAdd) }

// AppendBody implements Message.
func (m *IFLAdd) AppendBody(b []byte) ([]byte, error) { return appendIFL(b, keyIFLAdd, &m.IFL) }

// DecodeBody implements Message.
func (m *IFLAdd) DecodeBody(b []byte) error { return decodeIFL(b, keyIFLAdd, &m.IFL) }

// IFLChange replaces a logical interface (ifl/change, RE -> FPC).
type IFLChange struct{ IFL hal.IFL }

// Header implements Message.
func (m *IFLChange) Header() Header { return hdr(TypeIFL, SubChange) }

// AppendBody implements Message.
func (m *IFLChange) AppendBody(b []byte) ([]byte, error) { return appendIFL(b, keyIFLChange, &m.IFL) }

// DecodeBody implements Message.
func (m *IFLChange) DecodeBody(b []byte) error { return decodeIFL(b, keyIFLChange, &m.IFL) }

// IFLDelete deletes a logical interface (ifl/delete). Body: index u32.
type IFLDelete struct{ Index hal.IFLIndex }

// Header implements Message.
func (m *IFLDelete) Header() Header { return hdr(TypeIFL, SubDelete) }

// AppendBody implements Message.
func (m *IFLDelete) AppendBody(b []byte) ([]byte, error) { return be32(b, uint32(m.Index)), nil }

// DecodeBody implements Message.
func (m *IFLDelete) DecodeBody(b []byte) error {
	if err := wantLen(keyIFLDelete, b, 4); err != nil {
		return err
	}
	m.Index = hal.IFLIndex(binary.BigEndian.Uint32(b))
	return nil
}

// ---- config ----

// ConfigSet pushes one setting to the FPC (config/set, RE -> FPC), e.g.
// "resolve-rate" = "500"; see hal.Tunable for the keys. Body: key and
// value, each u16 length + bytes.
type ConfigSet struct{ Key, Value string }

// Header implements Message.
func (m *ConfigSet) Header() Header { return hdr(TypeConfig, SubSet) }

// AppendBody implements Message.
func (m *ConfigSet) AppendBody(b []byte) ([]byte, error) {
	b, err := appendStr16(b, keyConfigSet, "key", m.Key)
	if err != nil {
		return b, err
	}
	return appendStr16(b, keyConfigSet, "value", m.Value)
}

// DecodeBody implements Message.
func (m *ConfigSet) DecodeBody(b []byte) error {
	d := dec{b: b, key: keyConfigSet}
	m.Key = d.str16("key")
	m.Value = d.str16("value")
	return d.done("value")
}

// ---- next-hop ----

// Body of next-hop/add and next-hop/change: id u32, type u8, IFL u32,
// target u32, member count u16 + member NH id u32 each.
func appendNH(b []byte, key string, nh *hal.NextHop) ([]byte, error) {
	b = be32(b, uint32(nh.ID))
	b = append(b, byte(nh.Type))
	b = be32(b, uint32(nh.IFL))
	b = be32(b, uint32(nh.Target))
	if err := checkCount(key, "member", len(nh.Members)); err != nil {
		return b, err
	}
	b = be16(b, uint16(len(nh.Members)))
	for _, x := range nh.Members {
		b = be32(b, uint32(x))
	}
	return b, nil
}

func decodeNH(b []byte, key string, nh *hal.NextHop) error {
	if len(b) < 15 {
		return malformed(key, "body length %d, want at least 15", len(b))
	}
	nh.ID = hal.NHID(binary.BigEndian.Uint32(b))
	nh.Type = hal.NHType(b[4])
	nh.IFL = hal.IFLIndex(binary.BigEndian.Uint32(b[5:]))
	nh.Target = hal.NHID(binary.BigEndian.Uint32(b[9:]))
	n := int(binary.BigEndian.Uint16(b[13:]))
	if want := 15 + 4*n; len(b) != want {
		return malformed(key, "body length %d, want %d for %d members", len(b), want, n)
	}
	nh.Members = nil
	if n > 0 {
		nh.Members = make([]hal.NHID, n)
		for i := range nh.Members {
			nh.Members[i] = hal.NHID(binary.BigEndian.Uint32(b[15+4*i:]))
		}
	}
	return nil
}

// NHAdd creates a next hop (next-hop/add, RE -> FPC).
type NHAdd struct{ NH hal.NextHop }

// Header implements Message.
func (m *NHAdd) Header() Header { return hdr(TypeNextHop, SubAdd) }

// AppendBody implements Message.
func (m *NHAdd) AppendBody(b []byte) ([]byte, error) { return appendNH(b, keyNHAdd, &m.NH) }

// DecodeBody implements Message.
func (m *NHAdd) DecodeBody(b []byte) error { return decodeNH(b, keyNHAdd, &m.NH) }

// NHChange replaces a next hop (next-hop/change, RE -> FPC).
type NHChange struct{ NH hal.NextHop }

// Header implements Message.
func (m *NHChange) Header() Header { return hdr(TypeNextHop, SubChange) }

// AppendBody implements Message.
func (m *NHChange) AppendBody(b []byte) ([]byte, error) { return appendNH(b, keyNHChange, &m.NH) }

// DecodeBody implements Message.
func (m *NHChange) DecodeBody(b []byte) error { return decodeNH(b, keyNHChange, &m.NH) }

// NHDelete deletes a next hop (next-hop/delete). Body: id u32.
type NHDelete struct{ ID hal.NHID }

// Header implements Message.
func (m *NHDelete) Header() Header { return hdr(TypeNextHop, SubDelete) }

// AppendBody implements Message.
func (m *NHDelete) AppendBody(b []byte) ([]byte, error) { return be32(b, uint32(m.ID)), nil }

// DecodeBody implements Message.
func (m *NHDelete) DecodeBody(b []byte) error {
	if err := wantLen(keyNHDelete, b, 4); err != nil {
		return err
	}
	m.ID = hal.NHID(binary.BigEndian.Uint32(b))
	return nil
}

// ResolveRequest is the resolve-addr-request an FPC sends when a packet
// hits the Resolve NH (next-hop/resolve addr request, FPC -> RE, seed 003).
//
// Body (20 bytes): error u16, resolve NH u16, ingress IFL u32, prefix
// length u16, token u16, group IPv4, source IPv4.
type ResolveRequest struct {
	Error     uint16
	NH        hal.NHID // the Resolve NH hit (983); u16 on the wire
	Ingress   hal.IFLIndex
	PrefixLen uint16 // 64 for an (S,G)
	Token     uint16 // opaque, echoed in logs
	Group     netip.Addr
	Source    netip.Addr
}

// Header implements Message.
func (m *ResolveRequest) Header() Header { return hdr(TypeNextHop, SubResolveAddrRequest) }

// AppendBody implements Message.
func (m *ResolveRequest) AppendBody(b []byte) ([]byte, error) {
	if m.NH > math.MaxUint16 {
		return b, invalid(keyResolveRequest, "NH %d exceeds %d", m.NH, math.MaxUint16)
	}
	b = be16(b, m.Error)
	b = be16(b, uint16(m.NH))
	b = be32(b, uint32(m.Ingress))
	b = be16(b, m.PrefixLen)
	b = be16(b, m.Token)
	b, err := appendAddr4(b, keyResolveRequest, "group", m.Group, false)
	if err != nil {
		return b, err
	}
	return appendAddr4(b, keyResolveRequest, "source", m.Source, false)
}

// DecodeBody implements Message.
func (m *ResolveRequest) DecodeBody(b []byte) error {
	if err := wantLen(keyResolveRequest, b, 20); err != nil {
		return err
	}
	m.Error = binary.BigEndian.Uint16(b)
	m.NH = hal.NHID(binary.BigEndian.Uint16(b[2:]))
	m.Ingress = hal.IFLIndex(binary.BigEndian.Uint32(b[4:]))
	m.PrefixLen = binary.BigEndian.Uint16(b[8:])
	m.Token = binary.BigEndian.Uint16(b[10:])
	m.Group = netip.AddrFrom4([4]byte(b[12:16]))
	m.Source = netip.AddrFrom4([4]byte(b[16:20]))
	return nil
}

// ---- route ----

// routeKeyLen is table u16, prefix length u8, group 4 bytes, source 4 bytes.
const routeKeyLen = 11

// appendKey writes a route key. PrefixLen is 0..32 (a group prefix, source
// 0.0.0.0 on the wire) or 64 (an (S,G)).
func appendKey(b []byte, key string, k *hal.RouteKey) ([]byte, error) {
	if k.PrefixLen > 32 && k.PrefixLen != 64 {
		return b, invalid(key, "prefix length %d, want 0..32 or 64", k.PrefixLen)
	}
	b = be16(b, uint16(k.Table))
	b = append(b, k.PrefixLen)
	b, err := appendAddr4(b, key, "group", k.Group, false)
	if err != nil {
		return b, err
	}
	if k.PrefixLen == 64 {
		return appendAddr4(b, key, "source", k.Source, false)
	}
	if k.Source.IsValid() && !k.Source.IsUnspecified() {
		return b, invalid(key, "source %s set on prefix route /%d", k.Source, k.PrefixLen)
	}
	return append(b, 0, 0, 0, 0), nil
}

// decodeKey reads a route key from the first routeKeyLen bytes of b.
func decodeKey(b []byte, key string, k *hal.RouteKey) error {
	plen := b[2]
	if plen > 32 && plen != 64 {
		return malformed(key, "prefix length %d, want 0..32 or 64", plen)
	}
	k.Table = hal.TableID(binary.BigEndian.Uint16(b))
	k.PrefixLen = plen
	k.Group = netip.AddrFrom4([4]byte(b[3:7]))
	src := [4]byte(b[7:11])
	k.Source = netip.Addr{}
	if plen == 64 {
		k.Source = netip.AddrFrom4(src)
	} else if src != [4]byte{} {
		return malformed(key, "source %s with prefix length %d, want 0.0.0.0", netip.AddrFrom4(src), plen)
	}
	return nil
}

// Body of route/add and route/change (23 bytes): key, NH u32, RPF IFL u32,
// flags u32.
func appendRoute(b []byte, key string, r *hal.Route) ([]byte, error) {
	b, err := appendKey(b, key, &r.Key)
	if err != nil {
		return b, err
	}
	b = be32(b, uint32(r.NH))
	b = be32(b, uint32(r.RPF))
	return be32(b, uint32(r.Flags)), nil
}

func decodeRoute(b []byte, key string, r *hal.Route) error {
	if err := wantLen(key, b, routeKeyLen+12); err != nil {
		return err
	}
	if err := decodeKey(b, key, &r.Key); err != nil {
		return err
	}
	r.NH = hal.NHID(binary.BigEndian.Uint32(b[11:]))
	r.RPF = hal.IFLIndex(binary.BigEndian.Uint32(b[15:]))
	r.Flags = hal.RouteFlags(binary.BigEndian.Uint32(b[19:]))
	return nil
}

// RouteAdd installs a route (route/add, RE -> FPC).
type RouteAdd struct{ Route hal.Route }

// Header implements Message.
func (m *RouteAdd) Header() Header { return hdr(TypeRoute, SubAdd) }

// AppendBody implements Message.
func (m *RouteAdd) AppendBody(b []byte) ([]byte, error) { return appendRoute(b, keyRouteAdd, &m.Route) }

// DecodeBody implements Message.
func (m *RouteAdd) DecodeBody(b []byte) error { return decodeRoute(b, keyRouteAdd, &m.Route) }

// RouteChange replaces a route (route/change, RE -> FPC).
type RouteChange struct{ Route hal.Route }

// Header implements Message.
func (m *RouteChange) Header() Header { return hdr(TypeRoute, SubChange) }

// AppendBody implements Message.
func (m *RouteChange) AppendBody(b []byte) ([]byte, error) {
	return appendRoute(b, keyRouteChange, &m.Route)
}

// DecodeBody implements Message.
func (m *RouteChange) DecodeBody(b []byte) error { return decodeRoute(b, keyRouteChange, &m.Route) }

// RouteDelete deletes a route (route/delete). Body: the 11-byte key.
type RouteDelete struct{ Key hal.RouteKey }

// Header implements Message.
func (m *RouteDelete) Header() Header { return hdr(TypeRoute, SubDelete) }

// AppendBody implements Message.
func (m *RouteDelete) AppendBody(b []byte) ([]byte, error) {
	return appendKey(b, keyRouteDelete, &m.Key)
}

// DecodeBody implements Message.
func (m *RouteDelete) DecodeBody(b []byte) error {
	if err := wantLen(keyRouteDelete, b, routeKeyLen); err != nil {
		return err
	}
	return decodeKey(b, keyRouteDelete, &m.Key)
}

// ---- stats ----

// RouteHits reports traffic on a route since the last report (stats/route
// hits, FPC -> RE); the RE uses it to refresh the forwarding-cache
// lifetime (seed 003, 360 s by default).
//
// Body (35 bytes): route key, packet delta u64, byte delta u64, ingress IFL
// u32.
type RouteHits struct {
	Key     hal.RouteKey
	Packets uint64 // packets since the previous report
	Bytes   uint64 // bytes since the previous report
	// Ingress is the IFL the traffic arrived on, or 0 when the deltas are
	// ingress-independent (the route's total on this FPC).
	Ingress hal.IFLIndex
}

// Header implements Message.
func (m *RouteHits) Header() Header { return hdr(TypeStats, SubRouteHits) }

// AppendBody implements Message.
func (m *RouteHits) AppendBody(b []byte) ([]byte, error) {
	b, err := appendKey(b, keyRouteHits, &m.Key)
	if err != nil {
		return b, err
	}
	b = be64(b, m.Packets)
	b = be64(b, m.Bytes)
	return be32(b, uint32(m.Ingress)), nil
}

// DecodeBody implements Message.
func (m *RouteHits) DecodeBody(b []byte) error {
	if err := wantLen(keyRouteHits, b, routeKeyLen+20); err != nil {
		return err
	}
	if err := decodeKey(b, keyRouteHits, &m.Key); err != nil {
		return err
	}
	m.Packets = binary.BigEndian.Uint64(b[11:])
	m.Bytes = binary.BigEndian.Uint64(b[19:])
	m.Ingress = hal.IFLIndex(binary.BigEndian.Uint32(b[27:]))
	return nil
}

// WrongIIF reports an (S,G) packet that failed the RPF check (stats/wrong
// iif, FPC -> RE). Body (16 bytes): ingress IFL u32, expected IFL u32,
// group IPv4, source IPv4.
type WrongIIF struct {
	Ingress  hal.IFLIndex
	Expected hal.IFLIndex
	Group    netip.Addr
	Source   netip.Addr
}

// Header implements Message.
func (m *WrongIIF) Header() Header { return hdr(TypeStats, SubWrongIIF) }

// AppendBody implements Message.
func (m *WrongIIF) AppendBody(b []byte) ([]byte, error) {
	b = be32(b, uint32(m.Ingress))
	b = be32(b, uint32(m.Expected))
	b, err := appendAddr4(b, keyWrongIIF, "group", m.Group, false)
	if err != nil {
		return b, err
	}
	return appendAddr4(b, keyWrongIIF, "source", m.Source, false)
}

// DecodeBody implements Message.
func (m *WrongIIF) DecodeBody(b []byte) error {
	if err := wantLen(keyWrongIIF, b, 16); err != nil {
		return err
	}
	m.Ingress = hal.IFLIndex(binary.BigEndian.Uint32(b))
	m.Expected = hal.IFLIndex(binary.BigEndian.Uint32(b[4:]))
	m.Group = netip.AddrFrom4([4]byte(b[8:12]))
	m.Source = netip.AddrFrom4([4]byte(b[12:16]))
	return nil
}

// IFLCounters reports an interface's counters (stats/ifl counters, FPC ->
// RE). Body (36 bytes): IFL u32, rx packets, rx bytes, tx packets, tx
// bytes, u64 each.
type IFLCounters struct {
	IFL                hal.IFLIndex
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
}

// Header implements Message.
func (m *IFLCounters) Header() Header { return hdr(TypeStats, SubIFLCounters) }

// AppendBody implements Message.
func (m *IFLCounters) AppendBody(b []byte) ([]byte, error) {
	b = be32(b, uint32(m.IFL))
	b = be64(b, m.RxPackets)
	b = be64(b, m.RxBytes)
	b = be64(b, m.TxPackets)
	return be64(b, m.TxBytes), nil
}

// DecodeBody implements Message.
func (m *IFLCounters) DecodeBody(b []byte) error {
	if err := wantLen(keyIFLCounters, b, 36); err != nil {
		return err
	}
	m.IFL = hal.IFLIndex(binary.BigEndian.Uint32(b))
	m.RxPackets = binary.BigEndian.Uint64(b[4:])
	m.RxBytes = binary.BigEndian.Uint64(b[12:])
	m.TxPackets = binary.BigEndian.Uint64(b[20:])
	m.TxBytes = binary.BigEndian.Uint64(b[28:])
	return nil
}

// LinkState reports a port's operational state (stats/link-state, FPC ->
// RE). Body: IFL u32, up u8 (0 or 1).
type LinkState struct {
	IFL hal.IFLIndex
	Up  bool
}

// Header implements Message.
func (m *LinkState) Header() Header { return hdr(TypeStats, SubLinkState) }

// AppendBody implements Message.
func (m *LinkState) AppendBody(b []byte) ([]byte, error) {
	return append(be32(b, uint32(m.IFL)), boolByte(m.Up)), nil
}

// DecodeBody implements Message.
func (m *LinkState) DecodeBody(b []byte) error {
	d := dec{b: b, key: keyLinkState}
	m.IFL = hal.IFLIndex(d.u32("IFL"))
	m.Up = d.bool("up")
	return d.done("up")
}

// ---- trap ----

// TrapAdd programs a host-path trap on the FPC (trap/add, RE -> FPC).
// Body: id u16, kind u8, protocol u8, address (4 bytes), prefix address
// (4 bytes), prefix bits u8; fields a kind does not use are zero.
type TrapAdd struct{ Trap hal.Trap }

// Header implements Message.
func (m *TrapAdd) Header() Header { return hdr(TypeTrap, SubAdd) }

// AppendBody implements Message.
func (m *TrapAdd) AppendBody(b []byte) ([]byte, error) {
	t := &m.Trap
	if err := t.Validate(); err != nil {
		return b, invalid(keyTrapAdd, "%v", err)
	}
	b = be16(b, uint16(t.ID))
	b = append(b, byte(t.Kind), t.Proto)
	var addr, pfx [4]byte
	var bits byte
	if t.Addr.Is4() {
		addr = t.Addr.As4()
	}
	if t.Prefix.IsValid() {
		pfx = t.Prefix.Masked().Addr().As4()
		bits = byte(t.Prefix.Bits())
	}
	b = append(b, addr[:]...)
	b = append(b, pfx[:]...)
	return append(b, bits), nil
}

// DecodeBody implements Message.
func (m *TrapAdd) DecodeBody(b []byte) error {
	if err := wantLen(keyTrapAdd, b, 13); err != nil {
		return err
	}
	d := dec{b: b, key: keyTrapAdd}
	t := hal.Trap{ID: hal.TrapID(d.u16("id")), Kind: hal.TrapKind(d.u8("kind")), Proto: d.u8("protocol")}
	addr := d.addr4("address")
	pfx := d.addr4("prefix")
	bits := d.u8("prefix bits")
	switch t.Kind {
	case hal.TrapARP, hal.TrapLocal:
		t.Addr = addr
	case hal.TrapGroup:
		if bits > 32 {
			return malformed(keyTrapAdd, "prefix bits %d, want 0..32", bits)
		}
		t.Prefix = netip.PrefixFrom(pfx, int(bits))
	}
	if err := t.Validate(); err != nil {
		return malformed(keyTrapAdd, "%v", err)
	}
	// Fields the kind does not use must be zero (canonical encoding).
	if enc, err := (&TrapAdd{Trap: t}).AppendBody(nil); err != nil || !bytes.Equal(enc, b) {
		return malformed(keyTrapAdd, "fields a %s trap does not use are not zero", t.Kind)
	}
	m.Trap = t
	return d.done("prefix bits")
}

// TrapDelete removes a trap (trap/delete, RE -> FPC). Body: id u16.
type TrapDelete struct{ ID hal.TrapID }

// Header implements Message.
func (m *TrapDelete) Header() Header { return hdr(TypeTrap, SubDelete) }

// AppendBody implements Message.
func (m *TrapDelete) AppendBody(b []byte) ([]byte, error) { return be16(b, uint16(m.ID)), nil }

// DecodeBody implements Message.
func (m *TrapDelete) DecodeBody(b []byte) error {
	if err := wantLen(keyTrapDelete, b, 2); err != nil {
		return err
	}
	m.ID = hal.TrapID(binary.BigEndian.Uint16(b))
	return nil
}

// ---- packet ----

// maxFrameInBody is the largest Ethernet frame a punt or inject carries:
// the u16 body length minus the 6-byte IFL and trap id or flags.
const maxFrameInBody = math.MaxUint16 - 6

func appendPacket(b []byte, key string, ifl hal.IFLIndex, word uint16, frame []byte) ([]byte, error) {
	if len(frame) > maxFrameInBody {
		return b, invalid(key, "frame length %d exceeds %d", len(frame), maxFrameInBody)
	}
	return append(be16(be32(b, uint32(ifl)), word), frame...), nil
}

func decodePacket(b []byte, key, wordName string) (hal.IFLIndex, uint16, []byte, error) {
	if len(b) < 6 {
		return 0, 0, nil, malformed(key, "body length %d, want at least 6 (IFL and %s)", len(b), wordName)
	}
	var frame []byte
	if len(b) > 6 {
		frame = append([]byte(nil), b[6:]...)
	}
	return hal.IFLIndex(binary.BigEndian.Uint32(b)), binary.BigEndian.Uint16(b[4:]), frame, nil
}

// Punt carries a packet a host-path trap sent to the RE (packet/punt, FPC
// -> RE). Body: ingress IFL u32, trap id u16, then the Ethernet frame.
type Punt struct {
	Ingress hal.IFLIndex
	Trap    hal.TrapID
	Frame   []byte
}

// Header implements Message.
func (m *Punt) Header() Header { return hdr(TypePacket, SubPunt) }

// AppendBody implements Message.
func (m *Punt) AppendBody(b []byte) ([]byte, error) {
	return appendPacket(b, keyPunt, m.Ingress, uint16(m.Trap), m.Frame)
}

// DecodeBody implements Message.
func (m *Punt) DecodeBody(b []byte) (err error) {
	var trap uint16
	m.Ingress, trap, m.Frame, err = decodePacket(b, keyPunt, "trap id")
	m.Trap = hal.TrapID(trap)
	return err
}

// InjectForward is the Inject flag that hands the frame to the PFE as if
// it had arrived on IFL (the RP forwarding a decapsulated Register down the
// tree from pd-), rather than sending it out of IFL.
const InjectForward uint16 = 1

// Inject asks an FPC to send a control packet of the RE out of a port, or
// with Forward to forward it as received on IFL (packet/inject, RE ->
// FPC). Body: IFL u32, flags u16 (bit 0: forward), then the Ethernet
// frame. FPCs handle injects ahead of downloads.
type Inject struct {
	Egress  hal.IFLIndex
	Forward bool
	Frame   []byte
}

// Header implements Message.
func (m *Inject) Header() Header { return hdr(TypePacket, SubInject) }

// AppendBody implements Message.
func (m *Inject) AppendBody(b []byte) ([]byte, error) {
	var flags uint16
	if m.Forward {
		flags = InjectForward
	}
	return appendPacket(b, keyInject, m.Egress, flags, m.Frame)
}

// DecodeBody implements Message.
func (m *Inject) DecodeBody(b []byte) (err error) {
	var flags uint16
	m.Egress, flags, m.Frame, err = decodePacket(b, keyInject, "flags")
	if err == nil && flags&^InjectForward != 0 {
		return malformed(keyInject, "flags %#04x: unknown bits", flags)
	}
	m.Forward = flags&InjectForward != 0
	return err
}
