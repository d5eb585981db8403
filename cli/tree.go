// Package cli is the Junos-like command tree shared by the RE CLI and the
// FPC vty: commands are words with optional arguments, unique prefixes are
// accepted ("sh mul next" = "show multicast next-hops"), unknown words get a
// Junos-style syntax error listing the valid completions, and output can be
// piped through `| match RE`, `| except RE`, `| count`, `| display json`
// and `| no-more`.
//
// A Tree is built once at start-up and is read-only afterwards; it is safe
// for concurrent use. Handlers run on the goroutine serving the request.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ErrSyntax marks errors in the command line itself (as opposed to errors
// of a command that ran).
var ErrSyntax = errors.New("syntax error")

// Request is one parsed command.
type Request struct {
	// Words are the matched keywords, expanded to their full names.
	Words []string
	// Args holds argument values by argument name (e.g. "group").
	Args map[string]string
	// Flags holds the optional keywords given (e.g. "detail", "extensive").
	Flags map[string]bool
	// JSON is set by `| display json`: handlers write JSON instead of text.
	JSON bool
}

// Flag reports whether an optional keyword was given.
func (r *Request) Flag(name string) bool { return r.Flags[name] }

// Arg returns an argument value ("" when absent).
func (r *Request) Arg(name string) string { return r.Args[name] }

// Handler runs a command and writes its output.
type Handler func(ctx context.Context, req *Request, w io.Writer) error

// Node is one keyword of the tree.
type Node struct {
	Name     string
	Help     string
	Children []*Node
	// Handler runs when the command ends at this node.
	Handler Handler
	// Args are positional or named arguments accepted after this node
	// (before any optional keywords), e.g. "group <group>".
	Args []Arg
	// Options are optional keywords accepted after this node, in any
	// order, e.g. "detail", "extensive".
	Options []Option
	// Hidden nodes work but are not listed in completions.
	Hidden bool
}

// Arg is an argument: Keyword "" means a positional value; otherwise the
// keyword is followed by the value ("group 232.0.7.1").
type Arg struct {
	Name     string // key in Request.Args
	Keyword  string // "" for positional
	Help     string
	Required bool
}

// Option is an optional keyword flag.
type Option struct {
	Name string
	Help string
}

// Tree is a command tree.
type Tree struct {
	root Node
}

// New returns an empty tree.
func New() *Tree { return &Tree{} }

// Add registers a command given as space-separated keywords, creating
// intermediate nodes; help is the help text of the last keyword.
func (t *Tree) Add(path string, help string, h Handler, args []Arg, opts ...Option) *Node {
	n := &t.root
	for _, w := range strings.Fields(path) {
		var next *Node
		for _, c := range n.Children {
			if c.Name == w {
				next = c
				break
			}
		}
		if next == nil {
			next = &Node{Name: w}
			n.Children = append(n.Children, next)
		}
		n = next
	}
	n.Help = help
	n.Handler = h
	n.Args = args
	n.Options = opts
	return n
}

// SetHelp sets the help text of an intermediate keyword.
func (t *Tree) SetHelp(path, help string) {
	n := &t.root
	for _, w := range strings.Fields(path) {
		found := false
		for _, c := range n.Children {
			if c.Name == w {
				n = c
				found = true
				break
			}
		}
		if !found {
			return
		}
	}
	n.Help = help
}

// Commands lists every runnable command path (for help and docs).
func (t *Tree) Commands() []string {
	var out []string
	var walk func(prefix string, n *Node)
	walk = func(prefix string, n *Node) {
		for _, c := range n.Children {
			p := strings.TrimSpace(prefix + " " + c.Name)
			if c.Hidden {
				continue
			}
			if c.Handler != nil {
				s := p
				for _, a := range c.Args {
					arg := "<" + a.Name + ">"
					if a.Keyword != "" {
						arg = a.Keyword + " " + arg
					}
					if !a.Required {
						arg = "[" + arg + "]"
					}
					s += " " + arg
				}
				for _, o := range c.Options {
					s += " [" + o.Name + "]"
				}
				out = append(out, s)
			}
			walk(p, c)
		}
	}
	walk("", &t.root)
	sort.Strings(out)
	return out
}

// SyntaxError is returned for a command line that does not parse. Its text
// is Junos-like: the line, a caret under the bad word, the reason and the
// possible completions.
type SyntaxError struct {
	Line        string
	Pos         int // byte offset of the bad word in Line
	Reason      string
	Completions []completion
}

