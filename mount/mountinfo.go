package mount

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Info is one line of /proc/PID/mountinfo (proc_pid_mountinfo(5)): what is
// mounted where, the part of its filesystem it shows, and its type.
type Info struct {
	Root, Point, FSType, Source, SuperOptions string
}

// ParseMountinfo reads mountinfo text; malformed lines are passed over.
func ParseMountinfo(r io.Reader) ([]Info, error) {
	var out []Info
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 3 {
			continue
		}
		out = append(out, Info{
			Root: Unescape(fields[3]), Point: Unescape(fields[4]),
			FSType: postFields[0], Source: Unescape(postFields[1]), SuperOptions: postFields[2],
		})
	}
	return out, sc.Err()
}

// Unescape undoes mountinfo's octal escapes ("\040" for a space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
