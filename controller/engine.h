/* The engine run of one cluster in a child process, so the controller's event
 * loop (Lease renewals, watches) never blocks while slots move.
 *
 * engine_start forks; the child runs reconcile_until_done on the member list,
 * then reads the resulting shape, and writes lines to a pipe:
 *   "progress SLOTS_DONE SLOTS_TOTAL KEYS PHASE"   (while keys move)
 *   "map begin", "node ID ADDR ROLE MASTER|- STATE NSLOTS"..., "slots ID
 *   A-B C ..."... (chunked), "keys N", "map end"  (the slot map, twice a second
 *   while slots move, and last)
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

/* The cluster as the engine last read it: nodes and who owns each slot. */
struct engine_node {
	char id[41];
	char addr[72];   /* ip:port */
	char role[8];    /* master | replica */
	char master[41]; /* a replica's master id, "" otherwise */
	char state[12];  /* ok | pfail | fail | handshake | noaddr */
	int nslots;
};
struct engine_map {
	struct engine_node *nodes;
	size_t n, cap;
	int16_t owner[16384]; /* index in nodes, -1 none */
	long long keys;       /* keys summed over the masters, -1 unknown */
	int64_t at_ms;        /* when it was read (parent's clock) */
};
void engine_map_free(struct engine_map *m);

struct engine_opts {
	const char *password;    /* borrowed, may be NULL; only the child uses it */
	int replicas;            /* per master */
	int reassign_lost_slots; /* ephemeral mode */
	int deadline_ms;         /* reconcile_until_done's deadline */
	void (*on_progress)(const struct engine_progress *p, void *arg);
	/* A fresh slot map (twice a second while slots move, and at the
	 * end); the callee takes ownership (engine_map_free). May be NULL. */
	void (*on_map)(struct engine_map *m, void *arg);
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
/* Feed one map line ("map begin", "node ...", "slots ...", "map end") into
 * *pending (allocated at "map begin"). Returns 1 when "map end" completed
 * *pending (the caller takes it), 0 for an accepted line, -1 for a malformed
 * one (the pending map is dropped). Pure. */
int engine_map_line(const char *line, struct engine_map **pending);

#endif
