/* Reply caps (lib/resp_cap.h) against a server that lies: a "$N" header
 * over the string cap, or a line that never ends, is refused as soon as it
 * shows (the server manages to send a few socket buffers, not the announced
 * gigabyte), on the blocking path (node_command) and the async one
 * (redis_ev, as the migrator uses it); legitimate replies, large ones
 * arriving in pieces included, still parse. The server is a child this test
 * forks on 127.0.0.1 (an ephemeral port). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "evloop.h"
#include "node.h"
#include "redis_ev.h"
#include "resp_cap.h"
#include "testlib.h"
#include "util.h"

#define MiB (1024u * 1024u)
#define SERVER_MAX (300u * MiB) /* what the fake server sends at most */

/* The reader alone: over the caps or not, at the pause hiredis leaves it in. */
static int over_after(const char *bytes, size_t n, void **reply)
{
	redisReader *r = redisReaderCreateWithFunctions(resp_capped_functions());
	int over;

	*reply = NULL;
	redisReaderFeed(r, bytes, n);
	if (redisReaderGetReply(r, reply) != REDIS_OK)
		over = -1;
	else
		over = resp_reader_over_cap(r);
	redisReaderFree(r);
	return over;
}

static void test_reader(void)
{
	void *rep;
	static const char nested[] = "*3\r\n:1\r\n$3\r\nfoo\r\n$999999999999";
	char *line;

	CHECK(over_after("$67108864\r\n", 11, &rep) == 0 && !rep); /* exactly the cap */
	CHECK(over_after("$67108865\r\n", 11, &rep) == 1 && !rep); /* one byte over */
	CHECK(over_after("$99999999999", 12, &rep) == 1 && !rep);  /* digits alone say so */
	CHECK(over_after("$6710886", 8, &rep) == 0 && !rep);       /* more digits may come */
	CHECK(over_after("$-1\r\n", 5, &rep) == 0 && rep);         /* nil */
	freeReplyObject(rep);
	CHECK(over_after("$3\r\nab", 6, &rep) == 0 && !rep);              /* a short wait */
	CHECK(over_after(nested, sizeof(nested) - 1, &rep) == 1 && !rep); /* inside an array */
	CHECK(over_after("+OK", 3, &rep) == 0 && !rep);
	CHECK(over_after("$12ab", 5, &rep) == 0 && !rep); /* hiredis will refuse it */
	/* lines (and a bulk header) that do not end */
	line = malloc(RESP_MAX_LINE + 100);
	CHECK(line != NULL);
	if (line) {
		line[0] = '+';
		memset(line + 1, 'a', RESP_MAX_LINE + 99);
		CHECK(over_after(line, RESP_MAX_LINE, &rep) == 0 && !rep);
		CHECK(over_after(line, RESP_MAX_LINE + 2, &rep) == 1 && !rep);
		line[0] = '-';
		CHECK(over_after(line, RESP_MAX_LINE + 2, &rep) == 1 && !rep);
		line[0] = '*';
		CHECK(over_after(line, RESP_MAX_LINE + 2, &rep) == 1 && !rep);
		memcpy(line, "$12", 3);
		CHECK(over_after(line, 200, &rep) == 1 && !rep);
		free(line);
	}
	/* a bulk string on its way, up to the cap, is no line */
	line = malloc(RESP_MAX_STRING + 16);
	CHECK(line != NULL);
	if (line) {
		memcpy(line, "$67108864\r\n", 11);
		memset(line + 11, 'b', RESP_MAX_STRING);
		CHECK(over_after(line, 11 + RESP_MAX_STRING, &rep) == 0 && !rep);
		memcpy(line + 11 + RESP_MAX_STRING, "\r\n", 2);
		CHECK(over_after(line, 13 + RESP_MAX_STRING, &rep) == 0 && rep);
		freeReplyObject(rep);
		free(line);
	}
}

/* ---- a fake server: per connection, reads a command, sends a header
 * then filler (or a whole reply), and reports how much it sent ---- */

struct fake {
	int port;
	pid_t pid;
	int report; /* read end: the child writes the bytes it sent */
};

static void serve(int lfd, int report, const char *head, size_t headlen, char fill, size_t total)
{
	static char buf[64 * 1024];
	size_t sent = 0;
	ssize_t w;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	if (read(fd, buf, sizeof(buf)) <= 0)
		_exit(1);
	while (sent < headlen && (w = write(fd, head + sent, headlen - sent)) > 0)
		sent += (size_t)w;
	memset(buf, fill, sizeof(buf));
	while (sent < total) {
		size_t n = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
		if ((w = write(fd, buf, n)) <= 0)
			break;
		sent += (size_t)w;
	}
	if (write(report, &sent, sizeof(sent)) != (ssize_t)sizeof(sent))
		_exit(1);
	close(fd);
	_exit(0);
}

static int fake_start(struct fake *f, const char *head, size_t headlen, char fill, size_t total)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), p[2];

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0 || pipe(p) < 0)
		return -1;
	f->port = ntohs(sa.sin_port);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		close(p[0]);
		serve(lfd, p[1], head, headlen, fill, total);
	}
	close(p[1]);
	close(lfd);
	f->report = p[0];
	return 0;
}

/* Bytes the server sent before the client went away (or it was done). */
static size_t fake_finish(struct fake *f)
{
	size_t sent = 0;
	int st;

	if (read(f->report, &sent, sizeof(sent)) != (ssize_t)sizeof(sent))
		sent = (size_t)-1;
	close(f->report);
	waitpid(f->pid, &st, 0);
	return sent;
}

