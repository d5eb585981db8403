package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Kernel mroute API (linux/mroute.h), used by the tests to play a routing
// daemon that makes a port a VIF.
const (
	mrtInit       = 200
	mrtAddVIF     = 202
	viffUseIndex  = 0x8
	sizeofVifctl  = 16
	ipprotoIGMPv4 = 2
)

var errNoMroute = errors.New("no kernel multicast routing")

// mrouteSocket opens an mroute socket in the current namespace and adds
// ifname as VIF 0. The caller closes the returned descriptor, which makes
// the kernel drop the VIF again.
func mrouteSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ipprotoIGMPv4)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, mrtInit, 1); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOPROTOOPT) {
			return -1, errNoMroute
		}
		return -1, fmt.Errorf("MRT_INIT: %w", err)
	}
	// struct vifctl { u16 vifi; u8 flags; u8 threshold; u32 rate_limit;
	//   union { in_addr lcl_addr; int lcl_ifindex; }; in_addr rmt_addr; }
	var v [sizeofVifctl]byte
	v[2] = viffUseIndex
	v[3] = 1
	binary.NativeEndian.PutUint32(v[8:], uint32(ifi.Index))
	if err := unix.SetsockoptString(fd, unix.IPPROTO_IP, mrtAddVIF, string(v[:])); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("MRT_ADD_VIF: %w", err)
	}
	return fd, nil
}
