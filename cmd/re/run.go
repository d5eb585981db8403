package main

import (
	"context"
	"errors"
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
		keyFile, cliGroup               string
		tlsFiles                        daemon.TLSFiles
		insecure                        bool
		mdiscardPerFPC, mdiscardTotal   int
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
			opt := server.Options{
				Config: cfg, ConfigPath: cfgPath, Listen: listen, Logger: log,
				KeepaliveInterval: keepalive, RegisterTimeout: regTimeout, CacheTimeout: cacheTO,
				Insecure: insecure, DiscardLimitPerSlot: mdiscardPerFPC, DiscardLimit: mdiscardTotal,
			}
			if keyFile != "" {
				if opt.AuthKey, err = daemon.ReadKeyFile(keyFile); err != nil {
					return err
				}
			}
			if tlsFiles.Set() {
				if opt.TLS, err = daemon.ServerTLS(tlsFiles); err != nil {
					return err
				}
			}
			srv, err := server.New(opt)
			if errors.Is(err, server.ErrInsecureListen) {
				return err
			}
			if err != nil {
				return fmt.Errorf("configuration %s: %w", cfgPath, err)
			}
			if insecure {
				log.Warn("--insecure: any peer that reaches the FPC port may register as a line card", "listen", listen)
			}
			ctx, hup, stop := daemon.SignalContext(context.Background())
			defer stop()
			reg := daemon.Registry()
			reg.MustRegister(srv.Collector())
			if _, err := daemon.ServeMetrics(ctx, metrics, reg, log); err != nil {
				return err
			}
			cs, err := cli.Listen(a.socket, srv.CLI(), log, cli.ServerConfig{Group: cliGroup})
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
	_ = f.MarkHidden("cache-timeout")
	f.StringVar(&keyFile, "auth-key-file", "", "shared key the FPCs must prove at registration (HMAC-SHA256 challenge; the file mode must be 0600)")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "serve the FPCs over mutual TLS: the RE's certificate (PEM)")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "the private key of --tls-cert (PEM)")
	f.StringVar(&tlsFiles.CA, "tls-ca", "", "CA that signs the FPCs' certificates (PEM)")
	f.BoolVar(&insecure, "insecure", false, "allow --listen on a non-loopback address without --auth-key-file or TLS (any peer may register as a card)")
	f.StringVar(&cliGroup, "cli-group", "", "group of the CLI socket (mode 0660; default: the process's group)")
	f.IntVar(&mdiscardPerFPC, "mdiscard-per-fpc", 0, "mdiscard entries one card's resolves may create (0: 32768; negative: no bound)")
	f.IntVar(&mdiscardTotal, "mdiscard-total", 0, "mdiscard entries in total (0: 131072; negative: no bound)")
	return c
}
