/* One event loop per process (after Valkey's ae.c): file events on epoll and
 * millisecond timers. Every library plugs into it: hiredis async (redis_ev.h),
 * the HTTP client and libwebsockets. Periodic work is a timer, never a sleep. */
#ifndef AUTOSHARD_EVLOOP_H
#define AUTOSHARD_EVLOOP_H

#include <stdint.h>

#define EV_READABLE 1
#define EV_WRITABLE 2

struct evloop;
typedef void ev_file_cb(struct evloop *loop, int fd, int mask, void *arg);
/* Return >0 to re-arm the timer after that many ms, or 0 to delete it. */
typedef int64_t ev_timer_cb(struct evloop *loop, int64_t id, void *arg);

/* Caller frees with evloop_free. NULL on allocation failure. */
struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);

/* Add mask to the events watched on fd; cb/arg replace earlier ones for fd. */
int evloop_add_file(struct evloop *loop, int fd, int mask, ev_file_cb *cb, void *arg);
void evloop_del_file(struct evloop *loop, int fd, int mask);

/* Returns a timer id > 0, or -1. */
int64_t evloop_add_timer(struct evloop *loop, int64_t ms, ev_timer_cb *cb, void *arg);
void evloop_del_timer(struct evloop *loop, int64_t id);

/* Run until evloop_stop; returns 0. */
int evloop_run(struct evloop *loop);
/* Run one iteration, waiting at most max_wait_ms (-1: until an event or timer). */
int evloop_run_once(struct evloop *loop, int max_wait_ms);
void evloop_stop(struct evloop *loop);

#endif
