/* The reconciler: level-based. Input: the desired members (from a platform
 * source) and the live cluster. Each call does the next safe step and says
 * what it did; calling it again, or after kill -9 at any line, converges to
 * the same healthy state. It never runs FLUSHALL, never resets a master,
 * never re-creates a cluster that exists, and never touches a node that
 * belongs to another cluster or holds data outside a cluster. The one RESET
 * it sends goes to a member replica whose master keeps more than the wanted
 * replicas without it, when too few masters are left (its keys are a copy). */
#ifndef AUTOSHARD_RECONCILE_H
#define AUTOSHARD_RECONCILE_H

#include <stddef.h>

#include "health.h"
#include "members.h"
#include "migrator.h"

enum reconcile_result {
	RECONCILE_DONE = 0, /* healthy and shaped as desired: nothing to do */
	RECONCILE_PROGRESS, /* changed something; call again */
	RECONCILE_WAIT,     /* waiting on something outside (unreachable member, gossip) */
	RECONCILE_ERROR,    /* a step failed; retry later may help */
	RECONCILE_REFUSED,  /* permanent: foreign cluster, data outside a cluster, not cluster mode */
};

struct reconcile_opts {
	const char *password; /* borrowed; may be NULL */
	int replicas;         /* replicas per master */
	int timeout_ms;       /* per connect/command; default 2000 */
	int converge_ms;      /* how long one step waits for gossip to converge; default 10000 */
	int rebalance;        /* move slots (with keys) onto new masters and off leaving ones; default on */
	/* A master that failed for good (its address answers as a new node, or
	 * it is flagged FAIL and is no member) and has no replica to take over
	 * leaves slots nobody serves. With this set (ephemeral mode, or after
	 * the user adopted a smaller clone) those slots are given to a member
	 * master, empty, and the dead id is forgotten everywhere; without it the
	 * reconciler waits and says why. Default off: persistent data may come back. */
	int reassign_lost_slots;
	struct migrator_opts migrate; /* password is filled from above */
	/* Called with a one-line description of each action before it is done. */
	void (*on_action)(const char *what, void *arg);
	void *action_arg;
};

void reconcile_opts_init(struct reconcile_opts *o);

/* One step. msg gets a one-line summary (what was done, or why waiting/failed). */
enum reconcile_result reconcile_step(const struct member_list *members, const struct reconcile_opts *o, char *msg,
				     size_t msglen);

/* Call reconcile_step until DONE, REFUSED, or deadline_ms passes; between
 * steps that made no progress it pauses briefly. Returns the last result. */
enum reconcile_result reconcile_until_done(const struct member_list *members, const struct reconcile_opts *o,
					   int deadline_ms, char *msg, size_t msglen);

const char *reconcile_result_str(enum reconcile_result r);

#endif
