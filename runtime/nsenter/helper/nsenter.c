/*
 * containerctl-nsenter: the single-threaded step of `containerctl exec`.
 *
 * Go cannot join a mount namespace: setns(CLONE_NEWNS) is refused to a
 * process with more than one thread, and a Go program always has several.
 * This helper is started by containerctl (from a sealed memfd copy, so that
 * nothing inside the container can reach this binary on the host through
 * /proc/PID/exe), reads its instructions from fd 3, joins the container's
 * namespaces through the init's pidfd with one setns(2), and clones the
 * child that becomes the command. The child is cloned with CLONE_PARENT,
 * so that it is containerctl's own child (containerctl waits for it), in
 * the container's PID namespace; the helper reports its pid and exits.
 *
 * The protocol is documented in runtime/nsenter/doc.go; instructions.go is
 * its Go side. In short, on fd 3 (a unix stream socket):
 *   containerctl -> helper  "CTLNSX01", u32 length, TLV records
 *   helper -> containerctl  "pid N\n"                   the child's host pid
 *   child  -> containerctl  "pty\n" + SCM_RIGHTS master (with a pty)
 *   either -> containerctl  "error: STEP: STRERROR\n"   then exit 127 (126)
 * and EOF once the child has exec'd the command (the socket is
 * close-on-exec in it) and the helper has exited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define SOCK_FD 3
#define MAGIC "CTLNSX01"
#define MAX_BODY (16u << 20)

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* The record tags of the instructions (instructions.go). */
enum {
	T_PIDFD = 1, T_NSFLAGS, T_UID, T_GID, T_GROUPS, T_CWD, T_ARG, T_ENV,
	T_CAPBSET, T_NONEWPRIVS, T_SECCOMP, T_PTY, T_DETACH,
	T_CAPS, T_RLIMIT, T_UMASK, T_OOMSCOREADJ,
};

struct rlim {
	uint32_t resource;
	uint64_t soft, hard;
};

struct instr {
	int pidfd;
	uint32_t nsflags, uid, gid;
	gid_t *groups;
	size_t ngroups;
	char *cwd;
	char **argv, **envp;
	size_t argc, envc;
	int has_capbset;
	uint64_t capbset;
	int nnp;
	int has_seccomp;
	uint32_t sc_flags;
	struct sock_filter *sc_prog;
	size_t sc_len;
	int pty;
	int detach;
	/* The effective, permitted, inheritable and ambient sets the
	 * command execs with. */
	int has_caps;
	uint64_t caps[4];
	struct rlim *rlimits;
	size_t nrlimits;
	int has_umask;
	uint32_t umask;
	int has_oom;
	int32_t oom;
};

extern char **environ;

/* fail reports a failed step on the socket, in one write, and exits. */
static void __attribute__((noreturn)) fail(int code, const char *fmt, ...)
{
	char step[512], line[1024];
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(step, sizeof step, fmt, ap);
	va_end(ap);
	int n = snprintf(line, sizeof line, "error: %s: %s\n", step, strerror(err));
	if (n > (int)sizeof line - 1)
		n = sizeof line - 1;
	if (write(SOCK_FD, line, n) < 0) {
		/* Nobody to tell. */
	}
	_exit(code);
}

static void read_full(void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(SOCK_FD, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			fail(127, "read instructions");
		}
		p += n;
		len -= n;
	}
}

static char *dupstr(const char *v, uint32_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		fail(127, "read instructions");
	memcpy(s, v, len);
	s[len] = '\0';
	return s;
}

static void push(char ***list, size_t *n, char *s)
{
	*list = realloc(*list, (*n + 2) * sizeof(char *));
	if (!*list)
		fail(127, "read instructions");
	(*list)[(*n)++] = s;
	(*list)[*n] = NULL;
}

static uint32_t u32(const char *v, uint32_t len)
{
	uint32_t x;
	if (len != 4) {
		errno = EINVAL;
		fail(127, "read instructions: a 4-byte record of %u bytes", len);
	}
	memcpy(&x, v, 4);
	return x;
}

