package afpacket

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// mrouteState is what the kernel's own multicast routing (ipmr) says about
// one interface, read in the namespace that holds it.
type mrouteState struct {
	// VIF: the interface is a kernel multicast VIF (/proc/net/ip_mr_vif),
	// so the kernel forwards multicast arriving on it or to it.
	VIF bool
	// IfForwarding: net.ipv4.conf.<if>.mc_forwarding is 1 (set by the
	// kernel while the interface is a VIF).
	IfForwarding bool
	// AllForwarding: net.ipv4.conf.all.mc_forwarding is 1: some process
	// holds an mroute socket (MRT_INIT) in this namespace.
	AllForwarding bool
}

// readMrouteState reads the ipmr state of ifname. It must run in the
// interface's namespace: /proc/thread-self/net and /proc/sys/net follow
// the namespace of the calling thread.
func readMrouteState(ifname string) (mrouteState, error) {
	var st mrouteState
	vifs, err := os.ReadFile("/proc/thread-self/net/ip_mr_vif")
	switch {
	case err == nil:
		st.VIF = vifListed(vifs, ifname)
	case os.IsNotExist(err):
		// Kernel without CONFIG_IP_MROUTE: nothing can forward.
		return st, nil
	default:
		return st, fmt.Errorf("read ip_mr_vif: %w", err)
	}
	st.IfForwarding = sysctlIsOne("/proc/sys/net/ipv4/conf/" + ifname + "/mc_forwarding")
	st.AllForwarding = sysctlIsOne("/proc/sys/net/ipv4/conf/all/mc_forwarding")
	return st, nil
}

// vifListed reports whether /proc/net/ip_mr_vif content lists ifname:
//
//	Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote
//	 0 rin               0       0         0       0 00008 00000000 00000000
func vifListed(content []byte, ifname string) bool {
	sc := bufio.NewScanner(bytes.NewReader(content))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[1] == ifname {
			return true
		}
	}
	return false
}

func sysctlIsOne(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
