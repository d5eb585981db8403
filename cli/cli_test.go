package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testTree() *Tree {
	t := New()
	t.Add("show multicast next-hops", "Show multicast next-hop information", func(_ context.Context, r *Request, w io.Writer) error {
		if r.JSON {
			return WriteJSON(w, map[string]int{"count": 1})
		}
		fmt.Fprintln(w, "ID          Refcount KRefcount Downstream interface")
		fmt.Fprintln(w, "1048584            2         1 ae91.0")
		return nil
	}, nil)
	t.Add("show multicast route", "Show multicast routing table", func(_ context.Context, r *Request, w io.Writer) error {
		fmt.Fprintf(w, "group=%s extensive=%v\n", r.Arg("group"), r.Flag("extensive"))
		return nil
	}, []Arg{{Name: "group", Keyword: "group", Help: "Group address"}}, Option{Name: "extensive"}, Option{Name: "detail"})
	t.Add("show multicast statistics", "Show statistics", func(context.Context, *Request, io.Writer) error {
		return errors.New("boom")
	}, nil)
	t.Add("show route long_ip prefix", "Show (S,G) route", func(_ context.Context, r *Request, w io.Writer) error {
		fmt.Fprintf(w, "prefix=%s detail=%v\n", r.Arg("prefix"), r.Flag("detail"))
		return nil
	}, []Arg{{Name: "prefix", Required: true}}, Option{Name: "detail"})
	return t
}

func TestRunCommands(t *testing.T) {
	tr := testTree()
	for _, tc := range []struct{ line, want string }{
		{"show multicast next-hops", "1048584            2         1 ae91.0"},
		{"sh mul next", "1048584"},
		{"show multicast route group 232.0.7.1 extensive", "group=232.0.7.1 extensive=true"},
		{"show multicast route ext", "group= extensive=true"},
		{"show route long_ip prefix 232.0.7.1.10.128.1.10 detail", "prefix=232.0.7.1.10.128.1.10 detail=true"},
		{"show multicast next-hops | match ae91", "1048584"},
		{"show multicast next-hops | count", "Count: 2 lines"},
		{"show multicast next-hops | display json", `"count": 1`},
		{`show multicast next-hops | match "ae91|ae101" | except ID`, "ae91.0"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tr.Run(context.Background(), tc.line, &b))
			require.Contains(t, b.String(), tc.want)
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	tr := testTree()
	for _, tc := range []struct{ line, want string }{
		{"show multicast foo", "syntax error, expecting <command>."},
		{"show multicast foo", "next-hops"},
		{"show", "Possible completions:"},
		{"", "expecting <command>"},
		{"show route long_ip prefix", "expecting <prefix>"},
		{"show multicast route group", "expecting <group>"},
		{"show multicast route extensive bogus", "syntax error."},
		{"show multicast next-hops | frob", "expecting <pipe command>"},
		{"show multicast next-hops | match (", "invalid regular expression"},
		{`show "unterminated`, "unterminated"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			err := tr.Run(context.Background(), tc.line, io.Discard)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrSyntax), "want syntax error, got %v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// The caret points at the bad word.
	err := tr.Run(context.Background(), "show multicast foo", io.Discard)
	lines := strings.Split(err.Error(), "\n")
	require.Equal(t, strings.Index(lines[0], "foo"), strings.Index(lines[1], "^"))
}

func TestComplete(t *testing.T) {
	tr := testTree()
	require.Equal(t, []string{"next-hops", "route", "statistics"}, tr.Complete("show multicast "))
	require.Equal(t, []string{"route"}, tr.Complete("show multicast r"))
	require.Contains(t, tr.Commands(), "show multicast route [group <group>] [extensive] [detail]")
}

func TestServerClient(t *testing.T) {
	tr := testTree()
	path := filepath.Join(t.TempDir(), "cli.sock")
	srv, err := Listen(path, tr, slog.New(slog.DiscardHandler), ServerConfig{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	var b bytes.Buffer
	require.NoError(t, Exec(cctx, path, "show multicast next-hops", &b))
	require.Contains(t, b.String(), "ae91.0")

	b.Reset()
	err = Exec(cctx, path, "show multicast statistics", &b)
	require.ErrorIs(t, err, ErrCommandFailed)
	require.Contains(t, b.String(), "error: boom")

	b.Reset()
	err = Exec(cctx, path, "show bogus", &b)
	require.ErrorIs(t, err, ErrCommandFailed)
	require.Contains(t, b.String(), "syntax error")

	require.Equal(t, "def", HostName(cctx, path, "def"), "no show version: the default")

	comps, err := CompleteRemote(cctx, path, "show multicast ")
	require.NoError(t, err)
	require.Equal(t, []string{"next-hops", "route", "statistics"}, comps)

	// A second server on the same live socket is refused.
	_, err = Listen(path, tr, slog.New(slog.DiscardHandler), ServerConfig{})
	require.ErrorContains(t, err, "in use")

	var out bytes.Buffer
	require.NoError(t, Interactive(cctx, path, "> ", strings.NewReader("show multicast next-hops\nshow multicast ?\nquit\n"), &out))
	require.Contains(t, out.String(), "ae91.0")
	require.Contains(t, out.String(), "Possible completions:")

	cancel()
	require.NoError(t, <-done)
}

// Command lines come from operators and scripts: whatever they hold, Run
// returns output or an error and never panics; syntax errors say where.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"show multicast next-hops", "sh mul route group 232.0.7.1 ext", "show route long_ip prefix 232.0.7.1.10.128.1.10 detail",
		"show multicast next-hops | match \"ae91|ae101\" | count", "show | display json", "\"", "| | |", "show multicast route group",
	} {
		f.Add(s)
	}
	tr := testTree()
	f.Fuzz(func(t *testing.T, line string) {
		err := tr.Run(context.Background(), line, io.Discard)
		var se *SyntaxError
		if errors.As(err, &se) {
			if se.Pos < 0 || se.Pos > len(se.Line) {
				t.Fatalf("caret at %d outside line of %d bytes", se.Pos, len(se.Line))
			}
			_ = se.Error()
		}
		_ = tr.Complete(line)
	})
}

// A socket whose owner stops listening while Listen checks it (a process
// killed a moment ago, its last threads still exiting) is stale, not in
// use: the new server takes its place.
func TestListenTakesOverASocketThatStopsListening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.sock")
	old, err := net.Listen("unix", path)
	require.NoError(t, err)
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	go func() {
		// The first check connects; then the old owner is gone.
		if c, err := old.Accept(); err == nil {
			c.Close()
		}
		old.Close()
	}()
	s, err := Listen(path, testTree(), nil, ServerConfig{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var b bytes.Buffer
	require.NoError(t, Exec(ctx, path, "show multicast next-hops", &b), "the new server answers")
	cancel()
	require.NoError(t, <-done)
}
