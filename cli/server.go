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
	"strings"
	"sync"
	"time"
)

// Wire protocol on the Unix socket: the client writes one request line,
// "RUN <command>\n" or "COMPLETE <partial>\n", and half-closes or waits; the
// server writes the output followed by a trailer line "\x00<status>\n"
// where status is "ok" or "error", then closes. Error text is part of the
// output. Requests longer than maxRequest are refused.
const maxRequest = 64 << 10

// Server serves a Tree on a Unix socket.
type Server struct {
	tree   *Tree
	log    *slog.Logger
	ln     net.Listener
	wg     sync.WaitGroup
	closed chan struct{}
}

// Listen creates the socket at path (removing a stale one) and returns a
// server; call Serve to accept.
func Listen(path string, tree *Tree, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		return nil, fmt.Errorf("cli: socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("cli: socket %s is in use by a running process", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cli: listen %s: %w", path, err)
	}
	return &Server{tree: tree, log: log, ln: ln, closed: make(chan struct{})}, nil
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "."
	}
	return p[:i]
}

// Serve accepts connections until ctx is done; it returns after every
// connection handler has finished.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cli: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReaderSize(io.LimitReader(c, maxRequest), 4096)
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return
	}
	line = strings.TrimRight(line, "\r\n")
	_ = c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(c, 64<<10)
	defer bw.Flush()
	verb, arg, _ := strings.Cut(line, " ")
	switch verb {
	case "RUN":
		err := s.tree.Run(ctx, arg, bw)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				fmt.Fprintf(bw, "error: %v\n", err)
			} else {
				fmt.Fprintf(bw, "%v\n", err)
			}
			s.log.Debug("cli command failed", "command", arg, "err", err)
			fmt.Fprint(bw, "\x00error\n")
			return
		}
		fmt.Fprint(bw, "\x00ok\n")
	case "COMPLETE":
		for _, c := range s.tree.Complete(arg) {
			fmt.Fprintln(bw, c)
		}
		fmt.Fprint(bw, "\x00ok\n")
	default:
		fmt.Fprintf(bw, "error: bad request %q\n\x00error\n", verb)
	}
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