/* record takes one TLV record into in. */
static void record(struct instr *in, uint32_t tag, const char *v, uint32_t len)
{
	switch (tag) {
	case T_PIDFD: in->pidfd = (int)u32(v, len); break;
	case T_NSFLAGS: in->nsflags = u32(v, len); break;
	case T_UID: in->uid = u32(v, len); break;
	case T_GID: in->gid = u32(v, len); break;
	case T_GROUPS:
		in->ngroups = len / 4;
		in->groups = calloc(in->ngroups + 1, sizeof(gid_t));
		if (!in->groups)
			fail(127, "read instructions");
		for (size_t i = 0; i < in->ngroups; i++)
			in->groups[i] = u32(v + 4 * i, 4);
		break;
	case T_CWD: in->cwd = dupstr(v, len); break;
	case T_ARG: push(&in->argv, &in->argc, dupstr(v, len)); break;
	case T_ENV: push(&in->envp, &in->envc, dupstr(v, len)); break;
	case T_CAPBSET:
		if (len != 8) {
			errno = EINVAL;
			fail(127, "read instructions: capability set of %u bytes", len);
		}
		memcpy(&in->capbset, v, 8);
		in->has_capbset = 1;
		break;
	case T_NONEWPRIVS: in->nnp = 1; break;
	case T_SECCOMP:
		if (len < 4 || (len - 4) % sizeof(struct sock_filter) != 0) {
			errno = EINVAL;
			fail(127, "read instructions: seccomp record of %u bytes", len);
		}
		in->sc_flags = u32(v, 4);
		in->sc_len = (len - 4) / sizeof(struct sock_filter);
		in->sc_prog = malloc(len - 4 + 1);
		if (!in->sc_prog)
			fail(127, "read instructions");
		memcpy(in->sc_prog, v + 4, len - 4);
		in->has_seccomp = 1;
		break;
	case T_PTY: in->pty = 1; break;
	case T_DETACH: in->detach = 1; break;
	case T_CAPS:
		if (len != sizeof in->caps) {
			errno = EINVAL;
			fail(127, "read instructions: capability sets of %u bytes", len);
		}
		memcpy(in->caps, v, sizeof in->caps);
		in->has_caps = 1;
		break;
	case T_RLIMIT:
		if (len != 20) {
			errno = EINVAL;
			fail(127, "read instructions: rlimit of %u bytes", len);
		}
		in->rlimits = realloc(in->rlimits, (in->nrlimits + 1) * sizeof *in->rlimits);
		if (!in->rlimits)
			fail(127, "read instructions");
		memcpy(&in->rlimits[in->nrlimits].resource, v, 4);
		memcpy(&in->rlimits[in->nrlimits].soft, v + 4, 8);
		memcpy(&in->rlimits[in->nrlimits].hard, v + 12, 8);
		in->nrlimits++;
		break;
	case T_UMASK: in->umask = u32(v, len); in->has_umask = 1; break;
	case T_OOMSCOREADJ: in->oom = (int32_t)u32(v, len); in->has_oom = 1; break;
	default:
		errno = EINVAL;
		fail(127, "read instructions: unknown record %u", tag);
	}
}

static void read_instructions(struct instr *in)
{
	char magic[8];
	uint32_t len;
	read_full(magic, sizeof magic);
	if (memcmp(magic, MAGIC, 8) != 0) {
		errno = EPROTO;
		fail(127, "read instructions: not from this containerctl");
	}
	read_full(&len, 4);
	if (len > MAX_BODY) {
		errno = E2BIG;
		fail(127, "read instructions: %u bytes", len);
	}
	char *body = malloc(len + 1);
	if (!body)
		fail(127, "read instructions");
	read_full(body, len);
	for (uint32_t off = 0; off < len;) {
		uint32_t tag, rlen;
		if (len - off < 8) {
			errno = EINVAL;
			fail(127, "read instructions: truncated record");
		}
		memcpy(&tag, body + off, 4);
		memcpy(&rlen, body + off + 4, 4);
		off += 8;
		if (rlen > len - off) {
			errno = EINVAL;
			fail(127, "read instructions: truncated record %u", tag);
		}
		record(in, tag, body + off, rlen);
		off += rlen;
	}
	free(body);
	if (in->argc == 0 || !in->cwd || in->pidfd < 0) {
		errno = EINVAL;
		fail(127, "read instructions: no command, working directory or pidfd");
	}
}

/* send_pty passes the pseudo-terminal's master to containerctl. */
static void send_pty(int master)
{
	char data[] = "pty\n";
	struct iovec iov = { .iov_base = data, .iov_len = sizeof data - 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof u.buf,
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(SOCK_FD, &msg, 0) < 0)
		fail(127, "send the terminal");
}

/*
 * open_pty makes a pseudo-terminal in the container's devpts (we are in its
 * mount namespace), sends the master back and makes the slave our
 * controlling terminal and stdio. The slave is opened from the master
 * (TIOCGPTPEER), never by a path the container could replace.
 */
