/* The planner: a pure function from a topology and a target to slot moves.
 * No I/O. Balanced to within one slot (by weight), minimal number of moves,
 * never moves a slot twice, deterministic (same input, same plan), drains
 * before it fills (moves off draining masters come first). */
#ifndef AUTOSHARD_PLANNER_H
#define AUTOSHARD_PLANNER_H

#include <stddef.h>

#include "topology.h"

struct plan_weight {
	char node_id[NODE_ID_LEN + 1];
	double weight; /* 0 (drain) or 0.001..1e6; used to 1/1000 so shares are
	                  computed exactly (integer largest remainder) */
};

struct plan_opts {
	int use_empty_masters;             /* masters with no slots take part */
	const struct plan_weight *weights; /* optional per-node weights (default 1) */
	size_t nweights;
	const char *const *drain_ids; /* masters to empty completely (weight 0);
	                                     they take part even when already empty */
	size_t ndrain;
	const char *const *exclude_ids; /* masters that must neither give nor receive
	                                     (e.g. failing); their slots stay put */
	size_t nexclude;
};

struct slot_move {
	int slot;
	int src; /* node index in the topology */
	int dst;
};

struct plan {
	struct slot_move *moves; /* owned; grouped by (src,dst) pair, slots ascending */
	size_t nmoves;
	int nmasters;      /* masters that take part */
	int *target_slots; /* owned; per topology node index: slots it should own after
	                            the plan (-1 for nodes not taking part) */
};

/* Compute the moves. Masters taking part: masters that own slots, plus empty
 * masters when use_empty_masters, plus drained masters, minus excluded;
 * drain_ids get weight 0 (whatever weights says). Ownership is read from
 * t->slot_owner. Each taking-part master's target is its largest-remainder
 * share of the slots the taking-part masters own now (floor or ceiling of
 * the exact weighted share, leftover slots to the largest remainders, ties
 * by node id ascending). Moves: exactly the sum of surpluses, no slot twice.
 * A source gives its longest runs first (the last one trimmed from its top
 * end) so each (src,dst) group is as few ranges as possible; sources are
 * paired with targets in order (weight-0 sources first, then by id; targets
 * by id), so all moves off weight-0 masters come first. The result depends
 * only on node ids, not on node order. Weights for masters not taking part
 * are ignored.
 * Errors (-1, err naming the node or input): unknown id in weights, drain or
 * exclude; a weight on a non-master, given twice, negative, NaN or out of
 * range; a drained node that is not a master or is excluded; all weights 0
 * while slots exist; uncovered slots ("slots not covered: fix coverage
 * first"); a slot owned by a non-master; duplicate node ids; a master taking
 * part that is FAIL, PFAIL or NOADDR (exclude it). On error *out is NULL.
 * Caller frees *out with plan_free (which accepts NULL). */
int plan_rebalance(const struct topology *t, const struct plan_opts *o, struct plan **out, char *err, size_t errlen);
void plan_free(struct plan *p);

/* How an open slot found in the cluster is resolved before any new move. */
enum fix_kind {
	FIX_FINISH,   /* migrate remaining keys src->dst, then SETSLOT NODE dst everywhere */
	FIX_ROLLBACK, /* SETSLOT STABLE on the nodes listed; slot stays with src */
	FIX_SETOWNER, /* dst owns it (by its keys or the views): dst claims it, then SETSLOT NODE dst on the others */
};

struct slot_fix {
	enum fix_kind kind;
	int slot;
	int src; /* owner before the interrupted move (index in the reference topology) */
	int dst;
};

/* views are the CLUSTER NODES replies of the masters that answered, in any
 * order; each is identified by its myself node and matched to ref by node id
 * (open states are read from the myself line of each view only). ref is the
 * topology whose node indices the fixes use (usually one of the views).
 * "Claims" below means: owns the slot in its own view.
 * Rules, per slot:
 *  - MIGRATING on the owner to T (with or without IMPORTING on T) -> FINISH;
 *  - IMPORTING on T, the owner not MIGRATING: T holding no keys -> ROLLBACK,
 *    T already holding keys -> FINISH (owner -> T), so no key is stranded;
 *  - two masters claim it: the one the other is MIGRATING to wins, else the
 *    only one holding keys, else the higher config epoch -> SETOWNER
 *    (src = loser, which must hold no keys);
 *  - one master claims it, the former owner's own view agrees, and some
 *    other view still names the former owner -> SETOWNER former -> claimer.
 * Anything else open (several importers, MIGRATING on a non-owner, three
 * claimers, both claimers holding keys, a peer not in ref, a view not in
 * ref, two views of one node) is an error naming the slot and nodes: fix by
 * hand. keys_in_slot(arg, ref_index, slot) is the one callback allowed to
 * look; it returns the key count or < 0 on failure (an error); it may be
 * NULL when no rule needs it. On success *out holds one fix per open slot,
 * sorted by slot (NULL when *nout is 0); caller frees *out with free(). */
typedef long long keys_in_slot_fn(void *arg, int node_index, int slot);
int plan_fix_open_slots(const struct topology *ref, const struct topology *const *views, size_t nviews,
			keys_in_slot_fn *keys_in_slot, void *arg, struct slot_fix **out, size_t *nout, char *err,
			size_t errlen);

#endif
