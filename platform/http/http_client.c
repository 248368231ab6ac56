/* HTTP(S) client on evloop: plain sockets or OpenSSL, HTTP/1.1, one
 * connection per request ("Connection: close"). See http_client.h.
 *
 * Why not libcurl: the controller's idle memory target (10 MB). Debian's
 * libcurl pulls in about thirty libraries (GnuTLS via librtmp, Kerberos,
 * LDAP, SSH, ...), 4.5 MB of resident pages in every process before it sends
 * one byte; OpenSSL is already in the process for libwebsockets.
 *
 * A request is a state machine driven by its socket's events and one timer:
 *
 *   RESOLVE (getaddrinfo_a, polled) -> CONNECT (non-blocking, every address
 *   in turn) -> TLS (handshake; https only) -> SEND -> RECV (http_response.c)
 *   -> on_done
 *
 * Re-entrancy: a callback (on_line, on_done) may start requests and cancel
 * any request. A request being worked on has busy > 0; cancelling it then
 * only marks it, and the code that holds it frees it when it unwinds. */
#define _GNU_SOURCE /* getaddrinfo_a */
#include "http/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_response.h"
#include "util.h"

#define HTTP_ERRMSG_MAX 512
#define RESOLVE_POLL_MS 5
#define READ_CHUNK 16384

enum req_state { RS_RESOLVE, RS_CONNECT, RS_TLS, RS_SEND, RS_RECV };

struct http_request {
	struct http_client *c;
	enum req_state state;
	char *what; /* "METHOD URL" for error messages */
	http_done_cb *on_done;
	http_line_cb *on_line;
	void *arg;
	size_t max_body, max_line;

	/* where */
	int https;
	char host[256]; /* without brackets */
	char port[8];
	int host_is_ip;
	struct lookup *lookup; /* RESOLVE */
	struct addrinfo *addrs, *next_addr;
	char last_connect_err[128];

	/* connection */
	int fd;
	int mask; /* EV_* asked of the loop */
	SSL_CTX *ctx;
	SSL *ssl;

	/* request bytes: head and body; wiped at the end (Authorization) */
	char *out;
	size_t out_len, out_off;

	/* response */
	struct http_resp resp;
	char *buf; /* buffered body (also a non-2xx body in streaming mode) */
	size_t len, cap;
	struct http_lines lines; /* streaming with a 2xx status */
	int line_mode;

	/* time */
	int64_t timer_id;      /* deadlines */
	int64_t resolve_timer; /* polls the lookup */
	int64_t start;
	int64_t deadline;         /* whole request, 0 = none */
	int64_t connect_deadline; /* until the TLS handshake ends, 0 = none */
	int64_t stall_ms;         /* 0 = off */
	int64_t last_progress;

	int busy;      /* an event handler of this request is on the stack */
	int cancelled; /* cancelled: no more callbacks */
	int finishing; /* on_done is running */
	int done;      /* ended; freed as soon as it is not busy */
	struct http_request *next, *prev;
};

/* One getaddrinfo_a lookup. It lives on the heap, apart from its request:
 * glibc writes into it until the lookup ends, which may be after the
 * request is gone (then the client keeps it on its orphan list). */
struct lookup {
	struct gaicb gai;
	struct addrinfo hints;
	char name[256], service[8];
	struct lookup *next;
};

struct http_client {
	struct evloop *loop;
	int nreqs;
	struct http_request *reqs;
	struct lookup *orphans;
	int64_t orphan_timer;
};

/* ---- small helpers ---- */

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
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

static int64_t orphan_poll(struct evloop *loop, int64_t id, void *arg)
{
	struct http_client *c = arg;
	struct lookup **pp = &c->orphans, *l;

	(void)loop;
	(void)id;
	while ((l = *pp)) {
		if (gai_error(&l->gai) == EAI_INPROGRESS) {
			pp = &l->next;
			continue;
		}
		if (l->gai.ar_result)
			freeaddrinfo(l->gai.ar_result);
		*pp = l->next;
		free(l);
	}
	if (c->orphans)
		return 50;
	c->orphan_timer = 0;
	return 0;
}

/* The request goes away: free its lookup, or hand a running one to the
 * client, which frees it when glibc is done with it. */
