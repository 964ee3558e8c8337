/*
 * containerctl-monitor: what stays resident of a supervisor while its
 * container runs.
 *
 * A Go supervisor that only waits for its container costs some 2.5 MiB of
 * memory of its own (heap spans, thread stacks, the runtime's structures),
 * and a host with 200 containers pays it 200 times. Once the container
 * runs and has nothing left to start, the supervisor execs this program
 * (runtime/monitor_linux.go says when): the same process, so the init stays
 * its child and the record's lock, the console, the notify and control
 * sockets stay open across the exec. It does only the waiting:
 *
 *  - copies the console's output to stdout (or drops it), without ever
 *    blocking on a stdout that does not drain;
 *  - reads and drops the guest's sd_notify messages (the guest was ready
 *    before the handoff: what the supervisor acts on has been said);
 *  - and for anything that needs a decision, it execs containerctl again:
 *    the init's exit, SIGTERM, SIGINT or SIGHUP, a connection on the
 *    control socket (stop, restart, profile). containerctl resumes the
 *    supervisor from the record and the fds, acts, and execs this program
 *    again when the container runs on.
 *
 *   containerctl-monitor --name=NAME --pid=PID --exe-fd=N --control-fd=N
 *       --notify-fd=N [--kill-signal=N] [--console-fd=N [--console-drop]]
 *       [--midline] [--shared-stream] [--log-json] -- ARGV...
 *
 * ARGV is containerctl's own command line, exec'd from --exe-fd (the
 * supervisor's binary, so that an upgrade meanwhile does not change the
 * version that reads this version's record), with its environment and
 * these added:
 *
 *   _CONTAINERCTL_EVENT=exit | signal:N[,N...] | control:FD
 *     [;halt:NS:N] [;signal:N[,N...]]
 *   _CONTAINERCTL_CONSOLE=line | midline | dropped [,pending:FD]
 *
 * halt says that the monitor told the guest to halt on signal N at NS
 * (CLOCK_MONOTONIC nanoseconds) and waited (on_signals); it comes alone
 * when containerctl is to take the halt over: after a second, or after
 * the stop timeout (--stop-timeout-ms) if it is shorter.
 *
 * pending is a pipe holding the console output read but not yet written
 * (stdout was not taking it): containerctl writes it first, so that a slow
 * stdout delays nothing and loses nothing.
 *
 * The halt signals arrive blocked across the exec from the supervisor and
 * are read from a signalfd; all of them that are pending go with the event.
 * The init is watched through a pidfd and not reaped, so that containerctl
 * reaps it and reads its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "dropcode.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define BUFSIZE 32768
/* A write of at most this much to a pipe that poll(2) says is writable
 * does not block (pipe(7): PIPE_BUF). */
#define CHUNK 4096

static const char *name = "?";
static int pid = -1, exe_fd = -1, control_fd = -1, notify_fd = -1, console_fd = -1, kill_signal = 0, pidfd = -1;
static int stop_timeout_ms = -1; /* the supervisor's stop timeout; -1: not given */
static int drop, dropped, midline, shared, json_log;
static char **go_argv;
static const char *unknown; /* an argument of a newer containerctl */

static char buf[BUFSIZE];
static size_t pend_off, pend_len; /* console output read, not yet written */

static void die(const char *what, int err)
{
	/* With no supervisor left, the container goes: the init's
	 * parent-death signal kills it as this process exits, and the
	 * reaper (or the unit's end) removes what is left. The line is the
	 * supervisor's log's: on a line of its own after console output
	 * that shares the stream, and JSON when the log is. (The name is
	 * letters, digits, "-", "_" and "."; the rest is ours.) */
	if (shared && midline)
		fputs("\n", stderr);
	if (json_log) {
		char when[64];
		time_t now = time(NULL);
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		fprintf(stderr, "{\"container\":\"%s\",\"level\":\"error\",\"msg\":\"monitor: %s: %s; the container is killed\",\"time\":\"%s\"}\n",
			name, what, strerror(err), when);
	} else
		fprintf(stderr, "containerctl: error: %s: monitor: %s: %s; the container is killed\n", name, what, strerror(err));
	_exit(1);
}

static void nothing(int sig)
{
	(void)sig;
}

static int intarg(const char *arg, const char *key, int *out)
{
	size_t n = strlen(key);
	if (strncmp(arg, key, n) != 0)
		return 0;
	char *end;
	long v = strtol(arg + n, &end, 10);
	if (*end != '\0' || v < 0 || v > 1 << 30) {
		fprintf(stderr, "containerctl-monitor: bad %s\n", arg);
		exit(2);
	}
	*out = (int)v;
	return 1;
}

