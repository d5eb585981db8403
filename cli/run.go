package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Run parses and executes a command line, including pipes, writing the
// output to w.
func (t *Tree) Run(ctx context.Context, line string, w io.Writer) error {
	cmd, pipes, err := splitPipes(line)
	if err != nil {
		return err
	}
	json := false
	var filters []func([]string) []string
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
			filters = append(filters, func(l []string) []string { return []string{fmt.Sprintf("Count: %d lines", len(l))} })
		case (hasPrefix("match", f[0]) || hasPrefix("except", f[0])) && len(f) >= 2:
			pat := strings.TrimSpace(p.text[strings.Index(p.text, f[0])+len(f[0]):])
			pat = strings.Trim(pat, "\"'")
			re, err := regexp.Compile(pat)
			if err != nil {
				return &SyntaxError{Line: line, Pos: p.pos, Reason: fmt.Sprintf("error: invalid regular expression %q: %v", pat, err)}
			}
			keep := hasPrefix("match", f[0])
			filters = append(filters, func(l []string) []string {
				var out []string
				for _, s := range l {
					if re.MatchString(s) == keep {
						out = append(out, s)
					}
				}
				return out
			})
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
	var buf bytes.Buffer
	if err := h(ctx, req, &buf); err != nil {
		return err
	}
	var lines []string
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for _, f := range filters {
		lines = f(lines)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
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
