/* Executing a plan: slot moves and open-slot fixes from the planner, turned
 * into migrator tasks against the live masters of a reference topology. */
#ifndef AUTOSHARD_REBALANCE_H
#define AUTOSHARD_REBALANCE_H

#include <stddef.h>

#include "migrator.h"
#include "planner.h"
#include "topology.h"

/* Fixes run first, then moves. Node indices in moves/fixes are indices of ref.
 * Every live master of ref (not fail/noaddr/handshake) is told each new owner.
 * 0 on success; -1 with err (see migrator_run). */
int rebalance_execute(const struct topology *ref, const struct slot_move *moves, size_t nmoves,
		      const struct slot_fix *fixes, size_t nfixes, const struct migrator_opts *mo,
		      struct migrator_stats *st, char *err, size_t errlen);

#endif
