package limits

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"64K", 64 << 10, true},
		{"512M", 512 << 20, true},
		{"1.5G", 3 << 29, true},
		{"2T", 2 << 40, true},
		{"100MB", 100 << 20, true},
		{"infinity", -1, true},
		{"", 0, false},
		{"-1", 0, false},
		{"-5M", 0, false},
		{"12Q", 0, false},
		{"M", 0, false},
		{"1e9", 0, false},
		{"0", 0, false},
		{"9E", 0, false},
	} {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseSize(%q) = %d, %v, want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseSize(%q) error %v does not match ErrBadValue", tt.in, err)
		}
	}
}

func TestResources(t *testing.T) {
	r, err := Limits{MemoryMax: "256M", MemoryHigh: "200M", CPUWeight: "50", CPUQuota: "150%", IOWeight: "200"}.Resources(2)
	if err != nil {
		t.Fatal(err)
	}
	if got := *r.Memory.Limit; got != 256<<20 {
		t.Errorf("memory limit = %d, want %d", got, 256<<20)
	}
	if got := *r.CPU.Quota; got != 150000 || *r.CPU.Period != 100000 {
		t.Errorf("cpu quota/period = %d/%d, want 150000/100000", got, *r.CPU.Period)
	}
	if got := *r.Pids.Limit; got != DefaultTasksMax {
		t.Errorf("pids limit = %d, want the default %d", got, DefaultTasksMax)
	}
	for k, want := range map[string]string{"memory.high": "209715200", "cpu.weight": "50", "io.weight": "200"} {
		if got := r.Unified[k]; got != want {
			t.Errorf("unified[%s] = %q, want %q", k, got, want)
		}
	}
	r, err = Limits{TasksMax: "infinity"}.Resources(2)
	if err != nil || *r.Pids.Limit != -1 || r.Memory != nil || r.CPU != nil {
		t.Errorf("Resources(TasksMax=infinity) = %+v, %v, want pids -1 and nothing else", r, err)
	}
}

func TestResourcesErrors(t *testing.T) {
	for _, l := range []Limits{
		{MemoryMax: "10X"},
		{MemoryHigh: "-1"},
		{CPUWeight: "0"},
		{CPUWeight: "10001"},
		{CPUQuota: "150"},
		{CPUQuota: "-50%"},
		{CPUQuota: "201%"}, // two CPUs
		{CPUQuota: "0.5%"},
		{TasksMax: "0"},
		{TasksMax: "many"},
		{IOWeight: "x"},
	} {
		if r, err := l.Resources(2); err == nil || !errors.Is(err, ErrBadValue) {
			t.Errorf("%+v.Resources(2) = %+v, %v, want an ErrBadValue", l, r, err)
		}
	}
}

func TestResourcesErrorNamesSetting(t *testing.T) {
	for _, tt := range []struct {
		l    Limits
		want string
	}{
		{Limits{MemoryMax: "10X"}, `MemoryMax="10X": unknown unit "X" (K, M, G, T, P, E)`},
		{Limits{CPUQuota: "50"}, `CPUQuota="50": want a percentage such as 150%`},
		{Limits{TasksMax: "0"}, `TasksMax="0": want a positive count or infinity`},
	} {
		_, err := tt.l.Resources(2)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%+v.Resources(2) = %v, want %s", tt.l, err, tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Setting == "" {
			t.Errorf("%+v.Resources(2) = %v, want an *Error naming the setting", tt.l, err)
		}
	}
	if _, err := ParseSize("5Q"); err == nil || err.Error() != `"5Q": unknown unit "Q" (K, M, G, T, P, E)` {
		t.Errorf(`ParseSize("5Q") = %v, want "5Q": unknown unit "Q" (K, M, G, T, P, E)`, err)
	}
}
