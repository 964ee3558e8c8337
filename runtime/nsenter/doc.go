// Package nsenter starts a process inside a running container: in every
// namespace of its init, as a child of the caller, with the container's
// capability bounding set, seccomp filter and no_new_privs.
//
// # Why a C helper
//
// setns(2) into a mount namespace is refused to a multi-threaded process,
// and a Go program has several threads before main runs. runc answers with
// a C constructor linked into its Go binary (nsexec, some 1,200 lines); we
// keep the Go build CGO_ENABLED=0 and static and use a separate static C
// program instead, containerctl-nsenter (helper/nsenter.c), which does only
// the single-threaded part: setns, clone, and the last steps before the
// exec. Start copies it into a sealed memfd and runs that copy, so that no
// process in the container can reach or rewrite the host's binary through
// /proc/PID/exe (CVE-2019-5736; runc seals its own binary the same way).
//
// # Protocol
//
// The helper gets a unix stream socket as fd 3 and the init's pidfd as
// another fd. Its instructions come on the socket, never on its command
// line (which the container could read in /proc/PID/cmdline):
//
//	"CTLNSX01"  u32 length  records...
//
// Each record is u32 tag, u32 length, value; integers are in the host's
// byte order (both ends run on the same machine). The tags (Tag*):
//
//	1 pidfd       u32: the fd of the init's pidfd in the helper
//	2 nsflags     u32: CLONE_NEW* of the namespaces to join
//	3 uid, 4 gid  u32
//	5 groups      u32 each: the supplementary groups
//	6 cwd         the working directory inside the container
//	7 arg         one argument, in order (repeated)
//	8 env         one NAME=VALUE (repeated)
//	9 capbset     u64: the bounding set's mask (absent: left as it is)
//	10 nonewprivs empty: set no_new_privs
//	11 seccomp    u32 flags, then struct sock_filter (u16 code, u8 jt,
//	              u8 jf, u32 k) each: the compiled filter to install
//	12 pty        empty: make a pseudo-terminal
//	13 detach     empty: no parent-death signal (an OCI exec --detach)
//	14 caps       4 u64: the effective, permitted, inheritable and
//	              ambient sets' masks (absent: permitted and effective
//	              are what the bounding set leaves, no others)
//	15 rlimit     u32 resource, u64 soft, u64 hard (repeated)
//	16 umask      u32
//	17 oomscoreadj u32: an int32, written to the helper's own
//	              oom_score_adj before it joins (the child inherits it)
//
// Strings carry no NUL. The helper answers with lines, one write each:
//
//	pid N                  from the helper: the child's pid on the host; the
//	                       helper exits 0 then
//	pty                    from the child, with the terminal's master
//	                       attached (SCM_RIGHTS)
//	error: STEP: STRERROR  from either, which then exits 127 (126 when the
//	                       command exists but cannot be executed)
//
// EOF comes once the helper has exited and the child has exec'd the
// command: the child's end of the socket is close-on-exec.
//
// # Confined before the clone
//
// The child is cloned into the container's PID namespace, where the
// guest's root can stop and ptrace it before it execs: without a user
// namespace that root has CAP_SYS_PTRACE over it, and being not dumpable
// does not keep such a tracer out. So the helper takes the container's
// confinement before it clones: the bounding set, permitted and effective
// sets no larger than it, no inheritable or ambient ones, no_new_privs
// when the container has it, and the seccomp filter (installed while the
// helper still holds CAP_SYS_ADMIN); then the command's rlimits, umask,
// user (its capabilities kept across the change) and capability sets, and
// its working directory. What the guest could reach in the window is then
// no stronger than the guest's root, and no stronger than the command. With a pty, the child
// is given /dev/null, not the caller's terminal, as its first stdio. And
// containerctl believes only the helper's pid line, once, and only for a
// child of its own (waitid P_PIDFD WNOWAIT), and stops waiting when the
// command exits even if a guest holds a copy of the socket.
//
// # What the child does
//
// Not dumpable until the exec; SIGKILL when containerctl's thread that
// started it dies; a new session; with a pty, /dev/ptmx of the container
// (its devpts), the slave as controlling terminal and stdio; every fd
// from 3 on close-on-exec; execvp in the command's own PATH.
package nsenter