static void open_pty(void)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		fail(127, "open /dev/ptmx");
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		fail(127, "unlock the terminal");
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s < 0)
		fail(127, "open the terminal's slave");
	send_pty(m);
	close(m);
	if (ioctl(s, TIOCSCTTY, 0) < 0)
		fail(127, "make the terminal the controlling one");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(s, fd) < 0)
			fail(127, "dup the terminal to fd %d", fd);
	if (s > 2)
		close(s);
}

/* drop_caps limits the bounding set to the mask and empties the
 * inheritable and ambient sets; permitted and effective follow at exec. */
static void drop_caps(const struct instr *in)
{
	if (in->has_capbset) {
		for (int c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++) {
			if (in->capbset & (1ULL << c))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
				fail(127, "drop capability %d from the bounding set", c);
		}
	}
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		fail(127, "read capabilities");
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) < 0)
		fail(127, "clear the inheritable capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail(127, "clear the ambient capabilities");
}

static void install_seccomp(const struct instr *in)
{
	struct sock_fprog prog = { .len = (unsigned short)in->sc_len, .filter = in->sc_prog };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, in->sc_flags, &prog) < 0)
		fail(127, "install the seccomp filter");
}

/* become_user takes the command's IDs. The capabilities stay across the
 * change (PR_SET_KEEPCAPS; the kernel clears the effective set, which
 * set_caps gives again): set_caps decides them after it. */
static void become_user(const struct instr *in)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(127, "prctl PR_SET_KEEPCAPS");
	if (setgroups(in->ngroups, in->groups) < 0)
		fail(127, "setgroups");
	if (setresgid(in->gid, in->gid, in->gid) < 0)
		fail(127, "setresgid %u", in->gid);
	if (setresuid(in->uid, in->uid, in->uid) < 0)
		fail(127, "setresuid %u", in->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail(127, "prctl PR_SET_KEEPCAPS");
}

/* set_caps gives the command's effective, permitted and inheritable sets
 * and raises its ambient set, as the container's init gets them: then
 * exec(2) decides (a root command gets the bounding set, another its
 * ambient set). Without them, permitted and effective are what the
 * bounding set leaves. */
