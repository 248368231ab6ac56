/* Starting and stopping local processes (local mode, and the sidecar's
 * supervision of valkey-server on PaaS). */
#ifndef AUTOSHARD_PROC_H
#define AUTOSHARD_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Start argv[0] (searched in PATH) in its own session with stdin from
 * /dev/null and stdout/stderr appended to logfile; write its pid to pidfile
 * (when not NULL). Returns the pid or -1 with err. */
pid_t proc_spawn(char *const argv[], const char *logfile, const char *pidfile, char *err, size_t errlen);
/* Pid from a pid file, or -1 (missing/garbage/not running). */
pid_t proc_read_pidfile(const char *pidfile);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; removes the pid file.
 * 0 if stopped or not running. */
int proc_stop_pidfile(const char *pidfile, int timeout_ms);
int proc_alive(pid_t pid);
/* Run argv to completion like proc_spawn (output appended to logfile) and
 * wait at most timeout_ms (then SIGKILL). Returns its exit status (0..255),
 * or -1 with err when it could not start, was killed, or timed out. */
int proc_run(char *const argv[], const char *logfile, int timeout_ms, char *err, size_t errlen);

#endif
