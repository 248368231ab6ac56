/* HTTP/1.1 responses from a server (platform/http/http_response.c): the
 * bytes are fed whole and in pieces (size from the input length; also one
 * byte at a time for short inputs), each followed by end of input. Every
 * way gives the same result (rc, state, status, body, error text); a
 * finished response has a status in 200..599 (1xx are skipped); the body
 * never exceeds what came in, nor a Content-Length; the error is one
 * terminated line. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http/http_response.h"

struct run {
	int rc;
	enum http_resp_state state;
	long status;
	int64_t content_length;
	char *body;
	size_t len;
	char error[128];
	int heads;
};

static int sink(const char *p, size_t n, void *arg)
{
	struct run *r = arg;
	char *nb;

	FUZZ_CHECK(n > 0, "empty body piece");
	nb = realloc(r->body, r->len + n);
	FUZZ_CHECK(nb != NULL, "out of memory");
	r->body = nb;
	memcpy(r->body + r->len, p, n);
	r->len += n;
	return 0;
}

static int on_head(const struct http_resp *p, void *arg)
{
	struct run *r = arg;

	FUZZ_CHECK(p->status >= 200 && p->status <= 599, "head with status %ld", p->status);
	r->heads++;
	return 0;
}

static void feed(const uint8_t *data, size_t size, size_t chunk, struct run *out)
{
	struct http_resp p;
	size_t pos;

	memset(out, 0, sizeof(*out));
	http_resp_init(&p, (int)(size % 7 == 3)); /* sometimes a HEAD request */
	for (pos = 0; pos < size && out->rc == 0; pos += chunk) {
		size_t k = size - pos < chunk ? size - pos : chunk;

		out->rc = http_resp_feed(&p, (const char *)data + pos, k, on_head, sink, out);
	}
	if (out->rc == 0)
		out->rc = http_resp_eof(&p);
	out->state = p.state;
	out->status = p.status;
	out->content_length = p.content_length;
	memcpy(out->error, p.error, sizeof(out->error));
	http_resp_free(&p);
}

static void same(const struct run *a, const struct run *b, size_t chunk)
{
	FUZZ_CHECK(a->rc == b->rc && a->state == b->state && a->status == b->status,
		   "pieces of %zu: rc %d/%d state %d/%d status %ld/%ld", chunk, a->rc, b->rc, (int)a->state,
		   (int)b->state, a->status, b->status);
	FUZZ_CHECK(a->len == b->len && (a->len == 0 || memcmp(a->body, b->body, a->len) == 0),
		   "pieces of %zu: body differs (%zu/%zu bytes)", chunk, a->len, b->len);
	FUZZ_CHECK(strcmp(a->error, b->error) == 0, "pieces of %zu: error '%s' vs '%s'", chunk, a->error, b->error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, piece, bytes;
	size_t chunk = 1 + size % 23;

	feed(data, size, size ? size : 1, &whole);
	feed(data, size, chunk, &piece);
	same(&whole, &piece, chunk);
	if (size <= 4096) {
		feed(data, size, 1, &bytes);
		same(&whole, &bytes, 1);
		free(bytes.body);
	}
	FUZZ_CHECK(whole.len <= size, "body of %zu bytes from %zu input bytes", whole.len, size);
	if (whole.rc == 0) {
		FUZZ_CHECK(whole.state == HTTP_RESP_DONE, "rc 0 at the end but state %d", (int)whole.state);
		FUZZ_CHECK(whole.status >= 200 && whole.status <= 599 && whole.heads == 1, "done with status %ld",
			   whole.status);
		if (whole.content_length >= 0)
			FUZZ_CHECK(whole.len <= (size_t)whole.content_length, "body %zu over Content-Length %lld",
				   whole.len, (long long)whole.content_length);
	} else {
		FUZZ_CHECK(whole.rc == -1 && whole.state == HTTP_RESP_ERROR, "rc %d state %d", whole.rc,
			   (int)whole.state);
		fuzz_check_err(whole.error, sizeof(whole.error));
	}
	free(whole.body);
	free(piece.body);
	return 0;
}
