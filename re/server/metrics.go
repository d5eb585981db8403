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
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFPCUp
	ch <- descIPC
	ch <- descRoutes
	ch <- descOILs
	ch <- descJoins
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := (*Server)(c)
	for _, f := range s.FPCs() {
		ch <- prometheus.MustNewConstMetric(descFPCUp, prometheus.GaugeValue, 1, strconv.Itoa(int(f.Slot)), f.Driver)
	}
	for k, v := range map[string]uint64{
		"registration": s.stats.Registrations.Load(),
		"refused":      s.stats.Refused.Load(),
		"resolve":      s.stats.Resolves.Load(),
		"route_hits":   s.stats.RouteHits.Load(),
		"wrong_iif":    s.stats.WrongIIF.Load(),
		"punt":         s.stats.Punts.Load(),
		"download_op":  s.stats.DownloadOps.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descIPC, prometheus.CounterValue, float64(v), k)
	}
	sum := s.kern.Summary()
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(sum.ForwardingRoutes), "forwarding")
	ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(sum.DiscardRoutes), "mdiscard")
	ch <- prometheus.MustNewConstMetric(descOILs, prometheus.GaugeValue, float64(sum.MulticastNextHops))
	ch <- prometheus.MustNewConstMetric(descJoins, prometheus.GaugeValue, float64(sum.Joins))
}
