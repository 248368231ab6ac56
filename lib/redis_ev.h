/* hiredis async adapter for the autoshard event loop (evloop.h). hiredis
 * 0.14 has no async timeouts: callers keep their own timers (see migrator.c).
 * hiredis writes with write(2), so the program must ignore SIGPIPE (main does
 * signal(SIGPIPE, SIG_IGN); a library never changes signal dispositions). */
#ifndef AUTOSHARD_REDIS_EV_H
#define AUTOSHARD_REDIS_EV_H

#include <hiredis/async.h>

#include "evloop.h"

/* Attach ac (just created by redisAsyncConnect*, not yet attached) to loop.
 * The adapter state is freed by hiredis's cleanup hook when ac is freed
 * (redisAsyncFree, redisAsyncDisconnect, or a connection error).
 * Returns 0, or -1 if ac is already attached or out of memory. */
int redis_ev_attach(struct evloop *loop, redisAsyncContext *ac);

#endif
