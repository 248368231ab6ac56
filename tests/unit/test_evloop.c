/* evloop: timers fire in order, re-arm, delete (also from their own callback);
 * file events on a pipe; run_once honours its timeout. */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "testlib.h"
#include "util.h"

struct order {
	int seen[16];
	int n;
};

struct tarm {
	struct order *order;
	int tag;
};

static int64_t record_cb(struct evloop *loop, int64_t id, void *arg)
{
	struct tarm *t = arg;

	(void)loop;
	(void)id;
	if (t->order->n < 16)
		t->order->seen[t->order->n++] = t->tag;
	return 0;
}

static void run_for(struct evloop *loop, int ms)
{
	int64_t until = now_ms() + ms;

	while (now_ms() < until)
		evloop_run_once(loop, 5);
}

static void test_timer_order(void)
{
	struct evloop *loop = evloop_new();
	struct order o = {{0}, 0};
	struct tarm a = {&o, 1}, b = {&o, 2}, c = {&o, 3}, d = {&o, 4};
	int64_t ida, idb, idc, idd;

	CHECK(loop != NULL);
	/* Added out of order; d has the same deadline as b and comes later. */
	idc = evloop_add_timer(loop, 30, record_cb, &c);
	ida = evloop_add_timer(loop, 10, record_cb, &a);
	idb = evloop_add_timer(loop, 20, record_cb, &b);
	idd = evloop_add_timer(loop, 20, record_cb, &d);
	CHECK(ida > 0 && idb > 0 && idc > 0 && idd > 0);
	CHECK(ida != idb && idb != idc && idc != idd);
	run_for(loop, 60);
	CHECK(o.n == 4);
	CHECK(o.seen[0] == 1);
	CHECK(o.seen[1] == 2);
	CHECK(o.seen[2] == 4);
	CHECK(o.seen[3] == 3);
	/* Deleting a fired (freed) timer is a no-op; its id is stale. */
	evloop_del_timer(loop, ida);
	evloop_del_timer(loop, -5);
	evloop_del_timer(loop, 0);
	evloop_free(loop);
}

static void test_timer_delete(void)
{
	struct evloop *loop = evloop_new();
	struct order o = {{0}, 0};
	struct tarm a = {&o, 1}, b = {&o, 2}, c = {&o, 3};
	int64_t ida, idb;

	ida = evloop_add_timer(loop, 10, record_cb, &a);
	idb = evloop_add_timer(loop, 15, record_cb, &b);
	evloop_add_timer(loop, 20, record_cb, &c);
	evloop_del_timer(loop, idb);
	evloop_del_timer(loop, idb); /* twice: harmless */
	run_for(loop, 50);
	CHECK(o.n == 2);
	CHECK(o.seen[0] == 1 && o.seen[1] == 3);
	/* The freed slot is reused with a new id; the old id does not delete it. */
	idb = evloop_add_timer(loop, 10, record_cb, &b);
	CHECK(idb != ida);
	evloop_del_timer(loop, ida);
	run_for(loop, 30);
	CHECK(o.n == 3 && o.seen[2] == 2);
	evloop_free(loop);
}

struct rearm {
	int fired;
	int limit;
	int64_t first_ms, last_ms;
};

static int64_t rearm_cb(struct evloop *loop, int64_t id, void *arg)
{
	struct rearm *r = arg;

	(void)loop;
	(void)id;
	if (r->fired == 0)
		r->first_ms = now_ms();
	r->last_ms = now_ms();
	return ++r->fired < r->limit ? 5 : 0;
}

static void test_timer_rearm(void)
{
	struct evloop *loop = evloop_new();
	struct rearm r = {0, 5, 0, 0};

	evloop_add_timer(loop, 5, rearm_cb, &r);
	run_for(loop, 100);
	CHECK(r.fired == 5);
	CHECK(r.last_ms - r.first_ms >= 20); /* 4 re-arms of 5 ms */
	evloop_free(loop);
}

struct selfdel {
	int64_t id;
	int fired;
};

static int64_t selfdel_cb(struct evloop *loop, int64_t id, void *arg)
{
	struct selfdel *s = arg;

	s->fired++;
	CHECK(id == s->id);
	evloop_del_timer(loop, id);
	return 5; /* ignored: deleted above */
}

/* A 0 ms timer added from a timer callback must not fire in the same pass. */
static int64_t adder_cb(struct evloop *loop, int64_t id, void *arg)
{
	int *count = arg;

	(void)id;
	if (++*count < 1000)
		evloop_add_timer(loop, 0, adder_cb, count);
	return 0;
}

static void test_timer_self_delete(void)
{
	struct evloop *loop = evloop_new();
	struct selfdel s = {0, 0};
	int count = 0;

	s.id = evloop_add_timer(loop, 1, selfdel_cb, &s);
	run_for(loop, 30);
	CHECK(s.fired == 1);

	evloop_add_timer(loop, 0, adder_cb, &count);
	evloop_run_once(loop, 0);
	CHECK(count == 1);
	evloop_run_once(loop, 0);
	CHECK(count == 2);
	evloop_free(loop);
}

