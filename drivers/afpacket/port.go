package afpacket

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/mxfwd/mxfwd/hal"
)

// port is one Linux interface serving one physical interface of the FPC
// ("xe-3/1/0" -> "veth31"): a receive ring read by the port's RX worker and a
// transmit ring shared by every goroutine that sends out of it.
type port struct {
	phys    string // FPC physical interface name, "xe-3/1/0"
	ifname  string // Linux interface
	ifindex int
	mac     net.HardwareAddr // Linux interface MAC: the source of forwarded frames
	mtu     int

	rx *rxRing
	tx transmitter

	// ifl is the IFL bound to this port (its unit 0), 0 while none is.
	ifl atomic.Uint32

	st portCounters
}

// portCounters are updated once per batch with atomic adds.
type portCounters struct {
	rxPackets, rxBytes atomic.Uint64
	rxBatches          atomic.Uint64
	rxTruncated        atomic.Uint64
	rxCsumCompleted    atomic.Uint64
	rxUnbound          atomic.Uint64
	rxWaits            atomic.Uint64
	rxBacklogMax       atomic.Uint64 // written by the RX worker only
	txPackets, txBytes atomic.Uint64
	txRingFull         atomic.Uint64
	txTooBig           atomic.Uint64
	txRefused          atomic.Uint64
	txErrors           atomic.Uint64
	injected           atomic.Uint64 // frames sent by Transmit (RE control traffic)
}

// errNoInterface marks a port whose Linux interface does not exist.
var errNoInterface = errors.New("no such interface")

// errKernelMroute marks a port on which the kernel forwards multicast too.
var errKernelMroute = errors.New("kernel multicast routing is active on the interface")

// openPort resolves ifname in the current namespace (the caller runs it
// inside the configured one), checks that the kernel does not forward
// multicast on it, and opens both rings.
func openPort(phys, ifname string, o options, warn func(msg string, args ...any)) (p *port, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoInterface, err)
	}
	st, err := readMrouteState(ifname)
	if err != nil {
		return nil, err
	}
	if st.VIF || st.IfForwarding {
		e := fmt.Errorf("%w (it is a VIF in /proc/net/ip_mr_vif or conf.%s.mc_forwarding=1): every packet would be forwarded twice; stop the multicast routing daemon or set option kernel-mroute=warn", errKernelMroute, ifname)
		if o.KernelMroute != "warn" {
			return nil, e
		}
		warn("afpacket: port shares forwarding with the kernel", "port", phys, "interface", ifname, "err", e)
	} else if st.AllForwarding {
		warn("afpacket: a process holds a kernel mroute socket in this namespace (net.ipv4.conf.all.mc_forwarding=1); the port is not a VIF now, but if it becomes one the kernel will forward as well", "port", phys, "interface", ifname)
	}
	if ifi.Flags&net.FlagUp == 0 {
		warn("afpacket: interface is down", "port", phys, "interface", ifname)
	}
	p = &port{phys: phys, ifname: ifname, ifindex: ifi.Index, mac: ifi.HardwareAddr, mtu: ifi.MTU}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	p.rx, err = openRXRing(ifi.Index, rxRingConfig{BlockSize: o.RXBlockSize, BlockNr: o.RXBlocks, RetireTOVms: o.RXTimeoutMS}, rxFilter(nil))
	if err != nil {
		return p, fmt.Errorf("rx ring: %w", err)
	}
	if o.TXMode == "ring" {
		p.tx, err = openTXRing(ifi.Index, txRingConfig{FrameSize: o.txFrameSizeFor(ifi.MTU), FrameNr: o.TXFrames})
	} else {
		p.tx, err = openTXMmsg(ifi.Index, ifi.MTU+txSlotOverhead-txDataOff)
	}
	if err != nil {
		return p, fmt.Errorf("tx (%s): %w", o.TXMode, err)
	}
	return p, nil
}

func (p *port) account(res txResult, err error) {
	if res.Sent > 0 {
		p.st.txPackets.Add(uint64(res.Sent))
		p.st.txBytes.Add(res.Bytes)
	}
	if res.RingFull > 0 {
		p.st.txRingFull.Add(uint64(res.RingFull))
	}
	if res.TooBig > 0 {
		p.st.txTooBig.Add(uint64(res.TooBig))
	}
	if res.Refused > 0 {
		p.st.txRefused.Add(uint64(res.Refused))
	}
	if err != nil {
		p.st.txErrors.Add(1)
	}
}

func (p *port) boundIFL() hal.IFLIndex { return hal.IFLIndex(p.ifl.Load()) }

// close releases both rings; the RX worker must have exited.
func (p *port) close() {
	if p.rx != nil {
		p.rx.close()
	}
	if p.tx != nil {
		p.tx.close()
	}
}

// interfaceIndex returns the index of ifname in the current namespace.
func interfaceIndex(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoInterface, err)
	}
	return ifi.Index, nil
}
