/* HTTP(S) client: libcurl multi socket API on evloop. See http_client.h.
 *
 * Re-entrancy: libcurl forbids calling multi functions from inside its own
 * callbacks (write, socket, timer). c->in_curl counts how deep we are inside
 * curl; while it is non-zero, http_request_start only queues the easy handle
 * and http_request_cancel only marks the request. after_curl() then adds the
 * queued handles, frees the cancelled requests and completes the finished
 * ones (on_done), all outside libcurl. */
#include "http/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HTTP_ERRMSG_MAX 512

struct http_sock {
	struct http_client *c;
	curl_socket_t fd;
	int mask; /* EV_* we asked the loop for */
	struct http_sock *next, *prev;
};

struct http_request {
	struct http_client *c;
	CURL *easy;
	struct curl_slist *headers;
	char *what; /* "METHOD URL" for error messages */
	http_done_cb *on_done;
	http_line_cb *on_line;
	void *arg;
	size_t max_body, max_line;

	char *buf; /* buffered body (also a non-2xx body in streaming mode) */
	size_t len, cap;
	struct http_lines lines; /* streaming with a 2xx status */

	int status_known;          /* first body byte seen, status read */
	int line_mode;             /* streaming and status 2xx */
	enum http_error own_error; /* set by the write callback before aborting */
	int added;                 /* handle is in the multi */
	int cancelled;             /* cancel requested while inside libcurl */
	int finishing;             /* on_done is running */
	char curl_err[CURL_ERROR_SIZE];
	struct http_request *next, *prev;
};

struct http_client {
	struct evloop *loop;
	CURLM *multi;
	int64_t timer_id;
	int in_curl;
	int nreqs;
	struct http_request *reqs;
	struct http_sock *socks;
};

/* ---- small helpers ---- */

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static void headers_free(struct curl_slist *h)
{
	struct curl_slist *s;

	/* The Authorization header holds a secret: wipe before freeing. */
	for (s = h; s; s = s->next)
		wipe(s->data, strlen(s->data));
	curl_slist_free_all(h);
}

static int buf_reserve(struct http_request *r, size_t need)
{
	size_t ncap;
	char *nb;

	if (need <= r->cap)
		return 0;
	ncap = r->cap ? r->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(r->buf, ncap);
	if (!nb)
		return -1;
	r->buf = nb;
	r->cap = ncap;
	return 0;
}

static int buf_append(struct http_request *r, const char *p, size_t n)
{
	if (buf_reserve(r, r->len + n + 1) < 0)
		return -1;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return 0;
}

static void list_unlink(struct http_request *r)
{
	struct http_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

/* Remove from the multi and the client, free everything. */
static void request_destroy(struct http_request *r)
{
	struct http_client *c = r->c;

	if (r->added)
		curl_multi_remove_handle(c->multi, r->easy);
	list_unlink(r);
	c->nreqs--;
	curl_easy_cleanup(r->easy);
	headers_free(r->headers);
	free(r->what);
	wipe(r->buf, r->cap);
	free(r->buf);
	http_lines_free(&r->lines);
	free(r);
}

static enum http_error map_curl_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTP_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_ERR_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return HTTP_ERR_TLS;
	default:
		return HTTP_ERR_OTHER;
	}
}

static int deliver_line(const char *line, size_t len, void *arg)
{
	struct http_request *r = arg;

	if (!r->cancelled)
		r->on_line(r, line, len, r->arg);
	return r->cancelled; /* stop feeding a cancelled request */
}

/* Call on_done once and free the request. Called outside libcurl only. */
static void request_finish(struct http_request *r, CURLcode rc)
{
	struct http_result res;
	char msg[HTTP_ERRMSG_MAX];
	long status = 0;

	memset(&res, 0, sizeof(res));
	res.error = r->own_error != HTTP_OK ? r->own_error : map_curl_error(rc);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	res.status = status;
	msg[0] = '\0';
	switch (res.error) {
	case HTTP_OK:
		break;
	case HTTP_ERR_TOO_LARGE:
		snprintf(msg, sizeof(msg), "%s: response body larger than %zu bytes", r->what, r->max_body);
		break;
	case HTTP_ERR_LINE_TOO_LONG:
		snprintf(msg, sizeof(msg), "%s: streamed line longer than %zu bytes", r->what, r->max_line);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s", r->what, r->curl_err[0] ? r->curl_err : curl_easy_strerror(rc));
		break;
	}
	res.errmsg = msg;
	/* A clean end of a stream: a last line without '\n' is complete. */
	if (r->line_mode && res.error == HTTP_OK && !r->cancelled)
		(void)http_lines_finish(&r->lines, deliver_line, r);
	if (r->line_mode || !r->buf) {
		res.body = "";
		res.body_len = 0;
	} else {
		res.body = r->buf;
		res.body_len = r->len;
	}
	if (!r->cancelled) {
		r->finishing = 1;
		r->on_done(r, &res, r->arg);
	}
	request_destroy(r);
}

