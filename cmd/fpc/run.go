package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/fpc"
	"github.com/mxfwd/mxfwd/hal"
	"github.com/mxfwd/mxfwd/internal/daemon"
)

func vtySocket(slot int) string { return fmt.Sprintf("%s/fpc%d.sock", daemon.SocketDir(), slot) }

func parseKV(list []string, what string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range list {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("invalid %s %q: expected NAME=VALUE", what, p)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s %q given twice", what, k)
		}
		m[k] = v
	}
	return m, nil
}

func (a *app) runCmd() *cobra.Command {
	var (
		slot                               int
		re, driver, socket, metrics, level string
		ports, opts                        []string
		statsEvery                         time.Duration
		keyFile, vtyGroup                  string
		tlsFiles                           daemon.TLSFiles
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run a line card connected to the RE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := daemon.Logger(level)
			if err != nil {
				return err
			}
			d, ok := drivers[driver]
			if !ok {
				return fmt.Errorf("unknown driver %q (available: %s)", driver, driverNames())
			}
			portMap, err := parseKV(ports, "--port")
			if err != nil {
				return err
			}
			optMap, err := parseKV(opts, "--opt")
			if err != nil {
				return err
			}
			if slot < 0 || slot > int(hal.MaxSlot) {
				return fmt.Errorf("--slot %d: out of range 0..%d (MX960 line-card slots)", slot, hal.MaxSlot)
			}
			if socket == "" {
				socket = vtySocket(slot)
			}
			if !cmd.Flags().Changed("metrics") {
				metrics = fmt.Sprintf("127.0.0.1:%d", 9240+slot)
			}
			fcfg := fpc.Config{
				Slot: hal.Slot(slot), RE: re, DriverName: driver, NewDriver: d.new,
				Ports: portMap, Options: optMap, Logger: log, StatsInterval: statsEvery,
			}
			if keyFile != "" {
				if fcfg.AuthKey, err = daemon.ReadKeyFile(keyFile); err != nil {
					return err
				}
			}
			if tlsFiles.Set() {
				if fcfg.TLS, err = daemon.ClientTLS(tlsFiles); err != nil {
					return err
				}
			}
			ctx, _, stop := daemon.SignalContext(context.Background())
			defer stop()
			rt, err := fpc.New(ctx, fcfg)
			if err != nil {
				return err
			}
			reg := daemon.Registry()
			reg.MustRegister(rt.Collector(), rt.DriverCollector())
			if _, err := daemon.ServeMetrics(ctx, metrics, reg, log); err != nil {
				return err
			}
			vs, err := cli.Listen(socket, rt.Vty(), log, cli.ServerConfig{Group: vtyGroup})
			if err != nil {
				return err
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = vs.Serve(ctx) }()
			log.Info("FPC running", "slot", slot, "driver", driver, "re", re, "vty", socket)
			err = rt.Run(ctx)
			stop()
			wg.Wait()
			return err
		},
	}
	f := c.Flags()
	f.IntVar(&slot, "slot", 0, "FPC slot number (TNP address 0x10+slot)")
	f.StringVar(&re, "re", "127.0.0.1:6234", "RE address HOST:PORT, or both REs' HOST:PORT,HOST:PORT (the card follows the one that accepts it as master)")
	f.StringVar(&driver, "driver", "swpfe", "PFE driver: "+driverNames())
	f.StringArrayVar(&ports, "port", nil, "bind a port to a driver resource, e.g. xe-3/1/0=veth31 (repeatable)")
	f.StringArrayVar(&opts, "opt", nil, "driver option KEY=VALUE (repeatable)")
	f.StringVar(&socket, "vty-socket", "", "vty Unix socket (default "+daemon.SocketDir()+"/fpcN.sock)")
	f.StringVar(&metrics, "metrics", "", "Prometheus /metrics address (default 127.0.0.1:9240+slot; empty to disable)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&statsEvery, "stats-interval", time.Second, "how often route hit counters are reported to the RE")
	f.StringVar(&keyFile, "auth-key-file", "", "shared key proved to the RE at registration (the RE's --auth-key-file; mode 0600)")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "connect to the RE over mutual TLS: this card's certificate (PEM)")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "the private key of --tls-cert (PEM)")
	f.StringVar(&tlsFiles.CA, "tls-ca", "", "CA that signs the RE's certificate (PEM; checked against the host of --re)")
	f.StringVar(&vtyGroup, "vty-group", "", "group of the vty socket (mode 0660; default: the process's group)")
	_ = c.MarkFlagRequired("slot")
	return c
}
