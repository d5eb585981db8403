// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * The in-kernel data path of the xdp driver (../doc.go): IPv4 multicast
 * forwarding with (S,G) and group-prefix lookup, RPF check, TTL and
 * checksum update, replication to an outgoing interface list, per-IFL and
 * per-route counters, and upcalls (resolve, wrong interface, punted
 * control frames) through a ring buffer. The FPC programs every map from
 * the HAL's Apply; nothing here is configured by hand.
 *
 * The host path follows the HAL (hal/trap.go): what a programmed trap
 * matches is copied to the ring buffer with the trap's id and consumed;
 * ARP and IPv4 unicast that no trap wants are dropped (NoRoute), anything
 * that is neither IPv4 nor ARP is Malformed. Nothing is passed to the
 * kernel stack of the ports' namespace unless the port has no IFL: the
 * router's addresses belong to the RE, which gets their traffic through
 * its traps.
 *
 * Three programs share one decision (classify):
 *   xdp_fwd     XDP, native or generic: replicates with a broadcast
 *               redirect into the devmap of the packet's OIL variant;
 *   xdp_egress  devmap egress program: source MAC and Tx counters per copy;
 *   tc_fwd      tc (TCX) ingress: replicates with bpf_clone_redirect per
 *               leg, the last copy with bpf_redirect.
 *
 * Regenerate fwd_bpfel.o with `make bpf` (clang); the object is committed
 * so that building mxfwd needs no C toolchain (see ../README.md section in
 * the project README and ../object.go).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fwd.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader (RewriteConstants). */
volatile const __u64 upcall_interval_ns = 100000000; /* per (S,G) [and ingress] */
volatile const __u32 testrun_magic = 0;              /* skb->cb[0] of Input's test runs */

/* Map sizes are defaults; the loader sets max_entries from driver options. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct port_val);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct egress_val);
} egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sg_key);
	__type(value, struct route_val);
} sg_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, struct route_val);
} prefix_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct nh_val);
} nhs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct oil_val);
} oils SEC(".maps");

struct oil_devmap {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, MAX_LEGS);
	__uint(key_size, sizeof(__u32));                     /* ifindex */
	__uint(value_size, sizeof(struct bpf_devmap_val));  /* ifindex, egress program */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__array(values, struct oil_devmap);
} oil_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ifl_stats);
} ifl_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct route_stats);
} route_stats SEC(".maps");

/* 4 MiB: 131,072 resolve or wrong-interface records (32 bytes), or about
 * 450 punted frames (each reserves a jumbo frame's 9,216 bytes); the FPC
 * drains it continuously, and a full ring counts events_lost (QueueFull). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* 16,384 (S,G) [and ingress] upcall states: more flows missing at once
 * than the FPC's throttle (66 to 1,000 resolves/s per card) could serve in
 * a quarter of a minute; the LRU forgets the oldest, which only means that
 * flow may raise its next event early. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pending_key);
	__type(value, __u64);
} pending SEC(".maps");

/* Host-path traps (fwd.h). trap_sel names the trap_cfgs slot in use. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} trap_sel SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct trap_cfg);
} trap_cfgs SEC(".maps");

/* ARP and local traps: one per address of the router (a card has a few
 * hundred IFLs at most, each with an address or two). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct trap_addr_key);
	__type(value, __u32);
} trap_addrs SEC(".maps");

/* What classify decided. */
enum verdict {
	V_DROP = 0,
	V_PUNT = 1, /* a trap wants it: to the ring buffer with its id, then consumed */
	V_FWD = 2,  /* rewrite, then replicate to OIL variant variant */
};

struct decision {
	__u32 variant;    /* V_FWD: the OIL variant */
	__u32 trap;       /* V_PUNT: the trap id */
	__u32 encap;      /* V_FWD: punt the packet to pe- (TRAP_ENCAP) first */
	__u32 encap_slot; /* ... and count it on this ifl_stats slot */
};

