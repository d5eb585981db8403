// Package xdp is the hal.Driver whose data path runs in the Linux kernel:
// BPF programs attached to the FPC's ports forward IPv4 multicast between
// them, from BPF maps that the driver keeps in step with the HAL's
// programming calls. User space only programs, counts and handles upcalls;
// no packet of the forwarded traffic is copied to it.
//
// # Contract
//
// New (a hal.Constructor) loads the programs, opens every port of
// hal.Config.Ports (physical interface name -> Linux interface, in the
// namespace of option "netns") and attaches to each the first data path
// mode it supports (modeOrder):
//
//   - native: XDP in the NIC's driver. The packet is replicated by one
//     broadcast redirect (BPF_F_BROADCAST) into the devmap of its OIL;
//     a devmap egress program writes each copy's source MAC and counts it.
//   - generic: the same XDP programs on the kernel's skb (any device).
//   - tc: a TCX ingress program on the skb, one bpf_clone_redirect per
//     copy (the last copy is the packet itself, bpf_redirect).
//
// auto (the default) tries native only on NICs: on a veth or any device
// fed by a local stack the frames of a local sender carry an unfinished
// UDP checksum (CHECKSUM_PARTIAL) that an xdp_frame cannot carry on, so
// native XDP would deliver them broken (issue #12), and redirecting into a
// veth needs its peer's NAPI. On skbs it prefers tc to generic XDP, which
// copies every skb short of 256 bytes of headroom (measured: the project
// README's Benchmarks). Option mode (auto, native, generic, tc) or
// mode.<port> overrides; the mode in use and why are logged and shown by
// `show xdp ports`.
//
// IFLs, next hops and routes arrive through Apply. The programming state
// (validation, dependency errors, read-back, Lookup) is swpfe.Core's, the
// same as every software driver's; each operation is then written to the
// maps. Unit 0 of a physical IFL named like a port is bound to it.
//
// # Maps
//
//   - ports: ifindex -> bound IFL, its parent aggregate (RPF) and counter
//     slot; egress: ifindex -> source MAC and slot for the egress program.
//   - sg_routes (hash (G,S)) and prefix_routes (LPM trie on G): route ->
//     entry NH, RPF IFL, counter slot.
//   - nhs: entry NH -> discard | resolve | forward to OIL variants
//     oil .. oil+sublists-1; a flow uses variant oil + FlowHash(S,G) mod
//     sublists, which picks each aggregate's member as hal/flow.go says;
//     a flag (and pe-'s counter slot) when the OIL reaches pe-.
//   - oils (legs and down IFLs of a variant) and oil_devs (a devmap per
//     variant, keyed by leg number so that two legs on one port make two
//     copies).
//   - ifl_stats, route_stats: per-CPU counters, read in batches.
//   - events: ring buffer of upcalls; pending: their dedup (LRU hash).
//   - trap_addrs, trap_cfgs, trap_sel: the host-path traps (traps.go).
//
// # Make before break
//
// A route is written after the entry it points at and deleted before it.
// When an IFL or NH below an entry changes, the entry's new OIL variants
// are written to fresh indices, the nhs element is replaced in one update
// (packets see the old OIL or the new one, whole), and the old variants are
// released into quarantine until an RCU grace period has passed (alloc.go),
// so no packet in flight reads an index that a new owner is rewriting.
//
// # Host path
//
// The RE's traps (hal.Trap, OpSetTrap/OpDelTrap) are classified in the
// programs before the route lookup, the RPF and the TTL checks, exactly as
// hal.TrapTable does (traps.go, maps trap_addrs, trap_cfgs and trap_sel):
// a frame a trap matches is copied into the ring buffer with the trap's id
// for hal.Upcalls.OnPunt and consumed. ARP and IPv4 unicast no trap wants
// are dropped (NoRoute), anything else that is not IPv4 is Malformed: the
// router's addresses belong to the RE (its host interfaces answer ARP and
// serve TCP through the traps), so nothing reaches the kernel stack of the
// ports' namespace, except on a port with no IFL bound, which passes
// everything. An OIL entry on the encapsulation IFL (pe-) punts the
// packet once, unchanged, with hal.TrapEncap (counted as transmitted on
// pe-); the decapsulation IFL (pd-) is an ingress for Input (the tc
// program runs with the namespace's loopback as its device, whose ports
// element stands for pd-). Transmit on either is hal.ErrInvalid. Link
// state: the kernel's operational state of each port is reported
// (drivers/internal/linkmon), as afpacket does.
//
// # Upcalls
//
// A packet that hits the Resolve NH raises a resolve event and one that
// fails the RPF check a wrong-interface event, each at most once per
// option upcall-interval (100 ms) per (S,G) (and ingress IFL), so the
// FPC's throttle sees every flow without a flood. Punts carry the frame in
// a record of the smallest of four sizes that holds it (128, 1536, 9216
// bytes, and 64 KiB for a GSO packet). Before OnPunt the driver completes
// the UDP or TCP checksum a local sender behind a veth left to the
// hardware (drivers/internal/l4csum.CompletePartial: the programs cannot
// see the skb's CHECKSUM_PARTIAL) and cuts a GSO packet (a TSO sender's,
// or a NIC's GRO, seen whole by tc) into the TCP segments a wire would
// carry (gso.go), so that the RE's host stack accepts them. Frames handled
// in XDP or tc are invisible to packet sockets (tcpdump on a port shows
// nothing of what the programs forward or punt).
//
// # Counters
//
// The programs count per IFL (rx, tx per copy, drops by reason, punts) and
// per route in per-CPU arrays; IFLCounters and the walks sum the CPUs, as
// in every driver (hal.IFLCounters). LastUsed of a route is the driver
// clock at the first walk that saw its count grow (WalkRoutes, WalkHits).
//
// Input runs frames through the ingress port's program with BPF_PROG_RUN
// (XDP in live-frame mode, so its redirects transmit), which needs the
// egress ports of an XDP-mode ingress to accept XDP frames (NICs; a veth
// whose peer has NAPI). Transmit sends RE frames through a packet socket.
//
// # Concurrency
//
// Apply and Close are serialised by a mutex; the read-back methods,
// counters and walks may run concurrently with them. Upcalls run on the
// one goroutine that reads the ring buffer (OnLinkState: on the link
// monitor's, or Apply's when a port is bound) and must not block.
package xdp
