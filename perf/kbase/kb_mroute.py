#!/usr/bin/env python3
"""Minimal static IPv4 multicast router control program (kernel ipmr).

Run it INSIDE the router network namespace. It opens the mroute control
socket (MRT_INIT), adds one VIF per interface (VIFF_USE_IFINDEX), installs
one static (S,G) MFC entry: input vif 0 -> all other vifs, then keeps the
socket open until SIGTERM/SIGINT (closing the socket = MRT_DONE, the kernel
flushes the VIFs and MFC entries and switches mc_forwarding off again).

Usage:
  kb_mroute.py --in rin --out out1,out2 --src 10.98.0.1 --grp 239.1.1.1
  (defaults are taken from env KB_IN, KB_OUTS (space/comma separated),
   KB_SRC, KB_GRP so it can also be used as a kbase.sh ROUTER_CMD)
"""
import argparse
import errno
import os
import signal
import socket
import struct
import sys
import time

MRT_INIT = 200
MRT_DONE = 201
MRT_ADD_VIF = 202
MRT_ADD_MFC = 204
VIFF_USE_IFINDEX = 0x8
MAXVIFS = 32


def vifctl(vifi, ifindex, threshold=1):
    # struct vifctl { vifi_t vifc_vifi; uchar flags; uchar threshold;
    #   uint rate_limit; union {in_addr lcl; int ifindex}; in_addr rmt; }
    return struct.pack("=HBBIiI", vifi, VIFF_USE_IFINDEX, threshold, 0,
                       ifindex, 0)


def mfcctl(src, grp, parent, ttls):
    # struct mfcctl { in_addr origin; in_addr grp; vifi_t parent;
    #   uchar ttls[32]; uint pkt_cnt, byte_cnt, wrong_if; int expire; }
    t = bytes(ttls) + bytes(MAXVIFS - len(ttls))
    body = socket.inet_aton(src) + socket.inet_aton(grp) + \
        struct.pack("=H", parent) + t
    body += bytes(2)  # padding to 4-byte alignment (offset 42 -> 44)
    body += struct.pack("=IIIi", 0, 0, 0, 0)
    assert len(body) == 60, len(body)
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--in", dest="inp", default=os.environ.get("KB_IN", "rin"))
    ap.add_argument("--out", default=os.environ.get("KB_OUTS", "out1"))
    ap.add_argument("--src", default=os.environ.get("KB_SRC", "10.98.0.1"))
    ap.add_argument("--grp", default=os.environ.get("KB_GRP", "239.1.1.1"))
    ap.add_argument("--ready-file", default=os.environ.get("KB_READY_FILE"))
    a = ap.parse_args()
    outs = [o for o in a.out.replace(",", " ").split() if o]

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    # small receive buffer: we never read upcalls (no-cache reports)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.setsockopt(socket.IPPROTO_IP, MRT_INIT, struct.pack("=i", 1))
    except OSError as e:
        if e.errno == errno.ENOPROTOOPT:
            print("kb_mroute: this kernel has no IPv4 multicast routing "
                  "(CONFIG_IP_MROUTE off: MRT_INIT fails with ENOPROTOOPT)",
                  file=sys.stderr)
            return 3
        print(f"kb_mroute: MRT_INIT: {e}", file=sys.stderr)
        return 1
    ifs = [a.inp] + outs
    for vifi, name in enumerate(ifs):
        s.setsockopt(socket.IPPROTO_IP, MRT_ADD_VIF,
                     vifctl(vifi, socket.if_nametoindex(name)))
    ttls = [0] + [1] * len(outs)  # 0 = not an output; 1 = forward if TTL>1
    s.setsockopt(socket.IPPROTO_IP, MRT_ADD_MFC,
                 mfcctl(a.src, a.grp, 0, ttls))
    print(f"kb_mroute: ({a.src},{a.grp}) iif={a.inp}(vif0) -> "
          f"{','.join(outs)} (vif1..{len(outs)})", flush=True)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.2)
    try:
        s.setsockopt(socket.IPPROTO_IP, MRT_DONE, struct.pack("=i", 1))
    except OSError:
        pass
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
