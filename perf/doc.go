// Package perf is the benchmark harness behind `perf run`: one workload
// (drivers, fan-outs, flow counts, LAG layouts, frame sizes, duration,
// repetitions) driven through every PFE driver through the HAL only, next to
// the Linux kernel's own multicast forwarding where that compares, plus the
// control-plane benchmarks (RE -> FPC route install, resolve, IPC, OIL
// dedup, memory per route, trio tree build). It writes the figures as a
// table, JSON, Go benchmark format (for benchstat) and plots.
//
// # Tiers
//
//   - mem (in-memory): the driver's own CPU cost. A driver is built with
//     its hal.Constructor, programmed with Apply (an upstream port, the OIL
//     ports or aggregates, unicast/aggregate NHs, a composite and an
//     indirect per flow as the RE downloads them, one (S,G) route per
//     flow), then fed batches with Input from one goroutine locked to its
//     OS thread, copies counted by an Egress sink. swpfe and trio keep their
//     ports in memory; afpacket's Input writes to real veth ports in a
//     scratch network namespace (its only way to transmit), so its figures
//     include the kernel's veth transmit.
//   - kernel: shared/perf/kbase.sh's veth topology (trafgen -> router
//     namespace -> N receivers), the kernel's ipmr and, when afpacket is
//     asked for, an RE plus an afpacket FPC (perf/afpacket/bench.sh and
//     router.sh), measured alternately per point in one sweep.
//   - control: the control-plane benchmarks of package perf/ctlbench, each
//     repetition guarded like a point.
//
// # Method (what a figure means)
//
//   - Mpps = input packets / wall time of the measured window (after a
//     warm-up); copies/s = frames the driver handed to its egress (Egress
//     sink for swpfe/trio, IFL Tx counters for afpacket); ns/pkt and
//     ns/copy are wall time divided by those counts on one core.
//   - CPU: getrusage of the measuring thread (user+sys, which includes the
//     softirq work the kernel does inline for afpacket's sends) and of the
//     whole process (GC, driver goroutines); "other CPU" is what the rest of
//     the machine used during the window (/proc/stat minus our process), a
//     noise indicator on a shared box.
//   - allocs/pkt: runtime.MemStats.Mallocs over the window / packets.
//   - Latency (mem tier): every 16th batch is timed alone; per-packet
//     latency samples are that batch's wall time divided by its size (the
//     service time per packet; the last packet of a batch waits for the
//     whole batch, whose p99 is in the JSON as batch_p99_ns). Samples go to
//     a log-linear histogram (6% buckets). One clock read on this VM costs
//     about 50-70 ns, which lands in the timed batch: it is not subtracted.
//   - Every point is repeated; tables show the median with [min-max].
//
// # Failure handling
//
// Each point and each control benchmark runs on its own; a bad input (an
// unknown driver, an impossible workload, afpacket without root), a driver
// error or panic, or a timeout is recorded as an error or skip naming the
// point, and the matrix goes on. Every finished point is appended to
// results.jsonl at once, so an interrupted run keeps what it measured
// (`perf report DIR` renders it).
//
// Concurrency: a Runner runs one point at a time; it is not safe for
// concurrent use.
package perf
