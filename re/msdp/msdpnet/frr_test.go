package msdpnet_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/re/msdp"
)

// FRR 8.4 (zebra, staticd, pimd) in a namespace, run the way
// ../shared/interop/README.md documents (daemons as user frr, their own
// run directory, vtysh over the vty sockets), self-contained so that CI
// needs only the frr package.

const frrBin = "/usr/lib/frr"

func needFRR(t *testing.T) {
	t.Helper()
	needRoot(t)
	for _, d := range []string{"zebra", "staticd", "pimd"} {
		if _, err := os.Stat(filepath.Join(frrBin, d)); err != nil {
			t.Skipf("skipped: needs FRR (%s/%s; apt-get install frr)", frrBin, d)
		}
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		t.Skip("skipped: needs vtysh (frr package)")
	}
	if _, err := user.Lookup("frr"); err != nil {
		t.Skip("skipped: needs the frr user (frr package)")
	}
}

type frrRouter struct {
	t   *testing.T
	ns  string
	dir string
}

// startFRR runs zebra, staticd and pimd in ns with the given pimd.conf
// body; FRR's RP (224/4) is its own address rp, set after start-up as the
// interop README says (pitfall 2).
func startFRR(t *testing.T, ns, name, ifname string, addr netip.Addr, pimConf string) *frrRouter {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "mxmsdp-frr-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	u, _ := user.Lookup("frr")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	require.NoError(t, os.Chown(dir, uid, gid))
	f := &frrRouter{t: t, ns: ns, dir: dir}
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			for _, d := range []string{"pimd"} {
				b, _ := os.ReadFile(filepath.Join(dir, d+".log"))
				t.Logf("FRR %s %s.log:\n%s", name, d, b)
			}
		}
		os.RemoveAll(dir)
	})
	confs := map[string]string{
		"zebra":   "hostname " + name + "\nip nht resolve-via-default\n",
		"staticd": "hostname " + name + "\n",
		"pimd":    "hostname " + name + "\n" + pimConf,
	}
	for _, d := range []string{"zebra", "staticd", "pimd"} {
		conf := filepath.Join(dir, d+".conf")
		require.NoError(t, os.WriteFile(conf, []byte(confs[d]), 0o644))
		require.NoError(t, os.Chown(conf, uid, gid))
		run(t, "ip", "netns", "exec", ns, filepath.Join(frrBin, d), "-d", "-f", conf, "-i", filepath.Join(dir, d+".pid"),
			"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-P", "0",
			"--log", "file:"+filepath.Join(dir, d+".log"), "-u", "frr", "-g", "frr")
		eventually(t, 10*time.Second, d+" vty socket", func() bool {
			_, err := os.Stat(filepath.Join(dir, d+".vty"))
			return err == nil
		})
	}
	// The RP, once pimd knows the interface address.
	eventually(t, 10*time.Second, "pimd sees "+addr.String(), func() bool {
		return strings.Contains(f.vtysh("show ip pim interface"), addr.String())
	})
	f.vtysh("configure terminal", "ip pim rp "+addr.String()+" 224.0.0.0/4")
	return f
}

