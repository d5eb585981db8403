package ipc

import (
	"fmt"

	"github.com/mxfwd/mxfwd/hal"
	"net"
	"net/netip"
)

// TNPAddr is a TNP address on the internal network: the master RE is 0x1,
// FPC slot N is 0x10+N (seed 003: `show tnp addresses`, fpc3 0x13 =
// 128.0.0.19).
type TNPAddr uint32

// TNPMaster is the master routing engine.
const TNPMaster TNPAddr = 0x1

// FPCAddr returns the TNP address of FPC slot (0x10+slot).
func FPCAddr(slot hal.Slot) TNPAddr { return TNPAddr(0x10 + uint32(slot)) }

// Slot returns the FPC slot of an FPC address (slots 0..hal.MaxSlot).
func (a TNPAddr) Slot() (slot hal.Slot, ok bool) {
	if a >= 0x10 && a <= 0x10+TNPAddr(hal.MaxSlot) {
		return hal.Slot(a - 0x10), true
	}
	return 0, false
}

// IP returns the internal IPv4 address, 128.0.0.0 plus the TNP address
// (0x13 -> 128.0.0.19).
func (a TNPAddr) IP() netip.Addr {
	return netip.AddrFrom4([4]byte{128, byte(a >> 16), byte(a >> 8), byte(a)})
}

// MAC returns the internal MAC address, 02:00:00 followed by the TNP
// address (0x13 -> 02:00:00:00:00:13).
func (a TNPAddr) MAC() net.HardwareAddr {
	return net.HardwareAddr{0x02, 0, 0, byte(a >> 16), byte(a >> 8), byte(a)}
}

// Name returns the name `show tnp addresses` prints: "master", "fpc3", or
// "" for other addresses.
func (a TNPAddr) Name() string {
	if a == TNPMaster {
		return "master"
	}
	if slot, ok := a.Slot(); ok {
		return fmt.Sprintf("fpc%d", slot)
	}
	return ""
}

// String returns the address in hex as `show tnp addresses` prints it:
// "0x13".
func (a TNPAddr) String() string { return fmt.Sprintf("%#x", uint32(a)) }
