package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	frameHeaderLen   = 8 // count u32 LE, bytes u32 LE
	messageHeaderLen = 8 // type, subtype, length, opcode: u16 LE each
)

// Default limits. 4 MiB holds a batch of 64 Ki route adds (31 bytes each
// with the header, about 2 MiB) with room to spare; 64 Ki messages bound
// the []Message a frame can make the decoder allocate (1 MiB of interface
// values).
const (
	DefaultMaxFrameBytes = 4 << 20
	DefaultMaxMessages   = 65536
)

// Limits bound what a decoder accepts; they are checked before anything is
// allocated. A zero field means its default.
type Limits struct {
	MaxFrameBytes int // the frame's bytes field (everything after the 8-byte frame header)
	MaxMessages   int // the frame's count field
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxFrameBytes: DefaultMaxFrameBytes, MaxMessages: DefaultMaxMessages}
}

func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if l.MaxMessages <= 0 {
		l.MaxMessages = DefaultMaxMessages
	}
	return l
}

func frameErr(format string, args ...any) error {
	return malformedf(nil, "ipc: frame: "+format, args...)
}

// appendMessage appends one message, header and body, to dst.
func appendMessage(dst []byte, m Message) ([]byte, error) {
	h := m.Header()
	at := len(dst)
	dst = append(dst,
		byte(h.Type), byte(h.Type>>8),
		byte(h.Subtype), byte(h.Subtype>>8),
		0, 0,
		byte(h.Opcode), byte(h.Opcode>>8))
	dst, err := m.AppendBody(dst)
	if err != nil {
		return dst[:at], err
	}
	n := len(dst) - at - messageHeaderLen
	if n > math.MaxUint16 {
		return dst[:at], invalid(keyOf(h.Type, h.Subtype), "body length %d exceeds %d", n, math.MaxUint16)
	}
	binary.LittleEndian.PutUint16(dst[at+4:], uint16(n))
	return dst, nil
}

// putFrameHeader fills in the frame header at dst[at:].
func putFrameHeader(dst []byte, at, count int) {
	binary.LittleEndian.PutUint32(dst[at:], uint32(count))
	binary.LittleEndian.PutUint32(dst[at+4:], uint32(len(dst)-at-frameHeaderLen))
}

// AppendFrame appends one frame holding msgs, in order, to dst. It fails,
// returning dst unchanged and an error wrapping ErrInvalidMessage, if msgs
// is empty or a message cannot be encoded. AppendFrame does not apply
// Limits: senders split their batches (Session does).
func AppendFrame(dst []byte, msgs ...Message) ([]byte, error) {
	if len(msgs) == 0 {
		return dst, &sentinelError{msg: "ipc: frame: no messages", errs: []error{ErrInvalidMessage}}
	}
	if uint64(len(msgs)) > math.MaxUint32 {
		return dst, &sentinelError{msg: fmt.Sprintf("ipc: frame: %d messages exceed the count field", len(msgs)), errs: []error{ErrInvalidMessage}}
	}
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)
	var err error
	for _, m := range msgs {
		if dst, err = appendMessage(dst, m); err != nil {
			return dst[:start], err
		}
	}
	if n := len(dst) - start - frameHeaderLen; uint64(n) > math.MaxUint32 {
		return dst[:start], &sentinelError{msg: fmt.Sprintf("ipc: frame: bytes %d exceed %d", n, uint32(math.MaxUint32)), errs: []error{ErrInvalidMessage}}
	}
	putFrameHeader(dst, start, len(msgs))
	return dst, nil
}

// parseFrameHeader validates the 8-byte frame header in b against lim.
func parseFrameHeader(b []byte, lim Limits) (count, n int, err error) {
	c := binary.LittleEndian.Uint32(b)
	nb := binary.LittleEndian.Uint32(b[4:])
	switch {
	case c == 0:
		return 0, 0, frameErr("count 0, want at least 1")
	case uint64(c) > uint64(lim.MaxMessages):
		return 0, 0, frameErr("count %d exceeds limit %d", c, lim.MaxMessages)
	case uint64(nb) > uint64(lim.MaxFrameBytes):
		return 0, 0, frameErr("bytes %d exceeds limit %d", nb, lim.MaxFrameBytes)
	case uint64(nb) < uint64(c)*messageHeaderLen:
		return 0, 0, frameErr("bytes %d too small for count %d (%d bytes of message headers)", nb, c, uint64(c)*messageHeaderLen)
	}
	return int(c), int(nb), nil
}

