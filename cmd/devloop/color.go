package main

import (
	"hash/fnv"
	"os"

	"golang.org/x/term"
)

// useColor reports whether devloop's own terminal output (resource names,
// status marks) is coloured: only on a terminal, never with NO_COLOR set
// (no-color.org) or TERM=dumb. Piped output stays plain. The programs' own
// log lines are printed as they come, colours and all.
func useColor(f *os.File, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// SGR escapes of the terminal printer.
const (
	sgrReset  = "\x1b[0m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
	sgrDim    = "\x1b[2m"
)

// nameColors are the colours of resource names: the terminal's own
// palette (so they follow its theme), without red, green and yellow, which
// mean error, ready and on the way.
var nameColors = []string{"\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[95m", "\x1b[94m"}

// nameColor is name's colour, the same in every run.
func nameColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return nameColors[h.Sum32()%uint32(len(nameColors))]
}
