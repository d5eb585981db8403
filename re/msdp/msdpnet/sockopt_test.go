package msdpnet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Both ends of an MSDP session, the accepted one and the one we open,
// have capped kernel buffers that autotuning does not grow, however much
// the peer sends: a peer faster than the owner cannot pin more than
// 2×sockBuffer of kernel memory per session.
func TestSocketBuffersCapped(t *testing.T) {
	lc := net.ListenConfig{Control: control(netip.Addr{}, "")}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	d := net.Dialer{Control: control(netip.MustParseAddr("127.0.0.1"), "")}
	dialed, err := d.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer dialed.Close()
	acc := <-accepted
	defer acc.Close()

	// 64 MiB through the session: autotuning would grow an uncapped
	// receive buffer to tcp_rmem's maximum on the way.
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for range 64 {
			if _, err := dialed.Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- dialed.(*net.TCPConn).CloseWrite()
	}()
	n, err := io.Copy(io.Discard, acc)
	require.NoError(t, err)
	require.EqualValues(t, 64<<20, n)
	require.NoError(t, <-done)

	for name, c := range map[string]net.Conn{"accepted": acc, "dialed": dialed} {
		for opt, optName := range map[int]string{unix.SO_RCVBUF: "SO_RCVBUF", unix.SO_SNDBUF: "SO_SNDBUF"} {
			var v int
			require.NoError(t, withFD(c.(*net.TCPConn), func(fd int) error {
				var err error
				v, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
				return err
			}))
			require.LessOrEqual(t, v, 2*sockBuffer, "%s %s", name, optName)
			require.Positive(t, v, "%s %s", name, optName)
		}
	}
}
