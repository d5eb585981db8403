package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxfwd/mxfwd/internal/unixsock"
)

// Wire protocol on the Unix socket: the client writes one request line,
// "RUN <command>\n" or "COMPLETE <partial>\n", and half-closes or waits; the
// server writes the output followed by a trailer line "\x00<status>\n"
// where status is "ok" or "error", then closes. Error text is part of the
// output. A request longer than maxRequest is refused whole (nothing of it
// runs). Control characters in the output (anything below 0x20 but tab and
// newline, DEL, the C1 controls) are escaped ("\x1b"), so that text from
// peers or the configuration cannot drive the operator's terminal nor
// fake the trailer.
const maxRequest = 64 << 10

// Server defaults.
const (
	// DefaultMaxConcurrent bounds the commands running at once: a show of
	// a large table holds a chunk of it (a few hundred KB) and a core
	// while it renders; eight leave the RE's two cores to the daemon.
	DefaultMaxConcurrent = 8
	// DefaultWriteTimeout cuts off a client that reads nothing for this
	// long; its command stops at its next write.
	DefaultWriteTimeout = 10 * time.Second
	// SocketMode is the mode of the sockets: owner and group.
	SocketMode os.FileMode = 0o660
	// queueWait is how long a command waits for a place among the running
	// ones before it is refused.
	queueWait = 2 * time.Second
)

// ErrBusy is the error of a command refused because DefaultMaxConcurrent
// commands are running (and as many wait).
var ErrBusy = errors.New("too many CLI commands running")

// ServerConfig configures a Server. Zero values are the defaults.
type ServerConfig struct {
	// Group owns the socket (a name or a numeric gid; "": the process's
	// group). Members of the group may use the CLI.
	Group string
	// MaxConcurrent bounds the commands running at once
	// (DefaultMaxConcurrent); as many again may wait up to 2 s for a
	// place, more are refused at once.
	MaxConcurrent int
	// WriteTimeout cuts off a client that stops reading
	// (DefaultWriteTimeout).
	WriteTimeout time.Duration
}

// Server serves a Tree on a Unix socket.
type Server struct {
	tree   *Tree
	log    *slog.Logger
	ln     net.Listener
	path   string
	inode  os.FileInfo // the socket file we created
	cfg    ServerConfig
	run    chan struct{} // places among running commands
	conns  atomic.Int64  // connections being served
	wg     sync.WaitGroup
	closed chan struct{}

	stats ServerStats
}

// ServerStats count the server's refusals and cut-offs.
type ServerStats struct {
	Busy     atomic.Uint64 // commands refused: too many running
	Oversize atomic.Uint64 // requests refused: too long
	CutOff   atomic.Uint64 // clients cut off: not reading
	Running  atomic.Int64  // commands running now
}

// Stats returns the server's counters.
func (s *Server) Stats() *ServerStats { return &s.stats }

// Listen creates the socket at path (removing a stale one) with mode
// SocketMode and cfg.Group, in a directory that must belong to this
// process's user and not be writable by group or others (it is created,
// 0755, if missing), and returns a server; call Serve to accept.
func Listen(path string, tree *Tree, log *slog.Logger, cfg ServerConfig) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	gid := -1
	if cfg.Group != "" {
		g, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	if err := unixsock.CheckDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("cli: %w", err)
	}
	if socketInUse(path) {
		return nil, fmt.Errorf("cli: socket %s is in use by a running process", path)
	}
	// Bound under a temporary name, given mode and group, then moved into
	// place: the socket is never reachable with the umask's mode.
	ln, err := unixsock.Listen(path, SocketMode, gid)
	if err != nil {
		return nil, fmt.Errorf("cli: %w", err)
	}
	fail := func(err error) (*Server, error) {
		ln.Close()
		_ = os.Remove(path)
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("cli: socket %s: %w", path, err))
	}
	return &Server{tree: tree, log: log, ln: ln, path: path, inode: fi, cfg: cfg,
		run: make(chan struct{}, cfg.MaxConcurrent), closed: make(chan struct{})}, nil
}

// inUseChecks and inUseGap: a socket is in use when it still accepts
// connections over 10 checks 100 ms apart. One connect is not enough: a
// process killed a moment ago still listens until its last thread has
// exited (its backlog accepts connections nobody will serve), and a
// restart in its place must not be refused for that.
const (
	inUseChecks = 10
	inUseGap    = 100 * time.Millisecond
)

