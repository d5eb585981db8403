package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mxfwd/mxfwd/lab/topo"
)

// FRR 8.4 as a lab node, run the way ../shared/interop/README.md found to
// work (and with its pitfalls handled):
//
//   - every daemon gets its own files in the node's run directory (-f
//     config, -i pid file, -z zserv socket, --vty_socket, --log file), -P 0
//     (no TCP vty), -u/-g frr; the directory is owned by frr, which the
//     daemons switch to;
//   - zebra always gets "ip nht resolve-via-default" (without it pimd
//     cannot reach an RP or a source through a default route);
//   - the daemons start with nothing but their host name; the node's
//     integrated frr.conf is then applied through vtysh (which sends each
//     line to the daemon that owns it), except the static RP lines ("ip pim
//     rp ..."), applied once pimd knows its interfaces' addresses (else
//     "No Path to RP address specified");
//   - FRR keeps running after rejecting a line and `-C` does not validate,
//     so vtysh's answers and the daemons' logs are searched for rejections;
//   - daemons run in the foreground as recorded processes (no -d), so the
//     lab knows their pids; they are stopped before their namespace is
//     deleted (they would survive it), and their crash directories under
//     /var/tmp/frr are removed with them.

// frrRejected matches FRR's answers to configuration lines it refused
// (vtysh prefixes its errors with '%'); frrLogRejected the same in the
// daemons' logs.
var (
	frrRejected    = regexp.MustCompile(`%|No such command|error processing configuration|Unknown command|Command incomplete|[Aa]mbiguous`)
	frrLogRejected = regexp.MustCompile(`No such command|error processing configuration|Unknown command|Command incomplete|[Aa]mbiguous command`)
)

func frrInstalled() error {
	if _, err := os.Stat(filepath.Join(frrDir, "zebra")); err != nil {
		return fmt.Errorf("FRR is not installed (%s/zebra missing; apt-get install frr): %w", frrDir, err)
	}
	if _, err := exec.LookPath(vtysh); err != nil {
		return fmt.Errorf("vtysh not found (apt-get install frr): %w", err)
	}
	return nil
}

// frrHostname returns the hostname line's value of a config, or "".
func frrHostname(cfg string) string {
	for _, line := range strings.Split(cfg, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "hostname" {
			return f[1]
		}
	}
	return ""
}

// splitRP separates the top-level static RP lines from the rest.
func splitRP(cfg string) (main, late string) {
	var m, l strings.Builder
	for _, line := range strings.Split(cfg, "\n") {
		if strings.HasPrefix(line, "ip pim rp ") {
			l.WriteString(line + "\n")
			continue
		}
		m.WriteString(line + "\n")
	}
	return m.String(), l.String()
}

// generatedFRRConfig is the configuration of an frr node given none: PIM
// on every link interface.
func generatedFRRConfig(n *topo.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname %s\n!\n", n.Name)
	for _, i := range n.Interfaces {
		fmt.Fprintf(&b, "interface %s\n ip pim\nexit\n!\n", i.Linux)
	}
	return b.String()
}