static void lookup_abandon(struct http_request *r)
{
	struct http_client *c = r->c;
	struct lookup *l = r->lookup;

	if (!l)
		return;
	r->lookup = NULL;
	/* EAI_CANCELED: dequeued before it ran (gai_error keeps saying
	 * EAI_INPROGRESS then); EAI_ALLDONE: finished. */
	if (gai_error(&l->gai) == EAI_INPROGRESS && gai_cancel(&l->gai) == EAI_NOTCANCELED) {
		l->next = c->orphans;
		c->orphans = l;
		if (!c->orphan_timer)
			c->orphan_timer = evloop_add_timer(c->loop, 50, orphan_poll, c);
		return;
	}
	if (l->gai.ar_result)
		freeaddrinfo(l->gai.ar_result);
	free(l);
}

static void conn_close(struct http_request *r)
{
	if (r->mask) {
		evloop_del_file(r->c->loop, r->fd, r->mask);
		r->mask = 0;
	}
	if (r->ssl) {
		SSL_free(r->ssl);
		r->ssl = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}

/* Remove from the client, free everything. */
static void request_destroy(struct http_request *r)
{
	struct http_client *c = r->c;

	lookup_abandon(r);
	conn_close(r);
	if (r->ctx)
		SSL_CTX_free(r->ctx);
	if (r->addrs)
		freeaddrinfo(r->addrs);
	if (r->timer_id > 0)
		evloop_del_timer(c->loop, r->timer_id);
	if (r->resolve_timer > 0)
		evloop_del_timer(c->loop, r->resolve_timer);
	list_unlink(r);
	c->nreqs--;
	free(r->what);
	wipe(r->out, r->out_len);
	free(r->out);
	wipe(r->buf, r->cap);
	free(r->buf);
	http_lines_free(&r->lines);
	http_resp_free(&r->resp);
	free(r);
}

static int deliver_line(const char *line, size_t len, void *arg)
{
	struct http_request *r = arg;

	if (!r->cancelled)
		r->on_line(r, line, len, r->arg);
	return r->cancelled; /* stop feeding a cancelled request */
}

/* End the request: call on_done once (unless cancelled), then free it, or
 * leave that to the event handler on the stack (busy). */
static void request_finish(struct http_request *r, enum http_error error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void request_finish(struct http_request *r, enum http_error error, const char *fmt, ...)
{
	struct http_result res;
	char msg[HTTP_ERRMSG_MAX], why[HTTP_ERRMSG_MAX];
	va_list ap;

	conn_close(r);
	memset(&res, 0, sizeof(res));
	res.error = error;
	res.status = r->resp.status;
	msg[0] = '\0';
	if (error != HTTP_OK) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(msg, sizeof(msg), "%s: %s", r->what, why);
	}
	res.errmsg = msg;
	/* A clean end of a stream: a last line without '\n' is complete. */
	if (r->line_mode && error == HTTP_OK && !r->cancelled)
		(void)http_lines_finish(&r->lines, deliver_line, r);
	if (r->line_mode || !r->buf) {
		res.body = "";
		res.body_len = 0;
	} else {
		res.body = r->buf;
		res.body_len = r->len;
	}
	r->done = 1;
	if (!r->cancelled) {
		r->finishing = 1;
		r->on_done(r, &res, r->arg);
		r->finishing = 0;
	}
	if (!r->busy)
		request_destroy(r);
}

static const char *ssl_error_text(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "TLS error";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
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

/* ---- the state machine ---- */

static void on_io(struct evloop *loop, int fd, int mask, void *arg);
static void step(struct http_request *r);

static int want(struct http_request *r, int mask)
{
	if (r->mask & ~mask) {
		evloop_del_file(r->c->loop, r->fd, r->mask & ~mask);
		r->mask &= mask;
	}
	if (mask & ~r->mask) {
		if (evloop_add_file(r->c->loop, r->fd, mask, on_io, r) < 0)
			return -1;
		r->mask = mask;
	}
	return 0;
}

static void connect_next(struct http_request *r)
{
	struct addrinfo *ai;

	conn_close(r);
	while ((ai = r->next_addr)) {
		int fd, one = 1;

		r->next_addr = ai->ai_next;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(r->last_connect_err, sizeof(r->last_connect_err), "%s", strerror(errno));
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(r->last_connect_err, sizeof(r->last_connect_err), "%s", strerror(errno));
			close(fd);
			continue;
		}
		r->fd = fd;
		r->state = RS_CONNECT;
		if (want(r, EV_WRITABLE) < 0) {
			request_finish(r, HTTP_ERR_OTHER, "cannot watch the socket");
			return;
		}
		return;
	}
	request_finish(r, HTTP_ERR_CONNECT, "couldn't connect to %s port %s: %s", r->host, r->port,
		       r->last_connect_err[0] ? r->last_connect_err : "no address");
}

static void start_connect(struct http_request *r, struct addrinfo *list)
{
	r->addrs = list;
	r->next_addr = list;
	connect_next(r);
}

static int64_t on_resolve_poll(struct evloop *loop, int64_t id, void *arg)
{
	struct http_request *r = arg;
	struct addrinfo *list;
	int rc;

	(void)loop;
	(void)id;
	if (r->lookup) {
		rc = gai_error(&r->lookup->gai);
		if (rc == EAI_INPROGRESS)
			return RESOLVE_POLL_MS;
		list = r->lookup->gai.ar_result;
		r->lookup->gai.ar_result = NULL;
		free(r->lookup);
		r->lookup = NULL;
	} else { /* an address literal, resolved at start */
		rc = 0;
		list = r->addrs;
		r->addrs = NULL;
	}
	r->resolve_timer = 0;
	r->busy++;
	if (rc != 0) {
		if (list)
			freeaddrinfo(list);
		request_finish(r, HTTP_ERR_CONNECT, "couldn't resolve host %s: %s", r->host, gai_strerror(rc));
	} else {
		start_connect(r, list);
	}
	if (--r->busy == 0 && (r->cancelled || r->done))
		request_destroy(r);
	return 0;
}

static int tls_setup(struct http_request *r)
{
	X509_VERIFY_PARAM *vp;

	ERR_clear_error();
	if (!(r->ssl = SSL_new(r->ctx)) || SSL_set_fd(r->ssl, r->fd) != 1)
		return -1;
	SSL_set_mode(r->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	vp = SSL_get0_param(r->ssl);
	if (r->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, r->host) != 1)
			return -1;
	} else if (X509_VERIFY_PARAM_set1_host(vp, r->host, 0) != 1 || SSL_set_tlsext_host_name(r->ssl, r->host) != 1) {
		return -1;
	}
	SSL_set_connect_state(r->ssl);
	return 0;
}