/* The body of an Ethernet/IPv4 ARP request or reply (RFC 826). */
struct arp_ipv4 {
	__be16 htype, ptype;
	__u8 hlen, plen;
	__be16 op;
	__u8 sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

/* hal.FlowHash4 (hal/flow.go), bit for bit: the murmur3 64-bit finaliser
 * of group<<32 | source in host order, low 32 bits. */
static __always_inline __u32 flow_hash(__u32 source_be, __u32 group_be)
{
	__u64 x = ((__u64)bpf_ntohl(group_be) << 32) | bpf_ntohl(source_be);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (__u32)x;
}

/* RFC 1624 equation 3, as swpfe's csumAdjust: HC' = ~(~HC + ~m + m'). */
static __always_inline __u16 csum_adjust(__u16 hc, __u16 old, __u16 new)
{
	__u32 s = (__u32)(__u16)~hc + (__u32)(__u16)~old + (__u32)new;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline int is_multicast(__u32 addr_be)
{
	return (addr_be & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000);
}

/* match_traps is hal.TrapTable.MatchIPv4: the protocol trap, else the
 * local trap of the destination, else the first group trap holding it.
 * It returns the trap id, 0 for none. The common case, a multicast data
 * packet with no local trap on a group address, costs two array loads
 * and a compare per group trap. */
static __always_inline __u32 match_traps(__u32 proto, __u32 daddr)
{
	__u32 zero = 0;
	__u32 *sel = bpf_map_lookup_elem(&trap_sel, &zero);

	if (!sel)
		return 0;
	__u32 slot = *sel & 1;
	struct trap_cfg *c = bpf_map_lookup_elem(&trap_cfgs, &slot);

	if (!c)
		return 0;
	__u32 id = c->proto[proto & 0xff];

	if (id)
		return id;
	if (c->flags & (is_multicast(daddr) ? TRAP_F_LOCAL_MCAST : TRAP_F_LOCAL)) {
		struct trap_addr_key k = {.addr = daddr, .kind = TRAP_ADDR_LOCAL};
		__u32 *v = bpf_map_lookup_elem(&trap_addrs, &k);

		if (v)
			return *v;
	}
	__u32 n = c->ngroups;

	for (__u32 i = 0; i < MAX_GROUP_TRAPS; i++) {
		if (i >= n)
			break;
		if ((daddr & c->groups[i].mask) == c->groups[i].addr)
			return c->groups[i].id;
	}
	return 0;
}

/* upcall raises a resolve or wrong-interface event, at most one per
 * upcall_interval_ns per (S,G) (and ingress IFL for wrong interface): the
 * FPC's own throttle sees every flow without a flood of duplicates. */
static __always_inline void upcall(__u32 kind, __u32 ifl, __u32 arg, __u32 source, __u32 group,
				   struct ifl_stats *st)
{
	struct pending_key pk = {
		.group = group,
		.source = source,
		.ifl = kind == EV_WRONG_IF ? ifl : 0,
		.kind = kind,
	};
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&pending, &pk);

	if (last) {
		if (now - *last < upcall_interval_ns)
			return;
		*last = now;
	} else {
		bpf_map_update_elem(&pending, &pk, &now, BPF_ANY);
	}
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		st->events_lost++;
		return;
	}
	ev->kind = kind;
	ev->ifl = ifl;
	ev->arg = arg;
	ev->source = source;
	ev->group = group;
	ev->len = 0;
	ev->caplen = 0;
	ev->gso_size = 0;
	bpf_ringbuf_submit(ev, 0);
}

/*
 * classify is the forwarding decision, shared by the XDP and tc programs:
 * data..end is the frame (at least the Ethernet header and the IPv4 header
 * or ARP body must be linear for tc: the caller pulls them), len its full
 * length. It counts on the ingress IFL and the route, raises upcalls and
 * returns the verdict with what it needs in *dc. It does not touch the
 * frame: a trapped frame, and the copy for pe-, leave as received.
 *
 * The order of checks is swpfe's (drivers/swpfe/forward.go), so that every
 * driver counts the same frame the same way: ARP (trapped, malformed or
 * no route), malformed, traps, unicast (no route), no route, RPF, route
 * hit, discard / resolve, TTL.
 */
