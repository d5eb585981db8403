package ipc

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mxfwd/mxfwd/hal"
)

// FormatBanner opens the decoded payload of one frame, as in seed 003.
const FormatBanner = "-----IPC message payload packet-----"

// FormatFrame writes FormatBanner and then every message of a frame with
// Format, numbered from 1.
func FormatFrame(w io.Writer, msgs []Message) {
	bw := bufio.NewWriter(w)
	bw.WriteString(FormatBanner + "\n")
	for i, m := range msgs {
		Format(bw, i+1, m)
	}
	bw.Flush()
}

// Format writes one message as a block, the way the capture in seed 003
// prints it: a "Packet N:" line, the header line, then the decoded body
// fields on a line indented by two tabs. For the resolve request:
//
//	Packet 1:
//		type: next-hop(6), subtype: resolve addr request(14), length: 20, opcode: 1, error: 0,
//			NH 983, IFL 331, /64, group 232.0.7.1, source 10.128.1.10, token 0x02ef
//
// Punted and injected frames follow as a hex dump, 16 bytes a line. A
// message that cannot be encoded is printed with "length: ?" and the
// error. Write errors are ignored (wrap w to see them).
func Format(w io.Writer, index int, m Message) {
	h := m.Header()
	body, err := m.AppendBody(nil)
	length := "?"
	if err == nil {
		length = strconv.Itoa(len(body))
	}
	fmt.Fprintf(w, "Packet %d:\n\ttype: %s(%d), subtype: %s(%d), length: %s, opcode: %d",
		index, h.Type, uint16(h.Type), SubtypeName(h.Type, h.Subtype), uint16(h.Subtype), length, h.Opcode)
	if r, ok := m.(*ResolveRequest); ok {
		fmt.Fprintf(w, ", error: %d,", r.Error)
	}
	io.WriteString(w, "\n\t\t")
	io.WriteString(w, describe(m))
	io.WriteString(w, "\n")
	if err != nil {
		fmt.Fprintf(w, "\t\tencode error: %v\n", err)
	}
	switch m := m.(type) {
	case *Punt:
		hexDump(w, m.Frame)
	case *Inject:
		hexDump(w, m.Frame)
	}
}

// describe renders a message's body fields on one line.
func describe(m Message) string {
	switch m := m.(type) {
	case *Register:
		var b strings.Builder
		fmt.Fprintf(&b, "slot %d, TNP %s, driver %s, PFEs", m.Slot, m.Addr, text(m.Driver))
		if len(m.PFEs) == 0 {
			b.WriteString(" none")
		}
		for _, p := range m.PFEs {
			fmt.Fprintf(&b, " %d", p)
		}
		b.WriteString(", ports")
		if len(m.Ports) == 0 {
			b.WriteString(" none")
		}
		for _, p := range m.Ports {
			fmt.Fprintf(&b, " %s=%s", text(p.IFL), text(p.Resource))
		}
		return b.String()
	case *RegisterAck:
		return fmt.Sprintf("error %d (%s), reason %q, master TNP %s, keepalive %v",
			uint16(m.Error), m.Error, m.Reason, m.Master, m.Keepalive)
	case *Keepalive:
		kind := "request"
		if m.Reply {
			kind = "reply"
		}
		return fmt.Sprintf("%s, seq %d, sent %s", kind, m.Seq,
			time.Unix(0, m.Sent).UTC().Format("2006-01-02 15:04:05.000000000 UTC"))
	case *ResyncBegin:
		return fmt.Sprintf("generation %d", m.Generation)
	case *ResyncEnd:
		return fmt.Sprintf("generation %d", m.Generation)
	case *IFLAdd:
		return describeIFL(&m.IFL)
	case *IFLChange:
		return describeIFL(&m.IFL)
	case *IFLDelete:
		return fmt.Sprintf("IFL %d", m.Index)
	case *ConfigSet:
		return fmt.Sprintf("%s = %q", text(m.Key), m.Value)
	case *NHAdd:
		return describeNH(&m.NH)
	case *NHChange:
		return describeNH(&m.NH)
	case *NHDelete:
		return fmt.Sprintf("NH %d", m.ID)
	case *ResolveRequest:
		return fmt.Sprintf("NH %d, IFL %d, /%d, group %s, source %s, token 0x%04x",
			m.NH, m.Ingress, m.PrefixLen, m.Group, m.Source, m.Token)
	case *RouteAdd:
		return describeRoute(&m.Route)
	case *RouteChange:
		return describeRoute(&m.Route)
	case *RouteDelete:
		return fmt.Sprintf("%s, table %d", m.Key, m.Key.Table)
	case *RouteHits:
		ingress := "any"
		if m.Ingress != 0 {
			ingress = strconv.FormatUint(uint64(m.Ingress), 10)
		}
		return fmt.Sprintf("%s, table %d, packets +%d, bytes +%d, IFL %s",
			m.Key, m.Key.Table, m.Packets, m.Bytes, ingress)
	case *WrongIIF:
		return fmt.Sprintf("IFL %d, expected IFL %d, group %s, source %s",
			m.Ingress, m.Expected, m.Group, m.Source)
	case *IFLCounters:
		return fmt.Sprintf("IFL %d, rx %d packets %d bytes, tx %d packets %d bytes",
			m.IFL, m.RxPackets, m.RxBytes, m.TxPackets, m.TxBytes)
	case *Punt:
		return fmt.Sprintf("IFL %d, trap %d, frame %d bytes", m.Ingress, m.Trap, len(m.Frame))
	case *Inject:
		if m.Forward {
			return fmt.Sprintf("IFL %d (forward as received), frame %d bytes", m.Egress, len(m.Frame))
		}
		return fmt.Sprintf("IFL %d, frame %d bytes", m.Egress, len(m.Frame))
	case *LinkState:
		return fmt.Sprintf("IFL %d, %s", m.IFL, map[bool]string{true: "up", false: "down"}[m.Up])
	case *TrapAdd:
		return describeTrap(&m.Trap)
	case *TrapDelete:
		return fmt.Sprintf("trap %d", m.ID)
	case *AuthChallenge:
		return fmt.Sprintf("method %d (hmac-sha256), nonce %x", m.Method, m.Nonce)
	case *AuthResponse:
		return fmt.Sprintf("nonce %x, proof %x", m.Nonce, m.Proof)
	case *AuthConfirm:
		return fmt.Sprintf("proof %x", m.Proof)
	case *ApplyError:
		return fmt.Sprintf("%s, %s(%d), %d failing, detail %s", m.Object(), m.Class, uint8(m.Class), m.Failed, text(m.Detail))
	}
	return fmt.Sprintf("%+v", m)
}