/* SSL_ERROR_WANT_* to the events to wait for; -1 on a real error. */
static int ssl_want(struct http_request *r, int rc)
{
	switch (SSL_get_error(r->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return want(r, EV_READABLE) < 0 ? -1 : 0;
	case SSL_ERROR_WANT_WRITE:
		return want(r, EV_WRITABLE) < 0 ? -1 : 0;
	default:
		return -1;
	}
}

static void do_handshake(struct http_request *r)
{
	char ebuf[256];
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(r->ssl);
	if (rc == 1) {
		r->state = RS_SEND;
		r->connect_deadline = 0;
		step(r);
		return;
	}
	if (ssl_want(r, rc) == 0)
		return;
	if (SSL_get_verify_result(r->ssl) != X509_V_OK)
		request_finish(r, HTTP_ERR_TLS, "TLS: server certificate not accepted: %s",
			       X509_verify_cert_error_string(SSL_get_verify_result(r->ssl)));
	else if (ERR_peek_last_error())
		request_finish(r, HTTP_ERR_TLS, "TLS handshake failed: %s", ssl_error_text(ebuf, sizeof(ebuf)));
	else
		request_finish(r, HTTP_ERR_TLS, "TLS handshake failed: connection closed by %s port %s", r->host,
			       r->port);
}

static int on_head(const struct http_resp *resp, void *arg)
{
	struct http_request *r = arg;

	r->line_mode = r->on_line && resp->status >= 200 && resp->status < 300;
	/* Refuse early when Content-Length says too much. */
	if (!r->line_mode && resp->content_length >= 0 && (uint64_t)resp->content_length > r->max_body) {
		request_finish(r, HTTP_ERR_TOO_LARGE, "response body larger than %zu bytes", r->max_body);
		return 1;
	}
	return 0;
}

static int on_body(const char *p, size_t n, void *arg)
{
	struct http_request *r = arg;

	if (r->line_mode) {
		switch (http_lines_feed(&r->lines, p, n, deliver_line, r)) {
		case 0:
			return 0;
		case 1:
			return 1; /* cancelled from on_line */
		default:
			if (errno == EMSGSIZE)
				request_finish(r, HTTP_ERR_LINE_TOO_LONG, "streamed line longer than %zu bytes",
					       r->max_line);
			else
				request_finish(r, HTTP_ERR_OTHER, "out of memory");
			return 1;
		}
	}
	if (r->len + n > r->max_body) {
		request_finish(r, HTTP_ERR_TOO_LARGE, "response body larger than %zu bytes", r->max_body);
		return 1;
	}
	if (http_bytes_append(&r->buf, &r->len, &r->cap, p, n) < 0) {
		request_finish(r, HTTP_ERR_OTHER, "out of memory");
		return 1;
	}
	return 0;
}

/* Returns 1 when the request ended (finished or cancelled) inside. */
static int feed(struct http_request *r, const char *p, size_t n)
{
	int rc = http_resp_feed(&r->resp, p, n, on_head, on_body, r);

	if (rc == 1 || r->cancelled || r->done)
		return 1; /* stopped: a callback finished or cancelled it */
	if (rc < 0) {
		request_finish(r, HTTP_ERR_OTHER, "%s", r->resp.error);
		return 1;
	}
	if (r->resp.state == HTTP_RESP_DONE) {
		request_finish(r, HTTP_OK, "%s", "");
		return 1;
	}
	return 0;
}

static void do_send(struct http_request *r)
{
	char ebuf[256];

	while (r->out_off < r->out_len) {
		ssize_t w;

		if (r->ssl) {
			int rc;

			ERR_clear_error();
			rc = SSL_write(r->ssl, r->out + r->out_off, (int)(r->out_len - r->out_off));
			if (rc <= 0) {
				if (ssl_want(r, rc) == 0)
					return;
				request_finish(r, HTTP_ERR_OTHER, "sending the request: %s",
					       ssl_error_text(ebuf, sizeof(ebuf)));
				return;
			}
			w = rc;
		} else {
			w = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					if (want(r, EV_WRITABLE) < 0)
						request_finish(r, HTTP_ERR_OTHER, "cannot watch the socket");
					return;
				}
				request_finish(r, HTTP_ERR_OTHER, "sending the request: %s", strerror(errno));
				return;
			}
		}
		r->out_off += (size_t)w;
		r->last_progress = now_ms();
	}
	wipe(r->out, r->out_len); /* it held the Authorization header */
	r->state = RS_RECV;
	if (want(r, EV_READABLE) < 0)
		request_finish(r, HTTP_ERR_OTHER, "cannot watch the socket");
}