static __always_inline enum verdict classify(void *data, void *end, __u64 len, struct port_val *port,
					     struct ifl_stats *st, struct decision *dc)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end) {
		st->malformed++;
		return V_DROP;
	}
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		/* hal.ARPTarget: Ethernet/IPv4 ARP, request or reply. */
		struct arp_ipv4 *a = (void *)(eth + 1);

		if ((void *)(a + 1) > end || a->htype != bpf_htons(1) || a->ptype != bpf_htons(ETH_P_IP) ||
		    a->hlen != 6 || a->plen != 4 || (a->op != bpf_htons(1) && a->op != bpf_htons(2))) {
			st->malformed++;
			return V_DROP;
		}
		struct trap_addr_key k = {.kind = TRAP_ADDR_ARP};

		__builtin_memcpy(&k.addr, a->tpa, sizeof(k.addr));
		__u32 *id = bpf_map_lookup_elem(&trap_addrs, &k);

		if (!id) {
			/* The PFE neither bridges nor answers ARP. */
			st->no_route++;
			return V_DROP;
		}
		dc->trap = *id;
		st->punt++;
		return V_PUNT;
	}
	struct iphdr *ip = (void *)(eth + 1);

	if (eth->h_proto != bpf_htons(ETH_P_IP) || (void *)(ip + 1) > end) {
		/* IPv6, LLDP, a runt: nothing the PFE handles. */
		st->malformed++;
		return V_DROP;
	}
	__u32 ihl = ip->ihl * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	__u32 proto = ip->protocol;
	__u32 daddr = ip->daddr, saddr = ip->saddr;

	if (ip->version != 4 || ihl < 20 || tot < ihl || tot > len - sizeof(*eth)) {
		st->malformed++;
		return V_DROP;
	}
	/* Traps come before the lookup, the RPF and the TTL checks. */
	__u32 trap = match_traps(proto, daddr);

	if (trap) {
		dc->trap = trap;
		st->punt++;
		return V_PUNT;
	}
	if (!is_multicast(daddr)) {
		/* Unicast no trap wants: transit traffic is not routed here. */
		st->no_route++;
		return V_DROP;
	}
	struct sg_key k = {.group = daddr, .source = saddr};
	struct route_val *r = bpf_map_lookup_elem(&sg_routes, &k);

	if (!r) {
		struct lpm_key lk = {.prefixlen = 32, .group = daddr};

		r = bpf_map_lookup_elem(&prefix_routes, &lk);
		if (!r) {
			st->no_route++;
			return V_DROP;
		}
	}
	if (r->rpf && r->rpf != port->ifl && r->rpf != port->parent) {
		st->rpf_fail++;
		upcall(EV_WRONG_IF, port->ifl, r->rpf, saddr, daddr, st);
		return V_DROP;
	}
	__u32 rslot = r->slot;
	struct route_stats *rs = bpf_map_lookup_elem(&route_stats, &rslot);

	if (rs) {
		rs->pkts++;
		rs->bytes += len;
	}
	__u32 nhid = r->nh;
	struct nh_val *nh = bpf_map_lookup_elem(&nhs, &nhid);

	if (!nh || nh->kind == NH_DISCARD) {
		st->discard++;
		return V_DROP;
	}
	if (nh->kind == NH_RESOLVE) {
		st->resolve++;
		upcall(EV_RESOLVE, port->ifl, nh->nh, saddr, daddr, st);
		return V_DROP;
	}
	if (ip->ttl <= 1) {
		st->ttl++;
		return V_DROP;
	}
	__u32 v = nh->oil;
	__u32 sub = nh->sublists;

	if (sub > 1)
		v += flow_hash(saddr, daddr) % sub;
	dc->variant = v;
	dc->encap = nh->flags & NH_F_ENCAP;
	dc->encap_slot = nh->encap_slot;
	return V_FWD;
}

/* rewrite makes the frame a copy to forward (the same for every copy but
 * the source MAC): destination MAC from the group, TTL - 1, checksum. */
static __always_inline int rewrite(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end)
		return -1;
	/* 01:00:5e + low 23 bits of the group (RFC 1112 section 6.4). */
	__u32 g = bpf_ntohl(ip->daddr);

	eth->h_dest[0] = 0x01;
	eth->h_dest[1] = 0x00;
	eth->h_dest[2] = 0x5e;
	eth->h_dest[3] = (g >> 16) & 0x7f;
	eth->h_dest[4] = g >> 8;
	eth->h_dest[5] = g;
	__u8 ttl = ip->ttl;
	__u16 old = (__u16)ttl << 8 | ip->protocol;

	ip->check = bpf_htons(csum_adjust(bpf_ntohs(ip->check), old, old - 0x100));
	ip->ttl = ttl - 1;
	return 0;
}

/* count_down charges PortDown to the IFLs of an OIL variant's legs that
 * have no port to go to (down, an aggregate without Up member, or no
 * local port). */
