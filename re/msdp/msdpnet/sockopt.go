package msdpnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrMD5 is wrapped when the kernel refuses a TCP MD5 key (for instance a
// kernel without CONFIG_TCP_MD5SIG).
var ErrMD5 = errors.New("cannot set TCP MD5 signature key")

// tosCS6 is DSCP CS6 (48) in the IP TOS octet: network control, as FRR
// marks its MSDP sessions (interop README, captures/msdp-frr.pcap).
const tosCS6 = 48 << 2

// md5Key installs (key != "") or removes (key == "") the RFC 2385 key for
// peer on socket fd. A key is at most 80 octets (TCP_MD5SIG_MAXKEYLEN).
func md5Key(fd int, peer netip.Addr, key string) error {
	if len(key) > unix.TCP_MD5SIG_MAXKEYLEN {
		return fmt.Errorf("%w: key of %d octets for %v (max %d)", ErrMD5, len(key), peer, unix.TCP_MD5SIG_MAXKEYLEN)
	}
	sig := unix.TCPMD5Sig{Keylen: uint16(len(key))}
	sig.Addr.Family = unix.AF_INET
	a := peer.As4()
	copy(sig.Addr.Data[2:6], a[:])
	copy(sig.Key[:], key)
	if err := unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig); err != nil {
		if key == "" && errors.Is(err, unix.ENOENT) {
			return nil // no key was installed
		}
		return fmt.Errorf("%w for %v: %w", ErrMD5, peer, err)
	}
	return nil
}

// sockBuffer caps each MSDP socket's kernel buffers (the kernel doubles
// it: 1 MiB of receive buffer). Left to autotuning a receive buffer grows
// to net.ipv4.tcp_rmem's maximum (32 MiB here) per peer, so 1,000 peers
// that send faster than the owner consumes could pin gigabytes of kernel
// memory (the scale benchmark saw 3.8 GB queued); 1 MiB holds ~80 ms of
// SAs at 1M entries/s, far more than one read of the owner's batch. Set
// before connect, and on the listener so that accepted sockets inherit
// it, as the window scale is chosen at the handshake.
const sockBuffer = 512 << 10

// control returns a socket Control function that marks the socket CS6,
// caps its buffers and, if key is set, installs the MD5 key for peer
// before connect.
func control(peer netip.Addr, key string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, tosCS6); serr != nil {
				serr = fmt.Errorf("set IP_TOS: %w", serr)
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sockBuffer); serr != nil {
				serr = fmt.Errorf("set SO_RCVBUF: %w", serr)
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuffer); serr != nil {
				serr = fmt.Errorf("set SO_SNDBUF: %w", serr)
				return
			}
			if key != "" {
				serr = md5Key(int(fd), peer, key)
			}
		})
		return errors.Join(err, serr)
	}
}

// setTOS marks a socket DSCP CS6.
func setTOS(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, tosCS6) }

// withFD runs fn on the descriptor of a TCP socket.
func withFD(sc syscall.Conn, fn func(fd int) error) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// refuse closes an accepted connection with a reset (SO_LINGER 0), the
// answer to an address that is not an MSDP peer we listen for.
func refuse(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