static void set_caps(const struct instr *in)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		fail(127, "read capabilities");
	uint64_t amb = 0;
	if (in->has_caps) {
		/* Nothing beyond the bounding set, and nothing we do not hold
		 * (the host's root may lack some, where containerctl itself
		 * runs confined), as the init's sets get (security.ApplySets):
		 * the child is in the container's PID namespace from the clone
		 * on, where the guest's root may ptrace it before it execs, and
		 * a permitted set beyond the bounding set (which the spec
		 * allows, and exec would cut) would be the guest's to use. */
		for (int i = 0; i < 2; i++) {
			uint32_t have = d[i].permitted;
			if (in->has_capbset)
				have &= (uint32_t)(in->capbset >> (32 * i));
			d[i].permitted = (uint32_t)(in->caps[1] >> (32 * i)) & have;
			d[i].effective = (uint32_t)(in->caps[0] >> (32 * i)) & d[i].permitted;
			d[i].inheritable = (uint32_t)(in->caps[2] >> (32 * i)) & have;
			amb |= (uint64_t)(d[i].permitted & d[i].inheritable) << (32 * i);
		}
		amb &= in->caps[3];
	} else if (in->has_capbset) {
		uint32_t lo = (uint32_t)in->capbset, hi = (uint32_t)(in->capbset >> 32);
		d[0].effective = d[0].permitted &= lo;
		d[1].effective = d[1].permitted &= hi;
	} else {
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
	}
	if (syscall(SYS_capset, &h, d) < 0)
		fail(127, "set the capabilities");
	for (int c = 0; c < 64; c++)
		if ((amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail(127, "raise ambient capability %d", c);
}

/* enter_cwd enters the working directory, which must be inside the root:
 * one reached through a link out of it shows as "(unreachable)" (runc's
 * verifyCwd, CVE-2024-21626). It returns -1 with errno EACCES or EPERM
 * when we may not enter it, for a second try as the command's user. */
static int enter_cwd(const struct instr *in, int last)
{
	if (chdir(in->cwd) < 0) {
		if (!last && (errno == EACCES || errno == EPERM))
			return -1;
		fail(127, "chdir %s", in->cwd);
	}
	char wd[4096];
	if (!getcwd(wd, sizeof wd) || wd[0] != '/') {
		errno = EPERM;
		fail(127, "working directory %s is outside the container's root", in->cwd);
	}
	return 0;
}

/* cloexec_from marks every fd from 3 on close-on-exec: the socket too, so
 * that containerctl reads EOF once the exec succeeded. */
static void cloexec_from(int lowest)
{
	if (syscall(SYS_close_range, lowest, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	for (int fd = lowest; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void __attribute__((noreturn)) child(const struct instr *in)
{
	/* Not dumpable until the exec. This does not keep out a tracer with
	 * CAP_SYS_PTRACE over us (the guest's root has it, without a user
	 * namespace; with one, we are its root): what keeps us safe is that main confined us as
	 * the container is before we were cloned into its PID namespace. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(127, "prctl PR_SET_DUMPABLE");
	/* Dies with containerctl exec, whose thread is our parent; unless
	 * detached, for containerctl-oci exec --detach, whose caller (a
	 * subreaper) inherits us. */
	if (!in->detach && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(127, "prctl PR_SET_PDEATHSIG");
	if (setsid() < 0)
		fail(127, "setsid");
	if (in->pty)
		open_pty();
	cloexec_from(3);
	/* execvp searches the PATH of environ: the command's own. */
	environ = in->envp ? in->envp : (char *[]){ NULL };
	execvp(in->argv[0], in->argv);
	fail(errno == ENOENT ? 127 : 126, "exec %s", in->argv[0]);
}

/* confine gives us the command's confinement before the clone (its
 * limits came before the setns): its umask, the container's bounding set, none inheritable or
 * ambient, no_new_privs when it has it, and its seccomp filter (installed
 * while we still hold CAP_SYS_ADMIN); then the command's user and
 * capabilities (set_caps), and its working directory. From the clone on,
 * the child is in the container's PID namespace, where the guest's root
 * may ptrace it (CAP_SYS_PTRACE) before it execs: it must then be no
 * stronger than that root, and it already is the command. */
static void confine(const struct instr *in)
{
	if (in->has_umask)
		umask(in->umask);
	int cwd = enter_cwd(in, 0);
	drop_caps(in);
	if (in->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(127, "prctl PR_SET_NO_NEW_PRIVS");
	if (in->has_seccomp)
		install_seccomp(in);
	become_user(in);
	set_caps(in);
	if (cwd < 0)
		enter_cwd(in, 1);
}

int main(void)
{
	struct instr in = { .pidfd = -1 };
	read_instructions(&in);
	/* Before the setns: raising a hard limit takes CAP_SYS_RESOURCE in
	 * the host's user namespace, which a user namespace's root lacks. */
	for (size_t i = 0; i < in.nrlimits; i++) {
		struct rlimit rl = { .rlim_cur = in.rlimits[i].soft, .rlim_max = in.rlimits[i].hard };
		if (setrlimit(in.rlimits[i].resource, &rl) < 0)
			fail(127, "set rlimit %u to %llu/%llu", in.rlimits[i].resource,
			     (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	}
	/* Our own /proc before the setns: the container's does not show us. */
	if (in.has_oom) {
		char v[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		int n = snprintf(v, sizeof v, "%d", in.oom);
		if (fd < 0 || write(fd, v, n) != n)
			fail(127, "set oom_score_adj %d", in.oom);
		close(fd);
	}
	/* All the container's namespaces at once, through the pidfd (Linux
	 * 5.8). Children are then born in its PID namespace. */
	if (setns(in.pidfd, (int)in.nsflags) < 0)
		fail(127, "setns (Linux 5.8 or later is needed)");
	close(in.pidfd);
	/* In a user namespace (the kernel joins it first, and the others as
	 * its root), our IDs are still the host's root's, which its maps
	 * leave out: what we make (the terminal) would be nobody's inside.
	 * Become its root, keeping the capabilities setns gave; the
	 * command's own IDs come in become_user. */
	if (in.nsflags & CLONE_NEWUSER) {
		if (setgroups(0, NULL) < 0)
			fail(127, "setgroups in the user namespace");
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail(127, "become the user namespace's root");
	}
	confine(&in);
	/* A fork (no new stack) whose parent is ours, containerctl. */
	long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		fail(127, "clone");
	if (pid == 0)
		child(&in);
	char line[32];
	int n = snprintf(line, sizeof line, "pid %ld\n", pid);
	if (write(SOCK_FD, line, n) != n)
		fail(127, "report the pid");
	return 0;
}
