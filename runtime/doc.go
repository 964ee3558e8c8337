// Package runtime runs a container from an OCI runtime spec.
//
// A spec is compiled once (Compile) into a checked Plan; every entry point
// executes that Plan. Run executes it with three processes:
//
//	containerctl run NAME            the supervisor: stays in the foreground,
//	  │                              owns the cgroup, the record, the console,
//	  │                              the notify and control sockets, and halts
//	  │                              the container on SIGTERM or `stop`
//	  ├── containerctl init          the init child: cloned (clone3 with
//	  │     └─ exec → init, PID 1    CLONE_INTO_CGROUP) into new mount, PID,
//	  │                              UTS, IPC (and network) namespaces; sets
//	  │                              up the root, pivots, and execs the init,
//	  │                              so that no process of ours stays inside
//	  └── containerctl-reaper        the reaper (run by hand only): started,
//	        └─ exec → reap           and running, before the cgroups are
//	                                 made (the record names them first);
//	                                 a small C program that waits on the
//	                                 record's lock, then execs containerctl
//	                                 to clean up after a supervisor that was
//	                                 killed (reaper_linux.go)
//
// Once the container runs, the supervisor execs containerctl-monitor, a
// small C program that keeps its PID, its child and its fds, relays the
// console and waits; for the init's exit, a halt signal or a control
// request it execs containerctl again, which resumes the supervisor from
// the record and the fds (Resume), acts, and hands off again if the
// container runs on (monitor_linux.go):
//
//	containerctl run NAME ─exec→ containerctl-monitor ─exec→ containerctl run NAME ...
//	 (start, Go)                 (waits, C, one thread)       (resumed: halt, finish)
//
// The supervisor and the init child talk over a SOCK_SEQPACKET socketpair,
// one JSON message a packet (sync.go):
//
//	supervisor → child  config    what the child needs of the Plan
//	supervisor → child  staged    (private users only) the root and binds
//	                              are idmapped and staged: the child makes
//	                              its mount namespace (users_linux.go)
//	supervisor → child  cgroups   the child is in every hierarchy now; it
//	                              makes its cgroup namespace and mounts
//	                              the cgroup filesystem
//	child → supervisor  ready     the root is set up and pivoted (or error)
//	child → supervisor  hooks     (OCI create with hooks) mounts made: the
//	                              creator runs createRuntime, answers
//	                              hooks-done, the child createContainer
//	supervisor → child  go        the record shows the init; exec it
//	supervisor → child  detach    (OCI create) in place of go: wait for
//	                              start on the exec FIFO, then exec
//	child               exec(2)   its end is close-on-exec: the supervisor
//	                              reads EOF on success, or an error
//
// Before the config goes, the supervisor gives a private network its links,
// addresses, routes and port forwards from outside, into the child's new
// network namespace (package network): the child waits for the config, so
// the init never runs without them.
//
// An error in the child travels back as data (InitError, with its errno and
// kind) and always wins over what it caused in the supervisor. Each step of
// a start is undone by the one that made it when a later one fails, so a
// failed start leaves nothing behind (start_linux.go).
//
// With private users (package userns), the child is cloned into a new user
// namespace with the others but the mount namespace, its maps written
// before it runs; the host's root stages what it mounts for it, so that the
// kernel locks those mounts' flags in the child's namespace.
//
// Exec enters a running container with its recorded plan: a sealed copy of
// the C helper containerctl-nsenter joins the init's namespaces (a Go
// process cannot join a mount namespace) and clones the command as our own
// child, in a cgroup exec-<random> beside the guest's (package nsenter,
// exec_linux.go).
package runtime
