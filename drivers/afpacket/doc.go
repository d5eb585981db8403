// Package afpacket is the hal.Driver that makes an FPC a real line card on
// a Linux host: its ports are Linux interfaces (veth pairs into network
// namespaces, or NICs) and it forwards IPv4 multicast between them itself,
// in user space, the way poll-mode DPDK applications do: one worker per
// port takes whole batches from a shared-memory receive ring, runs them
// through the forwarding core and writes the copies into shared-memory
// transmit rings.
//
// # Contract
//
// New (a hal.Constructor) opens every port of hal.Config.Ports, a map from
// physical interface name ("xe-3/1/0") to Linux interface ("veth31"),
// eagerly, so that a missing interface, a port on which the kernel's own
// multicast routing is active (a VIF in /proc/net/ip_mr_vif or
// conf.<if>.mc_forwarding=1: every packet would leave twice) or missing
// privileges (root or CAP_NET_RAW, plus CAP_NET_ADMIN for SO_SNDBUFFORCE)
// fail at start-up with an error naming the port. Option "netns" opens the
// ports in another network namespace (a name under /run/netns or a path);
// see options.go for the rest.
//
// IFLs arrive through Apply (OpSetIFL); unit 0 of a physical IFL whose
// physical name has a port is bound to it, and the binding follows later
// sets and deletes. Frames received on a port whose IFL is not bound yet are
// counted (PortStats.RxUnbound) and dropped.
//
// The forwarding core is swpfe.Core, shared with the swpfe driver (one FIB,
// lookup, RPF check, TTL and checksum update, MAC rewrite, replication,
// resolve/RPF/punt upcalls and per-IFL counters). This package adds the
// rings, the port binding, the kernel socket filter and the driver's own
// counters: PACKET_STATISTICS ring drops, TX ring full, truncated and
// oversized frames (Stats, `show afpacket ports` on the vty, and merged into
// IFLCounters). The source MAC of forwarded frames is the egress IFL's MAC;
// an IFL without one uses the Linux interface's.
//
// Input injects frames into the same path (tests, the FPC's traffic
// generator); Transmit sends RE frames unchanged out of a port (an
// aggregate through its first Up member). Close stops the workers, unmaps
// every ring and closes every socket; the goroutines also stop when the
// context given to New ends.
//
// # Data path
//
// Receive: one AF_PACKET socket per port, TPACKET_V3 ring, ETH_P_ALL,
// PACKET_IGNORE_OUTGOING (our own transmissions are neither looped back nor
// cloned for this tap), PACKET_MR_ALLMULTI, and a classic BPF filter that
// passes only IPv4 to 224/4, IGMP/PIM and what the host-path traps want
// (ARP, IPv4 to the router's addresses: rebuilt when traps change,
// filter.go), so IPv6 and transit unicast never cost a ring slot. Link
// state comes from rtnetlink (link.go). The filter passes an IPv4 frame to a multicast MAC on
// its Ethernet header alone and the worker checks its IP destination
// (wanted): on veth the IP header of a frame is in a page fragment, and the
// filter's read of it was the first, cache-missing touch of every frame on
// the router CPU, paid again for each frame the full ring then dropped.
// Frames a local sender left with the UDP/TCP checksum to be finished by
// the device (TP_STATUS_CSUMNOTREADY: every veth sender with offload on)
// get it completed in place in the ring before forwarding (checksum.go),
// so receivers' stacks accept them. A V3 block is the batch: the worker forwards it in
// chunks of at most "batch" frames, then returns the block. With an empty
// ring the worker spins for "busy-poll" (default 0) and then parks in the Go
// netpoller (edge-triggered epoll on the socket; the kernel signals when it
// retires a block), so an idle port costs neither CPU nor a thread.
//
// Transmit (option tx-mode): one send-only socket per port (protocol 0, so
// it never receives) with PACKET_QDISC_BYPASS.
//
//   - "mmsg" (default): one sendmmsg(2) per batch and egress port, each
//     message pointing at the core's rewritten copy (and, for an IFL
//     without a MAC, at the port's MAC through a three-part iovec), so user
//     space copies each frame once per egress (in the core) and the kernel
//     once into its skb.
//   - "ring": PACKET_TX_RING (TPACKET_V2): copies go into ring slots and one
//     sendto(MSG_DONTWAIT) flushes them; the kernel builds skbs on the slot
//     pages. That is zero-copy on a NIC, but not on veth: veth hands the skb
//     to its peer through __dev_forward_skb2, which copies ring-backed frags
//     into freshly allocated pages (skb_copy_ubufs, seen in profiles on
//     kernel 6.18), so there the ring does strictly more work than mmsg.
//
// A frame the device refuses (ENOBUFS: the veth peer CPU's backlog is full,
// or a NIC queue) is sent again for up to 50 us per batch before it is
// dropped and counted (TxRefused): DPDK applications retry tx_burst the
// same way. The TX socket is shared by every worker forwarding to the port
// (and by Transmit) under a mutex taken once per batch.
//
// # Ring sizes
//
//   - RX: 256 blocks of 16 KiB (4 MiB per port), retire timeout 2 ms. What
//     a ring survives is a stall of its worker (not scheduled, on a busy
//     machine): the kernel fills blocks meanwhile and drops once every
//     block waits for user space. At a low rate a block is retired by the
//     timeout holding a few frames (measured on kernel 6.18: the timeout
//     has millisecond resolution, 2.1 frames per block at 1 kpps), so the
//     ring covers blocks x 2 ms of stall whatever their size: the old 16
//     blocks of 256 KiB covered 32 ms, and with one CPU burner per CPU on
//     this 2-vCPU VM (load 4-11) 2 of 4 runs at 10 kpps lost 118 and 3,813
//     datagrams (issue #12 saw 0.9 % at 850 pps). 256 blocks cover 512 ms
//     at any rate up to 16 KiB per 2 ms (about 55 kpps of small frames);
//     above it the ring's bytes decide as before: a 60-byte frame takes 144
//     bytes of ring (68-byte header, MAC aligned at 82, total aligned to
//     16) and a 1514-byte frame 1600, so the ring holds 29 000 small (48 ms
//     at 600 kpps) or 2 600 large frames. In 16 runs of TestLoadedLowRate
//     (10 kpps, burners) nothing was lost and the most blocks ever ready at
//     once was 10 of 256. 16 KiB is the smallest power of two that holds
//     a jumbo frame (9000 MTU + header); the worker takes several blocks
//     into one batch, so small blocks do not shrink batches. The timeout
//     bounds the latency of a lone frame at low rates (2 ms).
//     PortStats.RxBacklogMax shows how close a port came to full.
//   - TX ring (tx-mode=ring): 1024 slots of 2048 bytes (2 MiB per port; the
//     slot grows with the MTU). On veth a slot is free again only when the
//     receiver has consumed the skb, and a CPU's backlog holds up to 1000
//     (netdev_max_backlog), so 1024 covers everything that can be in flight
//     plus one batch. Both TX modes force the socket's send buffer to cover
//     that much in flight (4 MiB for mmsg).
//   - Batch: 64 frames per core call. Every call ends with one burst per
//     egress port; on veth all of them land in the backlog of the CPU that
//     runs the receivers, 1000 packets for all ports together, so 64 x 8
//     ports = 512 leaves room for what is already queued (with 256 frames
//     per call and no retry, a 100 kpps stream to one port lost 26% of its
//     frames to ENOBUFS at the veth backlog). 64 is also the usual DPDK
//     burst: the per-call costs (a lock and a system call per egress) are
//     amortised over 64 frames.
//
// # Receive livelock
//
// The kernel does the receive work of every frame (veth, RPS, the tap
// that copies into our ring) in softirq context, which preempts the RX
// worker. Offered more than it can forward, a user-space router on the
// same CPU loses that CPU to receiving frames it then drops at the full
// ring (PortStats.RxRingDrops); perf/afpacket/README.md has the
// measurements. Option rx-rt-priority=N runs the RX workers SCHED_FIFO
// (needs CAP_SYS_NICE; off by default): that keeps other tasks and
// ksoftirqd off the worker's CPU, but softirqs run at interrupt exit and
// inside the driver's own send calls anyway, so it mitigates, not cures.
//
// Most of that receive work is not ours: a tap does not consume the frame,
// so the namespace's IPv4 stack also takes every frame through ip_rcv
// (which drops it: the kernel does not forward multicast on our ports) and
// frees it. A deployment in which the FPC owns the ports should drop their
// input at tc ingress, which runs after the taps (perf/afpacket/router.sh,
// AFP_KERNEL_DROP=1); together with the filter that never reads the IP
// header, that took the kbase harness from 0.09-0.66x to 0.39-0.76x the
// kernel's output (perf/afpacket/results/2026-11-21/filter-kdrop).
//
// # Concurrency
//
// Apply, Close and the read-back methods may be called from any goroutine;
// Apply is serialised by the caller (and by a mutex here). Each port's RX
// worker is the only reader of its ring and owns a swpfe.Worker, so workers
// never share scratch buffers; the bindings IFL -> port are an immutable
// map behind an atomic pointer, replaced by Apply. Upcalls run on the
// worker goroutines and must not block (hal.Upcalls).
//
// # What the shared core could still do for this driver
//
// Every copy of a packet differs from the others only in the source MAC,
// yet the core writes a full rewritten copy per egress port into its
// scratch. With tx-mode=mmsg that copy is the only one in user space (the
// kernel then copies once into its skb); with tx-mode=ring the driver
// copies it again into the slot. A core entry point that hands the TxFunc
// the rewritten header (core scratch) and the untouched rest of the frame
// (aliasing the input ring), e.g.
//
//	type TxVFunc func(egress hal.IFLIndex, heads, tails [][]byte)
//
// would let the driver gather each copy straight from the RX ring (mmsg:
// iovec of header + tail, no user-space payload copy at all; ring: one copy
// into the slot). A TxFunc that returns how many frames it accepted would
// let the core count Tx and QueueFull itself; today the driver corrects the
// Tx counters of the IFLs it serves in IFLCounters.
package afpacket
