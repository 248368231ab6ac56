/* http_client against a tiny HTTP/1.1 server this test forks on 127.0.0.1
 * (random port, one child per connection): GET, POST with headers and a bearer
 * token, timeout, body cap (with and without Content-Length), streaming lines
 * split across writes, an over-long line, a non-2xx body in streaming mode,
 * chunked framing (split anywhere, extensions, trailer), 100 Continue, a body
 * cut short, a host name and one that does not resolve, a stalled stream,
 * connection refused, cancellation (from outside and from on_line), requests
 * started from callbacks. Also the pure line splitter at every split point. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "http/http_client.h"
#include "testlib.h"
#include "util.h"

/* ---- the server (child processes) ---- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void write_str(int fd, const char *s)
{
	write_all(fd, s, strlen(s));
}

/* Pause so the next write reaches the client as a separate read. */
static void pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

static void serve_one(int fd)
{
	char req[8192], out[8192], *hdr_end, *p;
	size_t len = 0, need;
	long clen = 0;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Read the head and the body (Content-Length only). */
	for (;;) {
		ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);

		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if ((hdr_end = strstr(req, "\r\n\r\n"))) {
			p = strcasestr(req, "\r\ncontent-length:");
			clen = p && p < hdr_end ? strtol(p + 17, NULL, 10) : 0;
			need = (size_t)(hdr_end + 4 - req) + (size_t)clen;
			if (len >= need || len == sizeof(req) - 1)
				break;
		}
	}
	if (strncmp(req, "GET /ok ", 8) == 0) {
		write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
	} else if (strstr(req, " /echo ")) {
		/* method|authorization|content-type|x-test|body */
		char method[16] = "", auth[128] = "", ctype[128] = "", xt[128] = "";
		char *e;

		sscanf(req, "%15s", method);
		if ((p = strcasestr(req, "\r\nauthorization: ")) && (e = strstr(p + 2, "\r\n")))
			snprintf(auth, sizeof(auth), "%.*s", (int)(e - p - 17), p + 17);
		if ((p = strcasestr(req, "\r\ncontent-type: ")) && (e = strstr(p + 2, "\r\n")))
			snprintf(ctype, sizeof(ctype), "%.*s", (int)(e - p - 16), p + 16);
		if ((p = strcasestr(req, "\r\nx-test: ")) && (e = strstr(p + 2, "\r\n")))
			snprintf(xt, sizeof(xt), "%.*s", (int)(e - p - 10), p + 10);
		snprintf(out, sizeof(out), "%s|%s|%s|%s|%.*s", method, auth, ctype, xt, (int)clen, hdr_end + 4);
		dprintf(fd, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(out),
			out);
	} else if (strncmp(req, "GET /big ", 9) == 0 || strncmp(req, "GET /bigstream ", 15) == 0) {
		int i;

		if (req[8] == ' ')
			write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n");
		else
			write_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		memset(out, 'x', 1000);
		for (i = 0; i < 100; i++)
			write_all(fd, out, 1000);
	} else if (strncmp(req, "GET /lines ", 11) == 0) {
		write_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
		write_str(fd, "{\"a\":1}\n{\"b\":");
		pause_ms(50);
		write_str(fd, "2}\r\n\n{\"c\"");
		pause_ms(50);
		write_str(fd, ":3}\n{\"d\":4}");
	} else if (strncmp(req, "GET /chunked-lines ", 19) == 0) {
		/* A watch as the API server sends it: chunked, split anywhere. */
		write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
		write_str(fd, "8\r\n{\"a\":1}\n\r\n");
		pause_ms(30);
		write_str(fd, "4;ext=1\r\n{\"b\"");
		pause_ms(30);
		write_str(fd, "\r\n3\r\n:2}\r\n1\r\n\n\r\n");
		pause_ms(30);
		write_str(fd, "0\r\nX-Trailer: t\r\n\r\n");
	} else if (strncmp(req, "GET /chunked-body ", 18) == 0) {
		write_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
		/* keep the connection open: the chunked framing ends the response */
		pause_ms(3000);
	} else if (strncmp(req, "GET /truncated ", 15) == 0) {
		write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc");
	} else if (strncmp(req, "GET /stall ", 11) == 0) {
		struct pollfd pfd = {fd, POLLIN, 0};

		write_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"first\":1}\n");
		while (poll(&pfd, 1, 20000) > 0 && read(fd, out, sizeof(out)) > 0)
			;
	} else if (strncmp(req, "GET /longline ", 14) == 0) {
		write_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nshort\n");
		pause_ms(20);
		memset(out, 'y', 5000);
		write_all(fd, out, 5000);
		write_str(fd, "\nafter\n");
	} else if (strncmp(req, "GET /gone ", 10) == 0) {
		const char *b = "{\"kind\":\"Status\",\"code\":410}";

		dprintf(fd, "HTTP/1.1 410 Gone\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(b), b);
	} else if (strncmp(req, "GET /slow ", 10) == 0 || strncmp(req, "GET /stream-forever ", 20) == 0) {
		struct pollfd pfd = {fd, POLLIN, 0};

		if (req[6] == 't')
			write_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"first\":1}\n");
		/* Hold the connection until the client goes away (bounded). */
		while (poll(&pfd, 1, 20000) > 0 && read(fd, out, sizeof(out)) > 0)
			;
	} else {
		write_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	}
}

