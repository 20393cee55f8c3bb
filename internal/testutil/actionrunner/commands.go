package actionrunner

import (
	"regexp"
	"strings"
	"unicode"
)

// RunnerCommands are the workflow commands actions/runner registers
// (src/Runner.Worker/ActionCommandManager.cs: the command extensions, and
// stop-commands), matched without regard to case.
var RunnerCommands = []string{
	"add-mask", "add-matcher", "add-path", "debug", "echo", "endgroup", "error",
	"group", "notice", "remove-matcher", "save-state", "set-env", "set-output",
	"stop-commands", "warning",
}

// Command is a workflow command the runner obeys.
type Command struct {
	Name       string // lower case
	Properties map[string]string
	Data       string
	Line       string // the line it came from
}

// Commands returns the commands the runner would obey in a step's output,
// in order, as actions/runner's ActionCommandManager.TryProcessCommand
// decides: the output is split into lines at "\r\n", "\r" and "\n"
// (StreamReader.ReadLine); a line is a command when, after leading white
// space, it starts "::<name>" with <name> registered and a later "::"
// (ActionCommand.TryParseV2), or when it holds "##[<name>" anywhere with a
// later "]" (the legacy ActionCommand.TryParse). After
// "::stop-commands::<token>" nothing is obeyed until "::<token>::"; the
// stop and resume lines themselves are not returned.
func Commands(output string) []Command {
	registered := map[string]bool{}
	for _, c := range RunnerCommands {
		registered[c] = true
	}
	var out []Command
	stopToken := ""
	for _, line := range splitLines(output) {
		cmd, ok := parseV2(line, registered)
		if !ok {
			cmd, ok = parseV1(line, registered)
		}
		if !ok {
			continue
		}
		switch {
		case stopToken != "":
			if cmd.Name == stopToken {
				delete(registered, stopToken)
				stopToken = ""
			}
		case cmd.Name == "stop-commands":
			if cmd.Data != "" {
				stopToken = strings.ToLower(cmd.Data)
				registered[stopToken] = true
			}
		default:
			out = append(out, cmd)
		}
	}
	return out
}

var lineBreak = regexp.MustCompile(`\r\n|\r|\n`)

func splitLines(s string) []string { return lineBreak.Split(s, -1) }

func parseV2(line string, registered map[string]bool) (Command, bool) {
	msg := strings.TrimLeftFunc(line, unicode.IsSpace) // .NET String.TrimStart()
	if !strings.HasPrefix(msg, "::") {
		return Command{}, false
	}
	end := strings.Index(msg[2:], "::")
	if end < 0 {
		return Command{}, false
	}
	info := msg[2 : 2+end]
	name, props, hasProps := strings.Cut(info, " ")
	if !registered[strings.ToLower(name)] {
		return Command{}, false
	}
	c := Command{Name: strings.ToLower(name), Properties: map[string]string{}, Line: line}
	if hasProps {
		for _, p := range strings.Split(strings.TrimSpace(props), ",") {
			if k, v, ok := strings.Cut(p, "="); ok && k != "" && v != "" {
				c.Properties[k] = unescape(v, "%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%")
			}
		}
	}
	c.Data = unescape(msg[2+end+2:], "%0D", "\r", "%0A", "\n", "%25", "%")
	return c, true
}

func parseV1(line string, registered map[string]bool) (Command, bool) {
	i := strings.Index(line, "##[")
	if i < 0 {
		return Command{}, false
	}
	rb := strings.IndexByte(line[i:], ']')
	if rb < 0 {
		return Command{}, false
	}
	info := line[i+3 : i+rb]
	name, props, hasProps := strings.Cut(info, " ")
	if !registered[strings.ToLower(name)] {
		return Command{}, false
	}
	c := Command{Name: strings.ToLower(name), Properties: map[string]string{}, Line: line}
	if hasProps {
		for _, p := range strings.Split(props, ";") {
			if k, v, ok := strings.Cut(p, "="); ok && k != "" && v != "" {
				c.Properties[k] = unescape(v, "%3B", ";", "%0D", "\r", "%0A", "\n", "%5D", "]", "%25", "%")
			}
		}
	}
	c.Data = unescape(line[i+rb+1:], "%3B", ";", "%0D", "\r", "%0A", "\n", "%5D", "]", "%25", "%")
	return c, true
}

// unescape replaces each escape by its character in the runner's order.
func unescape(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}
