/* hiredis async adapter for evloop: hiredis asks for read/write interest
 * through ev.addRead/delRead/addWrite/delWrite and tears down through
 * ev.cleanup; we map those onto one evloop file event per connection. */
#include "redis_ev.h"

#include <stdio.h>
#include <stdlib.h>

#include "resp_cap.h"

struct redis_ev {
	struct evloop *loop;
	redisAsyncContext *ac;
	int fd;
	int mask;   /* what we asked evloop to watch */
	int *freed; /* set to 1 by cleanup while on_io runs */
};

/* What hiredis does on a read error, for a reply that can no longer fit the
 * caps (resp_cap.h): every pending callback gets NULL with errstr naming
 * the caps, then the disconnect callback; the context is freed. */
static void fail_over_cap(redisAsyncContext *ac)
{
	ac->c.err = REDIS_ERR_PROTOCOL;
	snprintf(ac->c.errstr, sizeof(ac->c.errstr), "%s", RESP_OVER_CAP);
	ac->err = ac->c.err;
	ac->errstr = ac->c.errstr;
	redisAsyncFree(ac);
}

static void on_io(struct evloop *loop, int fd, int mask, void *arg)
{
	struct redis_ev *r = arg;
	int freed = 0;

	(void)loop;
	(void)fd;
	/* A read may run reply callbacks that free the context (and r with
	 * it); the flag tells us not to touch r afterwards. */
	r->freed = &freed;
	if (mask & EV_READABLE)
		redisAsyncHandleRead(r->ac);
	if (freed)
		return;
	if ((mask & EV_READABLE) && resp_reader_over_cap(r->ac->c.reader)) {
		fail_over_cap(r->ac); /* frees the context, r with it */
		return;
	}
	if ((mask & EV_WRITABLE) && (r->mask & EV_WRITABLE))
		redisAsyncHandleWrite(r->ac);
	if (freed)
		return;
	r->freed = NULL;
}

static void watch(struct redis_ev *r, int mask)
{
	if ((r->mask & mask) == mask)
		return;
	/* On failure (out of memory) hiredis would wait forever; the caller's
	 * command timeout catches that. */
	if (evloop_add_file(r->loop, r->fd, mask, on_io, r) == 0)
		r->mask |= mask;
}

static void unwatch(struct redis_ev *r, int mask)
{
	if (!(r->mask & mask))
		return;
	evloop_del_file(r->loop, r->fd, mask);
	r->mask &= ~mask;
}

static void add_read(void *privdata)
{
	watch(privdata, EV_READABLE);
}

static void del_read(void *privdata)
{
	unwatch(privdata, EV_READABLE);
}

static void add_write(void *privdata)
{
	watch(privdata, EV_WRITABLE);
}

static void del_write(void *privdata)
{
	unwatch(privdata, EV_WRITABLE);
}

static void cleanup(void *privdata)
{
	struct redis_ev *r = privdata;

	unwatch(r, EV_READABLE | EV_WRITABLE);
	if (r->freed)
		*r->freed = 1;
	free(r);
}

int redis_ev_attach(struct evloop *loop, redisAsyncContext *ac)
{
	struct redis_ev *r;

	if (!loop || !ac || ac->ev.data)
		return -1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->loop = loop;
	r->ac = ac;
	r->fd = ac->c.fd;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = r;
	/* Commands issued before attaching already asked for nothing; make
	 * sure a pending connect gets noticed. */
	watch(r, EV_WRITABLE);
	return 0;
}
