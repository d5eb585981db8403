package msdpnet

import (
	"encoding/binary"

	"github.com/mxfwd/mxfwd/re/msdp/msdpmsg"
)

// Segment alignment. Wireshark's MSDP dissector (4.0 here, and the
// dissector has never reassembled) reads each TCP segment on its own:
// a TLV that straddles two segments shows as Malformed, and so would it
// in any tool that does the same. The writer therefore cuts its output
// into chunks of whole TLVs no larger than the connection's MSS and sends
// each with MSG_EOR, which stops Linux from appending later data to that
// segment (tcp_sendmsg, since 4.7). A Source-Active (or SA-Response)
// longer than the MSS is re-encoded as several shorter ones with the same
// RP; a TLV that cannot be cut (an SA carrying a data packet, an unknown
// TLV) goes out whole. Alignment can still break when the send buffer
// fills in the middle of a chunk; the stream stays correct either way.

// splitTLVs cuts data (whole TLVs) into chunks of at most mss octets,
// appending them to out. Chunks alias data unless an SA had to be
// re-encoded.
func splitTLVs(data []byte, mss int, out [][]byte) [][]byte {
	start := 0 // first octet of the chunk being built
	for off := 0; off+msdpmsg.HeaderLen <= len(data); {
		t := msdpmsg.Type(data[off])
		n := int(binary.BigEndian.Uint16(data[off+1:]))
		if n < msdpmsg.HeaderLen || off+n > len(data) {
			// Not ours to judge: send the rest as it is.
			break
		}
		switch {
		case off+n-start <= mss:
			off += n
			continue
		case n <= mss:
			out = append(out, data[start:off])
			start = off
			off += n
			continue
		}
		// One TLV longer than the MSS.
		if off > start {
			out = append(out, data[start:off])
		}
		out = appendSplitSA(data[off:off+n], t, mss, out)
		off += n
		start = off
	}
	if start < len(data) {
		out = append(out, data[start:])
	}
	return out
}

// appendSplitSA re-encodes a Source-Active or SA-Response longer than
// mss as several of at most mss octets; anything else goes out whole.
func appendSplitSA(tlv []byte, t msdpmsg.Type, mss int, out [][]byte) [][]byte {
	per := (mss - msdpmsg.SAHeaderLen) / msdpmsg.EntryLen
	if (t != msdpmsg.TypeSourceActive && t != msdpmsg.TypeSAResponse) || per < 1 {
		return append(out, tlv)
	}
	m, _, err := msdpmsg.DecodeTLV(tlv)
	if err != nil {
		return append(out, tlv)
	}
	var sa *msdpmsg.SourceActive
	switch m := m.(type) {
	case *msdpmsg.SourceActive:
		sa = m
	case *msdpmsg.SAResponse:
		sa = &m.SourceActive
	}
	if len(sa.Data) > 0 {
		return append(out, tlv)
	}
	for i := 0; i < len(sa.Entries); i += per {
		b, err := msdpmsg.AppendSA(nil, t, sa.RP, sa.Entries[i:min(i+per, len(sa.Entries))], nil)
		if err != nil {
			return append(out, tlv)
		}
		out = append(out, b)
	}
	return out
}