struct pipe_state {
	int reads, writes;
	char buf[64];
	size_t got;
	int write_fd;
};

static void pipe_read_cb(struct evloop *loop, int fd, int mask, void *arg)
{
	struct pipe_state *p = arg;
	ssize_t n;

	(void)loop;
	CHECK(mask & EV_READABLE);
	p->reads++;
	n = read(fd, p->buf + p->got, sizeof(p->buf) - 1 - p->got);
	if (n > 0)
		p->got += (size_t)n;
	p->buf[p->got] = '\0';
}

static void pipe_write_cb(struct evloop *loop, int fd, int mask, void *arg)
{
	struct pipe_state *p = arg;

	CHECK(mask == EV_WRITABLE);
	p->writes++;
	CHECK(write(fd, "hello", 5) == 5);
	evloop_del_file(loop, fd, EV_WRITABLE);
}

static void test_pipe_events(void)
{
	struct evloop *loop = evloop_new();
	struct pipe_state p;
	int fds[2];
	int64_t t0;
	int i;

	memset(&p, 0, sizeof(p));
	CHECK(pipe(fds) == 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	CHECK(evloop_add_file(loop, fds[0], EV_READABLE, pipe_read_cb, &p) == 0);
	CHECK(evloop_add_file(loop, fds[1], EV_WRITABLE, pipe_write_cb, &p) == 0);
	CHECK(evloop_add_file(loop, -1, EV_READABLE, pipe_read_cb, &p) == -1);

	for (i = 0; i < 10 && p.got < 5; i++)
		evloop_run_once(loop, 50);
	CHECK(p.writes == 1);
	CHECK(p.reads >= 1);
	CHECK(strcmp(p.buf, "hello") == 0);

	/* Write interest removed and nothing to read: run_once times out. */
	t0 = now_ms();
	CHECK(evloop_run_once(loop, 30) == 0);
	CHECK(now_ms() - t0 >= 25);
	CHECK(p.writes == 1);

	/* Data written outside the loop is seen. */
	CHECK(write(fds[1], "xy", 2) == 2);
	CHECK(evloop_run_once(loop, 100) == 1);
	CHECK(strcmp(p.buf, "helloxy") == 0);

	/* After del_file no callback fires, even with data pending. */
	evloop_del_file(loop, fds[0], EV_READABLE);
	CHECK(write(fds[1], "z", 1) == 1);
	i = p.reads;
	evloop_run_once(loop, 20);
	CHECK(p.reads == i);

	/* A hung-up writer shows as readable (EOF) to the reader. */
	CHECK(evloop_add_file(loop, fds[0], EV_READABLE, pipe_read_cb, &p) == 0);
	close(fds[1]);
	evloop_run_once(loop, 100);
	CHECK(p.reads == i + 1);
	evloop_del_file(loop, fds[0], EV_READABLE);
	close(fds[0]);
	evloop_free(loop);
}

static int64_t stop_cb(struct evloop *loop, int64_t id, void *arg)
{
	int *n = arg;

	(void)id;
	++*n;
	evloop_stop(loop);
	return 0;
}

static void test_run_once_timeout_and_stop(void)
{
	struct evloop *loop = evloop_new();
	int64_t t0;
	int n = 0;

	/* Nothing registered: waits max_wait_ms. */
	t0 = now_ms();
	CHECK(evloop_run_once(loop, 40) == 0);
	CHECK(now_ms() - t0 >= 35);

	/* A timer earlier than max_wait_ms shortens the wait and fires. */
	evloop_add_timer(loop, 10, stop_cb, &n);
	t0 = now_ms();
	evloop_run_once(loop, 1000);
	CHECK(now_ms() - t0 < 500);
	CHECK(n == 1);

	/* evloop_run returns after evloop_stop from a timer. */
	evloop_add_timer(loop, 10, stop_cb, &n);
	CHECK(evloop_run(loop) == 0);
	CHECK(n == 2);

	/* Many timers: heap stays ordered. */
	{
		struct order o = {{0}, 0};
		struct tarm arms[10];
		int i;

		for (i = 0; i < 10; i++) {
			arms[i].order = &o;
			arms[i].tag = 9 - i;
			evloop_add_timer(loop, 2 * (9 - i), record_cb, &arms[i]);
		}
		run_for(loop, 60);
		CHECK(o.n == 10);
		for (i = 0; i < 10; i++)
			CHECK(o.seen[i] == i);
	}
	evloop_free(loop);
	evloop_free(NULL);
}

int main(void)
{
	test_timer_order();
	test_timer_delete();
	test_timer_rearm();
	test_timer_self_delete();
	test_pipe_events();
	test_run_once_timeout_and_stop();
	return TEST_DONE();
}
