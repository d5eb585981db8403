package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/cli"
)

func (a *app) execCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec NODE -- CMD [ARG...]",
		Short: "Run a command inside a node's namespace (on mxfwd nodes re and fpc find the node's sockets)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			n, err := l.Node(args[0])
			if err != nil {
				return err
			}
			env, err := l.Env(args[0])
			if err != nil {
				return err
			}
			ip, err := exec.LookPath("ip")
			if err != nil {
				return err
			}
			// Replace this process, so that an interactive shell owns the terminal.
			return syscall.Exec(ip, append([]string{"ip", "netns", "exec", n.Netns}, args[1:]...), env)
		},
	}
}

func (a *app) cliCmd() *cobra.Command {
	var cmds []string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "cli NODE[@re0|@re1] ['COMMAND']",
		Short: "Run a command on a node's CLI (the RE's on mxfwd nodes, vtysh on frr nodes); interactive without one",
		Long: "Run a command on a node's CLI: the RE's CLI on an mxfwd node (words are joined, as `re cli` does), vtysh on an frr node.\n" +
			"Several vtysh commands in one session: -c 'configure terminal' -c 'ip pim rp 10.0.0.1 224.0.0.0/4'.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			name, _, _ := strings.Cut(args[0], "@")
			n, err := l.Node(name)
			if err != nil {
				return err
			}
			words := args[1:]
			if len(words) > 0 {
				cmds = append([]string{strings.Join(words, " ")}, cmds...)
			}
			if len(cmds) == 0 {
				dir := n.Dir
				if n.Kind == "mxfwd" {
					sock, err := l.RESocket(context.Background(), args[0])
					if err != nil {
						return err
					}
					return interactiveRE(sock)
				}
				return interactive(n.Kind, dir)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			out, err := l.CLI(ctx, args[0], cmds...)
			fmt.Fprint(cmd.OutOrStdout(), out)
			if errors.Is(err, cli.ErrCommandFailed) {
				os.Exit(1)
			}
			return err
		},
	}
	c.Flags().StringArrayVarP(&cmds, "command", "c", nil, "command (repeatable; frr nodes run them in one vtysh session)")
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "command timeout")
	return c
}

func interactiveRE(sock string) error {
	host := cli.HostName(context.Background(), sock, "re")
	return cli.Interactive(context.Background(), sock, "user@"+host+"> ", os.Stdin, os.Stdout)
}

func interactive(kind, dir string) error {
	switch kind {
	case "mxfwd":
		sock := filepath.Join(dir, "re.sock")
		host := cli.HostName(context.Background(), sock, "re")
		return cli.Interactive(context.Background(), sock, "user@"+host+"> ", os.Stdin, os.Stdout)
	case "frr":
		vt, err := exec.LookPath("vtysh")
		if err != nil {
			return err
		}
		return syscall.Exec(vt, []string{"vtysh", "--vty_socket", dir}, os.Environ())
	}
	return fmt.Errorf("a %s node has no CLI: use lab exec NODE -- sh", kind)
}

func (a *app) vtyCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "vty NODE SLOT ['COMMAND']",
		Short: "Run a command on the vty of an FPC of an mxfwd node; interactive without one",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			slot, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("slot %q: %w", args[1], err)
			}
			_, socks, err := l.Sockets(args[0])
			if err != nil {
				return err
			}
			sock, ok := socks[slot]
			if !ok {
				return fmt.Errorf("node %s has no FPC in slot %d", args[0], slot)
			}
			if len(args) == 2 {
				host := cli.HostName(context.Background(), sock, args[0])
				return cli.Interactive(context.Background(), sock, fmt.Sprintf("NPC%d(%s vty)# ", slot, host), os.Stdin, os.Stdout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			out, err := l.Vty(ctx, args[0], slot, strings.Join(args[2:], " "))
			fmt.Fprint(cmd.OutOrStdout(), out)
			if errors.Is(err, cli.ErrCommandFailed) {
				os.Exit(1)
			}
			return err
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "command timeout")
	return c
}

func (a *app) killCmd() *cobra.Command {
	var signal string
	c := &cobra.Command{
		Use:   "kill NODE re0|re1",
		Short: "Signal a routing engine of a redundant mxfwd node (default SIGKILL: the master dies, the backup takes over)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			sigs := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}
			sig, ok := sigs[strings.TrimPrefix(strings.ToUpper(signal), "SIG")]
			if !ok {
				return fmt.Errorf("--signal %q: want KILL, TERM, STOP or CONT", signal)
			}
			return l.KillRE(args[0], args[1], sig)
		},
	}
	c.Flags().StringVarP(&signal, "signal", "s", "KILL", "KILL, TERM, STOP or CONT")
	return c
}

func (a *app) startCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "start NODE re0|re1",
		Short: "Start a killed routing engine of a redundant mxfwd node again (it joins the master as its backup)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.open()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return l.StartRE(ctx, args[0], args[1])
		},
	}
	return c
}