type completion struct{ name, help string }

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString(e.Line)
	b.WriteString("\n")
	b.WriteString(strings.Repeat(" ", e.Pos))
	b.WriteString("^\n")
	b.WriteString(e.Reason)
	if len(e.Completions) > 0 {
		b.WriteString("\nPossible completions:")
		for _, c := range e.Completions {
			fmt.Fprintf(&b, "\n  %-20s %s", c.name, c.help)
		}
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

type token struct {
	text string
	pos  int
}

func tokenize(line string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		start := i
		if line[i] == '"' || line[i] == '\'' {
			q := line[i]
			i++
			j := strings.IndexByte(line[i:], q)
			if j < 0 {
				return nil, &SyntaxError{Line: line, Pos: start, Reason: "syntax error, unterminated quoted string."}
			}
			toks = append(toks, token{text: line[i : i+j], pos: start})
			i += j + 1
			continue
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		toks = append(toks, token{text: line[start:i], pos: start})
	}
	return toks, nil
}

func matchChild(n *Node, word string) (*Node, []*Node) {
	var cands []*Node
	for _, c := range n.Children {
		if c.Name == word {
			return c, nil
		}
		if strings.HasPrefix(c.Name, word) && !c.Hidden {
			cands = append(cands, c)
		}
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	return nil, cands
}

func completionsOf(n *Node) []completion {
	var out []completion
	for _, c := range n.Children {
		if !c.Hidden {
			out = append(out, completion{c.Name, c.Help})
		}
	}
	for _, a := range n.Args {
		if a.Keyword != "" {
			out = append(out, completion{a.Keyword, a.Help})
		} else {
			out = append(out, completion{"<" + a.Name + ">", a.Help})
		}
	}
	for _, o := range n.Options {
		out = append(out, completion{o.Name, o.Help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Parse parses a command line (without pipes) into the handler to run and
// its request.
func (t *Tree) Parse(line string) (Handler, *Request, error) {
	toks, err := tokenize(line)
	if err != nil {
		return nil, nil, err
	}
	if len(toks) == 0 {
		return nil, nil, &SyntaxError{Line: line, Pos: 0, Reason: "syntax error, expecting <command>.", Completions: completionsOf(&t.root)}
	}
	n := &t.root
	req := &Request{Args: map[string]string{}, Flags: map[string]bool{}}
	i := 0
	for ; i < len(toks); i++ {
		c, cands := matchChild(n, toks[i].text)
		if c == nil {
			if n.Handler != nil && (len(n.Args) > 0 || len(n.Options) > 0) {
				break // arguments of n follow
			}
			reason := "syntax error, expecting <command>."
			comps := completionsOf(n)
			if len(cands) > 1 {
				reason = fmt.Sprintf("'%s' is ambiguous.", toks[i].text)
				comps = nil
				for _, c := range cands {
					comps = append(comps, completion{c.Name, c.Help})
				}
			}
			return nil, nil, &SyntaxError{Line: line, Pos: toks[i].pos, Reason: reason, Completions: comps}
		}
		n = c
		req.Words = append(req.Words, c.Name)
	}
	// Arguments and options.
	pos := 0 // index into positional args
	var positional []Arg
	for _, a := range n.Args {
		if a.Keyword == "" {
			positional = append(positional, a)
		}
	}
	for ; i < len(toks); i++ {
		w := toks[i].text
		matched := false
		for _, a := range n.Args {
			if a.Keyword != "" && (a.Keyword == w || (len(w) >= 2 && strings.HasPrefix(a.Keyword, w))) {
				if i+1 >= len(toks) {
					return nil, nil, &SyntaxError{Line: line, Pos: len(line), Reason: fmt.Sprintf("syntax error, expecting <%s>.", a.Name)}
				}
				req.Args[a.Name] = toks[i+1].text
				i++
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		for _, o := range n.Options {
			if o.Name == w || (len(w) >= 2 && strings.HasPrefix(o.Name, w)) {
				req.Flags[o.Name] = true
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if pos < len(positional) {
			req.Args[positional[pos].Name] = w
			pos++
			continue
		}
		return nil, nil, &SyntaxError{Line: line, Pos: toks[i].pos, Reason: "syntax error.", Completions: completionsOf(n)}
	}
	if n.Handler == nil {
		return nil, nil, &SyntaxError{Line: line, Pos: len(line), Reason: "syntax error, expecting <command>.", Completions: completionsOf(n)}
	}
	for _, a := range n.Args {
		if a.Required && req.Args[a.Name] == "" {
			return nil, nil, &SyntaxError{Line: line, Pos: len(line), Reason: fmt.Sprintf("syntax error, expecting <%s>.", a.Name), Completions: completionsOf(n)}
		}
	}
	return n.Handler, req, nil
}

// Complete returns the possible completions of a partial line (the words
// that may follow, or those matching a partial last word).
func (t *Tree) Complete(line string) []string {
	toks, _ := tokenize(line)
	trailing := strings.HasSuffix(line, " ") || line == ""
	n := &t.root
	last := ""
	if !trailing && len(toks) > 0 {
		last = toks[len(toks)-1].text
		toks = toks[:len(toks)-1]
	}
	for _, tk := range toks {
		c, _ := matchChild(n, tk.text)
		if c == nil {
			break
		}
		n = c
	}
	var out []string
	for _, c := range completionsOf(n) {
		if strings.HasPrefix(c.name, last) {
			out = append(out, c.name)
		}
	}
	return out
}
