package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
	"github.com/mxfwd/mxfwd/internal/daemon"
	"github.com/mxfwd/mxfwd/re/config"
	"github.com/mxfwd/mxfwd/re/nsr"
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
		hostIfs                         bool
		role, peerRE                    string
		reID                            int
		takeoverAfter, settle, spacing  time.Duration
		noFence                         bool
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
			var authKey []byte
			if keyFile != "" {
				if authKey, err = daemon.ReadKeyFile(keyFile); err != nil {
					return err
				}
			}
			var fpcTLS *tls.Config
			if tlsFiles.Set() {
				if fpcTLS, err = daemon.ServerTLS(tlsFiles); err != nil {
					return err
				}
			}
			if !cmd.Flags().Changed("metrics") && reID == 1 {
				// Two routing engines share a host: re1 exports next to re0.
				metrics = "127.0.0.1:9235"
			}
			ctx, hup, stop := daemon.SignalContext(context.Background())
			defer stop()
			// Non-stop routing: a paired routing engine (issue #17).
			var node *nsr.Node
			standby := false
			if peerRE != "" || cfg.Chassis.GracefulSwitchover {
				if peerRE == "" {
					peerRE = daemon.SocketDir() + "/re-mirror.sock"
				}
				prefer := nsr.RoleMaster
				switch role {
				case "backup":
					prefer = nsr.RoleBackup
				case "master":
				case "":
					if reID == 1 {
						prefer = nsr.RoleBackup
					}
				default:
					return fmt.Errorf("--role %q: want master or backup", role)
				}
				if !cfg.Chassis.GracefulSwitchover {
					log.Warn("nsr: --peer-re without `set chassis redundancy graceful-switchover`: pairing anyway")
				}
				if !cfg.NonstopRouting {
					log.Info("nsr: graceful switchover without `set routing-options nonstop-routing`: the kernel is replicated, the protocols restart on a switchover")
				}
				node, err = nsr.New(nsr.Options{REID: reID, Path: peerRE, Prefer: prefer, TakeoverAfter: takeoverAfter,
					NoFence: noFence, Logger: log.With("component", "nsr"), Settle: settle, Spacing: spacing,
					Trace: slices.Contains(cfg.MSDP.Traceoptions, "nsr-synchronization")})
				if err != nil {
					return err
				}
				r, err := node.Start(ctx)
				if err != nil {
					return fmt.Errorf("nsr: %w", err)
				}
				standby = r == nsr.RoleBackup
				log.Info("nsr: role decided", "re", reID, "role", r.String(), "mirror", peerRE)
			}
			srv, err := server.New(server.Options{
				Config: cfg, ConfigPath: cfgPath, Listen: listen, Logger: log,
				KeepaliveInterval: keepalive, RegisterTimeout: regTimeout, CacheTimeout: cacheTO,
				HostInterfaces: hostIfs, NSR: node, Standby: standby,
				AuthKey: authKey, TLS: fpcTLS, Insecure: insecure, DiscardLimitPerSlot: mdiscardPerFPC, DiscardLimit: mdiscardTotal,
			})
			if errors.Is(err, server.ErrInsecureListen) {
				return err
			}
			if err != nil {
				return fmt.Errorf("configuration %s: %w", cfgPath, err)
			}
			if insecure {
				log.Warn("--insecure: any peer that reaches the FPC port may register as a line card", "listen", listen)
			}
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
			if errors.Is(err, nsr.ErrHandedOver) {
				// Let the CLI answer the request that switched.
				time.Sleep(300 * time.Millisecond)
			}
			stop()
			wg.Wait()
			if errors.Is(err, nsr.ErrHandedOver) {
				// A planned switchover: this routing engine comes back as
				// the backup of the new master, as the same process.
				log.Info("nsr: mastership handed over; restarting as the backup")
				exe, xerr := os.Executable()
				if xerr != nil {
					return fmt.Errorf("nsr: restart as backup: %w", xerr)
				}
				return syscall.Exec(exe, os.Args, os.Environ())
			}
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
	f.IntVar(&reID, "re-id", 0, "this routing engine's slot: 0 (re0) or 1 (re1)")
	f.StringVar(&role, "role", "", "preferred role with a paired routing engine: master or backup (default: master for re0, backup for re1)")
	f.StringVar(&peerRE, "peer-re", "", "the mirror channel's Unix socket shared with the other routing engine (enables pairing; default with graceful-switchover configured: "+daemon.SocketDir()+"/re-mirror.sock)")
	f.DurationVar(&takeoverAfter, "takeover-after", 2*time.Second, "the backup takes over after this long without a keepalive (at least 1s)")
	f.BoolVar(&noFence, "no-fence", false, "never kill a silent master that still holds the mastership lock")
	f.DurationVar(&settle, "nsr-settle", 0, "override the 60 s after the sockets' replication during which a planned switchover is refused (labs)")
	f.DurationVar(&spacing, "nsr-spacing", 0, "override the 240 s between switchovers (labs)")
	_ = f.MarkHidden("cache-timeout")
	_ = f.MarkHidden("nsr-settle")
	_ = f.MarkHidden("nsr-spacing")
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