static void do_recv(struct http_request *r)
{
	char buf[READ_CHUNK], ebuf[256];
	int rounds;

	/* Plain sockets: bounded per event, so one busy stream does not starve
	 * the loop (epoll reports the rest). TLS: until OpenSSL wants more
	 * bytes, since data it already decrypted raises no event. */
	for (rounds = 0; r->ssl || rounds < 64; rounds++) {
		ssize_t n;

		if (r->ssl) {
			int rc;

			ERR_clear_error();
			rc = SSL_read(r->ssl, buf, sizeof(buf));
			if (rc <= 0) {
				int e = SSL_get_error(r->ssl, rc);

				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					if (ssl_want(r, rc) < 0)
						request_finish(r, HTTP_ERR_OTHER, "cannot watch the socket");
					return;
				}
				if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()))
					n = 0; /* close_notify, or the peer closed without one */
				else {
					request_finish(r, HTTP_ERR_OTHER, "receiving: %s",
						       ssl_error_text(ebuf, sizeof(ebuf)));
					return;
				}
			} else {
				n = rc;
			}
		} else {
			n = recv(r->fd, buf, sizeof(buf), 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return;
				request_finish(r, HTTP_ERR_OTHER, "receiving: %s", strerror(errno));
				return;
			}
		}
		if (n == 0) {
			if (http_resp_eof(&r->resp) < 0) {
				request_finish(r, HTTP_ERR_OTHER, "%s", r->resp.error);
				return;
			}
			request_finish(r, HTTP_OK, "%s", "");
			return;
		}
		r->last_progress = now_ms();
		if (feed(r, buf, (size_t)n))
			return;
	}
}

