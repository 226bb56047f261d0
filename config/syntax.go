package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// syntaxError is a configuration file that does not parse, said in svcdns's
// words: the file, the line (and column where the parser knows it), what is
// wrong, and the line itself. The parser's own error stays reachable with
// errors.As.
type syntaxError struct {
	msg string
	err error
}

func (e *syntaxError) Error() string { return e.msg }
func (e *syntaxError) Unwrap() error { return e.err }

// yamlLine matches the YAML parser's "yaml: line 4: what" and the
// "yaml: unmarshal errors:\n  line 4: what" of a value of the wrong kind.
var yamlLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)

func fileSyntaxError(path, ext string, data []byte, err error) error {
	inner := err
	var pe viper.ConfigParseError
	if errors.As(err, &pe) {
		inner = pe.Unwrap()
	}
	lang := strings.ToUpper(ext)
	if lang == "YML" {
		lang = "YAML"
	}
	msg := strings.TrimSpace(inner.Error())
	line, col := 0, 0
	var pos interface{ Position() (int, int) } // go-toml's DecodeError
	var js *json.SyntaxError
	switch {
	case errors.As(inner, &pos):
		line, col = pos.Position()
		msg = strings.TrimPrefix(msg, "toml: ")
	case errors.As(inner, &js):
		line, col = lineCol(data, js.Offset)
	default:
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	where := path
	if line > 0 {
		where += ":" + strconv.Itoa(line)
		if col > 0 {
			where += ":" + strconv.Itoa(col)
		}
	}
	text := fmt.Sprintf("config: %s: not valid %s: %s", where, lang, msg)
	if lines := bytes.Split(data, []byte("\n")); line > 0 && line <= len(lines) {
		l := strings.TrimRight(string(lines[line-1]), "\r")
		text += fmt.Sprintf(" (line %d is %q)", line, l)
		if lang == "YAML" && strings.Contains(l, "\t") {
			text += "; YAML indents with spaces, not tabs"
		}
	}
	return &syntaxError{msg: text, err: inner}
}

// lineCol turns a byte offset (JSON's, which counts the byte after the
// error) into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off > 0 {
		off-- // the offending byte, not the one after it
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