func describeTrap(t *hal.Trap) string {
	switch t.Kind {
	case hal.TrapARP, hal.TrapLocal:
		return fmt.Sprintf("trap %d, %s %s", t.ID, t.Kind, t.Addr)
	case hal.TrapProtocol:
		return fmt.Sprintf("trap %d, protocol %d", t.ID, t.Proto)
	case hal.TrapGroup:
		return fmt.Sprintf("trap %d, group %s", t.ID, t.Prefix)
	}
	return fmt.Sprintf("trap %d, kind %d", t.ID, t.Kind)
}

func describeIFL(l *hal.IFL) string {
	var b strings.Builder
	state := "down"
	if l.Up {
		state = "up"
	}
	fmt.Fprintf(&b, "IFL %d %s, %s, PFE %d, %s, MTU %d", l.Index, text(l.Name), l.Kind, l.PFE, state, l.MTU)
	if len(l.MAC) > 0 {
		fmt.Fprintf(&b, ", MAC %s", l.MAC)
	}
	if l.Addr.IsValid() {
		fmt.Fprintf(&b, ", address %s", l.Addr)
	}
	if len(l.Members) > 0 {
		b.WriteString(", members")
		for _, x := range l.Members {
			fmt.Fprintf(&b, " %d", x)
		}
	}
	return b.String()
}

func describeNH(nh *hal.NextHop) string {
	var b strings.Builder
	fmt.Fprintf(&b, "NH %d, %s(%d)", nh.ID, nh.Type, uint8(nh.Type))
	if nh.IFL != 0 {
		fmt.Fprintf(&b, ", IFL %d", nh.IFL)
	}
	if nh.Target != 0 {
		fmt.Fprintf(&b, ", target %d", nh.Target)
	}
	if len(nh.Members) > 0 {
		b.WriteString(", members")
		for _, x := range nh.Members {
			fmt.Fprintf(&b, " %d", x)
		}
	}
	return b.String()
}

func describeRoute(r *hal.Route) string {
	return fmt.Sprintf("%s, table %d, NH %d, RPF IFL %d, flags 0x%04x",
		r.Key, r.Key.Table, r.NH, r.RPF, uint32(r.Flags))
}

// text returns s as is if it is printable without spaces, else quoted, so
// that names from a capture cannot forge output lines.
func text(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// hexDump writes b as in seed 003: groups of two bytes, 16 bytes a line,
// indented by two tabs and a space.
func hexDump(w io.Writer, b []byte) {
	const hexdigits = "0123456789abcdef"
	line := make([]byte, 0, 64)
	for off := 0; off < len(b); off += 16 {
		line = append(line[:0], "\t\t "...)
		end := min(off+16, len(b))
		for i := off; i < end; i++ {
			if i > off && (i-off)%2 == 0 {
				line = append(line, ' ')
			}
			line = append(line, hexdigits[b[i]>>4], hexdigits[b[i]&0xf])
		}
		line = append(line, '\n')
		w.Write(line)
	}
}