static void step(struct http_request *r)
{
	int err = 0;
	socklen_t sl = sizeof(err);
	char ebuf[256];

	switch (r->state) {
	case RS_RESOLVE:
		return;
	case RS_CONNECT:
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err) {
			snprintf(r->last_connect_err, sizeof(r->last_connect_err), "%s", strerror(err));
			connect_next(r);
			return;
		}
		r->last_progress = now_ms();
		if (r->https) {
			if (tls_setup(r) < 0) {
				request_finish(r, HTTP_ERR_TLS, "TLS setup: %s", ssl_error_text(ebuf, sizeof(ebuf)));
				return;
			}
			r->state = RS_TLS;
			do_handshake(r);
			return;
		}
		r->connect_deadline = 0;
		r->state = RS_SEND;
		do_send(r);
		return;
	case RS_TLS:
		do_handshake(r);
		return;
	case RS_SEND:
		do_send(r);
		return;
	case RS_RECV:
		do_recv(r);
		return;
	}
}

static void on_io(struct evloop *loop, int fd, int mask, void *arg)
{
	struct http_request *r = arg;

	(void)loop;
	(void)fd;
	(void)mask;
	r->busy++;
	step(r);
	if (--r->busy == 0 && (r->cancelled || r->done))
		request_destroy(r);
}

/* ms until the nearest deadline (>= 1), or 0 when there is none. */
static int64_t next_wake(const struct http_request *r, int64_t now)
{
	int64_t t[3] = {r->deadline, r->connect_deadline, r->stall_ms ? r->last_progress + r->stall_ms : 0};
	int64_t best = 0;
	int i;

	for (i = 0; i < 3; i++)
		if (t[i] && (!best || t[i] < best))
			best = t[i];
	if (!best)
		return 0;
	return best - now > 0 ? best - now : 1;
}

static int64_t on_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct http_request *r = arg;
	int64_t now = now_ms(), again;

	(void)loop;
	(void)id;
	r->busy++;
	if (r->deadline && now >= r->deadline)
		request_finish(r, HTTP_ERR_TIMEOUT, "timed out after %lld ms", (long long)(now - r->start));
	else if (r->connect_deadline && now >= r->connect_deadline)
		request_finish(r, HTTP_ERR_TIMEOUT, "connecting to %s port %s timed out after %lld ms", r->host,
			       r->port, (long long)(now - r->start));
	else if (r->stall_ms && now - r->last_progress >= r->stall_ms)
		request_finish(r, HTTP_ERR_TIMEOUT, "nothing received for %lld s",
			       (long long)(now - r->last_progress) / 1000);
	again = r->done || r->cancelled ? 0 : next_wake(r, now);
	if (again == 0)
		r->timer_id = 0; /* this timer ends with this call */
	if (--r->busy == 0 && (r->cancelled || r->done))
		request_destroy(r);
	return again;
}

/* ---- public API ---- */

struct http_client *http_client_new(struct evloop *loop, char *err, size_t errlen)
{
	struct http_client *c;
	struct sigaction sa;

	if (!loop) {
		seterr(err, errlen, "http client: no event loop");
		return NULL;
	}
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1) {
		seterr(err, errlen, "http client: OpenSSL initialisation failed");
		return NULL;
	}
	/* SSL_write writes with write(2): a peer that closed must not kill the
	 * process with SIGPIPE. Only a default disposition is changed. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	c = calloc(1, sizeof(*c));
	if (!c) {
		seterr(err, errlen, "http client: out of memory");
		return NULL;
	}
	c->loop = loop;
	return c;
}

void http_client_free(struct http_client *c)
{
	struct lookup *l;

	if (!c)
		return;
	while (c->reqs) {
		c->reqs->cancelled = 1;
		c->reqs->busy = 0;
		request_destroy(c->reqs);
	}
	/* A lookup glibc still runs must end before its memory goes; the
	 * resolver's own timeouts bound the wait. */
	while ((l = c->orphans)) {
		const struct gaicb *list[1] = {&l->gai};

		while (gai_error(&l->gai) == EAI_INPROGRESS)
			(void)gai_suspend(list, 1, NULL);
		if (l->gai.ar_result)
			freeaddrinfo(l->gai.ar_result);
		c->orphans = l->next;
		free(l);
	}
	if (c->orphan_timer > 0)
		evloop_del_timer(c->loop, c->orphan_timer);
	free(c);
}

