// Package kernel is the routing engine's forwarding kernel: it owns the
// interface table, allocates next-hop ids, keeps the multicast forwarding
// cache (table inet.1), answers resolve requests from the line cards and
// downloads every change to them (seed 003, "Kernel Multicast NH
// Allocation" and "Kernel Resolution").
//
// # Object model
//
// Every configured logical interface (IFL) gets an index (explicit, else the
// lowest free index from Config.IFLIndexBase, 300 by default) and a next hop:
// a Unicast NH for a physical unit (small id pool, 1000 up), an Aggregate NH
// for an aeN.U (kernel id pool, hal.IndirectBase up) whose members are the
// unicast NHs of its member ports.
//
// # Owners
//
// Multicast routing state comes from several owners (Owner: PIM, Static,
// CLI, MSDP, IGMP). Each contributes, per (S,G) entry or (*,G) entry, an
// RPF interface and a downstream set (Contribution), with replace
// semantics per owner (Update, SetContribution, Withdraw, ReplaceOwner); an
// owner's contribution never touches another's. The forwarding entry of an
// (S,G) merges them: the RPF interface of the preferred owner that gives
// one (lowest Owner; (S,G) contributions before (*,G)), and the union of
// the (S,G) downstream sets and of each owner's (*,G) downstream set less
// what that owner excludes for S (an (S,G,rpt) prune, an IGMPv3 EXCLUDE).
// A resolve for a source of a group with (*,G) state installs the
// inherited entry (the RPT case). Join, Prune and RemoveJoin are the
// original add-only API over the same model.
//
// A change that gives an (S,G) something new installs its entry at once
// (replacing an mdiscard entry); a change that only takes something away
// resyncs or removes an installed entry but never re-creates an expired
// one. A (*,G) change re-evaluates the installed entries of its group only.
//
// # Events
//
// The kernel queues events for the protocols (TakeEvents, bounded, drops
// counted): a resolve that created a cache entry (EventNewSource), a packet
// on the wrong interface (EventWrongInterface), traffic reported by the
// cards (EventActivity), an expired entry (EventExpired). Its owner
// (re/engine) drains them after each operation.
//
// # Export
//
// Export returns the whole state (State: interfaces with their indexes and
// NHs, the id allocators' cursors, multicast NHs, entries with their
// contributions and cache entries); Import builds the same kernel from it:
// identical Snapshot, same next ids. With Config.Deltas, each operation
// also hands its Delta (the changed records) to the Sink, and a Mirror
// applying them keeps a State equal to Export's: what a backup RE follows.
//
// A join (static config, IGMP or PIM) gives an (S,G) an upstream interface
// and a downstream set. The forwarding entry of an (S,G) is the chain
//
//	route G.S/64 (RPF = upstream, flags 0x800e)
//	  -> Indirect NH (kernel pool)
//	    -> Composite NH, fn multicast (small pool; one per (S,G))
//	      -> the Aggregate/Unicast NHs of the outgoing interface list (OIL)
//
// Each distinct OIL also has one multicast NH (kernel pool, downloaded as a
// hal Composite holding the same members), the object `show multicast
// next-hops` lists. It is shared by every (S,G) whose OIL is the same set of
// interfaces and freed with the last of them.
//
// # Reference counts
//
// Refcount of a multicast NH is the number of installed (S,G) forwarding
// routes using it; KRefcount is 1 while the NH is installed in the kernel
// (and downloaded). Seed 003 shows "2 1" for a single route because Junos also
// counts rpd's own reference; we do not copy that, so two (S,G) sharing an OIL
// show "2 1". `Next-hop reference count` in `show route table inet.1 detail`
// is Refcount+KRefcount of the route's multicast NH, which gives the seed's 2
// for one route.
//
// # Id allocation
//
// Two pools: the small pool (Config.SmallIDBase..SmallIDLimit, default
// 1000..1048575) for Unicast and Composite NHs, and the kernel pool
// (hal.IndirectBase..Config.KernelIDLimit) for Aggregate, multicast (OIL) and
// Indirect NHs. Each pool hands out ids in increasing order and only reuses a
// freed id after it has wrapped past its limit, so a PFE never sees an id
// reused shortly after a delete; an id is never reused while referenced.
// 983 (Resolve) and 35 (mdiscard) are fixed.
//
// # Forwarding cache
//
// A join installs the entry at once. Periodic refreshes of an unchanged join
// do not touch it: the cache lifetime (Config.CacheTimeout, 360 s by
// default) counts down from creation and is reset only by traffic reported by
// the FPCs (Traffic). When it runs out (Expire/Tick, driven by the owner with
// the injected clock, 1 s granularity) route, indirect and composite are
// deleted, and the multicast NH if that was its last route; the join state
// stays, and the next packet of the flow resolves again. mdiscard entries
// age the same way.
//
// # Resolve
//
// Resolve handles a resolve-addr-request from an FPC (counters are per
// ingress interface, `show multicast statistics`):
//
//   - ingress IFL unknown: ResolveError (counted globally, not per interface);
//   - group not multicast, in 224.0.0.0/24, or source not a unicast IPv4
//     address: Resolve error;
//   - the (S,G) already has a route (forwarding or mdiscard): Resolve
//     filtered, nothing changes (the FPC raced the download);
//   - otherwise Kernel resolve, and: with join state, the forwarding chain is
//     installed; with join state whose upstream interface is not configured
//     (no RPF route) also Resolve no route, and mdiscard is installed; with
//     no join state (or an empty usable OIL), G.S/64 -> mdiscard 35, flags
//     0x000e, RPF = ingress;
//   - but an mdiscard entry beyond the requesting card's bound or the
//     kernel's (Config.DiscardLimitPerSlot, DiscardLimit) is refused:
//     ResolveLimited, nothing allocated, counted per card
//     (DiscardsBySlot). A card cannot fill the other cards' tables with
//     its flood, and joined flows install whatever the count. Refusal
//     rather than eviction: it costs no download, and evicting would let
//     one card's flood remove the entries of the others.
//
// WrongInterface counts Mismatch on the ingress interface and the route's
// wrong incoming interface notifications; Mismatch no route when the (S,G)
// has no route; Mismatch error when the ingress is the route's RPF interface
// (the FPC and the kernel disagree) or is unknown.
//
// # Downloads
//
// Every mutating call produces hal.Ops in dependency order (IFLs and NHs
// bottom-up before the routes that use them; deletes route first, then
// indirect, composite, multicast NH, aggregate, unicast, IFLs) and hands them
// to Config.Sink in one Download call per operation (one per JoinBatch,
// Expire or ClearCache call). Snapshot and Export().OpsTo give the full state in
// the same order for a (re)connecting FPC.
//
// # Concurrency
//
// A Kernel is safe for concurrent use; one mutex guards all state. In the
// RE a single owner goroutine (re/engine) makes every change and the CLI
// reads under the lock. The Sink is called synchronously with that mutex
// held, so downloads reach it in order and no Download can fall between an
// export (ExportAt) and later changes; the Sink must therefore not block
// (the RE's appends to its change log and returns; network writes happen
// on the consumers' own goroutines) and must not call back into the
// Kernel. The ops slice passed to Download belongs to the
// Sink, but slices inside the ops (NextHop.Members, IFL.Members) are shared
// with the kernel and must be treated as read-only.
//
// Only IPv4 (family INET) is modelled.
package kernel
