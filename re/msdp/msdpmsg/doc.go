// Package msdpmsg is the wire codec of MSDP (RFC 3618 §12): the TLV framing
// (type u8, length u16 counting the 3-byte header), Source-Active (type 1),
// SA-Request (2) and SA-Response (3) (used by seed 001's group-specific
// peering), KeepAlive (4), and every other type carried opaquely so that the
// caller can count and discard it (§13: an unknown type is silently
// discarded, the session is not reset).
//
// # Decoder discipline
//
// Decoders trust no length. The length field is checked against the TLV
// header (≥ 3) and against the type's fixed part before anything is read;
// an SA's entry count is checked against its length before the entries are
// allocated; every failure wraps ErrMalformed in a *FormatError that names
// the TLV type and the field (length, entry count, sprefix len). These are
// the TLV format errors on which RFC 3618 §13 resets the session.
//
// A TLV longer than the limit (MaxTLVLen, 9192 octets, RFC 3618 §12) is,
// as §12 says, accepted: its first MaxTLVLen octets are decoded and the rest
// is skipped without being buffered, so no TLV ever costs more than
// MaxTLVLen bytes of memory whatever its length field says. A TLV longer
// than its type needs (a KeepAlive of 5 octets, an SA-Request of 12) is
// accepted and the excess ignored; for a Source-Active the excess after the
// entries is the encapsulated data packet (§12.2.1).
//
// Encoding is canonical: reserved fields are sent as zero (§12.2.1) and
// lengths are exact, so decode → encode → decode gives the same messages
// (fuzzed with FRR's bytes in the seed corpus).
//
// # Streams
//
// Decoder takes a TCP byte stream in arbitrary pieces: several TLVs per
// segment, TLVs split across segments. It keeps at most one partial TLV
// (≤ MaxTLVLen bytes) between calls, reports exactly how many input bytes it
// has consumed (whole TLVs), and can hand over / take back its partial TLV
// (Pending, Resume), so that a stream can move to another process at a TLV
// boundary or in the middle of one (non-stop routing, issue #17).
//
// # Concurrency
//
// Messages are plain values; a decoded message shares no memory with the
// input. Encode and DecodeTLV are safe for concurrent use; a Decoder is used
// by one goroutine.
package msdpmsg
