package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Run parses and executes a command line, including pipes, writing the
// output to w. Pipes filter the output line by line as it is written
// (memory is bounded by the longest line, not by the output), and a write
// error on w ends the command.
func (t *Tree) Run(ctx context.Context, line string, w io.Writer) error {
	cmd, pipes, err := splitPipes(line)
	if err != nil {
		return err
	}
	json := false
	var filters []lineFilter
	for _, p := range pipes {
		f := strings.Fields(p.text)
		if len(f) == 0 {
			return &SyntaxError{Line: line, Pos: p.pos, Reason: "syntax error, expecting <pipe command>.", Completions: pipeCompletions}
		}
		switch {
		case hasPrefix("display", f[0]) && len(f) == 2 && hasPrefix("json", f[1]):
			json = true
		case hasPrefix("no-more", f[0]) && len(f) == 1:
		case hasPrefix("count", f[0]) && len(f) == 1:
			filters = append(filters, &countFilter{})
		case (hasPrefix("match", f[0]) || hasPrefix("except", f[0])) && len(f) >= 2:
			pat := strings.TrimSpace(p.text[strings.Index(p.text, f[0])+len(f[0]):])
			pat = strings.Trim(pat, "\"'")
			re, err := regexp.Compile(pat)
			if err != nil {
				return &SyntaxError{Line: line, Pos: p.pos, Reason: fmt.Sprintf("error: invalid regular expression %q: %v", pat, err)}
			}
			filters = append(filters, &matchFilter{re: re, keep: hasPrefix("match", f[0])})
		default:
			return &SyntaxError{Line: line, Pos: p.pos, Reason: "syntax error, expecting <pipe command>.", Completions: pipeCompletions}
		}
	}
	h, req, err := t.Parse(cmd)
	if err != nil {
		if se, ok := err.(*SyntaxError); ok {
			se.Line = line
		}
		return err
	}
	req.JSON = json
	if len(filters) == 0 {
		return h(ctx, req, w)
	}
	// Chain: handler -> filters[0] -> ... -> w.
	out := w
	lws := make([]*lineWriter, len(filters))
	for i := len(filters) - 1; i >= 0; i-- {
		lws[i] = &lineWriter{next: out, f: filters[i]}
		out = lws[i]
	}
	if err := h(ctx, req, out); err != nil {
		return err
	}
	for _, lw := range lws {
		if err := lw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// maxLine bounds a line held by a pipe: a longer one is passed on in
// pieces of maxLine (each treated as a line).
const maxLine = 1 << 20

// lineFilter is one pipe: line gets each line (without its newline) and
// returns what to write for it; end is called once, after the last line.
type lineFilter interface {
	line(l []byte) (out []byte, keep bool)
	end() []byte
}

type matchFilter struct {
	re   *regexp.Regexp
	keep bool
}

func (m *matchFilter) line(l []byte) ([]byte, bool) { return l, m.re.Match(l) == m.keep }
func (m *matchFilter) end() []byte                  { return nil }

type countFilter struct{ n int }

func (c *countFilter) line([]byte) ([]byte, bool) { c.n++; return nil, false }
func (c *countFilter) end() []byte                { return []byte(fmt.Sprintf("Count: %d lines\n", c.n)) }

// lineWriter splits what is written into lines and passes them through f
// to next.
type lineWriter struct {
	next io.Writer
	f    lineFilter
	buf  []byte
	err  error
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	if lw.err != nil {
		return 0, lw.err
	}
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lw.buf = append(lw.buf, b...)
			if len(lw.buf) >= maxLine {
				lw.emit(lw.buf)
				lw.buf = lw.buf[:0]
			}
			break
		}
		if len(lw.buf) > 0 {
			lw.buf = append(lw.buf, b[:i]...)
			lw.emit(lw.buf)
			lw.buf = lw.buf[:0]
		} else {
			lw.emit(b[:i])
		}
		b = b[i+1:]
	}
	if lw.err != nil {
		return 0, lw.err
	}
	return n, nil
}

func (lw *lineWriter) emit(l []byte) {
	if lw.err != nil {
		return
	}
	out, keep := lw.f.line(l)
	if !keep {
		return
	}
	if _, err := lw.next.Write(append(out[:len(out):len(out)], '\n')); err != nil {
		lw.err = err
	}
}

// Close passes on the last line (without a newline) and the filter's end,
// then closes the next filter in the chain.
func (lw *lineWriter) Close() error {
	if len(lw.buf) > 0 {
		lw.emit(lw.buf)
		lw.buf = nil
	}
	if lw.err != nil {
		return lw.err
	}
	if e := lw.f.end(); len(e) > 0 {
		if _, err := lw.next.Write(e); err != nil {
			return err
		}
	}
	return nil
}

var pipeCompletions = []completion{
	{"count", "Count occurrences"},
	{"display", "Show additional kinds of information (json)"},
	{"except", "Show only text that does not match a pattern"},
	{"match", "Show only text that matches a pattern"},
	{"no-more", "Don't paginate output"},
}

func hasPrefix(full, word string) bool { return word != "" && strings.HasPrefix(full, word) }

type pipe struct {
	text string
	pos  int
}

// splitPipes splits "cmd | match x | count" at '|' outside quotes.
func splitPipes(line string) (string, []pipe, error) {
	var parts []pipe
	start := 0
	var q byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '|':
			parts = append(parts, pipe{line[start:i], start})
			start = i + 1
		}
	}
	parts = append(parts, pipe{line[start:], start})
	return parts[0].text, parts[1:], nil
}

// WriteJSON writes v as indented JSON; handlers use it for `| display json`.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