// socketInUse reports whether a process listens on the Unix socket path.
func socketInUse(path string) bool {
	for i := range inUseChecks {
		c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		if i < inUseChecks-1 {
			time.Sleep(inUseGap)
		}
	}
	return true
}

// lookupGroup resolves a group name or numeric gid.
func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("cli: socket group %q: %w", name, err)
	}
	n, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("cli: socket group %q: gid %q: %w", name, g.Gid, err)
	}
	return n, nil
}

// Serve accepts connections until ctx is done; it returns after every
// connection handler has finished, and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	defer s.removeSocket()
	maxConns := int64(2 * s.cfg.MaxConcurrent)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cli: accept: %w", err)
		}
		if s.conns.Add(1) > maxConns {
			s.conns.Add(-1)
			s.stats.Busy.Add(1)
			s.refuseBusy(c)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.conns.Add(-1)
			s.handle(ctx, c)
		}()
	}
}

// removeSocket removes the socket if it is still the one Listen made.
func (s *Server) removeSocket() {
	if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.inode) {
		_ = os.Remove(s.path)
	}
}

func (s *Server) refuseBusy(c net.Conn) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "error: %v (%d); try again\n\x00error\n", ErrBusy, s.cfg.MaxConcurrent)
}

// errTooLong refuses a request longer than maxRequest.
var errTooLong = errors.New("refused whole, nothing of it ran")

// readRequest reads the request line: at most maxRequest bytes, ended by a
// newline or by the client's half-close.
func readRequest(c net.Conn) (string, error) {
	r := bufio.NewReaderSize(io.LimitReader(c, maxRequest+1), 4096)
	line, err := r.ReadString('\n')
	if strings.HasSuffix(line, "\n") {
		return strings.TrimRight(line, "\r\n"), nil
	}
	if len(line) > maxRequest {
		return "", fmt.Errorf("request longer than %d bytes: %w", maxRequest, errTooLong)
	}
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r"), nil
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := readRequest(c)
	_ = c.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	raw := &deadlineWriter{c: c, timeout: s.cfg.WriteTimeout, cancel: cancel}
	bw := bufio.NewWriterSize(raw, 32<<10)
	defer bw.Flush()
	if err != nil {
		if errors.Is(err, errTooLong) {
			s.stats.Oversize.Add(1)
			s.log.Warn("cli request refused", "err", err)
			fmt.Fprintf(bw, "error: %v\n\x00error\n", err)
		}
		return
	}
	verb, arg, _ := strings.Cut(line, " ")
	switch verb {
	case "RUN":
		if !s.acquire(ctx) {
			s.stats.Busy.Add(1)
			fmt.Fprintf(bw, "error: %v (%d); try again\n\x00error\n", ErrBusy, s.cfg.MaxConcurrent)
			return
		}
		s.stats.Running.Add(1)
		out := &escapeWriter{w: bw}
		err := s.tree.Run(ctx, arg, out)
		s.stats.Running.Add(-1)
		<-s.run
		if raw.failed.Load() {
			s.stats.CutOff.Add(1)
			s.log.Warn("cli client cut off: it stopped reading", "command", escapeString(arg), "timeout", s.cfg.WriteTimeout)
			return
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				fmt.Fprintf(out, "error: %v\n", err)
			} else {
				fmt.Fprintf(out, "%v\n", err)
			}
			out.Flush()
			s.log.Debug("cli command failed", "command", escapeString(arg), "err", err)
			fmt.Fprint(bw, "\x00error\n")
			return
		}
		out.Flush()
		fmt.Fprint(bw, "\x00ok\n")
	case "COMPLETE":
		out := &escapeWriter{w: bw}
		for _, c := range s.tree.Complete(arg) {
			fmt.Fprintln(out, c)
		}
		out.Flush()
		fmt.Fprint(bw, "\x00ok\n")
	default:
		fmt.Fprintf(bw, "error: bad request %s\n\x00error\n", strconv.Quote(escapeString(verb)))
	}
}

