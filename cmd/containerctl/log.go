package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
)

// log is text until --log-format says otherwise, so that even an error in
// the flags reads like every other.
var log = &logrus.Logger{Out: os.Stderr, Formatter: textFormatter{}, Hooks: logrus.LevelHooks{}, Level: logrus.InfoLevel, ExitFunc: os.Exit}

// setupLog configures the logger from --log-level and --log-format.
func setupLog(level, format string) error {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log.SetLevel(lvl)
	log.SetOutput(os.Stderr)
	switch format {
	case "text":
		log.SetFormatter(textFormatter{})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format: unknown format %q (text, json)", format)
	}
	return nil
}

func logError(err error) { log.Error(err) }

// textFormatter prints one readable line an entry:
//
//	containerctl: foo: running, init is pid 1234 on the host  pid=1234
//
// The container's name leads the message, as in the errors.
type textFormatter struct{}

func (textFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("containerctl: ")
	if e.Level <= logrus.WarnLevel {
		b.WriteString(e.Level.String() + ": ")
	}
	if name, ok := e.Data["container"]; ok {
		fmt.Fprintf(&b, "%s: ", printable(fmt.Sprint(name)))
	}
	b.WriteString(printable(strings.TrimRight(e.Message, "\n")))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "container" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if e.Logger.IsLevelEnabled(logrus.DebugLevel) {
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, printable(fmt.Sprint(e.Data[k])))
		}
	} else if errv, ok := e.Data[logrus.ErrorKey]; ok {
		fmt.Fprintf(&b, ": %s", printable(fmt.Sprint(errv)))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// printable quotes text that holds control characters (a guest's STATUS=
// line, a name given on the command line), so that it cannot forge a log
// line of its own or move the terminal's cursor.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
