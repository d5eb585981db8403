package afpacket

import "github.com/mxfwd/mxfwd/drivers/internal/l4csum"

// Checksum completion of frames the kernel hands over unfinished.
//
// A sender on the same host (a process in a namespace behind a veth, a tap,
// a container) leaves the transport checksum of its UDP and TCP packets to
// "the hardware" (CHECKSUM_PARTIAL): the checksum field holds only the
// pseudo-header sum and the device that finally transmits the packet on a
// wire is expected to finish it. veth has no wire, so the skb reaches our
// tap still partial and AF_PACKET marks it TP_STATUS_CSUMNOTREADY in the RX
// ring. Forwarded byte for byte, such a frame reaches the receivers with a
// wrong checksum and every receiving stack drops it (UdpInCsumErrors):
// issue #12 measured 4,462 of 4,462 datagrams lost.
//
// The driver completes the checksum in place, in the RX ring block it owns
// until release, before the frame goes to the forwarding core; the core's
// copies then carry it. The alternative, PACKET_VNET_HDR on both sockets
// (the kernel reports csum_start/csum_offset on receive and we would send
// the frame on as CHECKSUM_PARTIAL), was rejected: the virtio header has to
// be prepended to every transmitted frame in both TX modes (an extra iovec
// per message with mmsg, a moved data offset in every TX ring slot), a
// partial skb handed to a NIC without checksum offload is completed by the
// kernel anyway (skb_checksum_help, the same work on the router CPU), and
// on veth the receivers would see CHECKSUM_PARTIAL skbs - correct for them
// but not what a wire delivers. Completing here is one pass over a frame
// that is about to be copied anyway, only for frames that need it (none
// arrive from a real wire), and works identically for every TX mode and
// device. BenchmarkCompleteChecksum measures it.
//
// The checksum is recomputed from scratch (pseudo-header, then the whole
// segment with the checksum field taken as zero) rather than folded onto the
// partial seed, so the result does not depend on what the sender left in
// the field.

// completeChecksum finishes the UDP or TCP checksum of an Ethernet II +
// IPv4 frame in place (drivers/internal/l4csum, shared with xdp). It
// reports whether it wrote one; frames that are not IPv4, are fragments,
// carry another protocol, or whose lengths do not add up are left alone
// (the core counts or forwards them as they are).
func completeChecksum(f []byte) bool { return l4csum.Complete(f) }