static void parse(int argc, char **argv)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strncmp(a, "--name=", 7) == 0)
			name = a + 7;
		else if (strcmp(a, "--console-drop") == 0)
			drop = 1;
		else if (strcmp(a, "--midline") == 0)
			midline = 1;
		else if (strcmp(a, "--shared-stream") == 0)
			shared = 1;
		else if (strcmp(a, "--log-json") == 0)
			json_log = 1;
		else if (!intarg(a, "--pid=", &pid) && !intarg(a, "--exe-fd=", &exe_fd) &&
			 !intarg(a, "--control-fd=", &control_fd) && !intarg(a, "--notify-fd=", &notify_fd) &&
			 !intarg(a, "--console-fd=", &console_fd) && !intarg(a, "--kill-signal=", &kill_signal) &&
			 !intarg(a, "--stop-timeout-ms=", &stop_timeout_ms) && unknown == NULL)
			unknown = a;
	}
	if (i >= argc || pid <= 0 || exe_fd < 0 || control_fd < 0 || notify_fd < 0) {
		fprintf(stderr, "usage: containerctl-monitor --name=NAME --pid=PID --exe-fd=N --control-fd=N --notify-fd=N [--console-fd=N] -- ARGV (containerctl starts it)\n");
		exit(2);
	}
	go_argv = argv + i;
}

/* Writes some of the pending console output; a stdout that fails (a
 * journal that went away) makes the rest be dropped, or the guest would
 * block on a full console. */
static void flush_some(void)
{
	size_t n = pend_len < CHUNK ? pend_len : CHUNK;
	/* A socket (a unit's journal stream) is written without blocking
	 * whatever its flags; a pipe, terminal or file only when poll said
	 * it takes a chunk. */
	ssize_t k = send(1, buf + pend_off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (k < 0 && errno == ENOTSOCK)
		k = write(1, buf + pend_off, n);
	if (k < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		drop = dropped = 1;
		pend_len = 0;
		return;
	}
	midline = buf[pend_off + k - 1] != '\n';
	pend_off += k;
	pend_len -= k;
}

/* Before containerctl takes over: what was read from the console and not
 * yet written goes in a pipe for containerctl to write first; its read end,
 * or -1 when nothing is pending. A pipe holds 64 KiB, more than the 32 KiB
 * read at most. */
static int pending_pipe(void)
{
	if (pend_len == 0)
		return -1;
	int fds[2];
	if (pipe2(fds, 0) < 0) {
		/* Out of fds or memory: the output is lost, not the guest. */
		drop = dropped = 1;
		pend_len = 0;
		return -1;
	}
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	for (size_t off = 0; off < pend_len;) {
		ssize_t k = write(fds[1], buf + pend_off + off, pend_len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("pipe for the console's pending output", errno);
		off += k;
	}
	close(fds[1]);
	pend_len = 0;
	return fds[0];
}

static char *envvar(const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 2;
	char *s = malloc(n);
	if (s == NULL)
		die("allocate", ENOMEM);
	snprintf(s, n, "%s=%s", key, value);
	return s;
}

static int sfd = -1;
static sigset_t halts;
/* A halt the monitor started, on a halt signal: its signal and when. */
static int halt_sig;
static long long halt_ns;

/* Execs containerctl to act on event; it returns only for a signal event
 * with no signal left to read. */
static void resume(const char *event)
{
	extern char **environ;
	char ev[256], cons[64];
	snprintf(ev, sizeof ev, "%s", event);
	if (halt_sig != 0) {
		size_t l = strlen(ev);
		snprintf(ev + l, sizeof ev - l, "%shalt:%lld:%d", l > 0 ? ";" : "", halt_ns, halt_sig);
	}
	/* Every halt signal pending goes with the event, not into the
	 * containerctl that starts: its runtime unblocks them before it can
	 * catch them (resumeSigs in monitor_linux.go, as it initialises), and
	 * one would end it. SIGINT and SIGHUP that come later still, while it
	 * starts, are ignored (Go keeps an inherited SIG_IGN of those until it
	 * asks for them); a SIGTERM then ends it, and the container with it.
	 * That is why a halt signal does not bring containerctl back at once
	 * (on_signals): the guest halts meanwhile, and the further halt
	 * signals a stop brings (a unit's SIGTERM behind a user's SIGHUP)
	 * are the same request again. */
	struct signalfd_siginfo si;
	int is_sig = strcmp(ev, "signal:") == 0, nsig = 0;
	while (read(sfd, &si, sizeof si) == sizeof si) {
		size_t l = strlen(ev);
		if (l + 16 >= sizeof ev)
			break;
		/* Signals beside another event are acted on after it. */
		const char *sep = nsig > 0 ? "," : is_sig ? "" : ";signal:";
		snprintf(ev + l, sizeof ev - l, "%s%u", sep, si.ssi_signo);
		nsig++;
	}
	if (is_sig && nsig == 0)
		return; /* woken for nothing */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	int pending = pending_pipe();
	snprintf(cons, sizeof cons, "%s", dropped ? "dropped" : midline ? "midline" : "line");
	if (pending >= 0) {
		size_t l = strlen(cons);
		snprintf(cons + l, sizeof cons - l, ",pending:%d", pending);
	}
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 3, sizeof *env);
	if (env == NULL)
		die("allocate", ENOMEM);
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "_CONTAINERCTL_EVENT=", 20) != 0 &&
		    strncmp(environ[i], "_CONTAINERCTL_CONSOLE=", 22) != 0)
			env[j++] = environ[i];
	env[j++] = envvar("_CONTAINERCTL_EVENT", ev);
	env[j++] = envvar("_CONTAINERCTL_CONSOLE", cons);
	env[j] = NULL;
	/* The binary's fd is not for containerctl: an ELF runs from a
	 * close-on-exec fd. */
	if (fcntl(exe_fd, F_SETFD, FD_CLOEXEC) < 0)
		die("containerctl's binary", errno);
	/* No signal of ours stays blocked in containerctl (its runtime
	 * unblocks them anyway), or in what it starts again: the init child
	 * also clears its mask before it execs an init. */
	sigprocmask(SIG_UNBLOCK, &halts, NULL);
	syscall(SYS_execveat, exe_fd, "", go_argv, env, AT_EMPTY_PATH);
	die("exec containerctl", errno);
}