/* Work that must happen outside libcurl: add queued handles, free cancelled
 * requests, complete finished ones. */
static void after_curl(struct http_client *c)
{
	struct http_request *r, *next;
	CURLMsg *m;
	int left;

	if (c->in_curl)
		return;
	for (r = c->reqs; r; r = next) {
		next = r->next;
		if (r->cancelled) {
			request_destroy(r);
			next = c->reqs; /* the list may have changed: restart */
			continue;
		}
		if (!r->added) {
			if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
				snprintf(r->curl_err, sizeof(r->curl_err), "cannot add the transfer");
				request_finish(r, CURLE_OUT_OF_MEMORY);
				next = c->reqs;
				continue;
			}
			r->added = 1;
		}
	}
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			request_finish(r, m->data.result); /* may start or cancel others */
	}
}

/* ---- libcurl callbacks ---- */

static int status_is_2xx(struct http_request *r)
{
	long status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	return status >= 200 && status < 300;
}

/* ---- line splitter ---- */

void http_lines_init(struct http_lines *l, size_t max_line)
{
	memset(l, 0, sizeof(*l));
	l->max_line = max_line;
}

void http_lines_free(struct http_lines *l)
{
	if (!l)
		return;
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

static int lines_append(struct http_lines *l, const char *p, size_t n)
{
	size_t ncap;
	char *nb;

	if (l->len + n > l->cap) {
		ncap = l->cap ? l->cap : 256;
		while (ncap < l->len + n)
			ncap *= 2;
		if (ncap > l->max_line)
			ncap = l->max_line; /* len + n <= max_line holds here */
		nb = realloc(l->buf, ncap);
		if (!nb) {
			errno = ENOMEM;
			return -1;
		}
		l->buf = nb;
		l->cap = ncap;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	return 0;
}

static int lines_deliver(const char *line, size_t len, http_lines_cb *cb, void *arg)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	return cb(line, len, arg) ? 1 : 0;
}

int http_lines_feed(struct http_lines *l, const char *p, size_t n, http_lines_cb *cb, void *arg)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t piece = nl ? (size_t)(nl - p) : n;
		int stop;

		if (l->len + piece > l->max_line) {
			errno = EMSGSIZE;
			return -1;
		}
		if (!nl)
			return lines_append(l, p, piece);
		if (l->len == 0) {
			stop = lines_deliver(p, piece, cb, arg); /* whole line here: no copy */
		} else {
			size_t total;

			if (lines_append(l, p, piece) < 0)
				return -1;
			total = l->len;
			l->len = 0; /* the bytes stay in buf while cb reads them */
			stop = lines_deliver(l->buf, total, cb, arg);
		}
		p += piece + 1;
		n -= piece + 1;
		if (stop)
			return 1;
	}
	return 0;
}

int http_lines_finish(struct http_lines *l, http_lines_cb *cb, void *arg)
{
	size_t len = l->len;

	l->len = 0;
	return len ? lines_deliver(l->buf, len, cb, arg) : 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *r = userdata;
	size_t n = size * nmemb;

	if (r->cancelled)
		return 0;
	if (!r->status_known) {
		r->status_known = 1;
		r->line_mode = r->on_line && status_is_2xx(r);
	}
	if (r->line_mode) {
		switch (http_lines_feed(&r->lines, ptr, n, deliver_line, r)) {
		case 0:
			return n;
		case 1:
			return 0; /* cancelled from on_line */
		default:
			r->own_error = errno == EMSGSIZE ? HTTP_ERR_LINE_TOO_LONG : HTTP_ERR_OTHER;
			return 0;
		}
	}
	if (r->len + n > r->max_body) {
		r->own_error = HTTP_ERR_TOO_LARGE;
		return 0;
	}
	return buf_append(r, ptr, n) < 0 ? 0 : n;
}

