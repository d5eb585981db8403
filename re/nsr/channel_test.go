package nsr

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func pair(t *testing.T) (*conn, *conn) {
	t.Helper()
	fds, err := socketpair()
	require.NoError(t, err)
	a, b := newConn(fds[0]), newConn(fds[1])
	t.Cleanup(func() { a.close(); b.close() })
	return a, b
}

func socketpair() ([2]*net.UnixConn, error) {
	var out [2]*net.UnixConn
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "", Net: "unix"})
	if err != nil {
		return out, err
	}
	defer l.Close()
	done := make(chan *net.UnixConn, 1)
	go func() {
		c, _ := l.AcceptUnix()
		done <- c
	}()
	c, err := net.DialUnix("unix", nil, l.Addr().(*net.UnixAddr))
	if err != nil {
		return out, err
	}
	out[0], out[1] = c, <-done
	return out, nil
}

func TestChannelRecordsAndDescriptors(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()

	big := make([]byte, 300<<10) // larger than one read
	for i := range big {
		big[i] = byte(i)
	}
	wrote := make(chan struct{})
	defer func() { <-wrote }()
	go func() {
		defer close(wrote)
		_ = a.write(Record{Type: RecHello, Data: []byte(`{"re":0}`)}, time.Second)
		_ = a.write(Record{Type: FirstClient, Key: "master/10.99.0.1", Data: []byte("x"), Files: []*os.File{w}, Seq: 42, Ack: true}, time.Second)
		_ = a.write(Record{Type: FirstClient + 1, Data: big}, time.Second)
	}()
	got, err := b.read()
	require.NoError(t, err)
	require.Equal(t, RecHello, got.Type)
	require.Equal(t, `{"re":0}`, string(got.Data))

	got, err = b.read()
	require.NoError(t, err)
	require.Equal(t, "master/10.99.0.1", got.Key)
	require.EqualValues(t, 42, got.Seq)
	require.True(t, got.Ack)
	require.Len(t, got.Files, 1)
	// The received descriptor is the pipe's write end: bytes written to
	// it come out of r.
	_, err = got.Files[0].Write([]byte("hi"))
	require.NoError(t, err)
	got.Files[0].Close()
	buf := make([]byte, 2)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	require.Equal(t, "hi", string(buf))

	got, err = b.read()
	require.NoError(t, err)
	require.Equal(t, big, got.Data)
}

func TestChannelRefusesOversizedHeaders(t *testing.T) {
	a, b := pair(t)
	hdr := []byte{0, 16, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // key length 65535 > maxKey
	_, err := a.uc.Write(hdr)
	require.NoError(t, err)
	_, err = b.read()
	require.ErrorIs(t, err, ErrChannel)
	require.ErrorContains(t, err, "key 65535")

	err = a.write(Record{Type: FirstClient, Data: make([]byte, maxRecord+1)}, time.Second)
	require.ErrorIs(t, err, ErrChannel)
}

func TestChannelEOF(t *testing.T) {
	a, b := pair(t)
	a.uc.Close()
	_, err := b.read()
	require.ErrorIs(t, err, io.EOF)
}

func FuzzChannelRead(f *testing.F) {
	f.Add([]byte{0, 16, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 'k', 'd'})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fds, err := socketpair()
		if err != nil {
			t.Skip(err)
		}
		a, b := newConn(fds[0]), newConn(fds[1])
		defer a.close()
		defer b.close()
		go func() { _, _ = a.uc.Write(data); a.uc.CloseWrite() }()
		for i := 0; i < 64; i++ {
			r, err := b.read()
			if err != nil {
				return
			}
			if len(r.Key) > maxKey || len(r.Data) > maxRecord {
				t.Fatalf("record over the limits: %d %d", len(r.Key), len(r.Data))
			}
		}
	})
}