func (l *Lab) prepareFRR(n *topo.Node, rec *NodeRecord) error {
	if err := frrInstalled(); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("node %s: user frr: %w", n.Name, err)
	}
	g, err := user.LookupGroup("frr")
	if err != nil {
		return fmt.Errorf("node %s: group frr: %w", n.Name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	rec.Daemons = n.Daemons
	cfg := n.Config
	if cfg == "" {
		cfg = generatedFRRConfig(n)
	}
	host := frrHostname(cfg)
	if host == "" {
		host = n.Name
		cfg = "hostname " + host + "\n" + cfg
	}
	main, late := splitRP(cfg)
	files := map[string]string{"frr.conf": main, "frr-late.conf": late}
	for _, d := range n.Daemons {
		c := "hostname " + host + "\n"
		if d == "zebra" {
			c += "ip nht resolve-via-default\n"
		}
		files[d+".conf"] = c
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(rec.Dir, f), []byte(c), 0o644); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return filepath.Walk(rec.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func (l *Lab) startFRR(ctx context.Context, n *topo.Node) error {
	rec, err := l.Node(n.Name)
	if err != nil {
		return err
	}
	dir := rec.Dir
	for _, d := range rec.Daemons {
		args := []string{filepath.Join(frrDir, d), "-f", filepath.Join(dir, d+".conf"),
			"-i", filepath.Join(dir, d+".pid"), "-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir, "-P", "0", "--log", "file:" + filepath.Join(dir, d+".log"),
			"-u", "frr", "-g", "frr"}
		p, err := l.startProc(n.Name, d, args, os.Environ(), d+".stderr")
		if err != nil {
			return err
		}
		if err := waitFor(ctx, d+" vty socket", startTimeout, &p, func() bool {
			ok := isSocket(filepath.Join(dir, d+".vty"))
			if d == "zebra" {
				ok = ok && isSocket(filepath.Join(dir, "zserv.api"))
			}
			return ok
		}); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, vtysh, "--vty_socket", dir, "-f", filepath.Join(dir, "frr.conf")).CombinedOutput()
	l.appendLog(n.Name, "vtysh.log", fmt.Sprintf("$ vtysh -f frr.conf\n%s", out))
	if err != nil {
		return fmt.Errorf("vtysh -f frr.conf: %v: %s", err, out)
	}
	if err := l.frrAnswers(n.Name, string(out)); err != nil {
		return err
	}
	late, _ := os.ReadFile(filepath.Join(dir, "frr-late.conf"))
	rpRetried := false
	if lines := strings.Split(strings.TrimSpace(string(late)), "\n"); lines[0] != "" {
		if err := waitPIMAddresses(ctx, dir); err != nil {
			l.log.Warn("pimd did not report every interface address; applying the RP anyway", "node", n.Name, "err", err)
		}
		if rpRetried, err = l.applyRP(ctx, n.Name, dir, lines); err != nil {
			return err
		}
	}
	// The configuration is read on the daemons' event loops; one more
	// round trip makes sure it has been processed before the logs are read.
	if _, err := vtyshRun(ctx, dir, "show version"); err != nil {
		return err
	}
	mroute := l.Mroute().Available
	for _, d := range rec.Daemons {
		b, _ := os.ReadFile(filepath.Join(dir, d+".log"))
		for _, line := range strings.Split(string(b), "\n") {
			if !frrLogRejected.MatchString(line) {
				continue
			}
			if rpRetried && strings.Contains(line, "No Path to RP") {
				continue // the attempt before the one that succeeded
			}
			if !mroute && strings.Contains(line, "static mroute") {
				// Accepted, but there is no kernel multicast routing to install it in.
				l.log.Warn("FRR cannot install a static mroute on this kernel (no IP_MROUTE)", "node", n.Name, "daemon", d)
				continue
			}
			return fmt.Errorf("%s rejected configuration: %s", d, line)
		}
	}
	return nil
}

// applyRP configures the static RP lines. pimd answers "No Path to RP
// address specified" until zebra has resolved the RP's address for it,
// which may be a moment after the interface has its address; the lines are
// then removed and applied again, for up to 5 s. It reports whether it had
// to retry.
func (l *Lab) applyRP(ctx context.Context, node, dir string, lines []string) (retried bool, err error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := vtyshRun(ctx, dir, append([]string{"configure terminal"}, lines...)...)
		l.appendLog(node, "vtysh.log", fmt.Sprintf("$ vtysh (after start-up) %q\n%s", lines, out))
		if err != nil {
			return retried, err
		}
		if !strings.Contains(out, "No Path to RP") {
			return retried, l.frrAnswers(node, out)
		}
		if time.Now().After(deadline) {
			return retried, fmt.Errorf("FRR could not resolve the RP after 5 s: %s", strings.TrimSpace(out))
		}
		retried = true
		select {
		case <-ctx.Done():
			return retried, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		undo := []string{"configure terminal"}
		for _, line := range lines {
			undo = append(undo, "no "+line)
		}
		_, _ = vtyshRun(ctx, dir, undo...)
	}
}

// frrAnswers fails on lines vtysh printed for rejected configuration and
// logs the rest (e.g. "Failed to add static mroute" on a kernel without
// IP_MROUTE) as warnings.
func (l *Lab) frrAnswers(node, out string) error {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if frrRejected.MatchString(line) {
			return fmt.Errorf("FRR rejected configuration: %s", line)
		}
		l.log.Warn("FRR said", "node", node, "line", line)
	}
	return nil
}

// vtyshRun runs vtysh commands against the daemons whose sockets are in
// dir (vtysh needs no namespace, only the sockets).
func vtyshRun(ctx context.Context, dir string, commands ...string) (string, error) {
	args := []string{"--vty_socket", dir}
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	out, err := exec.CommandContext(ctx, vtysh, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh %q: %v: %s", commands, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// waitPIMAddresses waits until pimd reports an address on every interface
// it runs on.
func waitPIMAddresses(ctx context.Context, dir string) error {
	var last string
	err := waitFor(ctx, "pimd interface addresses", 5*time.Second, nil, func() bool {
		out, err := vtyshRun(ctx, dir, "show ip pim interface json")
		if err != nil {
			last = err.Error()
			return false
		}
		var ifs map[string]struct {
			Address string `json:"address"`
			State   string `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &ifs); err != nil {
			last = err.Error()
			return false
		}
		for name, i := range ifs {
			if name == "pimreg" || name == "lo" {
				continue
			}
			if i.Address == "" || i.Address == "0.0.0.0" {
				last = name + " has no address yet"
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, last)
	}
	return nil
}

func isSocket(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}
