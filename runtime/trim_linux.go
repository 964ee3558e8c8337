package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimResident gives back, once the init runs, what only the start
// needed: the heap it left free, and the pages of our binary it mapped.
// A supervisor then holds what watching the container takes. The start
// maps nearly all of the binary's code and read-only data (some 7.7 MiB
// of 9, by the kernel's fault-around and the Go runtime's walk of its
// function table): pages that stay in the page cache, shared and
// reclaimable, but charged to every supervisor's resident set while it
// maps them. Dropping the mappings costs nothing but a minor fault for
// each page the supervisor touches again.
func trimResident() error {
	debug.FreeOSMemory()
	return dropImage()
}

// dropImage unmaps, with MADV_DONTNEED, the pages of our executable's
// mappings that are private, not writable, and hold no private copy of a
// page: code and read-only data as the file has them, which the next
// access maps again from the page cache unchanged. A mapping that holds a
// copy is left alone: .data, and in a PIE or a full-RELRO build the
// relocated read-only data, whose fixed-up pages DONTNEED would throw away
// (the file's unrelocated bytes would come back in their place).
func dropImage() error {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return err
	}
	for _, m := range imageMappings(smaps, exe.Dev, exe.Ino) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
		}
	}
	return nil
}

// imageMappings picks from smaps the mappings of the file dev/ino that
// dropImage may drop: private, not writable, and with no anonymous
// (copied) pages.
func imageMappings(smaps []byte, dev, ino uint64) []mapping {
	var out []mapping
	var cur mapping
	mine := false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if m, ok := parseMapping(line); ok {
			cur = m
			mine = m.perms[1] != 'w' && m.perms[3] == 'p' && m.inode == ino && m.dev == dev
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		if !mine || k != "Anonymous" {
			continue
		}
		if strings.TrimSpace(v) == "0 kB" {
			out = append(out, cur)
		}
		mine = false
	}
	return out
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uintptr
	perms      string
	dev        uint64
	inode      uint64
}

// parseMapping reads "START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]".
func parseMapping(line string) (mapping, bool) {
	f := strings.Fields(line)
	if len(f) < 5 || len(f[1]) != 4 || !strings.Contains(f[0], "-") {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	major, minor, ok2 := strings.Cut(f[3], ":")
	if !ok || !ok2 {
		return mapping{}, false
	}
	bad := false
	num := func(s string, base, bits int) uint64 {
		v, err := strconv.ParseUint(s, base, bits)
		bad = bad || err != nil
		return v
	}
	m := mapping{
		start: uintptr(num(lo, 16, 64)),
		end:   uintptr(num(hi, 16, 64)),
		perms: f[1],
		dev:   unix.Mkdev(uint32(num(major, 16, 32)), uint32(num(minor, 16, 32))),
		inode: num(f[4], 10, 64),
	}
	if bad || m.end <= m.start {
		return mapping{}, false
	}
	return m, true
}
