package rpset

import (
	"encoding/binary"
	"net/netip"
)

// DefaultHashMaskLen is the hash mask length used for IPv4 groups when no
// bootstrap message supplied one (RFC 5059 §3.4: "a value of 30 is
// recommended for IPv4"; RFC 7761 §4.7.2).
const DefaultHashMaskLen = 30

// DefaultHashMaskLenV6 is the IPv6 counterpart (RFC 5059 §3.4: 126).
const DefaultHashMaskLenV6 = 126

// digest folds an address to the 32-bit value the hash function works on:
// the address itself for IPv4, the exclusive-or of its four 32-bit words for
// IPv6 (RFC 7761 §4.7.2).
func digest(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:4]) ^ binary.BigEndian.Uint32(b[4:8]) ^
		binary.BigEndian.Uint32(b[8:12]) ^ binary.BigEndian.Uint32(b[12:16])
}

// maskAddr keeps the first maskLen bits of a.
func maskAddr(a netip.Addr, maskLen int) netip.Addr {
	if maskLen < 0 {
		maskLen = 0
	}
	if maskLen > a.BitLen() {
		maskLen = a.BitLen()
	}
	p, err := a.Prefix(maskLen)
	if err != nil {
		return a
	}
	return p.Addr()
}

// Hash is the RP hash function of RFC 7761 §4.7.2:
//
//	Value(G,M,C(i)) = (1103515245 * ((1103515245 * (G&M) + 12345) XOR C(i)) + 12345) mod 2^31
//
// where G is the group, M the hash mask (maskLen leading ones) and C(i) the
// candidate RP's address, both folded to 32 bits for IPv6.
func Hash(group netip.Addr, maskLen int, rp netip.Addr) uint32 {
	g := uint64(digest(maskAddr(group, maskLen)))
	c := uint64(digest(rp))
	v := (1103515245*((1103515245*g+12345)^c) + 12345) % (1 << 31)
	return uint32(v)
}
