/* The engine run of one cluster in a child process, so the controller's event
 * loop (Lease renewals, watches) never blocks while slots move.
 *
 * engine_start forks; the child runs reconcile_until_done on the member list,
 * then reads the resulting shape, and writes lines to a pipe:
 *   "progress SLOTS_DONE SLOTS_TOTAL KEYS PHASE"   (while keys move)
 *   "result CODE MASTERS REPLICAS SLOTS MESSAGE"   (once, last)
 * The parent reads them through the event loop. The child dies with the
 * parent (PR_SET_PDEATHSIG); engine_kill sends SIGKILL: the engine is safe
 * against kill -9 at any point, the next run finishes what was open. */
#ifndef AUTOSHARD_CONTROLLER_ENGINE_H
#define AUTOSHARD_CONTROLLER_ENGINE_H

#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"
#include "members.h"
#include "reconcile.h"

#define ENGINE_LINE_MAX 2048

struct engine_report {
	enum reconcile_result result; /* RECONCILE_ERROR when the child died without a result */
	int masters, replicas, slots; /* -1 unknown */
	char msg[1024];
};

struct engine_progress {
	long long slots_done, slots_total, keys;
	char phase[32];
};

struct engine_opts {
	const char *password;    /* borrowed, may be NULL; only the child uses it */
	int replicas;            /* per master */
	int reassign_lost_slots; /* ephemeral mode */
	int deadline_ms;         /* reconcile_until_done's deadline */
	void (*on_progress)(const struct engine_progress *p, void *arg);
	/* Called once; the run is freed after it returns. */
	void (*on_done)(const struct engine_report *r, void *arg);
	void *arg;
};

struct engine_run;

/* members is borrowed (copied into the child). Caller ends the run with
 * engine_kill or lets it finish (on_done). NULL with err on fork/pipe failure. */
struct engine_run *engine_start(struct evloop *loop, const struct member_list *members, const struct engine_opts *o,
				char *err, size_t errlen);
pid_t engine_pid(const struct engine_run *r);
/* SIGKILL the child, reap it, free the run; on_done is not called. Accepts NULL. */
void engine_kill(struct engine_run *r);

/* Parse one line of the child's output (pure). Returns 1 for a progress line
 * (p filled), 2 for a result line (r filled), -1 for anything else. */
int engine_parse_line(const char *line, struct engine_progress *p, struct engine_report *r);

#endif