/* Tells the guest to halt: the kill signal to the init, by its pidfd. */
static void tell_halt(void)
{
	syscall(SYS_pidfd_send_signal, pidfd, kill_signal, NULL, 0);
}

/* Whether req is a stop or a restart exactly as containerctl writes one
 * (control_linux.go: json.Encoder of controlRequest, "op" first, the
 * timeout in nanoseconds when given, a restart always with a profile):
 * what the supervisor would refuse must not halt the guest. */
static int halt_request(const char *req)
{
	static const char stop[] = "{\"op\":\"stop\"", timeout[] = ",\"timeout\":", restart[] = "{\"op\":\"restart\",\"profile\":\"";
	if (strncmp(req, restart, strlen(restart)) == 0)
		return req[strlen(restart)] != '\0' && req[strlen(restart)] != '"';
	if (strncmp(req, stop, strlen(stop)) != 0)
		return 0;
	req += strlen(stop);
	if (strncmp(req, timeout, strlen(timeout)) == 0) {
		req += strlen(timeout);
		if (*req < '1' || *req > '9')
			return 0;
		while (*req >= '0' && *req <= '9')
			req++;
	}
	return strcmp(req, "}\n") == 0;
}

/* A stop or restart from containerctl halts the guest at once, while
 * containerctl starts again to answer it, as a halt signal does. The
 * request is only peeked at, for at most 2 ms: containerctl reads it
 * whole. Any other request, or one written otherwise, waits for
 * containerctl. */
static void early_halt(int conn)
{
	char req[256];
	struct pollfd p = { .fd = conn, .events = POLLIN };
	if (kill_signal <= 0 || poll(&p, 1, 2) <= 0)
		return;
	ssize_t k = recv(conn, req, sizeof req - 1, MSG_PEEK | MSG_DONTWAIT);
	if (k <= 0)
		return;
	req[k] = '\0';
	if (halt_request(req))
		tell_halt();
}

/* CLOCK_MONOTONIC, as containerctl reads it (a step of the wall clock
 * must not shorten or stretch a halt). */
static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* How long a halt the monitor started runs before containerctl takes it
 * over (its timeout, the resends, what it cannot halt): a second, when
 * most inits that obey have exited, or the stop timeout if shorter. */
static long long halt_alone_ns(void)
{
	long long ns = 1000000000LL;
	if (stop_timeout_ms >= 0 && (long long)stop_timeout_ms * 1000000LL < ns)
		ns = (long long)stop_timeout_ms * 1000000LL;
	return ns;
}

/* A halt signal: the first tells the guest to halt at once, and the
 * monitor waits for the init's exit, for containerctl to take the halt
 * over (halt_alone_ns), a control connection, or a SIGINT, which kills
 * (containerctl does that, for any SIGINT once a halt is under way, as it
 * does itself). Another SIGTERM or SIGHUP while halting is the same
 * request again. Without a kill signal, the signals go to containerctl as
 * before. */
