/* HTTP/1.1 response parser. See http_response.h. */
#include "http/http_response.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_CHUNK 1024 /* a chunk-size line or a trailer line */

void http_resp_init(struct http_resp *r, int head_request)
{
	memset(r, 0, sizeof(*r));
	r->state = HTTP_RESP_HEAD;
	r->head_request = head_request;
	r->content_length = -1;
}

void http_resp_free(struct http_resp *r)
{
	if (!r)
		return;
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
}

static int fail(struct http_resp *r, const char *what)
{
	r->state = HTTP_RESP_ERROR;
	snprintf(r->error, sizeof(r->error), "malformed response: %s", what);
	return -1;
}

int http_bytes_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 512;
		char *nb;

		while (ncap < *len + n + 1)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int buf_add(struct http_resp *r, const char *p, size_t n, size_t max)
{
	if (r->len + n > max)
		return -1;
	return http_bytes_append(&r->buf, &r->len, &r->cap, p, n);
}

/* "Name: value" with name compared case-insensitively; value trimmed. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *e = line + len;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*vlen = (size_t)(e - v);
	return v;
}

static int has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i;

	for (i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
		    (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' ' || v[i + tl] == ';'))
			return 1;
	return 0;
}

/* The head is in r->buf (r->len bytes, ending in the blank line). */
static int parse_head(struct http_resp *r)
{
	char *line = r->buf, *end = r->buf + r->len, *nl;
	int chunked = 0, first = 1;
	long status = 0;

	r->content_length = -1;
	while (line < end && (nl = memchr(line, '\n', (size_t)(end - line)))) {
		size_t len = (size_t)(nl - line);
		const char *v;
		size_t vlen;

		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (first) {
			/* HTTP/1.x NNN [reason] */
			if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
			    line[8] != ' ' || !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
			    !isdigit((unsigned char)line[11]) || (len > 12 && line[12] != ' '))
				return fail(r, "bad status line");
			status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
			if (status < 100 || status > 599)
				return fail(r, "status code out of range");
			first = 0;
		} else if (len == 0) {
			break;
		} else if ((v = header_value(line, len, "Transfer-Encoding", &vlen))) {
			chunked = has_token(v, vlen, "chunked");
			if (!chunked)
				return fail(r, "unsupported Transfer-Encoding");
		} else if ((v = header_value(line, len, "Content-Length", &vlen))) {
			int64_t cl = 0;
			size_t i;

			if (vlen == 0 || vlen > 18)
				return fail(r, "bad Content-Length");
			for (i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i]))
					return fail(r, "bad Content-Length");
				cl = cl * 10 + (v[i] - '0');
			}
			if (r->content_length >= 0 && r->content_length != cl)
				return fail(r, "two different Content-Length headers");
			r->content_length = cl;
		}
		line = nl + 1;
	}
	if (first)
		return fail(r, "no status line");
	r->status = status;
	if (status >= 100 && status < 200)
		return 0; /* interim: the caller starts over */
	if (r->head_request || status == 204 || status == 304) {
		r->state = HTTP_RESP_DONE;
	} else if (chunked) {
		r->content_length = -1;
		r->state = HTTP_RESP_CHUNK_SIZE;
	} else if (r->content_length >= 0) {
		r->left = (uint64_t)r->content_length;
		r->state = r->left ? HTTP_RESP_BODY_LEN : HTTP_RESP_DONE;
	} else {
		r->state = HTTP_RESP_BODY_CLOSE;
	}
	return 0;
}

/* Take bytes of one line (up to '\n') into r->buf. Returns the bytes used
 * and sets *complete when the line ended (r->buf holds it, without "\r\n"). */
static long take_line(struct http_resp *r, const char *p, size_t n, size_t max, int *complete)
{
	const char *nl = memchr(p, '\n', n);
	size_t piece = nl ? (size_t)(nl - p) : n;

	*complete = 0;
	if (buf_add(r, p, piece, max) < 0)
		return -1;
	if (!nl)
		return (long)piece;
	if (r->len > 0 && r->buf[r->len - 1] == '\r')
		r->buf[--r->len] = '\0';
	*complete = 1;
	return (long)piece + 1;
}

