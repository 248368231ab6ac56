#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

pid_t proc_spawn(char *const argv[], const char *logfile, const char *pidfile, char *err, size_t errlen)
{
	int pfd[2];
	pid_t pid;
	int child_errno = 0;
	ssize_t n;

	if (pipe(pfd) < 0)
		return seterr(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return seterr(err, errlen, "%s: fork: %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = logfile ? open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600) : open("/dev/null", O_WRONLY);
		close(pfd[0]);
		setsid();
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
			child_errno = errno;
			goto child_fail;
		}
		if (in > 2)
			close(in);
		if (out > 2)
			close(out);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		child_errno = errno;
child_fail:
		(void)!write(pfd[1], &child_errno, sizeof(child_errno));
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		return seterr(err, errlen, "%s: cannot start: %s", argv[0], strerror(child_errno));
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
			kill(pid, SIGKILL);
			return seterr(err, errlen, "pid file %s: %s", pidfile, strerror(errno));
		}
	}
	return pid;
}

int proc_alive(pid_t pid)
{
	int st;

	if (pid <= 0)
		return 0;
	/* Reap our own child if it has exited; otherwise ask the kernel. */
	if (waitpid(pid, &st, WNOHANG) == pid)
		return 0;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return 0;
	/* A zombie nobody reaps (PID 1 in a container may not) is dead too. */
	{
		char path[64], buf[256];
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			char *rp;
			fclose(f);
			buf[n] = '\0';
			rp = strrchr(buf, ')');
			if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
				return 0;
		}
	}
	return 1;
}

pid_t proc_read_pidfile(const char *pidfile)
{
	FILE *f = fopen(pidfile, "r");
	long long v = 0;
	char buf[32] = "";

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (parse_int(buf, 1, 4194304, &v) < 0)
		return -1;
	return (pid_t)v;
}

int proc_stop_pidfile(const char *pidfile, int timeout_ms)
{
	pid_t pid = proc_read_pidfile(pidfile);
	int64_t end;

	if (pid > 0 && proc_alive(pid)) {
		kill(pid, SIGTERM);
		end = now_ms() + timeout_ms;
		while (proc_alive(pid) && now_ms() < end)
			sleep_ms(20);
		if (proc_alive(pid)) {
			kill(pid, SIGKILL);
			end = now_ms() + 2000;
			while (proc_alive(pid) && now_ms() < end)
				sleep_ms(20);
		}
	}
	unlink(pidfile);
	return 0;
}

int proc_run(char *const argv[], const char *logfile, int timeout_ms, char *err, size_t errlen)
{
	pid_t pid = proc_spawn(argv, logfile, NULL, err, errlen);
	int64_t end = now_ms() + timeout_ms;
	int st;

	if (pid < 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return seterr(err, errlen, "%s: wait: %s", argv[0], strerror(errno));
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return seterr(err, errlen, "%s: did not finish within %d ms", argv[0], timeout_ms);
		}
		sleep_ms(10);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return seterr(err, errlen, "%s: killed by signal %d", argv[0], WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
