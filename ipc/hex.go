package ipc

import (
	"strings"
)

// DecodeHex decodes a hex dump of IPC bytes as operators paste it: plain
// ("01000000..."), in groups separated by white space (the "0100 0000 1c00"
// of seed 003, across lines), with a "0x" prefix on the whole string or on
// each group, and with ':' separators ("01:00:00:00"). Errors wrap
// ErrMalformed and give the offset of the bad character:
// "ipc: hex: invalid character 'z' at offset 5".
func DecodeHex(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)/2)
	var hi byte
	half := false
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':':
			if half {
				return nil, hexErr("odd number of digits in group ending at offset %d", i)
			}
			continue
		case c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') && !half && atGroupStart(s, i):
			i++ // skip "0x"
			continue
		}
		v, ok := unhex(c)
		if !ok {
			return nil, hexErr("invalid character %q at offset %d", c, i)
		}
		digits++
		if !half {
			hi, half = v, true
			continue
		}
		out = append(out, hi<<4|v)
		half = false
	}
	if half {
		return nil, hexErr("odd number of digits (%d)", digits)
	}
	if len(out) == 0 {
		return nil, hexErr("no hex digits")
	}
	return out, nil
}

// atGroupStart reports whether s[i] starts a group (start of input or
// after a separator).
func atGroupStart(s string, i int) bool {
	return i == 0 || strings.IndexByte(" \t\r\n:", s[i-1]) >= 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hexErr(format string, args ...any) error {
	return malformedf(nil, "ipc: hex: "+format, args...)
}