static void on_sock_io(struct evloop *loop, int fd, int mask, void *arg)
{
	struct http_sock *s = arg;
	struct http_client *c = s->c; /* s may be freed during the action */
	int flags = 0, running;

	(void)loop;
	if (mask & EV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (mask & EV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	c->in_curl++;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	c->in_curl--;
	after_curl(c);
}

static void sock_free(struct http_client *c, struct http_sock *s)
{
	if (s->mask)
		evloop_del_file(c->loop, s->fd, s->mask);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct http_sock *s = socketp;
	int want = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_free(c, s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->c = c;
		s->fd = fd;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		want |= EV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		want |= EV_WRITABLE;
	if (s->mask & ~want) {
		evloop_del_file(c->loop, fd, s->mask & ~want);
		s->mask &= want;
	}
	if (want & ~s->mask) {
		if (evloop_add_file(c->loop, fd, want, on_sock_io, s) < 0)
			return -1;
		s->mask = want;
	}
	return 0;
}

static int64_t on_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct http_client *c = arg;
	int running;

	(void)loop;
	(void)id;
	c->timer_id = 0;
	c->in_curl++;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	c->in_curl--;
	after_curl(c);
	return 0;
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	if (c->timer_id > 0) {
		evloop_del_timer(c->loop, c->timer_id);
		c->timer_id = 0;
	}
	if (timeout_ms >= 0) {
		c->timer_id = evloop_add_timer(c->loop, timeout_ms, on_timer, c);
		if (c->timer_id < 0) {
			c->timer_id = 0;
			return -1;
		}
	}
	return 0;
}

/* ---- public API ---- */

struct http_client *http_client_new(struct evloop *loop, char *err, size_t errlen)
{
	struct http_client *c = NULL;
	int global = 0;

	if (!loop) {
		seterr(err, errlen, "http client: no event loop");
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		seterr(err, errlen, "http client: libcurl initialisation failed");
		goto fail;
	}
	global = 1;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->multi = curl_multi_init())) {
		seterr(err, errlen, "http client: out of memory");
		goto fail;
	}
	c->loop = loop;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
fail:
	free(c);
	if (global)
		curl_global_cleanup();
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->reqs) {
		c->reqs->cancelled = 1;
		request_destroy(c->reqs);
	}
	curl_multi_cleanup(c->multi); /* may still report sockets as removed */
	while (c->socks)
		sock_free(c, c->socks);
	if (c->timer_id > 0)
		evloop_del_timer(c->loop, c->timer_id);
	free(c);
	curl_global_cleanup();
}