int http_client_active(const struct http_client *c)
{
	return c ? c->nreqs : 0;
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

/* http[s]://host[:port][/path...]: host, port and the request target. */
static int parse_url(struct http_request *r, const char *url, const char **target, char *err, size_t errlen)
{
	const char *p, *h, *he, *end;
	size_t hl;
	struct in6_addr a6;
	struct in_addr a4;

	r->https = strncmp(url, "https://", 8) == 0;
	p = url + (r->https ? 8 : 7);
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)))
		return seterr(err, errlen, "http request: user information in the URL is not supported");
	if (*p == '[') {
		h = p + 1;
		he = memchr(h, ']', (size_t)(end - h));
		if (!he)
			return seterr(err, errlen, "http request: bad IPv6 address in the URL");
		p = he + 1;
	} else {
		h = p;
		he = memchr(p, ':', (size_t)(end - p));
		if (!he)
			he = end;
		p = he;
	}
	hl = (size_t)(he - h);
	if (hl == 0 || hl >= sizeof(r->host))
		return seterr(err, errlen, "http request: missing or too long host in the URL");
	memcpy(r->host, h, hl);
	r->host[hl] = '\0';
	if (strspn(r->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%") != hl)
		return seterr(err, errlen, "http request: bad host in the URL");
	if (*p == ':') {
		size_t pl = (size_t)(end - p - 1);
		long port;
		char *e;

		if (pl == 0 || pl > 5 || strspn(p + 1, "0123456789") < pl)
			return seterr(err, errlen, "http request: bad port in the URL");
		port = strtol(p + 1, &e, 10);
		if (port < 1 || port > 65535)
			return seterr(err, errlen, "http request: bad port in the URL");
		snprintf(r->port, sizeof(r->port), "%ld", port);
	} else if (p != end) {
		return seterr(err, errlen, "http request: bad host in the URL");
	} else {
		strlcpy_a(r->port, r->https ? "443" : "80", sizeof(r->port));
	}
	r->host_is_ip = inet_pton(AF_INET, r->host, &a4) == 1 || inet_pton(AF_INET6, r->host, &a6) == 1;
	*target = *end == '/' ? end : NULL; /* NULL: "/" (+ query) */
	if (strpbrk(end, " \r\n\t"))
		return seterr(err, errlen, "http request: blank or line break in the URL");
	return 0;
}

static int load_pem_certs(X509_STORE *store, const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0;

	if (!b)
		return -1;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error(); /* the end of the data reads as an error */
	BIO_free(b);
	return n > 0 ? 0 : -1;
}

static int use_cert_pem(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = NULL;
	int rc = -1;

	if (!b)
		return -1;
	if (!(x = PEM_read_bio_X509(b, NULL, NULL, NULL)) || SSL_CTX_use_certificate(ctx, x) != 1)
		goto out;
	X509_free(x);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) /* intermediates */
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			goto out;
	ERR_clear_error();
	rc = 0;
out:
	X509_free(x);
	BIO_free(b);
	return rc;
}

