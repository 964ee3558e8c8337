/*
 * containerctl-reaper: what stays resident of a supervisor's reaper.
 *
 * A supervisor killed with SIGKILL cannot clean up after its container, so
 * each one that runs outside a unit starts a reaper (runtime/reaper_linux.go
 * says why and when). The reaper spends the container's whole life blocked
 * on one lock, and a Go process doing that costs some 0.9 MiB of memory per
 * container for nothing; this program costs a tenth of it. It does only
 * the wait: once it holds the lock, it execs containerctl, still holding
 * it, and the Go code decides whether anything is left and removes it.
 *
 *   containerctl-reaper DIR ID      (fd 3: containerctl's binary, read-only)
 *
 * It opens the record directory DIR and takes flock(LOCK_EX) on it, which
 * it gets only when the supervisor has let go (has exited, however). Then
 * it execs fd 3 as
 *
 *   containerctl reap --locked-fd=N DIR ID
 *
 * where N is the directory's fd, whose lock crosses the exec. The binary is
 * an fd and not a path, so that the cleanup is the supervisor's own
 * version even after an upgrade replaced the file. A record already gone,
 * as a supervisor that exited cleanly leaves it, means that there is
 * nothing to do, and containerctl is not started at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "../monitor/dropcode.h"

#define EXE_FD 3

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static void fail(const char *what)
{
	/* stderr is /dev/null under containerctl; kept for a run by hand. */
	fprintf(stderr, "containerctl-reaper: %s: %s\n", what, strerror(errno));
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3 || argv[1][0] != '/') {
		fprintf(stderr, "usage: containerctl-reaper DIR ID (containerctl starts it)\n");
		return 2;
	}
	/* Only the supervisor's end matters: signals meant for its session or
	 * its unit must not end the reaper first. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* Pin no mount of the caller's working directory for the
	 * container's lifetime. */
	if (chdir("/") < 0)
		fail("chdir /");
	int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dir < 0) {
		if (errno == ENOENT)
			return 0;
		fail("open the record");
	}
	/* The wait runs none of this program: only its end faults back in. */
	dropcode();
	while (flock(dir, LOCK_EX) < 0)
		if (errno != EINTR)
			fail("lock the record");
	/* A supervisor that exited cleanly removed its record before it let
	 * go of the lock: nothing is left, and containerctl need not start.
	 * A directory at DIR that is not ours is another run's record. */
	struct stat ours, now;
	if (fstat(dir, &ours) < 0)
		fail("stat the record");
	if (stat(argv[1], &now) < 0 || now.st_dev != ours.st_dev || now.st_ino != ours.st_ino)
		return 0;
	char fdarg[32];
	snprintf(fdarg, sizeof fdarg, "--locked-fd=%d", dir);
	char *args[] = { "containerctl", "reap", fdarg, argv[1], argv[2], NULL };
	char *env[] = { "GOMAXPROCS=1", NULL };
	/* The binary's fd is not for containerctl (an ELF runs from a
	 * close-on-exec fd); the signals stay ignored across the exec. */
	if (fcntl(EXE_FD, F_SETFD, FD_CLOEXEC) < 0)
		fail("containerctl's binary on fd 3");
	syscall(SYS_execveat, EXE_FD, "", args, env, AT_EMPTY_PATH);
	fail("exec containerctl");
	return 1;
}
