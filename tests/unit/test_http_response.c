/* The HTTP/1.1 response parser (platform/http/http_response.c), pure: every
 * response is fed whole, then cut at every split point, then one byte at a
 * time, and must give the same status, body and end state each way.
 * Covers Content-Length, chunked (extensions, trailer, upper-case hex), a
 * body ended by the connection, HEAD/204/304 without body, 1xx interim
 * answers, bytes after the end, and malformed answers (status line, chunk
 * size, conflicting lengths, oversized head, EOF in the middle). */
#include <stdlib.h>
#include <string.h>

#include "http/http_response.h"
#include "testlib.h"

struct got {
	char body[256];
	size_t len;
	int heads;
};

static int sink(const char *p, size_t n, void *arg)
{
	struct got *g = arg;

	if (g->len + n < sizeof(g->body)) {
		memcpy(g->body + g->len, p, n);
		g->len += n;
		g->body[g->len] = '\0';
	}
	return 0;
}

static int head_cb(const struct http_resp *r, void *arg)
{
	struct got *g = arg;

	(void)r;
	g->heads++;
	return 0;
}

/* Feed in, cut at the given pieces size (0 = whole); then EOF when asked.
 * Returns the last rc (feed or eof). */
static int run(const char *in, size_t piece, int head, int eof, struct http_resp *r, struct got *g)
{
	size_t len = strlen(in), off = 0;
	int rc = 0;

	memset(g, 0, sizeof(*g));
	http_resp_init(r, head);
	while (off < len && rc == 0) {
		size_t n = piece && piece < len - off ? piece : len - off;

		rc = http_resp_feed(r, in + off, n, head_cb, sink, g);
		off += n;
	}
	if (rc == 0 && eof)
		rc = http_resp_eof(r);
	return rc;
}

struct ok_case {
	const char *in;
	int head, eof;
	long status;
	const char *body;
};

static void test_good(void)
{
	static const struct ok_case cases[] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 0, 200, "hello"},
		{"HTTP/1.1 200 OK\r\ncontent-length:5\r\n\r\nhelloEXTRA", 0, 0, 200, "hello"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n", 0,
		 0, 200, "hello world"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nT: 1\r\nU: 2\r\n\r\n", 0,
		 0, 200, "0123456789"},
		{"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\nContent-Length: 3\r\n\r\n2\r\nab\r\n0\r\n\r\n", 0, 0,
		 200, "ab"},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 0, 1, 200, "until the end"},
		{"HTTP/1.0 404 Not Found\n\nbody", 0, 1, 404, "body"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, 0, 200, ""},
		{"HTTP/1.1 204 No Content\r\n\r\n", 0, 0, 204, ""},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 0, 0, 304, ""},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
		 0, 0, 201, "ok"},
		{"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0, 200, ""},
	};
	size_t i, piece;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ok_case *c = &cases[i];
		size_t len = strlen(c->in);

		for (piece = 0; piece <= len; piece++) {
			struct http_resp r;
			struct got g;
			int rc = run(c->in, piece, c->head, c->eof, &r, &g);

			CHECK_MSG(rc == 0 && r.state == HTTP_RESP_DONE && r.status == c->status &&
					  strcmp(g.body, c->body) == 0 && g.heads == 1,
				  "case %zu piece %zu: rc %d state %d status %ld body '%s' heads %d (%s)", i, piece, rc,
				  r.state, r.status, g.body, g.heads, r.error);
			http_resp_free(&r);
			if (piece > 24 && piece < len - 1)
				piece = len - 1; /* whole, bytes 1..24, then the last split */
		}
	}
}

struct bad_case {
	const char *in;
	int eof;
	const char *error;
};

static void test_bad(void)
{
	static const struct bad_case cases[] = {
		{"HTTP/2 200 OK\r\n\r\n", 0, "bad status line"},
		{"HTTP/1.1 20 OK\r\n\r\n", 0, "bad status line"},
		{"HTTP/1.1 999 X\r\n\r\n", 0, "status code out of range"},
		{"SSH-2.0-OpenSSH\r\n\r\n", 0, "bad status line"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 0, "bad Content-Length"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, "bad Content-Length"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, "two different"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "unsupported Transfer-Encoding"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, "bad chunk size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n", 0, "too large"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", 0, "no CRLF after chunk"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 1, "middle of the body"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 1, "middle of the body"},
		{"HTTP/1.1 200 OK\r\nContent-", 1, "before a complete response"},
		{"", 1, "before a complete response"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_resp r;
		struct got g;
		int rc = run(cases[i].in, 1, 0, cases[i].eof, &r, &g);

		CHECK_MSG(rc == -1 && r.state == HTTP_RESP_ERROR && strstr(r.error, cases[i].error) != NULL,
			  "bad case %zu: rc %d state %d error '%s'", i, rc, r.state, r.error);
		http_resp_free(&r);
	}
	/* A head over 64 KiB is refused, whatever the pieces. */
	{
		size_t n = HTTP_RESP_HEAD_MAX + 100;
		char *big = malloc(n + 1);
		struct http_resp r;
		struct got g;

		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		memset(big + 20, 'a', n - 20);
		big[n] = '\0';
		CHECK(run(big, 4096, 0, 0, &r, &g) == -1 && strstr(r.error, "64 KiB"));
		http_resp_free(&r);
		free(big);
	}
}

int main(void)
{
	test_good();
	test_bad();
	return TEST_DONE();
}
