package host

import (
	"net/netip"

	"github.com/mxfwd/mxfwd/re/pim"
	"github.com/mxfwd/mxfwd/re/pim/pimmsg"
)

func pimmsgPacket(src netip.Addr) ([]byte, error) {
	return pimmsg.Packet(src, pim.AllPIMRouters, &pimmsg.Hello{HasHoldtime: true, Holdtime: 105})
}
