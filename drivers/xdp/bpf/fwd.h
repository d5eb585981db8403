/* Shared layout of the maps and events of fwd.c. Every struct here has a
 * mirror in ../maps.go; both are laid out without implicit padding so that
 * the Go side can marshal them byte for byte. Addresses are kept in network
 * byte order, as read from the IPv4 header. */
#ifndef MXFWD_FWD_H
#define MXFWD_FWD_H

#include <linux/types.h>

/* Sizes. The Go side reads them from the object's map specs. */
#define MAX_LEGS 64      /* ports one OIL variant replicates to */
#define MAX_DOWN 64      /* legs of one OIL variant counted as PortDown */
#define PUNT_JUMBO 9216  /* a jumbo frame */
#define PUNT_MAX 65552   /* bytes of a punted frame carried in an event: a
			  * GSO packet (64 KiB, GSO_LEGACY_MAX_SIZE, and its
			  * Ethernet header), which user space segments */
#define PUNT_SMALL 128   /* ARP, hellos, TCP acknowledgements: reserve this much */
#define PUNT_MTU 1536    /* an Ethernet frame of MTU 1500 (with a VLAN tag) */
#define MAX_GROUP_TRAPS 16 /* group traps: 224.0.0.0/24 and a few more */

/* ports: Linux ifindex -> the IFL bound to the port. The ports namespace's
 * loopback (a test run's ingress device) stands for the decapsulation IFL
 * (pd-), so that Input on it runs the tc program. */
struct port_val {
	__u32 ifl;    /* bound IFL index, 0: none (the port passes everything to the host) */
	__u32 parent; /* aggregate IFL the bound IFL is a member of, 0: none */
	__u32 slot;   /* ifl_stats slot of the bound IFL */
	__u32 flags;  /* PORT_* */
};

/* egress: Linux ifindex -> what a copy leaving the port gets (XDP path). */
struct egress_val {
	__u8 mac[6]; /* source MAC of forwarded frames */
	__u16 pad;
	__u32 slot;  /* ifl_stats slot of the bound IFL */
};

struct sg_key {
	__u32 group; /* network byte order */
	__u32 source;
};

struct lpm_key {
	__u32 prefixlen;
	__u32 group; /* network byte order */
};

/* sg_routes and prefix_routes values. */
struct route_val {
	__u32 nh;   /* key into nhs: the route's entry next hop */
	__u32 rpf;  /* RPF IFL, 0: any ingress */
	__u32 slot; /* route_stats slot */
	__u32 pad;
};

enum nh_kind {
	NH_DISCARD = 0, /* mdiscard, discard, or nothing to forward to */
	NH_RESOLVE = 1, /* raise a resolve request */
	NH_FORWARD = 2, /* replicate to OIL variant oil + sublist */
};

/* nh_val flags. */
#define NH_F_ENCAP 1 /* the OIL holds the encapsulation IFL (pe-), Up */

/* nhs: route entry NH id -> what it does. Replaced as a whole (hash map
 * update), which is the atomic switch of make-before-break. */
struct nh_val {
	__u32 kind;       /* enum nh_kind */
	__u32 oil;        /* first OIL variant */
	__u32 sublists;   /* variants oil .. oil+sublists-1 (hal/flow.go) */
	__u32 nh;         /* NH id that decided kind (the Resolve NH for requests) */
	__u32 flags;      /* NH_F_* */
	__u32 encap_slot; /* NH_F_ENCAP: ifl_stats slot of the pe- IFL */
};

/* One copy of the tc path. */
struct leg {
	__u32 ifindex;
	__u32 slot; /* ifl_stats slot of the egress IFL */
	__u8 mac[6];
	__u16 pad;
};

/* oils: OIL variant -> legs (tc path, and PortDown counting for both). */
struct oil_val {
	__u32 n;     /* legs */
	__u32 ndown; /* down slots */
	__u32 down[MAX_DOWN];
	struct leg legs[MAX_LEGS];
};

/* Per-IFL counters (PERCPU_ARRAY ifl_stats). */
struct ifl_stats {
	__u64 rx_pkts, rx_bytes;
	__u64 tx_pkts, tx_bytes;
	__u64 rpf_fail, ttl, no_route, discard, resolve, malformed, port_down;
	__u64 punt, events_lost; /* trapped to the host; upcalls the full ring refused */
};

/* Per-route counters (PERCPU_ARRAY route_stats). */
struct route_stats {
	__u64 pkts, bytes;
};

enum event_kind {
	EV_RESOLVE = 1,
	EV_WRONG_IF = 2,
	EV_PUNT = 3,
};

/* Ring buffer records. A punt carries caplen bytes of the frame after the
 * header. */
struct event {
	__u32 kind;
	__u32 ifl;      /* ingress IFL */
	__u32 arg;      /* resolve: NH id; wrong interface: expected (RPF) IFL; punt: trap id */
	__u32 source;   /* network byte order */
	__u32 group;
	__u32 len;      /* punt: frame length */
	__u32 caplen;   /* punt: bytes that follow */
	__u32 gso_size; /* punt, tc: the skb's gso_size (segment payload), 0: not GSO */
};

/* pending: dedup and rate limit of resolve and wrong-interface events. */
struct pending_key {
	__u32 group;
	__u32 source;
	__u32 ifl;  /* ingress IFL (wrong interface), 0 for resolve */
	__u32 kind; /* enum event_kind */
};

/* Host-path traps, classified as hal.TrapTable does (hal/traptable.go):
 * ARP frames by the ARP trap of their target address; IPv4 by the protocol
 * trap, else the local trap of the destination, else the first group trap
 * (in id order) whose prefix holds the destination. The lowest id of a
 * kind wins; user space writes only the winners. */

/* The trap id of TrapEncap (hal/trap.go): a copy for the pe- interface. */
#define TRAP_ENCAP 0xfffe

/* trap_cfg: the protocol and group traps, double-buffered: user space
 * writes the slot trap_sel does not name, then switches trap_sel. */
struct trap_group {
	__u32 addr; /* network byte order, masked */
	__u32 mask; /* network byte order */
	__u32 id;
	__u32 pad;
};

#define TRAP_F_LOCAL 1       /* a local trap is for a unicast address */
#define TRAP_F_LOCAL_MCAST 2 /* a local trap is for an address in 224/4 */

struct trap_cfg {
	__u16 proto[256]; /* trap id per IP protocol, 0: none */
	__u32 flags;      /* TRAP_F_* */
	__u32 ngroups;
	struct trap_group groups[MAX_GROUP_TRAPS]; /* by id */
};

enum trap_addr_kind {
	TRAP_ADDR_ARP = 1,   /* ARP for addr */
	TRAP_ADDR_LOCAL = 2, /* IPv4 to addr */
};

/* trap_addrs: (address, kind) -> trap id. */
struct trap_addr_key {
	__u32 addr; /* network byte order */
	__u32 kind; /* enum trap_addr_kind */
};

#endif
