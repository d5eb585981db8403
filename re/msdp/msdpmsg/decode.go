package msdpmsg

import (
	"fmt"
	"io"
)

// checkHeader validates what the 3-octet header alone can tell: the length
// covers the header and the type's fixed part. It runs before a byte of
// the value is buffered.
func checkHeader(t Type, length int) error {
	switch {
	case length == 0:
		return formatErr(t, "length", "zero (the length counts the 3-octet header)")
	case length < HeaderLen:
		return formatErr(t, "length", "%d is shorter than the 3-octet header", length)
	}
	switch t {
	case TypeSourceActive, TypeSAResponse:
		if length < SAHeaderLen {
			return formatErr(t, "length", "%d is shorter than the %d-octet entry count and RP address", length, SAHeaderLen)
		}
	case TypeSARequest:
		if length < SARequestLen {
			return formatErr(t, "length", "%d is shorter than the %d octets of an SA-Request", length, SARequestLen)
		}
	}
	return nil
}

// arena hands out the Source-Actives and entries of one Decode call from
// a few shared allocations instead of two per SA (a stream of one-entry
// SAs otherwise costs two allocations per entry). Nothing is reused across
// calls: messages already returned are never overwritten. A nil arena
// allocates each value on its own.
type arena struct {
	entries []Entry
	sas     []SourceActive
}

// arenaChunk is how many entries (or SAs) one arena allocation holds: a
// 64 KiB read carries at most 5,400 entries.
const arenaChunk = 2048

func (a *arena) newEntries(n int) []Entry {
	if a == nil || n > arenaChunk {
		return make([]Entry, n)
	}
	if len(a.entries) < n {
		a.entries = make([]Entry, arenaChunk)
	}
	es := a.entries[:n:n]
	a.entries = a.entries[n:]
	return es
}

func (a *arena) newSA() *SourceActive {
	if a == nil {
		return &SourceActive{}
	}
	if len(a.sas) == 0 {
		a.sas = make([]SourceActive, arenaChunk/8)
	}
	sa := &a.sas[0]
	a.sas = a.sas[1:]
	return sa
}

// decodeValue decodes one TLV whose header said length; tlv holds its first
// min(length, MaxTLVLen) octets, header included. The result shares no
// memory with tlv.
func decodeValue(t Type, length int, tlv []byte, ar *arena) (Message, error) {
	switch t {
	case TypeKeepAlive:
		return KeepAlive{}, nil
	case TypeSARequest:
		return &SARequest{Group: addr4(tlv[4:8])}, nil
	case TypeSourceActive:
		sa, err := decodeSA(t, length, tlv, ar)
		if err != nil {
			return nil, err
		}
		return sa, nil
	case TypeSAResponse:
		sa, err := decodeSA(t, length, tlv, nil)
		if err != nil {
			return nil, err
		}
		return &SAResponse{SourceActive: *sa}, nil
	}
	u := &Unknown{T: t}
	if len(tlv) > HeaderLen {
		u.Value = append([]byte(nil), tlv[HeaderLen:]...)
	}
	return u, nil
}

func decodeSA(t Type, length int, tlv []byte, ar *arena) (*SourceActive, error) {
	count := int(tlv[3])
	need := SAHeaderLen + count*EntryLen
	if length < need {
		return nil, formatErr(t, "entry count", "%d entries need %d octets, the length is %d", count, need, length)
	}
	for i := range count {
		if s := tlv[SAHeaderLen+i*EntryLen+3]; s != SprefixLen {
			return nil, formatErr(t, "sprefix len", "entry %d has %d, must be 32", i, s)
		}
	}
	sa := ar.newSA()
	sa.RP = addr4(tlv[4:8])
	if count > 0 {
		sa.Entries = ar.newEntries(count)
		for i := range sa.Entries {
			e := tlv[SAHeaderLen+i*EntryLen:]
			sa.Entries[i] = Entry{Group: addr4(e[4:8]), Source: addr4(e[8:12])}
		}
	}
	if len(tlv) > need {
		sa.Data = append([]byte(nil), tlv[need:]...)
	}
	return sa, nil
}

// DecodeTLV decodes the TLV at the start of b and returns it with the
// number of octets it occupies (its length field). It returns
// io.ErrUnexpectedEOF if b holds less than the whole TLV, and a
// *FormatError (wrapping ErrMalformed) for a malformed one. Of a TLV longer
// than MaxTLVLen only the first MaxTLVLen octets are decoded (RFC 3618 §12).
func DecodeTLV(b []byte) (Message, int, error) {
	if len(b) < HeaderLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	t, length := Type(b[0]), be16(b[1:])
	if err := checkHeader(t, length); err != nil {
		return nil, 0, err
	}
	if len(b) < length {
		return nil, 0, io.ErrUnexpectedEOF
	}
	m, err := decodeValue(t, length, b[:min(length, MaxTLVLen)], nil)
	if err != nil {
		return nil, 0, err
	}
	return m, length, nil
}

// DecodeAll decodes a buffer of whole TLVs (a capture's TCP payload, a
// test vector). A trailing partial TLV is an io.ErrUnexpectedEOF error.
func DecodeAll(b []byte) ([]Message, error) {
	var out []Message
	for off := 0; off < len(b); {
		m, n, err := DecodeTLV(b[off:])
		if err != nil {
			return out, fmt.Errorf("TLV at offset %d: %w", off, err)
		}
		out = append(out, m)
		off += n
	}
	return out, nil
}