static pid_t server_start(int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	*port = ntohs(sa.sin_port);
	pid = fork();
	if (pid == 0) {
		signal(SIGCHLD, SIG_IGN); /* reap connection children */
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				continue;
			if (fork() == 0) {
				close(lfd);
				alarm(30); /* a stray handler never outlives the test by long */
				serve_one(fd);
				close(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	close(lfd);
	return pid;
}

/* ---- client side ---- */

struct outcome {
	int done;
	enum http_error error;
	long status;
	char body[4096];
	size_t body_len;
	char errmsg[512];
	char lines[8][128];
	int nlines;
	int cancel_after_lines; /* 0: never */
	struct http_client *client;
	const char *chain_url; /* start this from on_done */
	struct outcome *chained;
};

static char base[64];

static void on_done(struct http_request *req, const struct http_result *res, void *arg)
{
	struct outcome *o = arg;

	(void)req;
	o->done++;
	o->error = res->error;
	o->status = res->status;
	o->body_len = res->body_len;
	snprintf(o->body, sizeof(o->body), "%.*s", (int)res->body_len, res->body);
	snprintf(o->errmsg, sizeof(o->errmsg), "%s", res->errmsg);
	/* Cancelling oneself from on_done is a no-op. */
	http_request_cancel(req);
	if (o->chain_url) {
		struct http_request_opts ro = {
			.url = o->chain_url, .max_body = 1024, .on_done = on_done, .arg = o->chained};
		char err[256];

		CHECK(http_request_start(o->client, &ro, err, sizeof(err)) != NULL);
	}
}

static void on_line(struct http_request *req, const char *line, size_t len, void *arg)
{
	struct outcome *o = arg;

	if (o->nlines < 8)
		snprintf(o->lines[o->nlines], sizeof(o->lines[0]), "%.*s", (int)len, line);
	o->nlines++;
	if (o->cancel_after_lines && o->nlines == o->cancel_after_lines)
		http_request_cancel(req);
}

/* Run the loop until cond or 600 bounded iterations (each waits <= 100 ms). */
static void run_until(struct evloop *loop, const int *flag, int want)
{
	int i;

	for (i = 0; i < 600 && *flag < want; i++)
		evloop_run_once(loop, 100);
}

static void run_until_idle(struct evloop *loop, struct http_client *c)
{
	int i;

	for (i = 0; i < 600 && http_client_active(c) > 0; i++)
		evloop_run_once(loop, 100);
}

static struct http_request *get(struct http_client *c, const char *path, struct outcome *o, size_t max_body,
				int64_t timeout_ms)
{
	char url[128], err[256];
	struct http_request_opts ro = {
		.url = url, .max_body = max_body, .timeout_ms = timeout_ms, .on_done = on_done, .arg = o};
	struct http_request *r;

	snprintf(url, sizeof(url), "%s%s", base, path);
	r = http_request_start(c, &ro, err, sizeof(err));
	CHECK_MSG(r != NULL, "%s", err);
	return r;
}

static void test_get_ok_and_concurrent(struct evloop *loop, struct http_client *c)
{
	struct outcome o[5];
	int i, total;

	memset(o, 0, sizeof(o));
	for (i = 0; i < 5; i++)
		get(c, "/ok", &o[i], 1024, 10000);
	CHECK(http_client_active(c) == 5);
	run_until_idle(loop, c);
	for (total = 0, i = 0; i < 5; i++) {
		total += o[i].done;
		CHECK_MSG(o[i].error == HTTP_OK && o[i].status == 200, "%d %ld %s", o[i].error, o[i].status,
			  o[i].errmsg);
		CHECK(o[i].body_len == 5 && strcmp(o[i].body, "hello") == 0);
		CHECK(o[i].errmsg[0] == '\0');
	}
	CHECK(total == 5);
	CHECK(http_client_active(c) == 0);

	memset(o, 0, sizeof(o));
	get(c, "/nothing-here", &o[0], 1024, 10000);
	run_until(loop, &o[0].done, 1);
	CHECK(o[0].error == HTTP_OK && o[0].status == 404 && o[0].body_len == 0);
}

static void test_post_headers_token(struct evloop *loop, struct http_client *c)
{
	static const char *const hdrs[] = {"X-Test: yes", NULL};
	static const char *const bad_hdrs[] = {"X-Test: a\r\nX-Evil: b", NULL};
	struct outcome o;
	char url[128], err[256];
	struct http_request_opts ro = {.method = "PATCH",
				       .url = url,
				       .headers = hdrs,
				       .bearer_token = "s3cret-tok",
				       .body = "{\"x\":1}",
				       .body_len = 7,
				       .content_type = "application/merge-patch+json",
				       .timeout_ms = 10000,
				       .max_body = 4096,
				       .on_done = on_done,
				       .arg = &o};

	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "%s/echo", base);
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.status == 201 &&
			  strcmp(o.body, "PATCH|Bearer s3cret-tok|application/merge-patch+json|yes|{\"x\":1}") == 0,
		  "%ld %s", o.status, o.body);

	/* DELETE with a body (preconditions) and POST without one. */
	memset(&o, 0, sizeof(o));
	ro.method = "DELETE";
	ro.headers = NULL;
	ro.bearer_token = NULL;
	ro.content_type = "application/json";
	ro.body = "{\"p\":2}";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(strcmp(o.body, "DELETE||application/json||{\"p\":2}") == 0, "%s", o.body);
	memset(&o, 0, sizeof(o));
	ro.method = "POST";
	ro.body = NULL;
	ro.body_len = 0;
	ro.content_type = NULL;
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(strcmp(o.body, "POST||||") == 0, "%s", o.body);

	/* Header injection and a token with a line break are refused; the
	 * error does not carry the token. */
	ro.headers = bad_hdrs;
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	ro.headers = NULL;
	ro.bearer_token = "abc\ndef-secret";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "secret") == NULL);
	ro.bearer_token = NULL;
	ro.url = "ftp://127.0.0.1/";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	ro.url = url;
	ro.max_body = 0;
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	CHECK(http_client_active(c) == 0);
}

