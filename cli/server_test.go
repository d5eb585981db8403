package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve starts a server on a new socket; it stops with the test.
func serve(t *testing.T, tr *Tree, cfg ServerConfig) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cli.sock")
	srv, err := Listen(path, tr, slog.New(slog.DiscardHandler), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		_, err := os.Lstat(path)
		require.ErrorIs(t, err, os.ErrNotExist, "the socket is removed")
	})
	return srv, path
}

// rawRequest sends req as is and returns everything the server answers.
func rawRequest(t *testing.T, path string, req []byte) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	go func() { _, _ = c.Write(req) }()
	b, _ := io.ReadAll(c)
	return string(b)
}

// A request over the limit is refused whole: no prefix of it runs (today
// `clear multicast forwarding-cache<pad>` would clear the cache).
func TestOversizeRequestIsRefusedWhole(t *testing.T) {
	var ran atomic.Int32
	tr := New()
	tr.Add("clear multicast forwarding-cache", "clear", func(context.Context, *Request, io.Writer) error {
		ran.Add(1)
		return nil
	}, nil)
	srv, path := serve(t, tr, ServerConfig{})
	req := append([]byte("RUN clear multicast forwarding-cache"), bytes.Repeat([]byte(" "), maxRequest)...)
	out := rawRequest(t, path, append(req, '\n'))
	assert.Contains(t, out, "request longer than 65536 bytes: refused whole, nothing of it ran")
	assert.True(t, strings.HasSuffix(out, "\x00error\n"))
	assert.Zero(t, ran.Load(), "nothing of it ran")
	assert.EqualValues(t, 1, srv.Stats().Oversize.Load())

	// At the limit it runs.
	req = append([]byte("RUN clear multicast forwarding-cache"), bytes.Repeat([]byte(" "), maxRequest-40)...)
	out = rawRequest(t, path, append(req, '\n'))
	assert.True(t, strings.HasSuffix(out, "\x00ok\n"), out)
	assert.EqualValues(t, 1, ran.Load())
	// The client refuses to send an oversized one at all.
	err := Exec(context.Background(), path, "clear multicast forwarding-cache"+strings.Repeat(" ", maxRequest), io.Discard)
	require.ErrorContains(t, err, "the limit is 65536")
}

// A client that stops reading is cut off after the write timeout and the
// command stops rendering: it does not produce the rest of its output.
func TestNonReadingClientIsCutOff(t *testing.T) {
	var produced atomic.Int64
	finished := make(chan error, 1)
	tr := New()
	tr.Add("show route table", "a huge table", func(_ context.Context, _ *Request, w io.Writer) error {
		line := []byte(strings.Repeat("x", 99) + "\n")
		var err error
		for i := 0; i < 2_000_000 && err == nil; i++ { // 200 MB
			_, err = w.Write(line)
			produced.Add(int64(len(line)))
		}
		finished <- err
		return err
	}, []Arg{{Name: "table", Required: true}}, Option{Name: "detail"})
	srv, path := serve(t, tr, ServerConfig{WriteTimeout: 200 * time.Millisecond})
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "RUN show route table inet.1 detail\n")
	require.NoError(t, err)
	// Never read.
	select {
	case err := <-finished:
		require.Error(t, err, "the command ended on a write error")
	case <-time.After(60 * time.Second): // a failure deadline, not a timing assertion
		t.Fatal("the command still renders for a client that does not read")
	}
	assert.Less(t, produced.Load(), int64(50<<20), "rendering stopped long before the end")
	require.Eventually(t, func() bool { return srv.Stats().CutOff.Load() == 1 && srv.Stats().Running.Load() == 0 }, 10*time.Second, 10*time.Millisecond)
}

// At most MaxConcurrent commands run; as many wait a little, more are
// refused at once, with an error.
func TestConcurrentCommandsAreCapped(t *testing.T) {
	release := make(chan struct{})
	var running atomic.Int32
	tr := New()
	tr.Add("show slow", "blocks", func(ctx context.Context, _ *Request, w io.Writer) error {
		running.Add(1)
		defer running.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		fmt.Fprintln(w, "done")
		return nil
	}, nil)
	srv, path := serve(t, tr, ServerConfig{MaxConcurrent: 2})
	results := make(chan error, 4)
	for range 2 {
		go func() { results <- Exec(context.Background(), path, "show slow", io.Discard) }()
	}
	require.Eventually(t, func() bool { return running.Load() == 2 }, 10*time.Second, time.Millisecond)
	// Two more wait for a place, then are refused; a fifth is refused at
	// once.
	var outs [3]bytes.Buffer
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { errs <- Exec(context.Background(), path, "show slow", &outs[i]) }()
	}
	for range 3 {
		require.ErrorIs(t, <-errs, ErrCommandFailed)
	}
	for i := range 3 {
		assert.Contains(t, outs[i].String(), "too many CLI commands running (2)")
	}
	assert.EqualValues(t, 3, srv.Stats().Busy.Load())
	assert.EqualValues(t, 2, running.Load())
	close(release)
	for range 2 {
		require.NoError(t, <-results)
	}
}