// acquire waits up to queueWait for a place among the running commands.
func (s *Server) acquire(ctx context.Context) bool {
	select {
	case s.run <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case s.run <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// deadlineWriter writes to the connection with a deadline per write: a
// client that reads nothing for timeout makes the write fail, which
// cancels the command (cancel) and fails every later write, so the
// renderer stops at its next write.
type deadlineWriter struct {
	c       net.Conn
	timeout time.Duration
	cancel  context.CancelCauseFunc
	failed  atomic.Bool
	err     error
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	_ = d.c.SetWriteDeadline(time.Now().Add(d.timeout))
	n, err := d.c.Write(b)
	if err != nil {
		d.err = fmt.Errorf("cli: client not reading: %w", err)
		d.failed.Store(true)
		d.cancel(d.err)
	}
	return n, err
}

// escapeWriter escapes control characters: C0 but tab and newline, DEL,
// and the C1 controls (U+0080..U+009F, two bytes in UTF-8) become "\xNN"
// (the byte, or the code point for C1). A C1 lead byte at the end of a
// write is held until the next one (or Flush).
type escapeWriter struct {
	w    io.Writer
	held bool // a 0xc2 byte is held back
	buf  []byte
}

func (e *escapeWriter) Write(b []byte) (int, error) {
	out := e.buf[:0]
	i := 0
	if e.held {
		e.held = false
		if len(b) > 0 && b[0] >= 0x80 && b[0] <= 0x9f {
			out = fmt.Appendf(out, `\x%02x`, b[0])
			i = 1
		} else {
			out = append(out, 0xc2)
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\n' || c == '\t':
			out = append(out, c)
		case c < 0x20 || c == 0x7f:
			out = fmt.Appendf(out, `\x%02x`, c)
		case c == 0xc2:
			if i+1 == len(b) {
				e.held = true
				continue
			}
			if n := b[i+1]; n >= 0x80 && n <= 0x9f {
				out = fmt.Appendf(out, `\x%02x`, n)
				i++
				continue
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	e.buf = out[:0]
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Flush writes a held byte.
func (e *escapeWriter) Flush() {
	if e.held {
		e.held = false
		_, _ = e.w.Write([]byte{0xc2})
	}
}

// escapeString escapes control characters as escapeWriter does.
func escapeString(s string) string {
	var b strings.Builder
	e := &escapeWriter{w: &b}
	_, _ = e.Write([]byte(s))
	e.Flush()
	return b.String()
}

// ErrCommandFailed is returned by Exec when the command ran and failed.
var ErrCommandFailed = errors.New("command failed")

// Exec runs one command on the server at path and copies its output to w.
func Exec(ctx context.Context, path, command string, w io.Writer) error {
	return request(ctx, path, "RUN "+command, w)
}

// CompleteRemote asks the server for completions of a partial line.
func CompleteRemote(ctx context.Context, path, partial string) ([]string, error) {
	var b strings.Builder
	if err := request(ctx, path, "COMPLETE "+partial, &b); err != nil {
		return nil, err
	}
	return strings.Fields(b.String()), nil
}

func request(ctx context.Context, path, req string, w io.Writer) error {
	if strings.ContainsAny(req, "\n\r") {
		return fmt.Errorf("cli: command contains a newline")
	}
	if len(req) > maxRequest {
		return fmt.Errorf("cli: command of %d bytes, the limit is %d", len(req), maxRequest)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("cli: connect to %s (is the daemon running?): %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		return fmt.Errorf("cli: send: %w", err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	status := ""
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "\x00") {
			status = strings.TrimSpace(line[1:])
			break
		}
		if line != "" {
			if _, werr := io.WriteString(w, line); werr != nil {
				return werr
			}
		}
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("cli: connection closed before the end of the output")
			}
			return fmt.Errorf("cli: read: %w", err)
		}
	}
	if status != "ok" {
		return ErrCommandFailed
	}
	return nil
}

// HostName asks the server at path for its `show version` and returns the
// host name it reports, or def.
func HostName(ctx context.Context, path, def string) string {
	var b strings.Builder
	if err := Exec(ctx, path, "show version", &b); err != nil {
		return def
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if h, ok := strings.CutPrefix(l, "Hostname: "); ok && h != "" {
			return h
		}
	}
	return def
}

// Interactive runs a read-eval-print loop against the server at path:
// lines ending in '?' list completions, "quit"/"exit" leave.
func Interactive(ctx context.Context, path, prompt string, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	for {
		fmt.Fprint(out, prompt)
		if !sc.Scan() {
			fmt.Fprintln(out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == "quit" || line == "exit":
			return nil
		case strings.HasSuffix(line, "?"):
			comps, err := CompleteRemote(ctx, path, strings.TrimSuffix(line, "?"))
			if err != nil {
				fmt.Fprintln(out, err)
				continue
			}
			fmt.Fprintln(out, "Possible completions:")
			for _, c := range comps {
				fmt.Fprintf(out, "  %s\n", c)
			}
			continue
		}
		if err := Exec(ctx, path, line, out); err != nil && !errors.Is(err, ErrCommandFailed) {
			fmt.Fprintln(out, err)
		}
	}
}