static void test_timeout(struct evloop *loop, struct http_client *c)
{
	struct outcome o;

	memset(&o, 0, sizeof(o));
	get(c, "/slow", &o, 1024, 300);
	run_until(loop, &o.done, 1);
	CHECK(o.done == 1);
	CHECK_MSG(o.error == HTTP_ERR_TIMEOUT, "%d %s", o.error, o.errmsg);
	CHECK(o.status == 0);
	CHECK(strstr(o.errmsg, "GET http://127.0.0.1:") == o.errmsg && strstr(o.errmsg, "/slow: "));
}

static void test_body_cap(struct evloop *loop, struct http_client *c)
{
	struct outcome o;

	/* Content-Length announces too much. */
	memset(&o, 0, sizeof(o));
	get(c, "/big", &o, 1000, 10000);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_TOO_LARGE, "%d %s", o.error, o.errmsg);
	/* No Content-Length: the write path enforces the cap. */
	memset(&o, 0, sizeof(o));
	get(c, "/bigstream", &o, 1000, 10000);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_TOO_LARGE, "%d %s", o.error, o.errmsg);
	CHECK(strstr(o.errmsg, "larger than 1000 bytes") != NULL);
	/* Exactly at the cap is fine. */
	memset(&o, 0, sizeof(o));
	get(c, "/bigstream", &o, 100000, 10000);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_OK && o.body_len == 100000, "%d %zu %s", o.error, o.body_len, o.errmsg);
}

static struct http_request *stream(struct http_client *c, const char *path, struct outcome *o, size_t max_line)
{
	char url[128], err[256];
	struct http_request_opts ro = {
		.url = url, .max_body = 4096, .max_line = max_line, .on_line = on_line, .on_done = on_done, .arg = o};
	struct http_request *r;

	snprintf(url, sizeof(url), "%s%s", base, path);
	r = http_request_start(c, &ro, err, sizeof(err));
	CHECK_MSG(r != NULL, "%s", err);
	return r;
}