// Sockets are 0660 whatever the umask, with the configured group.
func TestSocketModeAndGroup(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	gid := os.Getgid()
	check := func(group string, wantGid int) {
		path := filepath.Join(dir, group+".sock")
		s, err := Listen(path, New(), nil, ServerConfig{Group: group})
		require.NoError(t, err)
		defer s.ln.Close()
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		assert.Equal(t, os.ModeSocket|0o660, fi.Mode())
		assert.EqualValues(t, wantGid, fi.Sys().(*syscall.Stat_t).Gid)
	}
	check(fmt.Sprint(gid), gid)
	if os.Geteuid() == 0 {
		check("65534", 65534) // another group: root may give any
	}
	_, err := Listen(filepath.Join(dir, "x.sock"), New(), nil, ServerConfig{Group: "no-such-group-mxhd"})
	require.ErrorContains(t, err, `socket group "no-such-group-mxhd"`)
}

// A socket directory another user owns, or that others may write, is
// refused with a clear error; a missing one is made.
func TestSocketDirectoryChecks(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o755))
	require.NoError(t, os.Chmod(open, 0o777))
	_, err := Listen(filepath.Join(open, "re.sock"), New(), nil, ServerConfig{})
	require.ErrorContains(t, err, "has mode 0777: refusing, group or others may write it")

	link := filepath.Join(base, "link")
	require.NoError(t, os.Symlink(base, link))
	_, err = Listen(filepath.Join(link, "re.sock"), New(), nil, ServerConfig{})
	require.ErrorContains(t, err, "is a symbolic link")

	made := filepath.Join(base, "new", "dir")
	s, err := Listen(filepath.Join(made, "re.sock"), New(), nil, ServerConfig{})
	require.NoError(t, err)
	s.ln.Close()

	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root (CAP_CHOWN)")
	}
	other := filepath.Join(base, "other")
	require.NoError(t, os.Mkdir(other, 0o755))
	require.NoError(t, os.Chown(other, 65534, 65534))
	_, err = Listen(filepath.Join(other, "re.sock"), New(), nil, ServerConfig{})
	require.ErrorContains(t, err, "belongs to uid 65534, not to this process (uid 0)")
}

// Control characters from peers or the configuration reach the client
// escaped: no terminal escape, no fake trailer.
func TestOutputIsEscaped(t *testing.T) {
	tr := New()
	tr.Add("show version", "host name from the configuration", func(_ context.Context, _ *Request, w io.Writer) error {
		fmt.Fprintf(w, "Hostname: evil\x1b]0;pwned\x07\x1b[2J\n")
		fmt.Fprintf(w, "Driver: tab\tok, C1 \u009b31m, é, DEL \x7f\n")
		fmt.Fprintf(w, "fake trailer next\n\x00ok\n")
		return fmt.Errorf("really failed")
	}, nil)
	_, path := serve(t, tr, ServerConfig{})
	var b bytes.Buffer
	err := Exec(context.Background(), path, "show version", &b)
	require.ErrorIs(t, err, ErrCommandFailed, "the handler's NUL cannot fake the status")
	out := b.String()
	assert.Contains(t, out, `Hostname: evil\x1b]0;pwned\x07\x1b[2J`+"\n")
	assert.Contains(t, out, "Driver: tab\tok, C1 \\x9b31m, é, DEL \\x7f\n")
	assert.Contains(t, out, `\x00ok`)
	assert.Contains(t, out, "error: really failed")
	for _, c := range out {
		if c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f)) {
			t.Fatalf("control character %U in the output", c)
		}
	}
	// An escape the handler splits across writes is still escaped.
	var sb strings.Builder
	e := &escapeWriter{w: &sb}
	_, _ = e.Write([]byte("a\xc2"))
	_, _ = e.Write([]byte("\x9bb\xc2"))
	_, _ = e.Write([]byte("\xa9"))
	e.Flush()
	assert.Equal(t, `a\x9bb©`, sb.String())
}

// Pipes filter as the output is written: a large output through `| count`
// or `| match` is never held whole.
func TestPipesStream(t *testing.T) {
	const n = 50_000
	tr := New()
	var maxBuffered atomic.Int64
	tr.Add("show big", "many lines", func(_ context.Context, _ *Request, w io.Writer) error {
		bw := bufio.NewWriter(w)
		for i := range n {
			fmt.Fprintf(bw, "route %d via ae%d.0\n", i, i%3)
		}
		if lw, ok := w.(*lineWriter); ok {
			maxBuffered.Store(int64(cap(lw.buf)))
		}
		return bw.Flush()
	}, nil)
	var b bytes.Buffer
	require.NoError(t, tr.Run(context.Background(), "show big | count", &b))
	assert.Equal(t, fmt.Sprintf("Count: %d lines\n", n), b.String())
	b.Reset()
	require.NoError(t, tr.Run(context.Background(), "show big | match ae1 | count", &b))
	assert.Equal(t, fmt.Sprintf("Count: %d lines\n", n/3+1), b.String(), "1, 4, ... 49999")
	b.Reset()
	require.NoError(t, tr.Run(context.Background(), "show big | match \"route 4999[0-9] \" | except ae0", &b))
	assert.Equal(t, "route 49990 via ae1.0\nroute 49991 via ae2.0\nroute 49993 via ae1.0\nroute 49994 via ae2.0\nroute 49996 via ae1.0\nroute 49997 via ae2.0\nroute 49999 via ae1.0\n", b.String())
	assert.Less(t, maxBuffered.Load(), int64(64<<10), "a pipe holds a line, not the output")
	// A write error downstream ends the command.
	err := tr.Run(context.Background(), "show big | match ae", failAfter{})
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

type failAfter struct{}

func (failAfter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
