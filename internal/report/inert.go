package report

import (
	"strings"
	"unicode/utf8"
)

// zwsp is a zero-width space: invisible, and it ends any name or address
// GitHub would turn into a link.
const zwsp = "\u200b"

// Inert returns s as Markdown text that renders as s (line breaks and other
// control characters as spaces, leading blanks dropped, with invisible
// zero-width spaces added) and
// can do nothing else, wherever it is put in a line: a table cell, a list
// item, a heading, a quote. It is for every text that comes from outside
// the tool's own words — package names, versions, layer names, platforms,
// warnings and error text — on its way into the job summary or a PR comment.
//
// Every ASCII punctuation character is backslash-escaped, which CommonMark
// and GFM always read as the character itself: no emphasis, link, image,
// code span, HTML tag or entity, heading, list, table cell or strikethrough
// can start. What GitHub links after Markdown, in the text, is broken with a
// zero-width space: @mentions and e-mail addresses (after "@"), #123 issue
// references (after "#"), scheme: and www. autolinks (after ":" and inside
// "www."), and :emoji: shortcodes (after ":").
func Inert(s string) string {
	// Leading blanks would make an indented code block of a line start.
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r < 0x20 || r == ' ' || r == 0x7f })
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		next := byte(' ')
		if i+size < len(s) && s[i+size] >= 0x20 && s[i+size] != 0x7f {
			next = s[i+size]
		}
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString("\ufffd")
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte(' ')
		case r < utf8.RuneSelf && strings.IndexByte(inlineMarkup, byte(r)) >= 0,
			i == 0 && r < utf8.RuneSelf && strings.IndexByte(lineStartMarkup, byte(r)) >= 0:
			b.WriteByte('\\')
			b.WriteByte(byte(r))
			if r == '#' && isDigit(next) {
				b.WriteString(zwsp)
			}
		case r == '@':
			b.WriteString("@" + zwsp)
		case r == ':' && next != ' ':
			b.WriteString(":" + zwsp)
		case (r == '.' || r == ')') && i > 0 && i <= 9 && strings.Trim(s[:i], "0123456789") == "" && next == ' ':
			// "1. " or "1) " would start an ordered list.
			b.WriteByte('\\')
			b.WriteByte(byte(r))
		case r == '.' && i >= 3 && strings.EqualFold(s[i-3:i], "www"):
			b.WriteString(zwsp + ".")
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// inlineMarkup are the ASCII characters that start or end something in a
// line of GFM as GitHub renders it (emphasis, strikethrough, code, links,
// images, autolinks, HTML, entities, table cells, math); lineStartMarkup
// those that do only at the start of a line (headings, lists, quotes,
// setext underlines, thematic breaks; ordered lists are handled apart). Inert escapes both; its output has
// no line break, so its only line start is its first character.
const (
	inlineMarkup    = "\\`*_[]()<>!|~&$#"
	lineStartMarkup = "-+="
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// InertCode returns s for the inside of an inline code span (`…`) in a
// line or table cell, where GitHub renders everything literally: backticks
// (which would end the span) become "'", "|" is escaped for tables, and
// line breaks and control characters become spaces.
func InertCode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '`':
			b.WriteByte('\'')
		case r == '|':
			b.WriteString(`\|`)
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