static __always_inline void count_down(struct oil_val *o)
{
	for (__u32 i = 0; i < MAX_DOWN; i++) {
		if (i >= o->ndown)
			break;
		__u32 slot = o->down[i];
		struct ifl_stats *d = bpf_map_lookup_elem(&ifl_stats, &slot);

		if (d)
			d->port_down++;
	}
}

/* ---- Punts: the frame as received, to the ring buffer ---- */

/* load_frame copies the first n bytes of the packet; tc is a constant of
 * the caller (the other helper is not allowed in its program type). */
static __always_inline long load_frame(void *ctx, int tc, void *to, __u32 n)
{
	if (tc)
		return bpf_skb_load_bytes(ctx, 0, to, n);
	return bpf_xdp_load_bytes(ctx, 0, to, n);
}

/* punt_sized writes a punt record of size bytes of frame room (a
 * constant: the verifier needs the reservation's size). */
static __always_inline int punt_sized(void *ctx, int tc, const __u32 size, __u32 ifl, __u32 trap, __u64 len)
{
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev) + size, 0);

	if (!ev)
		return -1;
	__u32 cap = len;

	if (cap > size)
		cap = size;
	/* Make clang test the register it passes (the verifier needs the
	 * bounds on the argument itself). */
	asm volatile("" : "+r"(cap));
	if (cap < sizeof(struct ethhdr) || cap > size || load_frame(ctx, tc, (void *)(ev + 1), cap)) {
		bpf_ringbuf_discard(ev, 0);
		return -1;
	}
	ev->kind = EV_PUNT;
	ev->ifl = ifl;
	ev->arg = trap;
	ev->source = 0;
	ev->group = 0;
	ev->len = len;
	ev->caplen = cap;
	ev->gso_size = 0;
	/* A local sender's TCP behind a veth (TSO), or GRO on a NIC, gives
	 * tc packets of up to 64 KiB: user space cuts them into segments of
	 * gso_size (XDP never sees such a packet as one). */
	if (tc && ((struct __sk_buff *)ctx)->gso_segs > 1)
		ev->gso_size = ((struct __sk_buff *)ctx)->gso_size;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* punt hands the frame to hal.Upcalls.OnPunt with trap id trap, in the
 * smallest record class that holds it, so that a ring full of small
 * control frames (ARP, hellos, TCP acknowledgements: 160 bytes a record)
 * holds some 26,000 of them instead of 450 jumbo-sized or 63 GSO-sized
 * records. It returns -1 if the ring is full (or the frame could not be
 * read). */
static __always_inline int punt(void *ctx, int tc, __u32 ifl, __u32 trap, __u64 len)
{
	if (len <= PUNT_SMALL)
		return punt_sized(ctx, tc, PUNT_SMALL, ifl, trap, len);
	if (len <= PUNT_MTU)
		return punt_sized(ctx, tc, PUNT_MTU, ifl, trap, len);
	if (len <= PUNT_JUMBO)
		return punt_sized(ctx, tc, PUNT_JUMBO, ifl, trap, len);
	return punt_sized(ctx, tc, PUNT_MAX, ifl, trap, len);
}

/* punt_encap hands the packet, unchanged, to the DR for a PIM Register
 * (hal.TrapEncap: once per packet whatever number of OIL entries reach
 * pe-) and counts it as transmitted on pe-. */
static __always_inline void punt_encap(void *ctx, int tc, __u32 ifl, __u64 len, __u32 slot, struct ifl_stats *st)
{
	if (punt(ctx, tc, ifl, TRAP_ENCAP, len)) {
		st->events_lost++;
		return;
	}
	struct ifl_stats *es = bpf_map_lookup_elem(&ifl_stats, &slot);

	if (es) {
		es->tx_pkts++;
		es->tx_bytes += len;
	}
}

/* ---- XDP ---- */