// Pending is a Decoder's state between two TLV boundaries: the octets of
// a TLV not yet complete and, while the tail of an over-long TLV is being
// discarded, how many octets remain to discard. Together with the stream
// offset it is what a backup routing engine needs to continue a stream it
// adopts (Resume).
type Pending struct {
	Partial []byte `json:"partial,omitempty"`
	Skip    int    `json:"skip,omitempty"`
}

// Decoder decodes a TCP byte stream of TLVs fed in pieces of any size. It
// buffers at most one TLV (≤ MaxTLVLen octets) whatever the stream holds,
// and stops at the first malformed TLV: the error is sticky, because a
// stream cannot be resynchronised after a bad length.
type Decoder struct {
	pend      []byte // partial TLV, len < its target length
	skip      int    // octets still to discard of an over-long TLV
	fed       uint64 // octets given to Decode
	msgs      uint64 // TLVs decoded
	truncated uint64 // TLVs longer than MaxTLVLen (tail discarded)
	err       error
}

// NewDecoder returns a Decoder at the start of a stream.
func NewDecoder() *Decoder { return &Decoder{} }

// Resume returns a Decoder that continues a stream another Decoder left
// in state p (see Pending). It fails if p could not have come from a
// Decoder: a partial TLV that is already complete or already malformed.
func Resume(p Pending) (*Decoder, error) {
	d := &Decoder{skip: p.Skip}
	if p.Skip < 0 || (p.Skip > 0 && len(p.Partial) > 0) {
		return nil, fmt.Errorf("resume decoder: skip %d with %d partial octets", p.Skip, len(p.Partial))
	}
	if len(p.Partial) > 0 {
		if len(p.Partial) >= HeaderLen {
			t, length := Type(p.Partial[0]), be16(p.Partial[1:])
			if err := checkHeader(t, length); err != nil {
				return nil, fmt.Errorf("resume decoder: %w", err)
			}
			if len(p.Partial) >= min(length, MaxTLVLen) {
				return nil, fmt.Errorf("resume decoder: partial TLV of %d octets is complete", len(p.Partial))
			}
		}
		d.pend = make([]byte, len(p.Partial), MaxTLVLen)
		copy(d.pend, p.Partial)
	}
	return d, nil
}

// Pending returns the partial TLV and the discard count (copies).
func (d *Decoder) Pending() Pending {
	p := Pending{Skip: d.skip}
	if len(d.pend) > 0 {
		p.Partial = append([]byte(nil), d.pend...)
	}
	return p
}

// Buffered is the number of octets of the partial TLV held.
func (d *Decoder) Buffered() int { return len(d.pend) }

// Fed is the number of octets given to Decode since NewDecoder or Resume.
func (d *Decoder) Fed() uint64 { return d.fed }

// Decoded is the number of TLVs decoded.
func (d *Decoder) Decoded() uint64 { return d.msgs }

// Truncated is the number of TLVs longer than MaxTLVLen whose tail was
// discarded.
func (d *Decoder) Truncated() uint64 { return d.truncated }

// Err is the sticky decoding error, nil while the stream is sound.
func (d *Decoder) Err() error { return d.err }

// Decode appends to out the TLVs that p completes, keeps an incomplete
// tail for the next call, and returns the extended slice. The
// Source-Actives of one call share a few allocations: keeping one of them
// keeps the others' memory too. After a
// malformed TLV it returns the messages decoded before it and the error
// (wrapping ErrMalformed); every later call returns the same error.
func (d *Decoder) Decode(p []byte, out []Message) ([]Message, error) {
	if d.err != nil {
		return out, d.err
	}
	d.fed += uint64(len(p))
	ar := &arena{}
	for len(p) > 0 {
		if d.skip > 0 {
			k := min(d.skip, len(p))
			d.skip -= k
			p = p[k:]
			continue
		}
		if len(d.pend) == 0 && len(p) >= HeaderLen {
			// Fast path: the TLV starts in p; decode in place if whole.
			t, length := Type(p[0]), be16(p[1:])
			if err := checkHeader(t, length); err != nil {
				d.err = err
				return out, err
			}
			target := min(length, MaxTLVLen)
			if len(p) >= target {
				m, err := decodeValue(t, length, p[:target], ar)
				if err != nil {
					d.err = err
					return out, err
				}
				out = append(out, m)
				d.count(length)
				p = p[target:]
				continue
			}
		}
		// Slow path: assemble the TLV in d.pend (bounded by MaxTLVLen).
		if d.pend == nil {
			d.pend = make([]byte, 0, MaxTLVLen)
		}
		if len(d.pend) < HeaderLen {
			k := min(HeaderLen-len(d.pend), len(p))
			d.pend = append(d.pend, p[:k]...)
			p = p[k:]
			if len(d.pend) < HeaderLen {
				break
			}
			if err := checkHeader(Type(d.pend[0]), be16(d.pend[1:])); err != nil {
				d.err = err
				return out, err
			}
		}
		t, length := Type(d.pend[0]), be16(d.pend[1:])
		target := min(length, MaxTLVLen)
		k := min(target-len(d.pend), len(p))
		d.pend = append(d.pend, p[:k]...)
		p = p[k:]
		if len(d.pend) < target {
			break
		}
		m, err := decodeValue(t, length, d.pend, ar)
		if err != nil {
			d.err = err
			return out, err
		}
		out = append(out, m)
		d.pend = d.pend[:0]
		d.count(length)
	}
	return out, nil
}

// count books one decoded TLV of the given length field and starts
// discarding its tail beyond MaxTLVLen.
func (d *Decoder) count(length int) {
	d.msgs++
	if length > MaxTLVLen {
		d.truncated++
		d.skip = length - MaxTLVLen
	}
}