static void on_signals(void)
{
	if (kill_signal <= 0) {
		resume("signal:"); /* the signals are read there */
		return;
	}
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == sizeof si) {
		if (halt_sig == 0) {
			halt_sig = si.ssi_signo;
			halt_ns = now_ns();
			tell_halt();
		} else if (si.ssi_signo == SIGINT) {
			resume("signal:2");
		}
	}
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	/* The supervisor blocked them before its exec: whatever came since is
	 * pending, and is read here. (SIGWINCH is not among them: with no
	 * terminal relayed there is nothing to resize, and its default is to
	 * ignore it.) */
	sigemptyset(&halts);
	sigaddset(&halts, SIGTERM);
	sigaddset(&halts, SIGINT);
	sigaddset(&halts, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &halts, NULL) < 0)
		die("block signals", errno);
	sfd = signalfd(-1, &halts, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd", errno);
	/* A stdout that went away fails the write with EPIPE (and drops the
	 * rest of the output) instead of ending the monitor; a handler, not
	 * SIG_IGN, so that the exec puts back the default. */
	struct sigaction sa = { .sa_handler = nothing };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	/* The init is our child and not reaped (the supervisor reaps only
	 * after it has decided not to hand off): its pidfd cannot fail but
	 * for want of resources. */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("watch the init", errno);
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	if (unknown != NULL) {
		/* A containerctl newer than this monitor: it goes on watching
		 * the container itself rather than be watched wrongly. */
		char ev[256];
		snprintf(ev, sizeof ev, "error:this containerctl-monitor does not know %s", unknown);
		resume(ev);
	}

	/* From here on only the loop below runs, for as long as the
	 * container does: the rest of the binary need not stay mapped. */
	dropcode();

	enum { P_INIT, P_SIG, P_CONTROL, P_NOTIFY, P_CONSOLE, P_OUT, NP };
	struct pollfd p[NP];
	for (;;) {
		p[P_INIT] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		p[P_SIG] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[P_CONTROL] = (struct pollfd){ .fd = control_fd, .events = POLLIN };
		p[P_NOTIFY] = (struct pollfd){ .fd = notify_fd, .events = POLLIN };
		/* The console is read only once what was read is written. */
		p[P_CONSOLE] = (struct pollfd){ .fd = pend_len == 0 ? console_fd : -1, .events = POLLIN };
		p[P_OUT] = (struct pollfd){ .fd = pend_len > 0 ? 1 : -1, .events = POLLOUT };
		int wait = -1;
		if (halt_sig != 0) {
			long long left = halt_ns + halt_alone_ns() - now_ns();
			/* Checked on every turn, not only when poll times out: a
			 * busy console must not hold the halt back. */
			if (left <= 0)
				resume(""); /* the halt goes on in containerctl */
			wait = (int)(left / 1000000) + 1;
		}
		if (poll(p, NP, wait) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", errno);
		}
		if (p[P_INIT].revents) {
			/* After a halt the monitor asked for, a stop often brings
			 * more signals than one (a user's, then a unit's): the exec
			 * waits until none has come for 2 ms (for 20 ms at most),
			 * taking them up, rather than let them reach containerctl
			 * as it starts. */
			struct signalfd_siginfo si;
			for (long long end = now_ns() + 20000000LL; halt_sig != 0 && now_ns() < end;) {
				struct pollfd q = { .fd = sfd, .events = POLLIN };
				if (poll(&q, 1, 2) <= 0)
					break;
				/* The container is over: nothing left to halt. */
				while (read(sfd, &si, sizeof si) == sizeof si)
					;
			}
			resume("exit");
		}
		if (p[P_SIG].revents)
			on_signals();
		if (p[P_CONTROL].revents) {
			/* Not close-on-exec: containerctl answers it. */
			int c = accept4(control_fd, NULL, NULL, 0);
			if (c >= 0) {
				early_halt(c);
				char ev[32];
				snprintf(ev, sizeof ev, "control:%d", c);
				resume(ev);
			}
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
				/* Out of fds or memory, say: containerctl watches
				 * the container itself from here on, as it does when
				 * it cannot hand off. */
				char ev[128];
				snprintf(ev, sizeof ev, "error:accept on the control socket: %s", strerror(errno));
				resume(ev);
			}
		}
		if (p[P_NOTIFY].revents) {
			/* The guest said READY=1 before the handoff; later
			 * messages (STATUS=, RELOADING=1, STOPPING=1) ask
			 * nothing of the supervisor. */
			char msg[4096];
			/* A bounded number each turn: a guest that sends
			 * without pause must not keep the rest waiting. */
			for (int i = 0; i < 64 && recv(notify_fd, msg, sizeof msg, MSG_DONTWAIT) >= 0; i++)
				;
		}
		if (p[P_CONSOLE].revents) {
			ssize_t k = read(console_fd, buf, sizeof buf);
			if (k > 0 && !drop) {
				pend_off = 0;
				pend_len = k;
			} else if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
				/* EIO: no slave open; the init's exit comes next. */
				console_fd = -1;
			}
		}
		if (p[P_OUT].revents)
			flush_some();
	}
}
