package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/internal/daemon"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/server"
)

func defaultSocket() string { return daemon.SocketDir() + "/re.sock" }

func (a *app) runCmd() *cobra.Command {
	var (
		cfgPath, listen, metrics, level string
		keepalive, regTimeout, cacheTO  time.Duration
		hostIfs                         bool
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the routing engine daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := daemon.Logger(level)
			if err != nil {
				return err
			}
			cfg := config.New()
			if cfgPath != "" {
				if cfg, err = config.Load(cfgPath); err != nil {
					return err
				}
			}
			srv, err := server.New(server.Options{
				Config: cfg, ConfigPath: cfgPath, Listen: listen, Logger: log,
				KeepaliveInterval: keepalive, RegisterTimeout: regTimeout, CacheTimeout: cacheTO,
				HostInterfaces: hostIfs,
			})
			if err != nil {
				return fmt.Errorf("configuration %s: %w", cfgPath, err)
			}
			ctx, hup, stop := daemon.SignalContext(context.Background())
			defer stop()
			reg := daemon.Registry()
			reg.MustRegister(srv.Collector())
			if _, err := daemon.ServeMetrics(ctx, metrics, reg, log); err != nil {
				return err
			}
			cs, err := cli.Listen(a.socket, srv.CLI(), log)
			if err != nil {
				return err
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _ = cs.Serve(ctx) }()
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := srv.Reload(ctx); err != nil {
							log.Error("reload failed; keeping the running configuration", "err", err)
						} else {
							log.Info("configuration reloaded")
						}
					}
				}
			}()
			log.Info("RE running", "cli", a.socket, "config", cfgPath)
			err = srv.Run(ctx)
			stop()
			wg.Wait()
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "", "configuration file of set statements")
	f.StringVar(&listen, "listen", server.DefaultListen, "address to serve FPCs on (loopback by default)")
	f.StringVar(&metrics, "metrics", "127.0.0.1:9234", "Prometheus /metrics address (empty to disable)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&keepalive, "keepalive", time.Second, "IPC keepalive interval told to FPCs")
	f.DurationVar(&regTimeout, "register-timeout", 3*time.Second, "drop connections that do not register within this time")
	f.DurationVar(&cacheTO, "cache-timeout", 0, "override the forwarding-cache timeout (tests and demos; e.g. 5s)")
	f.BoolVar(&hostIfs, "host-interfaces", false, "mirror every interface as a TAP device in this network namespace, so that the host's IP stack owns the router's addresses (root)")
	_ = f.MarkHidden("cache-timeout")
	return c
}