SEC("xdp")
int xdp_fwd(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct port_val *port = bpf_map_lookup_elem(&ports, &ifindex);

	if (!port || !port->ifl)
		return XDP_PASS;
	__u32 slot = port->slot;
	struct ifl_stats *st = bpf_map_lookup_elem(&ifl_stats, &slot);

	if (!st)
		return XDP_PASS;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;

	st->rx_pkts++;
	st->rx_bytes += len;
	struct decision dc = {};
	__u32 ifl = port->ifl;

	switch (classify(data, end, len, port, st, &dc)) {
	case V_PUNT:
		if (punt(ctx, 0, ifl, dc.trap, len))
			st->events_lost++;
		return XDP_DROP;
	case V_FWD:
		break;
	default:
		return XDP_DROP;
	}
	if (dc.encap)
		punt_encap(ctx, 0, ifl, len, dc.encap_slot, st);
	if (rewrite((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_DROP;
	__u32 variant = dc.variant;
	struct oil_val *o = bpf_map_lookup_elem(&oils, &variant);

	if (!o)
		return XDP_DROP;
	count_down(o);
	if (!o->n)
		return XDP_DROP;
	void *devs = bpf_map_lookup_elem(&oil_devs, &variant);

	if (!devs)
		return XDP_DROP;
	return bpf_redirect_map(devs, 0, BPF_F_BROADCAST);
}

SEC("xdp/devmap")
int xdp_egress(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->egress_ifindex;
	struct egress_val *e = bpf_map_lookup_elem(&egress, &ifindex);

	if (!e)
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_source, e->mac, ETH_ALEN);
	__u32 slot = e->slot;
	struct ifl_stats *st = bpf_map_lookup_elem(&ifl_stats, &slot);

	if (st) {
		st->tx_pkts++;
		st->tx_bytes += end - data;
	}
	return XDP_PASS;
}

/* ---- tc ---- */

SEC("tc")
int tc_fwd(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct port_val *port = bpf_map_lookup_elem(&ports, &ifindex);

	if (!port || !port->ifl)
		return TC_ACT_OK;
	__u32 slot = port->slot;
	struct ifl_stats *st = bpf_map_lookup_elem(&ifl_stats, &slot);

	if (!st)
		return TC_ACT_OK;
	__u64 len = skb->len;

	st->rx_pkts++;
	st->rx_bytes += len;
	/* The headers must be linear and writable (a sender's skb may hold
	 * only the Ethernet header in its head): Ethernet and an ARP body,
	 * which covers an IPv4 header without options. */
	__u32 need = sizeof(struct ethhdr) + sizeof(struct arp_ipv4);

	if (need > len)
		need = len;
	if ((void *)(long)skb->data + need > (void *)(long)skb->data_end)
		bpf_skb_pull_data(skb, need);
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct decision dc = {};
	__u32 ifl = port->ifl;

	switch (classify(data, end, len, port, st, &dc)) {
	case V_PUNT:
		if (punt(skb, 1, ifl, dc.trap, len))
			st->events_lost++;
		return TC_ACT_SHOT;
	case V_FWD:
		break;
	default:
		return TC_ACT_SHOT;
	}
	if (dc.encap)
		punt_encap(skb, 1, ifl, len, dc.encap_slot, st);
	if (rewrite((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_SHOT;
	__u32 variant = dc.variant;
	struct oil_val *o = bpf_map_lookup_elem(&oils, &variant);

	if (!o)
		return TC_ACT_SHOT;
	count_down(o);
	__u32 n = o->n;
	/* Input's test runs do not perform the final bpf_redirect (only tc's
	 * ingress hook does): there every leg is a clone. */
	int testrun = testrun_magic != 0 && skb->cb[0] == testrun_magic;

	for (__u32 i = 0; i < MAX_LEGS; i++) {
		if (i >= n)
			break;
		struct leg *l = &o->legs[i];
		__u32 eslot = l->slot;
		struct ifl_stats *es = bpf_map_lookup_elem(&ifl_stats, &eslot);

		/* The source MAC by a direct write: the program starts with a
		 * writable head (the pull above, or the verifier's unclone
		 * prologue) and bpf_clone_redirect makes it writable again after
		 * every clone, so no helper call is needed; the packet pointers
		 * are reloaded because the clone may have moved the head. */
		void *d = (void *)(long)skb->data;
		struct ethhdr *e = d;

		if ((void *)(e + 1) > (void *)(long)skb->data_end)
			break;
		__builtin_memcpy(e->h_source, l->mac, ETH_ALEN);
		if (i == n - 1 && !testrun) {
			if (es) {
				es->tx_pkts++;
				es->tx_bytes += len;
			}
			return bpf_redirect(l->ifindex, 0);
		}
		if (bpf_clone_redirect(skb, l->ifindex, 0) == 0) {
			if (es) {
				es->tx_pkts++;
				es->tx_bytes += len;
			}
		} else if (es) {
			es->port_down++;
		}
	}
	return TC_ACT_SHOT;
}
