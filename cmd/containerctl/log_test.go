package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestLogFormats(t *testing.T) {
	for _, tt := range []struct {
		level, format string
		log           func()
		want          string
	}{
		{"info", "text", func() { log.WithField("container", "foo").Info("running") }, "containerctl: foo: running\n"},
		{"info", "text", func() { log.Error(errors.New("foo: mount /nix: no such file")) }, "containerctl: error: foo: mount /nix: no such file\n"},
		{"info", "text", func() { log.WithField("container", "foo").WithError(errors.New("busy")).Warn("remove cgroup") }, "containerctl: warning: foo: remove cgroup: busy\n"},
		{"info", "text", func() { log.WithField("container", "foo").Debug("hidden") }, ""},
		{"debug", "text", func() { log.WithFields(logrus.Fields{"container": "foo", "pid": 7}).Debug("step") }, "containerctl: foo: step pid=7\n"},
		// A guest's text cannot forge a line of its own.
		{"debug", "text", func() {
			log.WithFields(logrus.Fields{"container": "foo", "status": "x\rcontainerctl: error: forged\x1b[K"}).Debug("guest status")
		}, `containerctl: foo: guest status status=x\rcontainerctl: error: forged\x1b[K` + "\n"},
	} {
		var b bytes.Buffer
		if err := setupLog(tt.level, tt.format); err != nil {
			t.Fatal(err)
		}
		log.SetOutput(&b)
		tt.log()
		if got := b.String(); got != tt.want {
			t.Errorf("%s/%s: logged %q, want %q", tt.level, tt.format, got, tt.want)
		}
	}

	var b bytes.Buffer
	if err := setupLog("info", "json"); err != nil {
		t.Fatal(err)
	}
	log.SetOutput(&b)
	log.WithField("container", "foo").Info("running")
	var entry map[string]any
	if err := json.Unmarshal(b.Bytes(), &entry); err != nil || entry["msg"] != "running" || entry["container"] != "foo" || entry["level"] != "info" {
		t.Errorf("json log line %q (%v), want msg, container and level fields", b.String(), err)
	}
	for _, bad := range [][2]string{{"loud", "text"}, {"info", "xml"}} {
		if err := setupLog(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "--log-") {
			t.Errorf("setupLog(%q, %q) = %v, want an error naming the flag", bad[0], bad[1], err)
		}
	}
}
