package main

import (
	"reflect"
	"testing"
)

func TestSplitExecArgs(t *testing.T) {
	tests := []struct {
		args    []string
		name    string
		command []string
	}{
		{[]string{"foo", "--", "sh", "-c", "exit 7"}, "foo", []string{"sh", "-c", "exit 7"}},
		{[]string{"foo", "sh", "-c", "exit 7"}, "foo", []string{"sh", "-c", "exit 7"}},
		{[]string{"foo", "--", "--", "x"}, "foo", []string{"--", "x"}},
		{[]string{"foo"}, "foo", []string{}},
		{[]string{"foo", "--"}, "foo", []string{}},
	}
	for _, tt := range tests {
		name, command := splitExecArgs(tt.args)
		if name != tt.name || !reflect.DeepEqual(command, tt.command) {
			t.Errorf("splitExecArgs(%q) = %q, %q; want %q, %q", tt.args, name, command, tt.name, tt.command)
		}
	}
}
