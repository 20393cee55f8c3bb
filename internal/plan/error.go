package plan

import (
	"strconv"
	"strings"
)

// Error is a plan validation or syntax error.
//
// For a plan file, File is its name and Line and Column are 1-based; 0
// means unknown (e.g. some YAML syntax errors, or a problem with the file
// as a whole).
//
// For a plan evaluated from Nix (ParseValue), File is the label the plan was
// given (the installable, e.g. ".#imagePlan"), Attr is the attribute path of
// the evaluated value (e.g. "imagePlan"), and Line and Column are 0: a Nix
// value has no lines, so the error names the attribute path instead.
type Error struct {
	File   string
	Line   int
	Column int
	Attr   string // attribute path of a plan evaluated from Nix, "" for a file
	Field  string // path of the offending field, e.g. "layers[1].name"
	Msg    string

	seq int // order in the document of a Nix plan's node (Line is 0 there)
}

// Error formats as "file:line: field: message" for a file, leaving out the
// parts that are unknown, and as "label: attr.field: message" for a plan
// evaluated from Nix (".#imagePlan: imagePlan.layers[3].deps[1]: …").
func (e *Error) Error() string {
	var b strings.Builder
	file := e.File
	if file == "" {
		file = "<plan>"
	}
	b.WriteString(file)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if field := attrField(e.Attr, e.Field); field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// attrField joins an attribute path and a field path: ("imagePlan",
// "layers[1].name") → "imagePlan.layers[1].name". Either may be empty.
func attrField(attr, field string) string {
	switch {
	case attr == "":
		return field
	case field == "":
		return attr
	case field[0] == '[':
		return attr + field
	}
	return attr + "." + field
}

// before orders errors by position in the document; errors without a
// position come first (they concern the whole plan).
func (e *Error) before(o *Error) bool {
	if e.Line != o.Line {
		return e.Line < o.Line
	}
	if e.Column != o.Column {
		return e.Column < o.Column
	}
	return e.seq < o.seq
}

// fromYAMLError turns a yaml.v3 syntax error ("yaml: line 3: msg") into
// an *Error. yaml.v3 reports parser errors with a 0-based line and leaves
// out line 0; this converts to 1-based lines. Reader errors (bad UTF-8,
// control characters) carry no line and get 0.
func fromYAMLError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, hasLine := 0, false
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, convErr := strconv.Atoi(rest[:i]); convErr == nil && n >= 0 {
				line, hasLine, msg = n, true, rest[i+2:]
			}
		}
	}
	parserProblem := strings.HasPrefix(msg, "did not find expected") ||
		strings.HasPrefix(msg, "found duplicate %") ||
		msg == "found incompatible YAML document" || msg == "found undefined tag handle"
	switch {
	case parserProblem:
		line++
	case !hasLine && !isReaderProblem(msg):
		line = 1
	}
	if msg == "" {
		msg = "invalid YAML"
	}
	return &Error{File: file, Line: line, Msg: "syntax error: " + msg}
}

func isReaderProblem(msg string) bool {
	for _, s := range []string{"UTF-8", "UTF-16", "Unicode", "control characters", "input error", "BOM"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
