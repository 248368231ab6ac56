/* The event loop: epoll for file events, a binary min-heap for timers.
 *
 * File events are level-triggered; one callback per fd gets the mask of the
 * watched events that fired (EPOLLERR/EPOLLHUP are reported as whatever the fd
 * watches, so the owner's read or write finds the error).
 *
 * Timers live in a slab (array of records, free list) and a heap of slab
 * indices ordered by (when, seq). A timer id packs the slab index and a
 * generation number, so evloop_del_timer is O(log n), a stale id (a timer that
 * already fired and was deleted) is ignored, and ids are never reused in
 * practice. A timer added while timers are being processed never fires in that
 * same pass, so a callback that keeps adding 0 ms timers cannot starve I/O. */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

#define EV_MAX_EVENTS 256
#define TIMER_FREE (-1)    /* heap_pos of a free slab record */
#define TIMER_RUNNING (-2) /* heap_pos while its callback runs */

struct ev_file {
	int mask; /* EV_READABLE | EV_WRITABLE, 0 when unused */
	ev_file_cb *cb;
	void *arg;
};

struct ev_timer {
	int64_t when;  /* monotonic ms */
	uint64_t seq;  /* creation order; ties and same-pass guard */
	uint32_t gen;  /* bumped on free; part of the id */
	int heap_pos;  /* index in heap, TIMER_FREE or TIMER_RUNNING */
	int deleted;   /* deleted by its own callback while running */
	int next_free; /* free list link (slab index), -1 ends */
	ev_timer_cb *cb;
	void *arg;
};

struct evloop {
	int epfd;
	struct ev_file *files; /* indexed by fd */
	int nfiles;            /* capacity of files */

	struct ev_timer *timers; /* slab */
	int ntimers;             /* capacity of the slab */
	int free_head;           /* first free slab record, -1 none */
	int *heap;               /* slab indices, min-heap on (when, seq) */
	int heap_len;
	uint64_t next_seq;

	int stop;
	struct epoll_event events[EV_MAX_EVENTS];
};

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->free_head = -1;
	loop->next_seq = 1;
	return loop;
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->files);
	free(loop->timers);
	free(loop->heap);
	free(loop);
}

/* ---- file events ---- */

static int files_reserve(struct evloop *loop, int fd)
{
	struct ev_file *nf;
	int n;

	if (fd < loop->nfiles)
		return 0;
	n = loop->nfiles ? loop->nfiles : 64;
	while (n <= fd)
		n *= 2;
	nf = realloc(loop->files, (size_t)n * sizeof(*nf));
	if (!nf)
		return -1;
	memset(nf + loop->nfiles, 0, (size_t)(n - loop->nfiles) * sizeof(*nf));
	loop->files = nf;
	loop->nfiles = n;
	return 0;
}

static uint32_t epoll_mask(int mask)
{
	uint32_t e = 0;

	if (mask & EV_READABLE)
		e |= EPOLLIN;
	if (mask & EV_WRITABLE)
		e |= EPOLLOUT;
	return e;
}

int evloop_add_file(struct evloop *loop, int fd, int mask, ev_file_cb *cb, void *arg)
{
	struct epoll_event ee;
	struct ev_file *f;
	int newmask;

	if (fd < 0 || !cb || (mask & ~(EV_READABLE | EV_WRITABLE)) || files_reserve(loop, fd) < 0)
		return -1;
	f = &loop->files[fd];
	newmask = f->mask | mask;
	if (newmask != f->mask) {
		memset(&ee, 0, sizeof(ee));
		ee.events = epoll_mask(newmask);
		ee.data.fd = fd;
		if (epoll_ctl(loop->epfd, f->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ee) < 0)
			return -1;
	}
	f->mask = newmask;
	f->cb = cb;
	f->arg = arg;
	return 0;
}

