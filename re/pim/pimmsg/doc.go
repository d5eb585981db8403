// Package pimmsg is the PIMv2 wire codec (RFC 7761 §4.9) for IPv4: Hello
// with its options, Join/Prune, Register and Null-Register,
// Register-Stop, Assert, Bootstrap and Candidate-RP-Advertisement
// (RFC 5059, with the S-bit of seed 001), and the PIM Flooding Mechanism
// (RFC 8364) with the GIR TLV of seed 002. It also builds and parses the
// IPv4 packet around a message, because the routing engine injects whole
// frames. It is a leaf package: it imports nothing else from mxfwd.
//
// # Messages
//
// A message is the IP payload: the 4-byte PIM header (version 2, type,
// the header's flag byte, checksum) and the body. Each type has a struct
// (*Hello, *JoinPrune, *Register, *RegisterStop, *Assert, *Bootstrap,
// *CandidateRPAdv, *PFM) implementing Message. Append and Marshal encode
// one, computing the checksum; Decode verifies the checksum and returns one.
// Addresses are netip.Addr; only the IPv4 family (1) with native encoding
// (0) is accepted in Encoded-Unicast/Group/Source addresses — an IPv6 PIM
// checksum needs the IPv6 pseudo-header, which this IPv4 codec does not
// model.
//
// Checksums follow RFC 7761 §4.9: the one's complement sum over the whole
// message, except Register, whose checksum covers the PIM header and the
// flags word only (§4.9.3). As that section asks, a Register whose checksum
// was computed over the whole message is accepted as well.
//
// # Decoding discipline
//
// Decoders trust no length and no count: every field is bounds-checked
// before it is read, counts are checked against the bytes left before any
// slice is allocated, and every error wraps ErrMalformed plus, where one
// applies, a more precise sentinel (ErrTruncated, ErrChecksum, ErrVersion,
// ErrUnknownType, ErrAddressFamily, ErrUnsupported) that a caller can count
// per reason with errors.Is. The error is a *FieldError naming the message
// and the field ("join/prune: group 2 (239.1.1.1): pruned source 3:
// encoded-source: address family 2, want 1 (IPv4)"). Bad input never panics;
// the fuzz tests check that decode → encode → decode gives the same
// message.
//
// Reserved bits are ignored on receipt and sent as zero, as RFC 7761 asks;
// unknown Hello options and PFM TLVs are kept (type and value) and encoded
// again unchanged, so that a PFM can be forwarded with TLVs this router
// does not understand (RFC 8364 §3, transitive bit).
//
// # Concurrency
//
// Messages are plain values without locks. A decoded message shares no
// memory with the input buffer. All functions are safe for concurrent use;
// a message value must not be modified while another goroutine encodes it.
package pimmsg
