package ipc_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mxfwd/mxfwd/ipc"
)

// FuzzDecodeFrame checks that whatever decodes re-encodes to the same bytes
// (encoding is canonical) and decodes again to the same messages.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(seedFrame())
	for _, m := range sampleMessages() {
		b, err := ipc.AppendFrame(nil, m)
		require.NoError(f, err)
		f.Add(b)
	}
	all, err := ipc.AppendFrame(nil, sampleMessages()...)
	require.NoError(f, err)
	f.Add(all)
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := ipc.Limits{MaxFrameBytes: 1 << 16, MaxMessages: 1 << 10}
		msgs, rest, err := ipc.DecodeFrame(b, lim)
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ipc.ErrMalformed) {
				t.Fatalf("error wraps neither ErrMalformed nor io.ErrUnexpectedEOF: %v", err)
			}
			return
		}
		frame := b[:len(b)-len(rest)]
		enc, err := ipc.AppendFrame(nil, msgs...)
		if err != nil {
			t.Fatalf("decoded messages do not encode: %v", err)
		}
		if !bytes.Equal(enc, frame) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", frame, enc)
		}
		again, rest2, err := ipc.DecodeFrame(enc, lim)
		require.NoError(t, err)
		require.Empty(t, rest2)
		require.Equal(t, msgs, again)

		// The streaming reader agrees.
		rmsgs, err := ipc.NewReader(bytes.NewReader(frame), lim).ReadFrame()
		require.NoError(t, err)
		require.Equal(t, msgs, rmsgs)

		// Format never fails on a decoded message.
		var out bytes.Buffer
		ipc.FormatFrame(&out, msgs)
	})
}

// FuzzDecodeHex checks that DecodeHex never panics and that what it accepts
// is what encoding/hex produces once separators are removed.
func FuzzDecodeHex(f *testing.F) {
	f.Add(seedHex)
	f.Add(hex.EncodeToString(seedFrame()))
	f.Add("0x0100 0x0000")
	f.Add("01:00:00\n00")
	f.Add("0100 00z0")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ipc.DecodeHex(s)
		if err != nil {
			require.ErrorIs(t, err, ipc.ErrMalformed)
			return
		}
		require.NotEmpty(t, b)
		again, err := ipc.DecodeHex(hex.EncodeToString(b))
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

// FuzzDecodePcap checks that no capture makes DecodePcap panic or report
// an error that is not ErrMalformed.
func FuzzDecodePcap(f *testing.F) {
	c := buildCapture(f)
	f.Add(c.pcap(f))
	f.Add(c.pcapng(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		ipc.DecodePcap(bytes.NewReader(b), 6234, func(_ ipc.PcapMeta, msgs []ipc.Message, err error) {
			if err != nil && !errors.Is(err, ipc.ErrMalformed) {
				t.Fatalf("per-frame error without ErrMalformed: %v", err)
			}
			if err == nil && len(msgs) == 0 {
				t.Fatal("frame without messages")
			}
		})
	})
}