func (f *frrRouter) vtysh(cmds ...string) string {
	args := []string{"--vty_socket", f.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, _ := exec.Command("vtysh", args...).CombinedOutput()
	return string(out)
}

// stop ends the daemons this test started, by the pids in their pid
// files, and waits for them.
func (f *frrRouter) stop() {
	for _, d := range []string{"pimd", "staticd", "zebra"} {
		b, err := os.ReadFile(filepath.Join(f.dir, d+".pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		// Only if that pid is still our daemon (its command line names
		// our run directory).
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), f.dir) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for range 100 {
			if syscall.Kill(pid, 0) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

type frrPeer struct {
	Peer   string `json:"peer"`
	Local  string `json:"local"`
	State  string `json:"state"`
	SACnt  int    `json:"saCount"`
	UpTime string `json:"upTime"`
}

func (f *frrRouter) peers() map[string]frrPeer {
	out := map[string]frrPeer{}
	_ = json.Unmarshal([]byte(f.vtysh("show ip msdp peer json")), &out)
	return out
}

type frrSA struct {
	Source string `json:"source"`
	Group  string `json:"group"`
	RP     string `json:"rp"`
	Local  string `json:"local"`
}

func (f *frrRouter) sas() map[string]map[string]frrSA {
	out := map[string]map[string]frrSA{}
	_ = json.Unmarshal([]byte(f.vtysh("show ip msdp sa json")), &out)
	return out
}

// sendRegister sends FRR (the RP) a PIM Register (RFC 7761 §4.9.3) for
// (src, grp) from inside ns, as a first-hop router would: FRR answers with
// a Register-Stop and originates an SA for the source.
func sendRegister(t *testing.T, ns string, from, rp, src, grp netip.Addr) {
	t.Helper()
	payload := []byte("mxfwd")
	inner := make([]byte, 20+8+len(payload))
	inner[0], inner[8], inner[9] = 0x45, 16, 17 // v4, TTL 16, UDP
	binary.BigEndian.PutUint16(inner[2:], uint16(len(inner)))
	copy(inner[12:16], src.AsSlice())
	copy(inner[16:20], grp.AsSlice())
	binary.BigEndian.PutUint16(inner[10:], checksum(inner[:20]))
	binary.BigEndian.PutUint16(inner[20:], 5000)
	binary.BigEndian.PutUint16(inner[22:], 5001)
	binary.BigEndian.PutUint16(inner[24:], uint16(8+len(payload)))
	copy(inner[28:], payload)
	reg := make([]byte, 8, 8+len(inner))
	reg[0] = 0x21 // PIM version 2, type 1 Register; flags (B, N) clear
	binary.BigEndian.PutUint16(reg[2:], checksum(reg[:8]))
	reg = append(reg, inner...)
	err := inNS(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, 103)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: from.As4()}); err != nil {
			return err
		}
		return unix.Sendto(fd, reg, 0, &unix.SockaddrInet4{Addr: rp.As4()})
	})
	require.NoError(t, err)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// inNS runs fn on a thread inside namespace ns.
func inNS(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// A fresh goroutine locked to its thread; the thread is left
		// locked (and so discarded) after switching namespace.
		runtime.LockOSThread()
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// staticRIB is the DUT's unicast table, changed only on its owner
// goroutine (through router.do).
type staticRIB struct{ routes []msdp.Route }

func (r *staticRIB) Lookup(a netip.Addr) (msdp.Route, bool) {
	best := -1
	for i, rt := range r.routes {
		if rt.Prefix.Contains(a) && (best < 0 || rt.Prefix.Bits() > r.routes[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return msdp.Route{}, false
	}
	return r.routes[best], true
}

// TestFRRInterop peers our engine and transport with FRR 8.4 in
// namespaces, FRR having the higher and then the lower address, and
// checks: Established on both sides; an SA we originate in FRR's
// `show ip msdp sa json` with our RP address; an SA FRR originates (for a
// PIM Register it receives as RP) in our cache; an SA a third router (ours)
// sends FRR, forwarded to us, dropped by peer-RPF until our RIB routes
// its RP via FRR; and tshark dissecting the whole stream with nothing
// Malformed.
func TestFRRInterop(t *testing.T) {
	needFRR(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipped: needs tshark")
	}
	for _, tc := range []struct {
		name      string
		dut, frr  string // addresses on the DUT-FRR link (/30)
		x, frrX   string // the third router X and FRR on the X-FRR link
		frrListen bool
	}{
		{"FRR has the higher address", "10.88.0.1", "10.88.0.2", "10.88.2.1", "10.88.2.2", true},
		{"FRR has the lower address", "10.88.1.2", "10.88.1.1", "10.88.3.1", "10.88.3.2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := map[bool]string{true: "h", false: "l"}[tc.frrListen]
			nsD, nsF, nsX := newNS(t, "dut"+tag), newNS(t, "frr"+tag), newNS(t, "x"+tag)
			link(t, nsD, "to-frr", tc.dut+"/30", nsF, "to-dut", tc.frr+"/30")
			link(t, nsX, "to-frr", tc.x+"/30", nsF, "to-x", tc.frrX+"/30")
			run(t, "ip", "netns", "exec", nsF, "sysctl", "-qw", "net.ipv4.ip_forward=1")
			frr := startFRR(t, nsF, "frr"+tag, "to-dut", a(tc.frr), fmt.Sprintf(`debug msdp events
debug msdp packets
!
interface to-dut
 ip pim
!
interface to-x
 ip pim
!
ip msdp timers 60 75 1
ip msdp peer %s source %s
ip msdp peer %s source %s
!
`, tc.x, tc.frrX, tc.dut, tc.frr))
			// FRR puts the source of its last configured peer in the RP field
			// of the SAs it originates (interop README): the DUT's peering.

			pcap := filepath.Join(t.TempDir(), "dut.pcap")
			stopCap := capture(t, nsD, "to-frr", pcap)

			rib := &staticRIB{}
			// A second, absent peer: with FRR as its only peer the DUT would
			// take every SA from it (the only-peer rule, RFC 4611 stub).
			cfg := msdp.Config{LocalAddress: a(tc.dut), ConnectRetry: time.Second, ActiveSourceLimit: &msdp.Limit{},
				Peers: []msdp.PeerConfig{{Address: a(tc.frr)}, {Address: a("10.88.77.77")}}}
			dut := startRouter(t, cfg, routerOpt{netns: nsD, rib: rib})
			x := startRouter(t, msdp.Config{LocalAddress: a(tc.x), ConnectRetry: time.Second, Peers: []msdp.PeerConfig{{Address: a(tc.frrX)}}},
				routerOpt{netns: nsX})

			start := time.Now()
			eventually(t, 20*time.Second, "session established both sides", func() bool {
				return dut.peer(tc.frr).State == msdp.StateEstablished && frr.peers()[tc.dut].State == "established"
			})
			t.Logf("established after %v; ours active=%v", time.Since(start).Round(time.Millisecond), dut.peer(tc.frr).Active)

			assert.Equal(t, tc.frrListen, dut.peer(tc.frr).Active, "the lower address connects")
			eventually(t, 20*time.Second, "X established with FRR", func() bool { return x.peer(tc.frrX).State == msdp.StateEstablished })

			// 1. An SA we originate appears in FRR's cache with our RP.
			dut.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
				return e.Handle(now, msdp.LocalSourceEvent{Source: a("10.88.50.1"), Group: a("239.50.0.1"), RP: a(tc.dut), Active: true}, nil)
			})
			eventually(t, 10*time.Second, "our SA in FRR", func() bool {
				s, ok := frr.sas()["239.50.0.1"]["10.88.50.1"]
				return ok && s.RP == tc.dut
			})

			// 2. FRR, as RP, gets a Register and originates an SA: ours caches it.
			sendRegister(t, nsD, a(tc.dut), a(tc.frr), a("10.88.9.9"), a("239.8.8.8"))
			eventually(t, 10*time.Second, "FRR's SA in our cache", func() bool {
				for _, s := range dut.sas() {
					if s.Source == a("10.88.9.9") && s.Group == a("239.8.8.8") {
						return s.Peer == a(tc.frr) && s.Originator == a(tc.frr)
					}
				}
				return false
			})

			// 3. X's SA reaches FRR, which forwards it; our peer-RPF drops it
			// (X's RP is not routed via FRR) ...
			x.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
				return e.Handle(now, msdp.LocalSourceEvent{Source: a("10.88.60.1"), Group: a("239.60.0.1"), RP: a(tc.x), Active: true}, nil)
			})
			eventually(t, 10*time.Second, "X's SA in FRR", func() bool { _, ok := frr.sas()["239.60.0.1"]; return ok })
			eventually(t, 10*time.Second, "X's SA refused by our peer-RPF", func() bool { return dut.peer(tc.frr).Stats.RPFFailures > 0 })
			for _, s := range dut.sas() {
				assert.NotEqual(t, a("239.60.0.1"), s.Group)
			}
			// ... and accepts it once the RIB routes X via FRR (rule (iii)).
			dut.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
				rib.routes = append(rib.routes, msdp.Route{Prefix: netip.PrefixFrom(a(tc.x), 30).Masked(), Protocol: msdp.ProtoStatic, NextHop: a(tc.frr), Interface: "to-frr"})
				return e.Handle(now, msdp.RIBChanged{}, nil)
			})
			x.do(func(e *msdp.Engine, now time.Time) []msdp.Action {
				return e.Handle(now, msdp.LocalSourceEvent{Source: a("10.88.60.2"), Group: a("239.60.0.2"), RP: a(tc.x), Active: true}, nil)
			})
			eventually(t, 10*time.Second, "X's second SA accepted via FRR", func() bool {
				for _, s := range dut.sas() {
					if s.Group == a("239.60.0.2") {
						return s.Originator == a(tc.x) && s.Peer == a(tc.frr)
					}
				}
				return false
			})

			// 4. tshark dissects the stream both ways, nothing Malformed.
			time.Sleep(500 * time.Millisecond)
			if dropped := stopCap(); dropped > 0 {
				t.Logf("tcpdump dropped %d packets; skipping the dissection check", dropped)
				return
			}
			cmd := exec.Command("tshark", "-r", pcap, "-V", "-Y", "msdp")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, stderr.String())
			if k := os.Getenv("MXMSDP_KEEP_PCAP"); k != "" {
				_ = exec.Command("cp", pcap, k+"-"+tag).Run()
			}
			text := string(out)
			for _, bad := range []string{"Malformed", "Expert Info (Error", "Unknown MSDP"} {
				assert.NotContains(t, text, bad)
			}
			assert.Contains(t, text, "Type: KeepAlive (4)")
			assert.Contains(t, text, "Type: IPv4 Source-Active (1)")
			assert.Contains(t, text, "RP Address: "+tc.dut, "our SA")
			assert.Contains(t, text, "RP Address: "+tc.frr, "FRR's SA")
			assert.Contains(t, text, "Class Selector 6", "both stacks mark CS6")
		})
	}
}