void evloop_del_file(struct evloop *loop, int fd, int mask)
{
	struct epoll_event ee;
	struct ev_file *f;
	int newmask;

	if (fd < 0 || fd >= loop->nfiles)
		return;
	f = &loop->files[fd];
	if (!f->mask)
		return;
	newmask = f->mask & ~mask;
	if (newmask == f->mask)
		return;
	memset(&ee, 0, sizeof(ee));
	ee.events = epoll_mask(newmask);
	ee.data.fd = fd;
	/* Errors are ignored: the fd may already be closed by its owner. */
	(void)epoll_ctl(loop->epfd, newmask ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, fd, &ee);
	f->mask = newmask;
	if (!newmask) {
		f->cb = NULL;
		f->arg = NULL;
	}
}

/* ---- timers ---- */

static int timer_less(const struct evloop *loop, int a, int b)
{
	const struct ev_timer *ta = &loop->timers[a], *tb = &loop->timers[b];

	return ta->when < tb->when || (ta->when == tb->when && ta->seq < tb->seq);
}

static void heap_set(struct evloop *loop, int pos, int idx)
{
	loop->heap[pos] = idx;
	loop->timers[idx].heap_pos = pos;
}

static void heap_up(struct evloop *loop, int pos)
{
	int idx = loop->heap[pos];

	while (pos > 0) {
		int parent = (pos - 1) / 2;

		if (!timer_less(loop, idx, loop->heap[parent]))
			break;
		heap_set(loop, pos, loop->heap[parent]);
		pos = parent;
	}
	heap_set(loop, pos, idx);
}

static void heap_down(struct evloop *loop, int pos)
{
	int idx = loop->heap[pos];

	for (;;) {
		int child = 2 * pos + 1;

		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && timer_less(loop, loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_less(loop, loop->heap[child], idx))
			break;
		heap_set(loop, pos, loop->heap[child]);
		pos = child;
	}
	heap_set(loop, pos, idx);
}

static void heap_push(struct evloop *loop, int idx)
{
	int pos = loop->heap_len++;

	loop->heap[pos] = idx;
	heap_up(loop, pos);
}

static void heap_remove(struct evloop *loop, int pos)
{
	int last = loop->heap[--loop->heap_len];

	if (pos == loop->heap_len)
		return;
	heap_set(loop, pos, last);
	if (pos > 0 && timer_less(loop, last, loop->heap[(pos - 1) / 2]))
		heap_up(loop, pos);
	else
		heap_down(loop, pos);
}

static int64_t timer_id(const struct evloop *loop, int idx)
{
	return ((int64_t)loop->timers[idx].gen << 32) | (int64_t)(idx + 1);
}

/* Slab index for id, or -1 if the id is not a live timer. */
static int timer_lookup(const struct evloop *loop, int64_t id)
{
	int64_t idx = (id & 0xffffffff) - 1;

	if (id <= 0 || idx < 0 || idx >= loop->ntimers)
		return -1;
	if (loop->timers[idx].heap_pos == TIMER_FREE || timer_id(loop, (int)idx) != id)
		return -1;
	return (int)idx;
}

static void timer_release(struct evloop *loop, int idx)
{
	struct ev_timer *t = &loop->timers[idx];

	t->heap_pos = TIMER_FREE;
	t->gen = (t->gen + 1) & 0x7fffffff;
	if (t->gen == 0)
		t->gen = 1;
	t->cb = NULL;
	t->arg = NULL;
	t->next_free = loop->free_head;
	loop->free_head = idx;
}

static int timers_reserve(struct evloop *loop)
{
	struct ev_timer *nt;
	int *nh, n, i;

	if (loop->free_head >= 0)
		return 0;
	n = loop->ntimers ? loop->ntimers * 2 : 16;
	if (n > (1 << 30))
		return -1;
	nt = realloc(loop->timers, (size_t)n * sizeof(*nt));
	if (!nt)
		return -1;
	loop->timers = nt;
	nh = realloc(loop->heap, (size_t)n * sizeof(*nh));
	if (!nh)
		return -1; /* timers grew, heap did not: ntimers unchanged, still consistent */
	loop->heap = nh;
	for (i = n - 1; i >= loop->ntimers; i--) {
		memset(&nt[i], 0, sizeof(nt[i]));
		nt[i].gen = 1;
		nt[i].heap_pos = TIMER_FREE;
		nt[i].next_free = loop->free_head;
		loop->free_head = i;
	}
	loop->ntimers = n;
	return 0;
}