static int chunk_size(struct http_resp *r)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < r->len && isxdigit((unsigned char)r->buf[i])) {
		int d = isdigit((unsigned char)r->buf[i]) ? r->buf[i] - '0'
							  : (tolower((unsigned char)r->buf[i]) - 'a' + 10);

		if (v > (UINT64_MAX >> 4))
			return fail(r, "chunk size too large");
		v = v * 16 + (uint64_t)d;
		i++;
	}
	if (i == 0 || (i < r->len && r->buf[i] != ';' && r->buf[i] != ' ' && r->buf[i] != '\t'))
		return fail(r, "bad chunk size line");
	r->left = v;
	r->len = 0;
	r->state = v ? HTTP_RESP_CHUNK_DATA : HTTP_RESP_TRAILER;
	return 0;
}

int http_resp_feed(struct http_resp *r, const char *p, size_t n, http_resp_head_cb *on_head, http_resp_sink *sink,
		   void *arg)
{
	while (n > 0) {
		long used;
		int complete;
		size_t take;

		switch (r->state) {
		case HTTP_RESP_HEAD: {
			/* Look for the blank line; the head may arrive byte by byte. */
			const char *nl = memchr(p, '\n', n);
			size_t piece = nl ? (size_t)(nl - p) + 1 : n;

			if (buf_add(r, p, piece, HTTP_RESP_HEAD_MAX) < 0)
				return fail(r, "status line and headers longer than 64 KiB");
			p += piece;
			n -= piece;
			if (!nl)
				break;
			if (!((r->len >= 2 && r->buf[r->len - 2] == '\n') ||
			      (r->len >= 4 && memcmp(r->buf + r->len - 4, "\r\n\r\n", 4) == 0)))
				break;
			if (r->len <= 2)
				return fail(r, "empty status line");
			if (parse_head(r) < 0)
				return -1;
			r->len = 0;
			if (r->status < 200) { /* 1xx: another head follows */
				r->status = 0;
				break;
			}
			if (on_head && on_head(r, arg))
				return 1;
			break;
		}
		case HTTP_RESP_BODY_LEN:
		case HTTP_RESP_CHUNK_DATA:
			take = (uint64_t)n < r->left ? n : (size_t)r->left;
			r->left -= take;
			if (r->left == 0)
				r->state = r->state == HTTP_RESP_BODY_LEN ? HTTP_RESP_DONE : HTTP_RESP_CHUNK_END;
			if (sink(p, take, arg))
				return 1;
			p += take;
			n -= take;
			break;
		case HTTP_RESP_BODY_CLOSE:
			if (sink(p, n, arg))
				return 1;
			n = 0;
			break;
		case HTTP_RESP_CHUNK_SIZE:
			if ((used = take_line(r, p, n, LINE_MAX_CHUNK, &complete)) < 0)
				return fail(r, "chunk size line too long");
			p += used;
			n -= (size_t)used;
			if (complete && chunk_size(r) < 0)
				return -1;
			break;
		case HTTP_RESP_CHUNK_END:
			if ((used = take_line(r, p, n, 2, &complete)) < 0 || (complete && r->len != 0))
				return fail(r, "no CRLF after chunk data");
			p += used;
			n -= (size_t)used;
			if (complete)
				r->state = HTTP_RESP_CHUNK_SIZE;
			break;
		case HTTP_RESP_TRAILER:
			if ((used = take_line(r, p, n, LINE_MAX_CHUNK, &complete)) < 0)
				return fail(r, "trailer line too long");
			p += used;
			n -= (size_t)used;
			if (complete) {
				if (r->len == 0)
					r->state = HTTP_RESP_DONE;
				r->len = 0;
			}
			break;
		case HTTP_RESP_DONE:
			return 0; /* bytes after the end are not ours */
		case HTTP_RESP_ERROR:
			return -1;
		}
	}
	return 0;
}

int http_resp_eof(struct http_resp *r)
{
	switch (r->state) {
	case HTTP_RESP_DONE:
		return 0;
	case HTTP_RESP_BODY_CLOSE:
		r->state = HTTP_RESP_DONE;
		return 0;
	case HTTP_RESP_ERROR:
		return -1;
	case HTTP_RESP_HEAD:
		r->state = HTTP_RESP_ERROR;
		snprintf(r->error, sizeof(r->error), "the server closed the connection before a complete response");
		return -1;
	default:
		r->state = HTTP_RESP_ERROR;
		snprintf(r->error, sizeof(r->error), "the server closed the connection in the middle of the body");
		return -1;
	}
}