static void test_streaming(struct evloop *loop, struct http_client *c)
{
	struct outcome o;
	struct http_request *r;
	int i;

	memset(&o, 0, sizeof(o));
	stream(c, "/lines", &o, 64);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_OK && o.status == 200, "%d %s", o.error, o.errmsg);
	CHECK_MSG(o.nlines == 4, "%d", o.nlines);
	CHECK(strcmp(o.lines[0], "{\"a\":1}") == 0);
	CHECK(strcmp(o.lines[1], "{\"b\":2}") == 0);
	CHECK(strcmp(o.lines[2], "{\"c\":3}") == 0);
	CHECK(strcmp(o.lines[3], "{\"d\":4}") == 0); /* unterminated, clean end */
	CHECK(o.body_len == 0);

	/* A line over the cap ends the request; the line before it came through. */
	memset(&o, 0, sizeof(o));
	stream(c, "/longline", &o, 100);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_LINE_TOO_LONG, "%d %s", o.error, o.errmsg);
	CHECK(o.nlines == 1 && strcmp(o.lines[0], "short") == 0);

	/* A non-2xx answer in streaming mode is buffered for on_done. */
	memset(&o, 0, sizeof(o));
	stream(c, "/gone", &o, 100);
	run_until(loop, &o.done, 1);
	CHECK(o.error == HTTP_OK && o.status == 410 && o.nlines == 0);
	CHECK(strcmp(o.body, "{\"kind\":\"Status\",\"code\":410}") == 0);

	/* Cancel from on_line: no on_done, nothing left in flight. */
	memset(&o, 0, sizeof(o));
	o.cancel_after_lines = 1;
	stream(c, "/lines", &o, 64);
	for (i = 0; i < 600 && http_client_active(c) > 0; i++)
		evloop_run_once(loop, 100);
	CHECK(o.nlines == 1 && o.done == 0);
	CHECK(http_client_active(c) == 0);

	/* Cancel an open stream from outside, after its first line. */
	memset(&o, 0, sizeof(o));
	r = stream(c, "/stream-forever", &o, 64);
	run_until(loop, &o.nlines, 1);
	CHECK(o.nlines == 1 && strcmp(o.lines[0], "{\"first\":1}") == 0);
	http_request_cancel(r);
	CHECK(http_client_active(c) == 0);
	for (i = 0; i < 5; i++)
		evloop_run_once(loop, 20);
	CHECK(o.done == 0);
}

/* Chunked framing (watch streams), a 100 Continue before the answer, a
 * body cut short, a host name, and a stream that stalls. */
static void test_framing(struct evloop *loop, struct http_client *c)
{
	struct outcome o;
	char url[128], err[256];
	struct http_request_opts ro = {.url = url,
				       .max_body = 4096,
				       .max_line = 64,
				       .stall_timeout_s = 1,
				       .on_line = on_line,
				       .on_done = on_done,
				       .arg = &o};

	memset(&o, 0, sizeof(o));
	stream(c, "/chunked-lines", &o, 64);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_OK && o.status == 200, "%d %s", o.error, o.errmsg);
	CHECK_MSG(o.nlines == 2 && strcmp(o.lines[0], "{\"a\":1}") == 0 && strcmp(o.lines[1], "{\"b\":2}") == 0, "%d",
		  o.nlines);

	/* Framed by chunks, not by the connection: done while it stays open. */
	memset(&o, 0, sizeof(o));
	get(c, "/chunked-body", &o, 1024, 2000);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_OK && o.status == 200 && strcmp(o.body, "hello world") == 0, "%d %s %s", o.error,
		  o.errmsg, o.body);

	memset(&o, 0, sizeof(o));
	get(c, "/truncated", &o, 1024, 10000);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_OTHER && strstr(o.errmsg, "middle of the body"), "%d %s", o.error, o.errmsg);

	/* A name, resolved on glibc's resolver threads. */
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "http://localhost:%s/ok", strrchr(base, ':') + 1);
	ro.on_line = NULL;
	ro.timeout_ms = 10000;
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_OK && strcmp(o.body, "hello") == 0, "%d %s", o.error, o.errmsg);
	/* A name that does not resolve is a connect error naming it. */
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "http://no-such-host.invalid:80/ok");
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_CONNECT && strstr(o.errmsg, "no-such-host.invalid"), "%d %s", o.error, o.errmsg);

	/* The stall timeout ends a stream that sends nothing more. */
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "%s/stall", base);
	ro.on_line = on_line;
	ro.timeout_ms = 0;
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_TIMEOUT && o.nlines == 1 && strstr(o.errmsg, "nothing received"), "%d %s",
		  o.error, o.errmsg);

	/* Bad URLs are refused up front. */
	ro.url = "http://user:pw@127.0.0.1/";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL && strstr(err, "pw") == NULL);
	ro.url = "http://127.0.0.1:99999/";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	ro.url = "http://[::1/";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	ro.url = "https://127.0.0.1/x y";
	CHECK(http_request_start(c, &ro, err, sizeof(err)) == NULL);
	CHECK(http_client_active(c) == 0);
}