int64_t evloop_add_timer(struct evloop *loop, int64_t ms, ev_timer_cb *cb, void *arg)
{
	struct ev_timer *t;
	int idx;

	if (!cb || timers_reserve(loop) < 0)
		return -1;
	idx = loop->free_head;
	t = &loop->timers[idx];
	loop->free_head = t->next_free;
	t->when = now_ms() + (ms > 0 ? ms : 0);
	t->seq = loop->next_seq++;
	t->deleted = 0;
	t->cb = cb;
	t->arg = arg;
	heap_push(loop, idx);
	return timer_id(loop, idx);
}

void evloop_del_timer(struct evloop *loop, int64_t id)
{
	int idx = timer_lookup(loop, id);

	if (idx < 0)
		return;
	if (loop->timers[idx].heap_pos == TIMER_RUNNING) {
		loop->timers[idx].deleted = 1; /* freed when its callback returns */
		return;
	}
	heap_remove(loop, loop->timers[idx].heap_pos);
	timer_release(loop, idx);
}

/* Fire every timer due at now that existed before this pass began. */
static void process_timers(struct evloop *loop)
{
	uint64_t pass_seq = loop->next_seq;
	int64_t now = now_ms();

	while (loop->heap_len > 0) {
		int idx = loop->heap[0];
		struct ev_timer *t = &loop->timers[idx];
		int64_t again;

		if (t->when > now || t->seq >= pass_seq)
			break;
		heap_remove(loop, 0);
		t->heap_pos = TIMER_RUNNING;
		again = t->cb(loop, timer_id(loop, idx), t->arg);
		t = &loop->timers[idx]; /* the slab may have moved */
		if (t->deleted || again <= 0) {
			timer_release(loop, idx);
		} else {
			t->when = now_ms() + again;
			t->seq = loop->next_seq++;
			heap_push(loop, idx);
		}
	}
}

/* ---- running ---- */

int evloop_run_once(struct evloop *loop, int max_wait_ms)
{
	int timeout = max_wait_ms, n, i;

	if (loop->heap_len > 0) {
		int64_t until = loop->timers[loop->heap[0]].when - now_ms();

		if (until < 0)
			until = 0;
		if (timeout < 0 || until < timeout)
			timeout = until > 0x7fffffff ? 0x7fffffff : (int)until;
	}
	n = epoll_wait(loop->epfd, loop->events, EV_MAX_EVENTS, timeout);
	if (n < 0 && errno != EINTR)
		return -1;
	for (i = 0; i < n; i++) {
		int fd = loop->events[i].data.fd;
		uint32_t e = loop->events[i].events;
		struct ev_file *f;
		int fired = 0;

		if (fd < 0 || fd >= loop->nfiles)
			continue;
		f = &loop->files[fd];
		if (e & EPOLLIN)
			fired |= EV_READABLE;
		if (e & EPOLLOUT)
			fired |= EV_WRITABLE;
		if (e & (EPOLLERR | EPOLLHUP))
			fired |= EV_READABLE | EV_WRITABLE;
		/* A callback earlier in this batch may have removed the fd. */
		fired &= f->mask;
		if (fired && f->cb)
			f->cb(loop, fd, fired, f->arg);
	}
	process_timers(loop);
	return n > 0 ? n : 0;
}

int evloop_run(struct evloop *loop)
{
	loop->stop = 0;
	while (!loop->stop) {
		if (evloop_run_once(loop, -1) < 0)
			return -1;
	}
	loop->stop = 0;
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = 1;
}
