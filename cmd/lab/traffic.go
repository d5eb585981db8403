package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/lab/traffic"
)

func (a *app) trafficCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "traffic",
		Short: "Send sequence-numbered multicast UDP from a node, or receive it and count what was lost",
	}
	c.AddCommand(a.sendCmd(), a.recvCmd())
	return c
}

type addrFlags struct {
	group, source, iface string
	port                 int
}

func (f *addrFlags) add(c *cobra.Command) {
	c.Flags().StringVarP(&f.group, "group", "g", "", "multicast group (required)")
	c.Flags().StringVarP(&f.source, "source", "s", "", "source address (send: bind to it; recv: source-specific join)")
	c.Flags().StringVarP(&f.iface, "iface", "i", "", "interface (default: the route to the group)")
	c.Flags().IntVarP(&f.port, "port", "p", traffic.DefaultPort, "UDP port")
	_ = c.MarkFlagRequired("group")
}

func (f *addrFlags) parse() (g, s netip.Addr, err error) {
	if g, err = netip.ParseAddr(f.group); err != nil {
		return g, s, fmt.Errorf("--group: %w", err)
	}
	if f.source != "" {
		if s, err = netip.ParseAddr(f.source); err != nil {
			return g, s, fmt.Errorf("--source: %w", err)
		}
	}
	return g, s, nil
}

func (a *app) sendCmd() *cobra.Command {
	var (
		af       addrFlags
		rate     float64
		size     int
		count    uint64
		duration time.Duration
		ttl      int
		stream   uint32
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "send NODE --group G [--source S] [--iface IF] --rate PPS --size B [--count N | --duration D] [--ttl T]",
		Short: "Send a stream of sequence-numbered UDP datagrams (header: magic, stream id, seq, send time) from a node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			ns, err := l.NetnsPath(args[0])
			if err != nil {
				return err
			}
			g, s, err := af.parse()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := traffic.Send(ctx, traffic.SendConfig{
				Netns: ns, Group: g, Source: s, Iface: af.iface, Port: af.port,
				Rate: rate, Size: size, Count: count, Duration: duration, TTL: ttl, Stream: stream,
			})
			if err != nil {
				return err
			}
			if asJSON {
				return cli.WriteJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d datagrams of %d bytes to %s:%d from %s, stream %#x, in %.2f s (%.0f/s), %d send errors%s, %d schedule restarts\n",
				res.Sent, size, res.Group, af.port, res.Source, res.Stream, res.Seconds, res.Rate, res.Errors, lastErr(res.LastError), res.Restarts)
			return nil
		},
	}
	af.add(c)
	f := c.Flags()
	f.Float64VarP(&rate, "rate", "r", 1000, "datagrams per second")
	f.IntVar(&size, "size", traffic.DefaultSize, fmt.Sprintf("UDP payload bytes (>= %d)", traffic.HeaderLen))
	f.Uint64VarP(&count, "count", "n", 0, "datagrams to send (0: until --duration or Ctrl-C)")
	f.DurationVarP(&duration, "duration", "d", 0, "how long to send (0: until --count or Ctrl-C)")
	f.IntVar(&ttl, "ttl", traffic.DefaultTTL, "multicast TTL")
	f.Uint32Var(&stream, "stream", 0, "stream id (default random)")
	f.BoolVar(&asJSON, "json", false, "JSON output")
	return c
}

func lastErr(s string) string {
	if s == "" {
		return ""
	}
	return " (last: " + s + ")"
}

func (a *app) recvCmd() *cobra.Command {
	var (
		af                               addrFlags
		duration, idle, first, threshold time.Duration
		asJSON                           bool
	)
	c := &cobra.Command{
		Use:   "recv NODE --group G [--source S] [--iface IF] [--duration D]",
		Short: "Join a group on a node (the host's stack sends IGMP) and report received, lost, duplicated, reordered datagrams and gaps",
		Long: "Join a group on a node and measure the streams that arrive. Without --duration it stops --idle after the last datagram,\n" +
			"or just after every stream's end marker; Ctrl-C stops it too. The report comes at the end.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			ns, err := l.NetnsPath(args[0])
			if err != nil {
				return err
			}
			g, s, err := af.parse()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := traffic.Receive(ctx, traffic.RecvConfig{
				Netns: ns, Group: g, Source: s, Iface: af.iface, Port: af.port,
				Duration: duration, Idle: idle, FirstWait: first, GapThreshold: threshold,
				Ready: func() { fmt.Fprintf(os.Stderr, "joined %s on %s, waiting on port %d\n", af.group, args[0], af.port) },
			})
			if err != nil {
				return err
			}
			if asJSON {
				return cli.WriteJSON(cmd.OutOrStdout(), rep)
			}
			writeReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	af.add(c)
	f := c.Flags()
	f.DurationVarP(&duration, "duration", "d", 0, "receive for this long (0: until idle or the end of the streams)")
	f.DurationVar(&idle, "idle", traffic.DefaultIdle, "stop this long after the last datagram")
	f.DurationVar(&first, "first-wait", 0, "give up if nothing arrives within this time (0: wait)")
	f.DurationVar(&threshold, "gap-threshold", traffic.DefaultGapThreshold, "count gaps between arrivals longer than this")
	f.BoolVar(&asJSON, "json", false, "JSON output")
	return c
}

func writeReport(w io.Writer, r traffic.Report) {
	src := ""
	if r.Source != "" {
		src = " source " + r.Source
	}
	fmt.Fprintf(w, "group %s%s port %d: %d stream(s) in %.2f s, stopped: %s\n", r.Group, src, r.Port, len(r.Streams), r.Seconds, r.StopReason)
	for _, s := range r.Streams {
		end := "no end marker"
		if s.EndSeen {
			end = fmt.Sprintf("sent %d", s.Sent)
		}
		fmt.Fprintf(w, "  from %s stream %#x: received %d (unique %d), lost %d, duplicated %d, reordered %d, %s, seq %d..%d\n",
			s.Source, s.Stream, s.Received, s.Unique, s.Lost, s.Duplicates, s.Reordered, end, s.FirstSeq, s.LastSeq)
		fmt.Fprintf(w, "    longest gap %.1f ms, gaps over %.0f ms: %d; latency min/avg/max %.3f/%.3f/%.3f ms\n",
			s.LongestGapMs, s.GapThresholdMs, s.GapsOver, s.LatencyMinMs, s.LatencyAvgMs, s.LatencyMaxMs)
	}
	fmt.Fprintf(w, "total: received %d, lost %d, duplicated %d, reordered %d, longest gap %.1f ms, gaps over threshold %d",
		r.Received, r.Lost, r.Duplicates, r.Reordered, r.LongestGapMs, r.GapsOver)
	if r.Invalid > 0 {
		fmt.Fprintf(w, ", %d datagrams without a traffic header", r.Invalid)
	}
	fmt.Fprintln(w)
}
