// Package report is what testinit, the integration tests' init, reports
// from inside a container: shared by the two, so that they cannot drift.
package report

// Report is what testinit -report prints after "TESTINIT-REPORT ", and what
// the integration tests decode.
type Report struct {
	Args      []string               `json:"args"`
	PID       int                    `json:"pid"`
	PPID      int                    `json:"ppid"`
	UID       int                    `json:"uid"`
	Exe       string                 `json:"exe"`
	Hostname  string                 `json:"hostname"`
	NS        map[string]string      `json:"ns"`
	Env       []string               `json:"env"`
	Mountinfo []string               `json:"mountinfo"`
	Reads     map[string]ReadResult  `json:"reads"`
	Writes    map[string]WriteResult `json:"writes"`
	Stats     map[string]StatResult  `json:"stats"`
	OrphanPID int                    `json:"orphan_pid,omitempty"`
	Errors    []string               `json:"errors,omitempty"`
}

// ReadResult is the outcome of one -read probe.
type ReadResult struct {
	Data  string `json:"data"`
	Err   string `json:"err,omitempty"`
	Errno string `json:"errno,omitempty"`
}

// WriteResult is the outcome of one -write probe.
type WriteResult struct {
	Err   string `json:"err,omitempty"`
	Errno string `json:"errno,omitempty"`
}

// StatResult is the outcome of one -absent or -stat probe (an lstat).
type StatResult struct {
	Exists bool   `json:"exists"`
	Mode   string `json:"mode,omitempty"`
	Link   string `json:"link,omitempty"`
	Err    string `json:"err,omitempty"`
}
