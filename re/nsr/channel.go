package nsr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Record is one message on the mirror channel: a type (the mirror data id
// of a client, or a channel message), a key (what the record is about, e.g.
// "master/10.99.0.1" for an MSDP session: instance name and peer address,
// seed 000 §6.b), a payload, and descriptors passed with SCM_RIGHTS.
type Record struct {
	Type  DataID
	Key   string
	Data  []byte
	Files []*os.File
	// Seq numbers a record that wants an acknowledgement (Ack set): the
	// receiver answers RecAck with the same Seq once it has decoded it.
	Seq uint64
	Ack bool
}

// DataID identifies a mirror client (seed 000: mre_data_id) or a channel
// message.
type DataID uint16

// Channel messages.
const (
	RecHello     DataID = 1 // Data: hello JSON
	RecKeepalive DataID = 2 // Data: sequence u64
	RecSyncDone  DataID = 3 // initial replication complete
	RecSwitch    DataID = 4 // planned switchover: the receiver takes over
	RecAck       DataID = 5 // Data: what is acknowledged
	// Client ids start here.
	FirstClient DataID = 16
)

// Limits of the channel's framing. A record holds at most one kernel
// export chunk or one MSDP read; 64 MiB bounds what a corrupt header can
// make the reader allocate.
const (
	maxRecord = 64 << 20
	maxKey    = 1024
	maxFiles  = 64
	headerLen = 20 // type u16, flags u16, key length u16, files u16, data length u32, seq u64
)

const flagAck = 1

// ErrChannel wraps framing errors.
var ErrChannel = errors.New("mirror channel")

// conn is a framed mirror channel over a Unix stream socket. Writes are
// serialised; one goroutine reads.
type conn struct {
	uc  *net.UnixConn
	wmu sync.Mutex

	// Reader state: bytes read and descriptors received, in order.
	rbuf  []byte
	fmu   sync.Mutex
	files []*os.File
}

func newConn(uc *net.UnixConn) *conn { return &conn{uc: uc} }

// write sends one record; its descriptors ride with its first byte. A
// deadline bounds how long a slow peer can hold the writer.
func (c *conn) write(r Record, timeout time.Duration) error {
	if len(r.Key) > maxKey || len(r.Data) > maxRecord || len(r.Files) > maxFiles {
		return fmt.Errorf("%w: record %d too large (key %d, data %d, files %d)", ErrChannel, r.Type, len(r.Key), len(r.Data), len(r.Files))
	}
	b := make([]byte, headerLen, headerLen+len(r.Key)+len(r.Data))
	binary.BigEndian.PutUint16(b[0:], uint16(r.Type))
	if r.Ack {
		binary.BigEndian.PutUint16(b[2:], flagAck)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(r.Key)))
	binary.BigEndian.PutUint16(b[6:], uint16(len(r.Files)))
	binary.BigEndian.PutUint32(b[8:], uint32(len(r.Data)))
	binary.BigEndian.PutUint64(b[12:], r.Seq)
	b = append(b, r.Key...)
	b = append(b, r.Data...)
	var oob []byte
	if len(r.Files) > 0 {
		// The descriptors' numbers without f.Fd(), which would put a
		// shared non-blocking file description (a TAP device, a socket)
		// into blocking mode under its owner.
		fds := make([]int, len(r.Files))
		for i, f := range r.Files {
			rc, err := f.SyscallConn()
			if err != nil {
				return fmt.Errorf("%w: descriptor %d: %w", ErrChannel, i, err)
			}
			if err := rc.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
				return fmt.Errorf("%w: descriptor %d: %w", ErrChannel, i, err)
			}
		}
		oob = syscall.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if timeout > 0 {
		_ = c.uc.SetWriteDeadline(time.Now().Add(timeout))
		defer c.uc.SetWriteDeadline(time.Time{})
	}
	n, oobn, err := c.uc.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("%w: write: %w", ErrChannel, err)
	}
	if oobn != len(oob) {
		return fmt.Errorf("%w: descriptors not sent", ErrChannel)
	}
	for n < len(b) {
		m, err := c.uc.Write(b[n:])
		if err != nil {
			return fmt.Errorf("%w: write: %w", ErrChannel, err)
		}
		n += m
	}
	return nil
}

// read returns the next record (its descriptors are the caller's).
func (c *conn) read() (Record, error) {
	if err := c.fill(headerLen); err != nil {
		return Record{}, err
	}
	h := c.rbuf[:headerLen]
	typ := DataID(binary.BigEndian.Uint16(h[0:]))
	flags := binary.BigEndian.Uint16(h[2:])
	kl := int(binary.BigEndian.Uint16(h[4:]))
	nf := int(binary.BigEndian.Uint16(h[6:]))
	dl := int(binary.BigEndian.Uint32(h[8:]))
	seq := binary.BigEndian.Uint64(h[12:])
	if flags&^flagAck != 0 {
		return Record{}, fmt.Errorf("%w: record %d: unknown flags %#x", ErrChannel, typ, flags)
	}
	if kl > maxKey || dl > maxRecord || nf > maxFiles {
		return Record{}, fmt.Errorf("%w: record %d: key %d, data %d, files %d over the limits", ErrChannel, typ, kl, dl, nf)
	}
	if err := c.fill(headerLen + kl + dl); err != nil {
		return Record{}, err
	}
	r := Record{Type: typ, Key: string(c.rbuf[headerLen : headerLen+kl]), Seq: seq, Ack: flags&flagAck != 0}
	r.Data = append([]byte(nil), c.rbuf[headerLen+kl:headerLen+kl+dl]...)
	c.rbuf = c.rbuf[headerLen+kl+dl:]
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if nf > len(c.files) {
		return Record{}, fmt.Errorf("%w: record %d wants %d descriptors, %d arrived", ErrChannel, typ, nf, len(c.files))
	}
	r.Files = c.files[:nf:nf]
	c.files = c.files[nf:]
	return r, nil
}

// fill reads until the buffer holds n bytes, collecting descriptors.
func (c *conn) fill(n int) error {
	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(4*maxFiles))
	for len(c.rbuf) < n {
		m, oobn, _, _, err := c.uc.ReadMsgUnix(buf, oob)
		m, oobn = max(m, 0), max(oobn, 0)
		if oobn > 0 {
			msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for _, msg := range msgs {
					fds, _ := syscall.ParseUnixRights(&msg)
					c.fmu.Lock()
					for _, fd := range fds {
						syscall.CloseOnExec(fd)
						c.files = append(c.files, os.NewFile(uintptr(fd), "mirrored"))
					}
					c.fmu.Unlock()
				}
			}
		}
		c.rbuf = append(c.rbuf, buf[:m]...)
		if err != nil {
			if errors.Is(err, io.EOF) && len(c.rbuf) == 0 {
				return io.EOF
			}
			return fmt.Errorf("%w: read: %w", ErrChannel, err)
		}
	}
	return nil
}

// close closes the connection and the descriptors received but not yet
// handed out; any goroutine may call it.
func (c *conn) close() error {
	c.fmu.Lock()
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
	c.fmu.Unlock()
	return c.uc.Close()
}
