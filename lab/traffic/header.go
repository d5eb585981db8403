package traffic

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is the start of every datagram the sender emits (network byte
// order):
//
//	0  magic    "MXLT"
//	4  version  1
//	5  flags    bit 0: end of stream (seq carries the number of data datagrams sent)
//	6  hdrlen   32 (bytes of header before the padding)
//	8  stream   stream id chosen by the sender
//	12 reserved 0
//	16 seq      sequence number, 1 for the first data datagram
//	24 sent     send time, nanoseconds since the Unix epoch
//
// The rest of the datagram, up to the requested size, is padding.
type Header struct {
	Flags  uint8
	Stream uint32
	Seq    uint64
	SentNs int64
}

// Wire constants.
const (
	Magic      = 0x4d584c54 // "MXLT"
	Version    = 1
	HeaderLen  = 32
	FlagEnd    = 0x01
	knownFlags = FlagEnd
)

// ErrHeader is wrapped by every decoding error.
var ErrHeader = errors.New("traffic header")

// End reports whether h marks the end of a stream.
func (h Header) End() bool { return h.Flags&FlagEnd != 0 }

// Put writes h into b, which must hold HeaderLen bytes.
func (h Header) Put(b []byte) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:], Magic)
	b[4] = Version
	b[5] = h.Flags
	binary.BigEndian.PutUint16(b[6:], HeaderLen)
	binary.BigEndian.PutUint32(b[8:], h.Stream)
	binary.BigEndian.PutUint32(b[12:], 0)
	binary.BigEndian.PutUint64(b[16:], h.Seq)
	binary.BigEndian.PutUint64(b[24:], uint64(h.SentNs))
}

// Append appends h to b.
func (h Header) Append(b []byte) []byte {
	var a [HeaderLen]byte
	h.Put(a[:])
	return append(b, a[:]...)
}

// Parse decodes the header at the start of a datagram. Errors name the
// field that is wrong.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: length %d, want at least %d", ErrHeader, len(b), HeaderLen)
	}
	if m := binary.BigEndian.Uint32(b[0:]); m != Magic {
		return Header{}, fmt.Errorf("%w: magic %#08x, want %#08x", ErrHeader, m, Magic)
	}
	if b[4] != Version {
		return Header{}, fmt.Errorf("%w: version %d, want %d", ErrHeader, b[4], Version)
	}
	if b[5]&^knownFlags != 0 {
		return Header{}, fmt.Errorf("%w: flags %#02x: unknown bits", ErrHeader, b[5])
	}
	if l := binary.BigEndian.Uint16(b[6:]); l != HeaderLen {
		return Header{}, fmt.Errorf("%w: hdrlen %d, want %d", ErrHeader, l, HeaderLen)
	}
	if r := binary.BigEndian.Uint32(b[12:]); r != 0 {
		return Header{}, fmt.Errorf("%w: reserved %#x, want 0", ErrHeader, r)
	}
	h := Header{
		Flags:  b[5],
		Stream: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint64(b[16:]),
		SentNs: int64(binary.BigEndian.Uint64(b[24:])),
	}
	if h.Seq == 0 && !h.End() {
		return Header{}, fmt.Errorf("%w: seq 0 (data sequence numbers start at 1)", ErrHeader)
	}
	return h, nil
}