static int use_key_pem(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = NULL;
	int rc = -1;

	if (!b)
		return -1;
	if ((k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) && SSL_CTX_use_PrivateKey(ctx, k) == 1)
		rc = 0;
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

/* The TLS context of one request. Messages name files, never contents. */
static SSL_CTX *tls_context(const struct http_tls *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char ebuf[256];

	ERR_clear_error();
	if (!ctx) {
		seterr(err, errlen, "http request: cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (t && t->insecure_skip_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (t && t->ca_pem) {
			if (load_pem_certs(SSL_CTX_get_cert_store(ctx), t->ca_pem, t->ca_pem_len) < 0) {
				seterr(err, errlen, "http request: the CA data holds no PEM certificate");
				goto fail;
			}
		} else if (t && t->ca_file) {
			if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
				seterr(err, errlen, "http request: cannot read CA file %s: %s", t->ca_file,
				       ssl_error_text(ebuf, sizeof(ebuf)));
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			seterr(err, errlen, "http request: cannot use the system CA store");
			goto fail;
		}
	}
	if (t && t->cert_pem) {
		if (use_cert_pem(ctx, t->cert_pem, t->cert_pem_len) < 0) {
			seterr(err, errlen, "http request: the client certificate data is not a PEM certificate");
			goto fail;
		}
	} else if (t && t->cert_file && SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
		seterr(err, errlen, "http request: cannot read client certificate file %s", t->cert_file);
		goto fail;
	}
	if (t && t->key_pem) {
		if (use_key_pem(ctx, t->key_pem, t->key_pem_len) < 0) {
			seterr(err, errlen, "http request: the client key data is not a PEM private key");
			goto fail;
		}
	} else if (t && t->key_file && SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
		seterr(err, errlen, "http request: cannot read client key file %s", t->key_file);
		goto fail;
	}
	if (t && (t->key_pem || t->key_file) && SSL_CTX_check_private_key(ctx) != 1) {
		seterr(err, errlen, "http request: the client key does not match the client certificate");
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* The request head and body in one buffer. The Authorization line holds a
 * secret: the buffer is wiped when sent and when freed. */
static int build_request(struct http_request *r, const struct http_request_opts *o, const char *method,
			 const char *target, const char *url, char *err, size_t errlen)
{
	size_t i, cap, off = 0, hostlen;
	int n, v6 = strchr(r->host, ':') != NULL;
	const char *query;
	int default_port = strcmp(r->port, r->https ? "443" : "80") == 0;
	int with_body = o->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			strcmp(method, "PATCH") == 0;

	if (o->content_type && has_crlf(o->content_type))
		return seterr(err, errlen, "http request: Content-Type contains a line break");
	for (i = 0; o->headers && o->headers[i]; i++)
		if (has_crlf(o->headers[i]) || !strchr(o->headers[i], ':'))
			return seterr(err, errlen, "http request: header %zu is not one \"Name: value\" line", i);
	if (o->bearer_token && (has_crlf(o->bearer_token) || !*o->bearer_token))
		return seterr(err, errlen, "http request: bearer token is empty or contains a line break");
	if (o->bearer_token && strlen(o->bearer_token) > 16384)
		return seterr(err, errlen, "http request: bearer token longer than 16384 bytes");
	query = target ? NULL : strchr(url + (r->https ? 8 : 7), '?');
	hostlen = strlen(r->host);
	cap = strlen(method) + (target ? strlen(target) : 1 + (query ? strlen(query) : 0)) + hostlen + 256 +
	      (o->content_type ? strlen(o->content_type) : 0) + (o->bearer_token ? strlen(o->bearer_token) : 0) +
	      (with_body && o->body ? o->body_len : 0);
	for (i = 0; o->headers && o->headers[i]; i++)
		cap += strlen(o->headers[i]) + 2;
	if (!(r->out = malloc(cap)))
		return seterr(err, errlen, "http request: out of memory");
#define PUT(...)                                                    \
	do {                                                        \
		n = snprintf(r->out + off, cap - off, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= cap - off)                \
			goto toolong;                               \
		off += (size_t)n;                                   \
	} while (0)
	if (target)
		PUT("%s %s HTTP/1.1\r\n", method, target);
	else
		PUT("%s /%s HTTP/1.1\r\n", method, query ? query : "");
	PUT("Host: %s%s%s%s%s\r\n", v6 ? "[" : "", r->host, v6 ? "]" : "", default_port ? "" : ":",
	    default_port ? "" : r->port);
	PUT("User-Agent: autoshard/%s\r\nAccept: */*\r\nConnection: close\r\n", AUTOSHARD_VERSION);
	for (i = 0; o->headers && o->headers[i]; i++)
		PUT("%s\r\n", o->headers[i]);
	if (o->content_type)
		PUT("Content-Type: %s\r\n", o->content_type);
	if (o->bearer_token)
		PUT("Authorization: Bearer %s\r\n", o->bearer_token);
	if (with_body)
		PUT("Content-Length: %zu\r\n", o->body ? o->body_len : 0);
	PUT("\r\n");
#undef PUT
	if (with_body && o->body && o->body_len) {
		if (cap - off < o->body_len)
			goto toolong;
		memcpy(r->out + off, o->body, o->body_len);
		off += o->body_len;
	}
	r->out_len = off;
	return 0;
toolong:
	return seterr(err, errlen, "http request: the request does not fit its buffer");
}

struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o, char *err,
					size_t errlen)
{
	struct http_request *r = NULL;
	const char *method, *target = NULL;
	size_t wlen;
	int64_t now = now_ms(), wake;
	struct gaicb *gai_list[1];

	if (!c || !o || !o->url || !o->on_done || o->max_body == 0 || (o->on_line && o->max_line == 0)) {
		seterr(err, errlen, "http request: url, on_done, max_body (and max_line when streaming) are required");
		return NULL;
	}
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
		seterr(err, errlen, "http request: URL must start with http:// or https://");
		return NULL;
	}
	method = o->method ? o->method : "GET";
	if (!*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method)) {
		seterr(err, errlen, "http request: bad method");
		return NULL;
	}
	if (!(r = calloc(1, sizeof(*r))))
		goto oom;
	r->c = c;
	r->fd = -1;
	r->on_done = o->on_done;
	r->on_line = o->on_line;
	r->arg = o->arg;
	r->max_body = o->max_body;
	r->max_line = o->max_line;
	http_lines_init(&r->lines, o->max_line);
	http_resp_init(&r->resp, strcmp(method, "HEAD") == 0);
	wlen = strlen(method) + strlen(o->url) + 2;
	if (!(r->what = malloc(wlen)))
		goto oom;
	snprintf(r->what, wlen, "%s %s", method, o->url);
	if (parse_url(r, o->url, &target, err, errlen) < 0 ||
	    build_request(r, o, method, target, o->url, err, errlen) < 0)
		goto fail;
	if (r->https && !(r->ctx = tls_context(o->tls, err, errlen)))
		goto fail;
	r->start = r->last_progress = now;
	if (o->timeout_ms > 0)
		r->deadline = now + o->timeout_ms;
	r->connect_deadline = now + (o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 300000);
	r->stall_ms = o->stall_timeout_s > 0 ? (int64_t)o->stall_timeout_s * 1000 : 0;

	/* Resolve: literals at once, names on glibc's resolver threads. */
	if (r->host_is_ip) {
		struct addrinfo hints;
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if ((rc = getaddrinfo(r->host, r->port, &hints, &r->addrs)) != 0) {
			seterr(err, errlen, "http request: bad address %s: %s", r->host, gai_strerror(rc));
			goto fail;
		}
	} else if (!(r->lookup = calloc(1, sizeof(*r->lookup)))) {
		goto oom;
	} else {
		strlcpy_a(r->lookup->name, r->host, sizeof(r->lookup->name));
		strlcpy_a(r->lookup->service, r->port, sizeof(r->lookup->service));
		r->lookup->hints.ai_socktype = SOCK_STREAM;
		r->lookup->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		r->lookup->gai.ar_name = r->lookup->name;
		r->lookup->gai.ar_service = r->lookup->service;
		r->lookup->gai.ar_request = &r->lookup->hints;
		gai_list[0] = &r->lookup->gai;
		if (getaddrinfo_a(GAI_NOWAIT, gai_list, 1, NULL) != 0) {
			seterr(err, errlen, "http request: cannot start resolving %s", r->host);
			goto fail;
		}
	}
	r->state = RS_RESOLVE;
	wake = next_wake(r, now);
	if ((r->resolve_timer = evloop_add_timer(c->loop, 0, on_resolve_poll, r)) < 0 ||
	    (wake && (r->timer_id = evloop_add_timer(c->loop, wake, on_timer, r)) < 0)) {
		r->resolve_timer = r->resolve_timer < 0 ? 0 : r->resolve_timer;
		r->timer_id = 0;
		seterr(err, errlen, "http request: cannot add a timer");
		goto fail;
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	return r;
oom:
	seterr(err, errlen, "http request: out of memory");
fail:
	if (!r)
		return NULL;
	r->next = c->reqs; /* request_destroy unlinks it and counts it down */
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	request_destroy(r);
	return NULL;
}

void http_request_cancel(struct http_request *r)
{
	if (!r || r->finishing || r->done)
		return;
	r->cancelled = 1;
	if (!r->busy)
		request_destroy(r);
	/* else: the handler on the stack frees it when it returns */
}
