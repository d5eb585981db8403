package ipc

import (
	"errors"
	"io"
)

// readBufferSize is the initial read buffer: 64 KiB takes a batch of about
// 2,000 route adds per read system call, and grows only for larger frames.
const readBufferSize = 64 << 10

// Reader reads frames from a stream. It reuses one read buffer across
// frames; the messages it returns share no memory with it and may be kept.
// A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	lim        Limits
	buf        []byte
	start, end int  // unread bytes are buf[start:end]
	exact      bool // never read past the current frame (handshake)
	last       int  // size of the last frame read, header included
}

// NewReader returns a Reader of r that applies lim (zero fields: defaults).
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: r, lim: lim.withDefaults()}
}

// newExactReader returns a Reader that reads no byte beyond the frames it
// returns, so that the connection can be handed to another Reader later.
func newExactReader(r io.Reader, lim Limits) *Reader {
	rd := NewReader(r, lim)
	rd.exact = true
	return rd
}

// fill makes n bytes available at buf[start:].
func (r *Reader) fill(n int) error {
	have := r.end - r.start
	if have >= n {
		return nil
	}
	if len(r.buf)-r.start < n {
		if len(r.buf) < n {
			size := readBufferSize
			if r.exact {
				size = 512
			}
			size = max(size, n)
			nb := make([]byte, size)
			copy(nb, r.buf[r.start:r.end])
			r.buf = nb
		} else {
			copy(r.buf, r.buf[r.start:r.end])
		}
		r.start, r.end = 0, have
	}
	dst := r.buf[r.end:]
	if r.exact {
		dst = r.buf[r.end : r.start+n]
	}
	got, err := io.ReadAtLeast(r.r, dst, n-have)
	r.end += got
	if err != nil {
		if errors.Is(err, io.EOF) && r.end-r.start > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// ReadFrame reads one frame and returns its messages. It returns io.EOF if
// the stream ends cleanly between frames, io.ErrUnexpectedEOF if it ends
// inside one, and errors wrapping ErrMalformed for bad frames; a Reader
// cannot resynchronise after a malformed frame.
func (r *Reader) ReadFrame() ([]Message, error) {
	if err := r.fill(frameHeaderLen); err != nil {
		return nil, err
	}
	count, n, err := parseFrameHeader(r.buf[r.start:], r.lim)
	if err != nil {
		return nil, err
	}
	if err := r.fill(frameHeaderLen + n); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	body := r.buf[r.start+frameHeaderLen : r.start+frameHeaderLen+n]
	r.start += frameHeaderLen + n
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	r.last = frameHeaderLen + n
	return decodeMessages(body, count)
}