/* One command to the fake server through node_command: the reply, or NULL
 * with err saying why; *still_broken tells whether the next command on that
 * connection is refused without being sent. */
static redisReply *ask(const struct fake *f, char *err, size_t errlen, int *still_broken)
{
	struct hostport a;
	struct node_conn *n;
	redisReply *r;

	snprintf(a.host, sizeof(a.host), "127.0.0.1");
	a.port = f->port;
	*still_broken = 0;
	if (!(n = node_connect(&a, NULL, 10000, err, errlen)))
		return NULL;
	r = node_command(n, err, errlen, "GET k");
	if (!r) {
		char again[256];
		*still_broken = node_command(n, again, sizeof(again), "PING") == NULL &&
				strstr(again, "connection broken") != NULL;
	}
	node_close(n);
	return r;
}

/* Blocking: node_command fails naming the caps, the connection stays failed,
 * and the server got to send little of what it announced. */
static void blocking_refused(const char *what, const char *head, size_t headlen, char fill, size_t limit)
{
	struct fake f;
	char err[256] = "";
	redisReply *r;
	int broken;
	size_t sent;

	CHECK(fake_start(&f, head, headlen, fill, SERVER_MAX) == 0);
	r = ask(&f, err, sizeof(err), &broken);
	CHECK_MSG(r == NULL, "%s: a reply", what);
	CHECK_MSG(strstr(err, "size caps") != NULL, "%s: %s", what, err);
	CHECK_MSG(broken, "%s: the connection was used again", what);
	if (r)
		freeReplyObject(r);
	sent = fake_finish(&f);
	CHECK_MSG(sent < limit, "%s: the server sent %zu bytes before the refusal", what, sent);
}

static void test_blocking(void)
{
	static const char bulk[] = "$1000000000\r\n", nested[] = "*2\r\n$3\r\nfoo\r\n$99999999999\r\n";

	blocking_refused("bulk header", bulk, sizeof(bulk) - 1, 'x', 32 * MiB);
	blocking_refused("nested bulk header", nested, sizeof(nested) - 1, 'x', 32 * MiB);
	/* a status line that never ends: refused once it outgrows any line */
	blocking_refused("endless line", "+", 1, 'a', 32 * MiB);
}

/* Large legitimate strings through the blocking path: 3 MiB whole, and 5 MiB
 * that stop short of their end (the server closes, which is the error: the
 * caps never are). */
static void test_blocking_large_ok(void)
{
	struct fake f;
	char err[256] = "";
	redisReply *r;
	size_t big = 3 * MiB, hl;
	char *reply = malloc(5 * MiB + 64);
	int broken;

	CHECK(reply != NULL);
	if (!reply)
		return;
	hl = (size_t)snprintf(reply, 64, "$%zu\r\n", big);
	memset(reply + hl, 'q', big);
	memcpy(reply + hl + big, "\r\n", 2);
	CHECK(fake_start(&f, reply, hl + big + 2, 0, hl + big + 2) == 0);
	r = ask(&f, err, sizeof(err), &broken);
	CHECK_MSG(r && r->type == REDIS_REPLY_STRING && r->len == big && r->str[big - 1] == 'q', "%s", err);
	if (r)
		freeReplyObject(r);
	CHECK(fake_finish(&f) == hl + big + 2);

	big = 5 * MiB;
	hl = (size_t)snprintf(reply, 64, "$%zu\r\n", big);
	CHECK(fake_start(&f, reply, hl, 'z', hl + big) == 0);
	r = ask(&f, err, sizeof(err), &broken);
	CHECK_MSG(r == NULL && strstr(err, "size caps") == NULL, "%s", err);
	if (r)
		freeReplyObject(r);
	CHECK(fake_finish(&f) == hl + big);
	free(reply);
}

/* ---- async (redis_ev) ---- */

struct astate {
	int replied, got_null, disconnected;
	char errstr[160];
};

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct astate *s = privdata;

	s->replied = 1;
	s->got_null = r == NULL;
	snprintf(s->errstr, sizeof(s->errstr), "%s", ac->errstr ? ac->errstr : "");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct astate *s = ac->data;

	(void)status;
	s->disconnected = 1;
}

static void test_async(void)
{
	static const char bulk[] = "$1000000000\r\n";
	struct evloop *loop = evloop_new();
	struct astate s;
	struct fake f;
	redisAsyncContext *ac;
	int64_t until;
	size_t sent;

	memset(&s, 0, sizeof(s));
	CHECK(loop != NULL);
	CHECK(fake_start(&f, bulk, sizeof(bulk) - 1, 'x', SERVER_MAX) == 0);
	ac = redisAsyncConnect("127.0.0.1", f.port);
	CHECK(ac && !ac->err);
	if (!loop || !ac || ac->err)
		return;
	ac->data = &s;
	resp_cap_reader(ac->c.reader);
	CHECK(redis_ev_attach(loop, ac) == 0);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	CHECK(redisAsyncCommand(ac, on_reply, &s, "PING") == REDIS_OK);
	until = now_ms() + 20000;
	while (!(s.replied && s.disconnected) && now_ms() < until)
		evloop_run_once(loop, 50);
	CHECK(s.replied && s.got_null);
	CHECK_MSG(strstr(s.errstr, "size caps") != NULL, "%s", s.errstr);
	CHECK(s.disconnected);
	sent = fake_finish(&f);
	CHECK_MSG(sent < 32 * MiB, "the server sent %zu bytes before the refusal", sent);
	evloop_free(loop);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_reader();
	test_blocking();
	test_blocking_large_ok();
	test_async();
	return TEST_DONE();
}
