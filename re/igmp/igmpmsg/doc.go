// Package igmpmsg is the IGMP wire codec for a multicast router: IGMPv1
// and IGMPv2 (RFC 2236) membership queries, reports and leaves, and IGMPv3
// (RFC 3376) queries with sources and reports with group records. It also
// builds and parses the IPv4 packet around a message, with the Router
// Alert option IGMP requires (RFC 2236 §2, RFC 3376 §4), because the
// routing engine injects whole frames. It is a leaf package: it imports
// nothing else from mxfwd.
//
// # Messages
//
// A message is the IP payload. *Query, *Report (v1 and v2), *Leave and
// *V3Report implement Message; Append and Marshal encode one, computing the
// checksum over the whole message, and Decode verifies the checksum and
// returns one. A query's version follows from its length and Max Resp Code
// as RFC 3376 §7.1 says: 8 bytes and code 0 is IGMPv1, 8 bytes is IGMPv2,
// 12 bytes or more is IGMPv3; any other length is rejected (the RFC says to
// ignore it). Bytes past the end of a v1/v2 message or of a v3 query's
// source list are covered by the checksum and otherwise ignored (RFC 2236
// §2.5, RFC 3376 §4.1.10); auxiliary data of v3 group records is skipped
// (RFC 3376 §4.2.10: none is defined). Group record types this codec does
// not know are kept with their type so that the receiver can ignore them
// (§4.2.12).
//
// The Max Resp Code and QQIC fields use RFC 3376's floating point form
// (§4.1.1, §4.1.7): DecodeCode and EncodeCode convert, and
// Query.MaxResp/Query.QQI give durations.
//
// # Decoding discipline
//
// Decoders check every length and count against the bytes left before
// reading or allocating. Every decode error wraps ErrMalformed and, where
// one applies, ErrTruncated, ErrChecksum or ErrUnknownType, and is a
// *FieldError naming the field ("v3 report: record 2 (239.1.1.1): source
// 3: need 4 bytes, 2 left"). Encode errors wrap ErrInvalid. Bad input never
// panics; the fuzz tests check decode → encode → decode.
//
// # Concurrency
//
// Messages are plain values without locks; a decoded message shares no
// memory with the input. All functions are safe for concurrent use.
package igmpmsg
