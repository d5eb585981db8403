package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the RE's counters to Prometheus. It reads a snapshot at
// scrape time; labels are per FPC slot, never per (S,G).
func (s *Server) Collector() prometheus.Collector { return (*collector)(s) }

type collector Server

var (
	descFPCUp  = prometheus.NewDesc("mxfwd_re_fpc_connected", "FPCs connected to the RE, by slot and driver.", []string{"slot", "driver"}, nil)
	descIPC    = prometheus.NewDesc("mxfwd_re_ipc_messages_total", "IPC messages handled by the RE, by kind.", []string{"kind"}, nil)
	descRoutes = prometheus.NewDesc("mxfwd_re_routes", "(S,G) routes installed in inet.1, by next-hop kind.", []string{"kind"}, nil)
	descOILs   = prometheus.NewDesc("mxfwd_re_multicast_nexthops", "Multicast (OIL) next hops allocated.", nil, nil)
	descJoins  = prometheus.NewDesc("mxfwd_re_joins", "(S,G) join states held by the kernel.", nil, nil)
	descFail   = prometheus.NewDesc("mxfwd_re_fpc_programming_failures", "Objects a card reports it failed to program, by slot.", []string{"slot"}, nil)
	descResDrp = prometheus.NewDesc("mxfwd_re_fpc_resolve_dropped_total", "Resolve requests over a card's limit, dropped by the RE, by slot.", []string{"slot"}, nil)
	descMDisc  = prometheus.NewDesc("mxfwd_re_fpc_mdiscard_routes", "mdiscard entries installed for a card's resolves, by slot.", []string{"slot"}, nil)
	descRefuse = prometheus.NewDesc("mxfwd_re_refused_total", "Peers and inputs the RE refused, by reason.", []string{"reason"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFPCUp
	ch <- descIPC
	ch <- descRoutes
	ch <- descOILs
	ch <- descJoins
	ch <- descFail
	ch <- descResDrp
	ch <- descMDisc
	ch <- descRefuse
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := (*Server)(c)
	for _, f := range s.FPCs() {
		slot := strconv.Itoa(int(f.Slot))
		ch <- prometheus.MustNewConstMetric(descFPCUp, prometheus.GaugeValue, 1, slot, f.Driver)
		ch <- prometheus.MustNewConstMetric(descFail, prometheus.GaugeValue, float64(f.Failures.Failing), slot)
		ch <- prometheus.MustNewConstMetric(descResDrp, prometheus.CounterValue, float64(f.ResolveDropped), slot)
	}
	for _, d := range s.kern.DiscardsBySlot() {
		ch <- prometheus.MustNewConstMetric(descMDisc, prometheus.GaugeValue, float64(d.Entries), strconv.Itoa(int(d.Slot)))
	}
	for k, v := range map[string]uint64{
		"registration": s.stats.Registrations.Load(),
		"refused":      s.stats.Refused.Load(),
		"resolve":      s.stats.Resolves.Load(),
		"route_hits":   s.stats.RouteHits.Load(),
		"wrong_iif":    s.stats.WrongIIF.Load(),
		"punt":         s.stats.Punts.Load(),
		"download_op":  s.stats.DownloadOps.Load(),
		"apply_error":  s.stats.ApplyErrors.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descIPC, prometheus.CounterValue, float64(v), k)
	}
	sum := s.kern.Summary()
	for k, v := range map[string]uint64{
		"unregistered_bound": s.stats.Unregistered.Load(),
		"handshake":          s.stats.HandshakeFailed.Load(),
		"auth":               s.stats.AuthFailed.Load(),
		"resolve_limit":      s.stats.ResolveLimited.Load(),
		"mdiscard_limit":     sum.DiscardRefused,
		"foreign_counters":   s.stats.CountersRefused.Load(),
		"foreign_punt":       s.stats.PuntsRefused.Load(),
		"unexpected_message": s.stats.UnexpectedFromFP.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descRefuse, prometheus.CounterValue, float64(v), k)
	}
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(sum.ForwardingRoutes), "forwarding")
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(sum.DiscardRoutes), "mdiscard")
	ch <- prometheus.MustNewConstMetric(descOILs, prometheus.GaugeValue, float64(sum.MulticastNextHops))
	ch <- prometheus.MustNewConstMetric(descJoins, prometheus.GaugeValue, float64(sum.Joins))
}
