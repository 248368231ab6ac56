/* HTTP/1.1 response parser: bytes in, status and body bytes out. No I/O.
 *
 * Feed the bytes a server sends in any chunking. The parser reads the status
 * line and headers (at most HTTP_RESP_HEAD_MAX bytes; 1xx interim responses
 * are skipped), then the body framed by Transfer-Encoding: chunked,
 * Content-Length, or the end of the connection, and hands every body byte to
 * the sink. A response to HEAD, a 204 and a 304 have no body.
 *
 * Example:
 *
 *	struct http_resp p;
 *	http_resp_init(&p, is_head);
 *	rc = http_resp_feed(&p, buf, n, sink, arg);   // for each read
 *	...at end of input: rc = http_resp_eof(&p);
 *	http_resp_free(&p);
 */
#ifndef AUTOSHARD_HTTP_RESPONSE_H
#define AUTOSHARD_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_HEAD_MAX 65536 /* status line + headers */

enum http_resp_state {
	HTTP_RESP_HEAD,       /* reading the status line and headers */
	HTTP_RESP_BODY_LEN,   /* Content-Length body */
	HTTP_RESP_BODY_CLOSE, /* body ends when the connection does */
	HTTP_RESP_CHUNK_SIZE, /* chunked: the size line */
	HTTP_RESP_CHUNK_DATA,
	HTTP_RESP_CHUNK_END, /* the CRLF after a chunk's data */
	HTTP_RESP_TRAILER,   /* chunked: trailer lines up to the empty one */
	HTTP_RESP_DONE,
	HTTP_RESP_ERROR,
};

struct http_resp {
	enum http_resp_state state;
	int head_request;       /* the request was HEAD: no body */
	long status;            /* 100..599 once the head is read; 0 before */
	int64_t content_length; /* -1 when not given */
	uint64_t left;          /* bytes left of a Content-Length body or of a chunk */
	char *buf;              /* the head, or a chunk-size / trailer line */
	size_t len, cap;
	char error[128]; /* set when state is HTTP_RESP_ERROR */
};

/* Body bytes (n > 0). Return non-zero to stop: http_resp_feed returns 1. */
typedef int http_resp_sink(const char *p, size_t n, void *arg);
/* Called once when the head is complete, before any body byte; return
 * non-zero to stop (http_resp_feed returns 1). May be NULL. */
typedef int http_resp_head_cb(const struct http_resp *r, void *arg);

void http_resp_init(struct http_resp *r, int head_request);
/* 0: all n bytes consumed (check r->state == HTTP_RESP_DONE for the end;
 * bytes after the end are ignored); 1: stopped by a callback; -1: malformed
 * response (r->error says what, one line). */
int http_resp_feed(struct http_resp *r, const char *p, size_t n, http_resp_head_cb *on_head, http_resp_sink *sink,
		   void *arg);
/* The connection ended. 0 when the response is complete (a body framed by
 * the connection's end is complete now); -1 with r->error otherwise. */
int http_resp_eof(struct http_resp *r);
/* Frees the buffer; the struct can be initialised again. */
void http_resp_free(struct http_resp *r);

/* Append n bytes to a growable NUL-terminated buffer (*buf, *len, *cap;
 * doubling from 512 bytes). -1 when out of memory; nothing changes then.
 * Shared by the parser and the client's body buffer. */
int http_bytes_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n);

#endif
