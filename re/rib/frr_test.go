package rib

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFollowerFRROSPF is the lab the import exists for: FRR's zebra and
// ospfd run in the RE's namespace on an interface named as the RE mirrors
// xe-3/1/0.0, and in a neighbour namespace that has 10.78.0.0/24 behind it.
// The route ospfd learns (installed by zebra with proto ospf over a kernel
// nexthop object) reaches the RIB as OSPF/10; the neighbour's subnet going
// down withdraws it and the watcher is told; up brings it back.
const ospfIf = " ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n ip ospf retransmit-interval 1\n"

func TestFollowerFRROSPF(t *testing.T) {
	needNetns(t)
	for _, d := range []string{"zebra", "ospfd"} {
		if _, err := os.Stat("/usr/lib/frr/" + d); err != nil {
			t.Skipf("skipped: needs FRR (/usr/lib/frr/%s)", d)
		}
	}
	frr, err := user.Lookup("frr")
	if err != nil {
		t.Skip("skipped: needs the frr user FRR's daemons run as")
	}
	uid, _ := strconv.Atoi(frr.Uid)
	gid, _ := strconv.Atoi(frr.Gid)

	re, nb := newNS(t), newNS(t)
	ipc(t, "-n", re, "link", "add", "xe-3-1-0.0", "type", "veth", "peer", "name", "b0", "netns", nb)
	inNS(t, re, "addr add 10.1.0.1/24 dev xe-3-1-0.0")
	inNS(t, re, "link set xe-3-1-0.0 up")
	inNS(t, nb, "addr add 10.1.0.2/24 dev b0")
	inNS(t, nb, "link set b0 up")
	link(t, nb, "b1", "10.78.0.1/24")

	for _, ns := range []string{re, nb} {
		dir, err := os.MkdirTemp("", "mxrib-frr-")
		require.NoError(t, err)
		nsMu.Lock()
		dirLive[dir] = true
		nsMu.Unlock()
		t.Cleanup(func() {
			nsMu.Lock()
			delete(dirLive, dir)
			nsMu.Unlock()
			if t.Failed() {
				for _, d := range []string{"zebra", "ospfd"} {
					b, _ := os.ReadFile(filepath.Join(dir, d+".log"))
					t.Logf("%s %s.log:\n%s", ns, d, b)
				}
			}
			os.RemoveAll(dir)
		})
		require.NoError(t, os.Chmod(dir, 0o755))
		require.NoError(t, os.Chown(dir, uid, gid))
		conf := map[string]string{
			"zebra": "hostname " + ns + "\n",
			"ospfd": "hostname " + ns + "\n" +
				// Lab timers: 1 s hellos and retransmits, no LSA or SPF
				// throttling, so that the test takes seconds, not minutes.
				"interface xe-3-1-0.0\n" + ospfIf + "interface b0\n" + ospfIf +
				"router ospf\n network 10.0.0.0/8 area 0\n timers throttle lsa all 0\n timers lsa min-arrival 0\n timers throttle spf 0 0 0\n",
		}
		for _, d := range []string{"zebra", "ospfd"} { // zebra first: ospfd connects to it
			cf := filepath.Join(dir, d+".conf")
			require.NoError(t, os.WriteFile(cf, []byte(conf[d]), 0o644))
			require.NoError(t, os.Chown(cf, uid, gid))
			cmd := exec.Command("ip", "netns", "exec", ns, "/usr/lib/frr/"+d, "-f", cf,
				"-i", filepath.Join(dir, d+".pid"), "-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir,
				"-P", "0", "--log", "file:"+filepath.Join(dir, d+".log"), "-u", "frr", "-g", "frr")
			require.NoError(t, cmd.Start(), d)
			nsMu.Lock()
			procLive[cmd.Process] = true
			nsMu.Unlock()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				nsMu.Lock()
				delete(procLive, cmd.Process)
				nsMu.Unlock()
			})
			if d == "zebra" {
				api := filepath.Join(dir, "zserv.api")
				require.Eventually(t, func() bool { _, err := os.Stat(api); return err == nil }, 10*time.Second, 20*time.Millisecond, "zebra's socket")
			}
		}
	}

	r := New(Options{})
	_, err = r.SetInterface("xe-3/1/0.0", pfx("10.1.0.1/24"), time.Now())
	require.NoError(t, err)
	w := r.NewWatcher("pim")
	_, _, err = r.Watch(w, ip("10.78.0.5"))
	require.NoError(t, err)
	f, stop := startFollower(t, FollowerConfig{NetNS: "/var/run/netns/" + re})
	defer stop()
	o := &owner{t: t, r: r, f: f}

	learned := func() bool { res, ok := r.RPF(ip("10.78.0.5")); return ok && res.Protocol == ProtoOSPF }
	start := time.Now()
	o.within(60*time.Second, "the OSPF route (adjacency, SPF, zebra)", learned)
	t.Logf("OSPF route imported %v after the daemons started", time.Since(start).Round(time.Millisecond))
	res := rpf(t, r, "10.78.0.5")
	require.Equal(t, pfx("10.78.0.0/24"), res.Prefix)
	require.Equal(t, "xe-3/1/0.0", res.Interface)
	require.Equal(t, ip("10.1.0.2"), res.Neighbor)
	require.EqualValues(t, 10, res.Preference)
	ch := o.take("10.78.0.5")
	require.Len(t, ch, 1)
	require.Equal(t, ProtoOSPF, ch[0].New.Protocol)

	inNS(t, nb, "link set b1 down")
	o.within(30*time.Second, "the OSPF route withdrawn", func() bool { return !learned() })
	require.Len(t, o.take("10.78.0.5"), 1)
	inNS(t, nb, "link set b1 up")
	o.within(30*time.Second, "the OSPF route back", learned)
	t.Logf("follower: %+v\n%s", f.Stats(), o.table())
}
