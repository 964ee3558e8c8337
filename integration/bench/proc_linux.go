//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type procInfo struct {
	ppid  int
	comm  string
	state string
	nspid []int // NSpid: the PID in each nested PID namespace, the host's first
}

// procTable reads /proc/*/status. Processes that exit while it reads are
// left out.
func procTable() (map[int]procInfo, error) {
	es, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	tab := make(map[int]procInfo, len(es))
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readStatus(pid)
		if err != nil {
			continue
		}
		tab[pid] = p
	}
	return tab, nil
}

func readStatus(pid int) (procInfo, error) {
	var p procInfo
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			p.comm = v
		case "State":
			p.state, _, _ = strings.Cut(v, " ")
		case "PPid":
			p.ppid, _ = strconv.Atoi(v)
		case "NSpid":
			for _, f := range strings.Fields(v) {
				n, _ := strconv.Atoi(f)
				p.nspid = append(p.nspid, n)
			}
		}
	}
	return p, nil
}

// descendants returns root and all its descendants in tab.
func descendants(tab map[int]procInfo, root int) []int {
	children := map[int][]int{}
	for pid, p := range tab {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// containerInit finds, below the supervisor sup, the first process that is
// PID 1 of a PID namespace nested in the host's: a container's init, or
// systemd-nspawn's leader. 0 when there is none yet.
func containerInit(sup int) int {
	tab, err := procTable()
	if err != nil {
		return 0
	}
	for _, pid := range descendants(tab, sup) {
		if ns := tab[pid].nspid; len(ns) > 1 && ns[len(ns)-1] == 1 {
			return pid
		}
	}
	return 0
}

// statusKiB reads a "VmHWM:"-like line of /proc/PID/status, in KiB.
func statusKiB(pid int, key string) (int64, error) {
	return fieldKiB(fmt.Sprintf("/proc/%d/status", pid), key)
}

// pssKiB is the proportional set size of pid, from smaps_rollup.
func pssKiB(pid int) (int64, error) {
	return fieldKiB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
}

func fieldKiB(path, key string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// treeMemory is the memory of a supervisor and of what runs below it.
type treeMemory struct {
	supervisorPSS int64 // KiB, processes in the host's PID namespace: the supervisor's own
	guestPSS      int64 // KiB, processes in the container's PID namespace
	supervisorHWM int64 // KiB, peak RSS of the supervisor process itself
	supervisors   int   // how many processes the supervisor's part has
}

// memoryOf measures the tree below sup. tab may be shared between many
// calls; nil reads a fresh one.
func memoryOf(tab map[int]procInfo, sup int) (treeMemory, error) {
	var m treeMemory
	if tab == nil {
		var err error
		if tab, err = procTable(); err != nil {
			return m, err
		}
	}
	if _, ok := tab[sup]; !ok {
		return m, fmt.Errorf("supervisor %d is gone", sup)
	}
	for _, pid := range descendants(tab, sup) {
		pss, err := pssKiB(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if len(tab[pid].nspid) > 1 {
			m.guestPSS += pss
		} else {
			m.supervisorPSS += pss
			m.supervisors++
		}
	}
	hwm, err := statusKiB(sup, "VmHWM")
	if err != nil {
		return m, err
	}
	m.supervisorHWM = hwm
	return m, nil
}