static void test_refused(struct evloop *loop, struct http_client *c)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct outcome o;
	char url[128], err[256];
	struct http_request_opts ro = {
		.url = url, .max_body = 1024, .timeout_ms = 10000, .on_done = on_done, .arg = &o};

	/* A bound port nobody listens on: connect is refused. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", ntohs(sa.sin_port));
	memset(&o, 0, sizeof(o));
	CHECK(http_request_start(c, &ro, err, sizeof(err)) != NULL);
	run_until(loop, &o.done, 1);
	CHECK_MSG(o.error == HTTP_ERR_CONNECT && o.status == 0, "%d %s", o.error, o.errmsg);
	close(fd);
}

static void test_chain_from_callback(struct evloop *loop, struct http_client *c)
{
	struct outcome a, b;
	char url[128];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(url, sizeof(url), "%s/ok", base);
	a.client = c;
	a.chain_url = url;
	a.chained = &b;
	get(c, "/ok", &a, 1024, 10000);
	run_until(loop, &b.done, 1);
	CHECK(a.done == 1 && b.done == 1 && strcmp(b.body, "hello") == 0);
}

/* ---- the pure splitter ---- */

struct collected {
	char text[512];
	int n;
	int stop_at;
};

static int collect(const char *line, size_t len, void *arg)
{
	struct collected *c = arg;
	size_t used = strlen(c->text);

	snprintf(c->text + used, sizeof(c->text) - used, "[%.*s]", (int)len, line);
	c->n++;
	return c->stop_at && c->n == c->stop_at;
}

static void test_splitter(void)
{
	const char *in = "one\r\n\ntwo\nthree-is-long\n\r\nfour";
	const char *want = "[one][two][three-is-long][four]";
	size_t n = strlen(in), i, j;
	struct http_lines l;
	struct collected col;
	int ok = 1;

	/* Every single split and every pair of split points gives the same lines. */
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			memset(&col, 0, sizeof(col));
			http_lines_init(&l, 13);
			if (http_lines_feed(&l, in, i, collect, &col) != 0 ||
			    http_lines_feed(&l, in + i, j - i, collect, &col) != 0 ||
			    http_lines_feed(&l, in + j, n - j, collect, &col) != 0 ||
			    http_lines_finish(&l, collect, &col) != 0 || strcmp(col.text, want) != 0)
				ok = 0;
			http_lines_free(&l);
		}
	}
	CHECK(ok);

	/* One byte over the cap, in any chunking, is EMSGSIZE. */
	for (i = 0; i <= 14; i++) {
		memset(&col, 0, sizeof(col));
		http_lines_init(&l, 13);
		errno = 0;
		if (http_lines_feed(&l, "fourteen-bytes\nx\n", i, collect, &col) == 0)
			CHECK(http_lines_feed(&l, "fourteen-bytes\nx\n" + i, 17 - i, collect, &col) == -1);
		CHECK(errno == EMSGSIZE && col.n == 0);
		http_lines_free(&l);
	}
	/* The callback stops the feed. */
	memset(&col, 0, sizeof(col));
	col.stop_at = 1;
	http_lines_init(&l, 13);
	CHECK(http_lines_feed(&l, "a\nb\nc\n", 6, collect, &col) == 1);
	CHECK(strcmp(col.text, "[a]") == 0);
	http_lines_free(&l);
	http_lines_free(NULL);
}

int main(void)
{
	struct evloop *loop = evloop_new();
	struct http_client *c;
	char err[256];
	int port = 0, st;
	pid_t srv;

	signal(SIGPIPE, SIG_IGN);
	test_splitter();
	srv = server_start(&port);
	CHECK(srv > 0);
	if (srv <= 0)
		return TEST_DONE();
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	c = http_client_new(loop, err, sizeof(err));
	CHECK_MSG(c != NULL, "%s", err);
	if (c) {
		test_get_ok_and_concurrent(loop, c);
		test_post_headers_token(loop, c);
		test_timeout(loop, c);
		test_body_cap(loop, c);
		test_streaming(loop, c);
		test_framing(loop, c);
		test_refused(loop, c);
		test_chain_from_callback(loop, c);
		/* Free with a request still in flight: no callback, no leak. */
		{
			struct outcome o;

			memset(&o, 0, sizeof(o));
			get(c, "/slow", &o, 1024, 0);
			evloop_run_once(loop, 50);
			http_client_free(c);
			CHECK(o.done == 0);
		}
	}
	evloop_free(loop);
	kill(srv, SIGTERM);
	waitpid(srv, &st, 0);
	return TEST_DONE();
}
