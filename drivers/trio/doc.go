// Package trio is a functional model of the Juniper Trio chipset behind the
// hal.Driver contract: engineers use it to see what the hardware would do
// with a given OIL, LAG layout and ingress card, and to benchmark tree
// shapes. It really moves packets: each PFE of the model replicates to its
// local ports and sends copies over an in-process fabric to the next PFEs
// of the tree.
//
// # Model (seed 003, REFERENCE.md "Trio replication")
//
//   - PFEs: each FPC hosts 4; the global PFE id is FPC*4 + PIC (xe-3/1/0 is
//     on PFE 13). The model has MaxPFEs (48: an MX960's twelve slots) PFEs.
//   - Composite expansion: a composite's kernel nh-list (aggregate and
//     unicast NHs) expands into sublists of forwarding NHs by LAGRule over
//     the aggregates' Up members (#sublists = the largest Up-member count,
//     sublist j uses Up member j mod n_i); a packet uses sublist
//     FlowHash(S,G) mod #sublists. The rule is the platform's, defined in
//     hal (hal/flow.go) and shared with every driver; LAGRule, FlowHash,
//     SublistIndex and EgressMember are this package's names for it.
//   - Trees: per sublist, over its egress PFEs; the ingress PFE is the root
//     and is removed from the list, which is sorted, rotated by the
//     composite's id mod its length and reversed for the reverse tree
//     (TreeVariant of the flow hash picks it). Binary, unary, ingress and
//     local-latency-fairness layouts, no-mcast-replication PFEs at leaves:
//     see BuildTree. Card types and knobs arrive as hal.Tunable keys (and in
//     hal.Config.Options with the same keys).
//   - Route NHs: Indirect -> Composite (or a Unicast/Aggregate NH on its
//     own) forwards; Resolve (983) raises Upcalls.OnResolve (the FPC
//     runtime throttles it; the model keeps the resolve-rate only to print
//     it); mdiscard (35) and discard drop silently, counted.
//   - Finite tables (routes, nhs, mcast-lists, ifls) fail with
//     hal.ErrTableFull; OpLog keeps the last programming operations.
//
// Programming follows the rules of the contract's reference, haltest.Fake:
// aggregate member IFLs and a route's RPF IFL need not exist; only next
// hops pin IFLs against deletion; a referenced NH keeps its type.
//
// # Packet path
//
// Input parses Ethernet+IPv4 (untagged; the header checksum is verified,
// as the hardware does), punts what a host-path trap matches
// (hal.TrapTable, on the ingress PFE) through Upcalls.OnPunt with the
// trap's id, drops ARP and IPv4 unicast no trap wants (NoRoute), looks up
// the exact (S,G) route then
// the longest group prefix, checks RPF against Route.RPF (an ingress IFL
// that is a member of the RPF aggregate passes), counts the route hit,
// resolves or discards, drops TTL <= 1, then forwards: every entry of the
// composite's nh-list gets one copy (an aggregate through the flow's
// sublist member, among its Up members; an aggregate with none counts
// PortDown on itself; a down port counts PortDown on itself). Each copy is
// rewritten: destination MAC 01:00:5e + low 23 bits of G, TTL - 1 with an
// incremental checksum update, source MAC of the egress IFL when it has
// one. Copies leave through hal.Config.Egress.Output on the physical
// egress IFL, one call per port per group of frames forwarded alike (same
// route, sublist, tree and ingress PFE): the frames of one flow keep their
// order, frames of different flows of one batch may be reordered. A frame
// passed to Output is valid only during the call and must be treated as
// read-only (the next port's copy is made from it).
//
// # Concurrency
//
// Apply is serialised by a writer mutex; Input, Transmit and the read-backs
// (Route, Lookup, NextHop, IFL, IFLCounters, WalkRoutes) never take it:
// interfaces, next hops and (S,G) routes live in single-writer lock-free
// hash tables, and each route, next hop and interface is read through one
// atomic pointer to an immutable snapshot (a composite's expansion is
// rebuilt and republished whenever an NH or IFL it expands through
// changes). Counters are atomics. Input may run concurrently with Apply and
// with other Input calls. Summary, OpLog and the vty take the writer mutex.
// The model starts no goroutines: the fabric runs on the goroutine calling
// Input, so Close only marks the driver closed; every later call returns
// hal.ErrClosed.
package trio
