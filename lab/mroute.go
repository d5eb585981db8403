package lab

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/mxfwd/mxfwd/lab/netns"
)

// Mroute says whether the kernel can route multicast (CONFIG_IP_MROUTE).
// Our routers forward in user space and do not need it; FRR does: without
// it FRR is a control-plane peer only.
type Mroute struct {
	Available bool   `json:"available"`
	How       string `json:"how"` // how it was found out
}

// mrtInit and mrtDone are MRT_INIT and MRT_DONE from linux/mroute.h.
const (
	mrtInit = 200
	mrtDone = 201
)

// FRRNote is what FRR can and cannot do on this kernel.
func (m Mroute) FRRNote() string {
	if m.Available {
		return "kernel has IP_MROUTE: FRR nodes route multicast (IGMP, source detection, forwarding)"
	}
	return "kernel lacks IP_MROUTE (CONFIG_IP_MROUTE off): FRR nodes are control-plane only " +
		"(PIM hellos, joins, Register/Register-Stop, BSR and MSDP work; FRR's IGMP, first-hop " +
		"source detection, SA-triggered (S,G) joins and forwarding do not); mxfwd nodes forward in user space and are not affected"
}

// DetectMroute finds out whether the kernel has IP_MROUTE:
// /proc/net/ip_mr_vif exists only if it does; otherwise MRT_INIT is tried
// on a raw IGMP socket in a throw-away network namespace (ENOPROTOOPT: no
// IP_MROUTE), which leaves nothing behind.
func DetectMroute() Mroute {
	if _, err := os.Stat("/proc/net/ip_mr_vif"); err == nil {
		return Mroute{Available: true, How: "/proc/net/ip_mr_vif exists"}
	}
	var m Mroute
	err := netns.DoFresh(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_IGMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, mrtInit, 1)
		switch {
		case err == nil:
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, mrtDone, 1)
			m = Mroute{Available: true, How: "MRT_INIT succeeded in a scratch namespace"}
		case errors.Is(err, unix.ENOPROTOOPT):
			m = Mroute{How: "no /proc/net/ip_mr_vif; MRT_INIT: ENOPROTOOPT"}
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return Mroute{How: fmt.Sprintf("no /proc/net/ip_mr_vif; MRT_INIT check failed: %v", err)}
	}
	return m
}