int http_client_active(const struct http_client *c)
{
	return c ? c->nreqs : 0;
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

static int set_blob(CURL *e, CURLoption opt, const char *pem, size_t len)
{
	struct curl_blob b;

	b.data = (void *)pem;
	b.len = len;
	b.flags = CURL_BLOB_COPY;
	return curl_easy_setopt(e, opt, &b) == CURLE_OK ? 0 : -1;
}

static int apply_tls(CURL *e, const struct http_tls *t, char *err, size_t errlen)
{
	int rc = -1;

	if (t->ca_pem) {
		if (set_blob(e, CURLOPT_CAINFO_BLOB, t->ca_pem, t->ca_pem_len) < 0)
			goto unsupported;
	} else if (t->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
	}
	if (t->cert_pem) {
		if (set_blob(e, CURLOPT_SSLCERT_BLOB, t->cert_pem, t->cert_pem_len) < 0)
			goto unsupported;
	} else if (t->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
	}
	if (t->cert_pem || t->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	if (t->key_pem) {
		if (set_blob(e, CURLOPT_SSLKEY_BLOB, t->key_pem, t->key_pem_len) < 0)
			goto unsupported;
	} else if (t->key_file) {
		curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
	}
	if (t->key_pem || t->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	if (t->insecure_skip_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = 0;
	goto out;
unsupported:
	seterr(err, errlen, "http client: this libcurl cannot take TLS material from memory");
out:
	return rc;
}

/* Build the header list. The bearer line is assembled in a local buffer that
 * is wiped before returning. */
static int build_headers(struct http_request *r, const struct http_request_opts *o, char *err, size_t errlen)
{
	char line[4096];
	struct curl_slist *n;
	size_t i;
	int rc = -1;

	line[0] = '\0';
	/* No "Expect: 100-continue" round trip for bodies. */
	if (!(n = curl_slist_append(r->headers, "Expect:")))
		goto oom;
	r->headers = n;
	if (o->content_type && has_crlf(o->content_type)) {
		seterr(err, errlen, "http request: Content-Type contains a line break");
		goto fail;
	}
	/* Without a type, libcurl's default form type is removed. */
	snprintf(line, sizeof(line), "Content-Type:%s%s", o->content_type ? " " : "",
		 o->content_type ? o->content_type : "");
	if (!(n = curl_slist_append(r->headers, line)))
		goto oom;
	r->headers = n;
	for (i = 0; o->headers && o->headers[i]; i++) {
		if (has_crlf(o->headers[i]) || !strchr(o->headers[i], ':')) {
			seterr(err, errlen, "http request: header %zu is not one \"Name: value\" line", i);
			goto fail;
		}
		if (!(n = curl_slist_append(r->headers, o->headers[i])))
			goto oom;
		r->headers = n;
	}
	if (o->bearer_token) {
		if (has_crlf(o->bearer_token) || !*o->bearer_token) {
			seterr(err, errlen, "http request: bearer token is empty or contains a line break");
			goto fail;
		}
		if ((size_t)snprintf(line, sizeof(line), "Authorization: Bearer %s", o->bearer_token) >= sizeof(line)) {
			seterr(err, errlen, "http request: bearer token longer than %zu bytes", sizeof(line) - 32);
			goto fail;
		}
		if (!(n = curl_slist_append(r->headers, line)))
			goto oom;
		r->headers = n;
	}
	rc = 0;
	goto fail;
oom:
	seterr(err, errlen, "http request: out of memory");
fail:
	wipe(line, sizeof(line));
	return rc;
}

struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o, char *err,
					size_t errlen)
{
	struct http_request *r = NULL;
	const char *method;
	size_t wlen;

	if (!c || !o || !o->url || !o->on_done || o->max_body == 0 || (o->on_line && o->max_line == 0)) {
		seterr(err, errlen, "http request: url, on_done, max_body (and max_line when streaming) are required");
		goto fail;
	}
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
		seterr(err, errlen, "http request: URL must start with http:// or https://");
		goto fail;
	}
	method = o->method ? o->method : "GET";
	if (!*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method)) {
		seterr(err, errlen, "http request: bad method");
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto oom;
	r->c = c;
	r->on_done = o->on_done;
	r->on_line = o->on_line;
	r->arg = o->arg;
	r->max_body = o->max_body;
	r->max_line = o->max_line;
	http_lines_init(&r->lines, o->max_line);
	wlen = strlen(method) + strlen(o->url) + 2;
	if (!(r->what = malloc(wlen)))
		goto oom;
	snprintf(r->what, wlen, "%s %s", method, o->url);
	if (!(r->easy = curl_easy_init()))
		goto oom;
	if (build_headers(r, o, err, errlen) < 0)
		goto fail;

	curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "autoshard/" AUTOSHARD_VERSION);
	if (o->timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	if (o->stall_timeout_s > 0) {
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, (long)o->stall_timeout_s);
	}
	if (!o->on_line) /* refuse early when Content-Length says too much */
		curl_easy_setopt(r->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0 || o->body) {
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
		if (o->body || strcmp(method, "POST") == 0) {
			curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
			if (curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "") != CURLE_OK)
				goto oom;
		}
	}
	if (o->tls && apply_tls(r->easy, o->tls, err, errlen) < 0)
		goto fail;

	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	if (!c->in_curl) {
		if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
			list_unlink(r);
			c->nreqs--;
			seterr(err, errlen, "http request: cannot add the transfer");
			goto fail;
		}
		r->added = 1;
	} /* else after_curl adds it */
	return r;
oom:
	seterr(err, errlen, "http request: out of memory");
fail:
	if (r) {
		if (r->easy)
			curl_easy_cleanup(r->easy);
		headers_free(r->headers);
		free(r->what);
		http_lines_free(&r->lines);
		free(r);
	}
	return NULL;
}

void http_request_cancel(struct http_request *r)
{
	if (!r || r->finishing)
		return;
	r->cancelled = 1;
	if (!r->c->in_curl)
		request_destroy(r);
	/* else: the write callback aborts on the flag and after_curl frees it */
}