// decodeMessages decodes count messages that must fill body exactly. The
// messages are allocated together, one slab per message type in the frame.
func decodeMessages(body []byte, count int) ([]Message, error) {
	// Pass 1: walk the headers, validate lengths and types, count each kind.
	var kinds [len(catalog)]int
	distinct, last := 0, -1
	off := 0
	for i := 1; i <= count; i++ {
		if left := len(body) - off; left < messageHeaderLen {
			return nil, malformedf(nil, "ipc: message %d: header needs %d bytes but %d left", i, messageHeaderLen, left)
		}
		h := body[off:]
		t := Type(binary.LittleEndian.Uint16(h))
		s := Subtype(binary.LittleEndian.Uint16(h[2:]))
		l := int(binary.LittleEndian.Uint16(h[4:]))
		op := binary.LittleEndian.Uint16(h[6:])
		k := lookupIndex(t, s)
		if k < 0 {
			return nil, malformedf([]error{ErrUnknownType}, "ipc: message %d: type %d subtype %d: %v", i, t, s, ErrUnknownType)
		}
		if left := len(body) - off - messageHeaderLen; l > left {
			return nil, malformedf(nil, "ipc: message %d (type %d subtype %d): body length %d but %d bytes left", i, t, s, l, left)
		}
		if e := &catalog[k]; op != e.opcode && !(e.reply && op == OpcodeReply) {
			want := fmt.Sprint(e.opcode)
			if e.reply {
				want = "1 or 2"
			}
			return nil, &bodyError{index: i, key: e.key, msg: fmt.Sprintf("opcode %d, want %s", op, want)}
		}
		if kinds[k] == 0 {
			distinct++
		}
		kinds[k]++
		last = k
		off += messageHeaderLen + l
	}
	if off != len(body) {
		return nil, frameErr("bytes %d but count %d messages take %d", len(body), count, off)
	}

	// Allocate: one slab per kind. A frame of one kind (the usual batch)
	// slabs straight into msgs.
	msgs := make([]Message, 0, count)
	var pool []Message
	var start [len(catalog)]int
	if distinct == 1 {
		msgs = catalog[last].slab(count, msgs)
	} else {
		pool = make([]Message, 0, count)
		for k, n := range kinds {
			if n > 0 {
				start[k] = len(pool)
				pool = catalog[k].slab(n, pool)
			}
		}
		msgs = msgs[:count]
	}

	// Pass 2: decode the bodies.
	off = 0
	for i := range count {
		h := body[off:]
		t := Type(binary.LittleEndian.Uint16(h))
		s := Subtype(binary.LittleEndian.Uint16(h[2:]))
		l := int(binary.LittleEndian.Uint16(h[4:]))
		op := binary.LittleEndian.Uint16(h[6:])
		var m Message
		if distinct == 1 {
			m = msgs[i]
		} else {
			k := lookupIndex(t, s)
			m = pool[start[k]]
			start[k]++
			msgs[i] = m
		}
		if os, ok := m.(opcodeSetter); ok {
			os.setOpcode(op)
		}
		if err := m.DecodeBody(body[off+messageHeaderLen : off+messageHeaderLen+l]); err != nil {
			var be *bodyError
			if errors.As(err, &be) {
				e := *be
				e.index = i + 1
				return nil, &e
			}
			return nil, fmt.Errorf("ipc: message %d (%s): %w", i+1, keyOf(t, s), err)
		}
		off += messageHeaderLen + l
	}
	return msgs, nil
}

// DecodeFrame decodes the frame at the start of b and returns its messages
// and the bytes after it. If b holds less than one frame it returns
// io.ErrUnexpectedEOF (but a frame header that breaks lim is reported at
// once). Other errors wrap ErrMalformed and name the field that failed,
// e.g. "ipc: frame: bytes 99999999 exceeds limit 4194304" or "ipc: message
// 3 (type 6 subtype 14): body length 20 but 12 bytes left". The messages
// share no memory with b.
func DecodeFrame(b []byte, lim Limits) (msgs []Message, rest []byte, err error) {
	if len(b) < frameHeaderLen {
		return nil, b, io.ErrUnexpectedEOF
	}
	count, n, err := parseFrameHeader(b, lim.withDefaults())
	if err != nil {
		return nil, b, err
	}
	if len(b)-frameHeaderLen < n {
		return nil, b, io.ErrUnexpectedEOF
	}
	msgs, err = decodeMessages(b[frameHeaderLen:frameHeaderLen+n], count)
	if err != nil {
		return nil, b, err
	}
	return msgs, b[frameHeaderLen+n:], nil
}

// DecodeFrames decodes b, which must hold whole frames only (a hex dump or
// a reassembled stream). It returns the frames decoded before the first
// error; the error names the frame (1-based) and its offset. Trailing bytes
// that do not make a frame are an error wrapping both ErrMalformed and
// io.ErrUnexpectedEOF.
func DecodeFrames(b []byte, lim Limits) ([][]Message, error) {
	var frames [][]Message
	off := 0
	for off < len(b) {
		msgs, rest, err := DecodeFrame(b[off:], lim)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			left := len(b) - off
			if left < frameHeaderLen {
				return frames, malformedf([]error{io.ErrUnexpectedEOF}, "ipc: frame %d at offset %d: %d trailing bytes, a frame header needs %d",
					len(frames)+1, off, left, frameHeaderLen)
			}
			need := frameHeaderLen + int(binary.LittleEndian.Uint32(b[off+4:]))
			return frames, malformedf([]error{io.ErrUnexpectedEOF}, "ipc: frame %d at offset %d: truncated: %d bytes, frame needs %d",
				len(frames)+1, off, left, need)
		}
		if err != nil {
			return frames, withContext(fmt.Sprintf("frame %d at offset %d", len(frames)+1, off), err)
		}
		frames = append(frames, msgs)
		off = len(b) - len(rest)
	}
	return frames, nil
}

// AppendMessages appends msgs, header and body each, without a frame
// header: the pre-encoded form Session.SendEncoded takes, so that a
// download fanned out to many sessions is encoded once. On error dst is
// returned unchanged.
func AppendMessages(dst []byte, msgs ...Message) ([]byte, error) {
	start := len(dst)
	var err error
	for _, m := range msgs {
		if dst, err = appendMessage(dst, m); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// nextEncoded returns the length of the first message in raw, pre-encoded
// by AppendMessages.
func nextEncoded(raw []byte) (int, error) {
	if len(raw) < messageHeaderLen {
		return 0, &sentinelError{msg: fmt.Sprintf("ipc: encoded messages: %d trailing bytes, want a %d-byte header", len(raw), messageHeaderLen), errs: []error{ErrInvalidMessage}}
	}
	n := messageHeaderLen + int(binary.LittleEndian.Uint16(raw[4:]))
	if n > len(raw) {
		return 0, &sentinelError{msg: fmt.Sprintf("ipc: encoded messages: message of %d bytes, %d left", n, len(raw)), errs: []error{ErrInvalidMessage}}
	}
	return n, nil
}
