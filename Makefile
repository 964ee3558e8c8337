# containerctl: build, test, demo. See README.md.
GO ?= go
export CGO_ENABLED := 0
BIN := bin/containerctl
# containerctl-nsenter, exec's single-threaded step (runtime/nsenter), in C:
# a Go process cannot join a mount namespace.
NSENTER := bin/containerctl-nsenter
# containerctl-oci, runc's command line on the same engine (for containerd's
# BinaryName and podman's --runtime): a link to containerctl, which answers
# to that name.
OCI := bin/containerctl-oci
# containerctl-reaper, the resident part of a supervisor's reaper
# (runtime/reaper), in C: a Go process that only waits costs ten times its
# memory.
REAPER := bin/containerctl-reaper
# containerctl-monitor, what a supervisor execs into once its container runs
# (runtime/monitor), in C for the same reason.
MONITOR := bin/containerctl-monitor
HELPER_CC ?= gcc

.PHONY: build deps test unit fuzz nixos integration demo bench lint clean

build: $(BIN) $(NSENTER) $(REAPER) $(MONITOR) $(OCI)

$(BIN): FORCE
	$(GO) build -trimpath -ldflags '-s -w' -o $(BIN) ./cmd/containerctl

$(NSENTER): runtime/nsenter/helper/nsenter.c
	@mkdir -p bin
	$(HELPER_CC) -static -Os -Wall -Werror -s -o $@ $<

$(REAPER): runtime/reaper/reaper.c runtime/monitor/dropcode.h
	@mkdir -p bin
	$(HELPER_CC) -static -Os -Wall -Werror -s -o $@ $<

$(MONITOR): runtime/monitor/monitor.c runtime/monitor/dropcode.h
	@mkdir -p bin
	$(HELPER_CC) -static -Os -Wall -Werror -s -o $@ $<

$(OCI): $(BIN)
	ln -sf containerctl $@

FORCE:

# Unit tests everywhere; the integration tests start real containers and need
# root (with CONTAINERCTL_INTEGRATION=1, as in CI, a missing prerequisite
# fails them instead of skipping).
test: lint unit fuzz nixos integration

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

# fuzz runs each fuzz target briefly (FUZZTIME each; CI's default): the
# parsers of names, hostnames, binds, tmpfs, signals and limits, and the
# spec builder must never panic and must refuse with one clear line. For a
# longer run: make fuzz FUZZTIME=10m. CI's default is a count of inputs, not
# a time: on a busy machine a timed run can end with Go's "context deadline
# exceeded" while a worker is still busy, which is no finding.
FUZZTIME ?= 50000x
FUZZ_TARGETS := \
	./runtime:FuzzValidateName ./runtime:FuzzValidateHostname \
	./signals:FuzzParse \
	./cmd/containerctl:FuzzParseBind ./cmd/containerctl:FuzzParseTmpfs ./cmd/containerctl:FuzzBuildSpec
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t#*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg >/tmp/containerctl-fuzz.log 2>&1 || { cat /tmp/containerctl-fuzz.log; exit 1; }; \
	done

# nixos checks the NixOS module (integration/nixos) with Nix alone: every
# .nix file parses, and the unit and NAME.conf it writes for a container are
# what containerctl makes of the same options. Needs nix-bin, not root.
nixos:
	$(GO) test -count=1 -v ./integration/nixos/

# The VM tests (integration/vm: a systemd host under qemu, about 2 minutes
# once its image is cached) are their own package, so that they run beside
# the rest of the suite rather than after it. The cached fixtures (the
# Debian root, and the VM image built on it) are built first: debootstrap
# mounts /proc and /sys in its target while it runs, and the suite's check
# that the host is as it found it must not see another package's build.
integration:
	@if [ "$$(id -u)" = 0 ]; then bash integration/vm/image.sh >/dev/null; fi
	$(GO) test -count=1 -v -timeout 20m ./integration/ ./integration/vm/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	cd integration/bench && $(GO) vet ./...

# demo builds containerctl and a busybox root, boots it with a small init as
# PID 1, shows that it is PID 1 with its own hostname, and halts it cleanly.
DEMO_ROOT ?= /var/cache/containerctl-test/demo-root
demo: build
	@test -x /bin/busybox || { echo 'demo: /bin/busybox is missing; run make deps'; exit 1; }
	rm -rf $(DEMO_ROOT) && mkdir -p $(DEMO_ROOT)/bin
	cp /bin/busybox $(DEMO_ROOT)/bin/ && for c in sh echo sleep hostname cat; do ln -s busybox $(DEMO_ROOT)/bin/$$c; done
	printf '%s\n' '#!/bin/sh' \
	  'echo "inside the container: pid $$$$, hostname $$(hostname)"' \
	  "trap 'echo \"got SIGRTMIN+3, halting\"; exit 0' 37" \
	  'while :; do sleep 1 & wait $$!; done' > $(DEMO_ROOT)/init && chmod 755 $(DEMO_ROOT)/init
	$(BIN) run demo --root $(DEMO_ROOT) --store= -- /init & \
	  sleep 1; $(BIN) list; $(BIN) stop demo; wait

# bench measures containerctl against crun, runc, systemd-nspawn, bwrap and
# unshare on this machine (as root; installs the peers when missing) and
# writes results/bench-DATE.{json,md,svg,png}. See README.md for the figures.
# It is its own module (integration/bench/go.mod), so that its plotting
# libraries stay out of the product's; BENCH_FLAGS passes more flags, e.g.
# BENCH_FLAGS='-only start -runs 3'.
bench: build
	cd integration/bench && $(GO) run . -bin $(abspath $(BIN)) -oci-bin $(abspath $(OCI)) -out $(abspath results) \
	  -debian-fixture $(abspath integration/fixtures/debian-root.sh) $(BENCH_FLAGS)

clean:
	rm -rf bin

# The Debian packages the tests need; .ci/run calls this on a new machine.
DEPS := busybox-static util-linux debootstrap gcc libc6-dev nix-bin containerd podman conmon runc qemu-system-x86 e2fsprogs
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS)
