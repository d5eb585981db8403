package fpc

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxfwd/mxfwd/hal"
)

// Collector exposes the card's counters to Prometheus, read at scrape time.
// Labels are per interface, never per (S,G).
func (r *Runtime) Collector() prometheus.Collector { return (*collector)(r) }

type collector Runtime

var (
	descConnected = prometheus.NewDesc("mxfwd_fpc_re_connected", "1 while the IPC session with the RE is up.", []string{"slot"}, nil)
	descResolve   = prometheus.NewDesc("mxfwd_fpc_resolve_total", "Resolve requests by outcome.", []string{"slot", "outcome"}, nil)
	descOps       = prometheus.NewDesc("mxfwd_fpc_ops_total", "Programming operations applied to the driver, by result.", []string{"slot", "result"}, nil)
	descObjects   = prometheus.NewDesc("mxfwd_fpc_objects", "Objects installed in the PFE.", []string{"slot", "kind"}, nil)
	descIFL       = prometheus.NewDesc("mxfwd_fpc_ifl_packets_total", "Packets per interface and direction or drop reason.", []string{"slot", "ifl", "counter"}, nil)
	descPunts     = prometheus.NewDesc("mxfwd_fpc_host_path_packets_total", "Packets the PFE punted, per trap class and outcome (sent to the RE or the drop reason).", []string{"slot", "class", "outcome"}, nil)
	descFailing   = prometheus.NewDesc("mxfwd_fpc_failing_objects", "Objects the PFE failed to program, kept for retry and reported to the RE.", []string{"slot"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descResolve, descOps, descObjects, descIFL, descPunts, descFailing} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := (*Runtime)(c)
	slot := strconv.Itoa(int(r.cfg.Slot))
	up := 0.0
	if r.Connected() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up, slot)
	byClass := map[string]*HostPathStats{}
	for _, row := range r.HostPath().Traps {
		c := byClass[row.Class]
		if c == nil {
			c = &HostPathStats{}
			byClass[row.Class] = c
		}
		c.Sent += row.Sent
		c.Policed += row.Policed
		c.CardLimit += row.CardLimit
		c.QueueFull += row.QueueFull
		c.LaneFull += row.LaneFull
		c.NoSession += row.NoSession
	}
	for class, c := range byClass {
		for outcome, v := range map[string]uint64{"sent": c.Sent, "policed": c.Policed, "card_limit": c.CardLimit,
			"queue_full": c.QueueFull, "lane_full": c.LaneFull, "no_session": c.NoSession} {
			ch <- prometheus.MustNewConstMetric(descPunts, prometheus.CounterValue, float64(v), slot, class, outcome)
		}
	}
	st := r.throttle.Stats()
	for k, v := range map[string]uint64{
		"sent": r.stats.ResolveSent.Load(), "dropped": r.stats.ResolveDropped.Load(), "stale": r.stats.ResolveStale.Load(),
		"throttled": st.Throttled, "outstanding": st.Outstanding, "pending_full": st.PendingFull,
	} {
		ch <- prometheus.MustNewConstMetric(descResolve, prometheus.CounterValue, float64(v), slot, k)
	}
	ch <- prometheus.MustNewConstMetric(descOps, prometheus.CounterValue, float64(r.stats.OpsApplied.Load()), slot, "applied")
	ch <- prometheus.MustNewConstMetric(descOps, prometheus.CounterValue, float64(r.stats.OpsFailed.Load()), slot, "failed")
	ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, float64(r.failedCount()), slot)
	sum := r.drv.Summary()
	ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(sum.Routes), slot, "route")
	ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(sum.NHs), slot, "nexthop")
	ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(sum.IFLs), slot, "ifl")
	r.mu.Lock()
	idx := make([]hal.IFLIndex, 0, len(r.shadow.ifls))
	names := map[hal.IFLIndex]string{}
	for i, s := range r.shadow.ifls {
		idx = append(idx, i)
		names[i] = s.name
	}
	r.mu.Unlock()
	for _, i := range idx {
		cnt, err := r.drv.IFLCounters(i)
		if err != nil {
			continue
		}
		for k, v := range map[string]uint64{
			"rx": cnt.RxPackets, "tx": cnt.TxPackets, "rpf_fail": cnt.RPFFail, "ttl": cnt.TTLExpiry,
			"discard": cnt.Discard, "resolve": cnt.Resolve, "malformed": cnt.Malformed, "queue_full": cnt.QueueFull,
		} {
			ch <- prometheus.MustNewConstMetric(descIFL, prometheus.CounterValue, float64(v), slot, names[i], k)
		}
	}
}

// DriverCollector exposes the driver's own metrics (hal.MetricsReporter),
// or nothing for drivers without any. It is an unchecked collector: the set
// of metrics depends on the driver and its ports.
func (r *Runtime) DriverCollector() prometheus.Collector { return driverCollector{r.drv} }

type driverCollector struct{ drv hal.Driver }

func (driverCollector) Describe(chan<- *prometheus.Desc) {}

func (c driverCollector) Collect(ch chan<- prometheus.Metric) {
	mr, ok := c.drv.(hal.MetricsReporter)
	if !ok {
		return
	}
	descs := map[string]*prometheus.Desc{}
	for _, m := range mr.Metrics() {
		names := make([]string, len(m.Labels))
		values := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			names[i], values[i] = l[0], l[1]
		}
		d := descs[m.Name]
		if d == nil {
			d = prometheus.NewDesc(m.Name, m.Help, names, nil)
			descs[m.Name] = d
		}
		t := prometheus.GaugeValue
		if m.Counter {
			t = prometheus.CounterValue
		}
		if pm, err := prometheus.NewConstMetric(d, t, m.Value, values...); err == nil {
			ch <- pm
		}
	}
}
