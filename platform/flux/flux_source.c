#include "flux/flux_source.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define ERRBUF 256

struct addr {
	int family;
	unsigned char b[16];
	char text[IP_MAX];
};

/* Printable, bounded copy of untrusted text for an error message. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
	return printable(buf, cap, s, len);
}

static int addr_from(const char *s, size_t len, int family, struct addr *a)
{
	char tmp[IP_MAX];

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(family, tmp, a->b) != 1)
		return -1;
	a->family = family;
	if (!inet_ntop(family, a->b, a->text, sizeof(a->text)))
		return -1;
	return 0;
}

static int port_ok(const char *s, size_t len)
{
	long v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* "a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port". */
static int parse_flux_ip(const char *s, size_t len, struct addr *a)
{
	const char *colon;
	size_t ncolon = 0;

	if (len && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		size_t rest;
		if (!end)
			return -1;
		rest = len - (size_t)(end + 1 - s);
		if (rest && (end[1] != ':' || !port_ok(end + 2, rest - 1)))
			return -1;
		return addr_from(s + 1, (size_t)(end - s - 1), AF_INET6, a);
	}
	for (size_t i = 0; i < len; i++)
		ncolon += s[i] == ':';
	if (ncolon == 0)
		return addr_from(s, len, AF_INET, a);
	if (ncolon > 1)
		return addr_from(s, len, AF_INET6, a);
	colon = memchr(s, ':', len);
	if (!port_ok(colon + 1, len - (size_t)(colon + 1 - s)))
		return -1;
	return addr_from(s, (size_t)(colon - s), AF_INET, a);
}

static int addr_cmp(const void *x, const void *y)
{
	const struct addr *a = x, *b = y;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16);
}

int flux_app_name_valid(const char *app)
{
	size_t n;

	if (!app)
		return 0;
	n = strlen(app);
	if (n == 0 || n > FLUX_APP_NAME_MAX || app[0] == '-' || app[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)app[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int flux_location_parse(const char *buf, size_t len, const char *app, int port, struct member_list *out, char *err,
			size_t errlen)
{
	json_t *root = NULL, *status, *data, *ent;
	json_error_t je;
	struct addr *addrs = NULL;
	size_t na = 0, i;
	char s1[120], s2[80];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (port == 0)
		port = FLUX_DEFAULT_PORT;
	if (!flux_app_name_valid(app)) {
		seterr(err, errlen, "location answer: bad app name '%s'", app ? shown(app, strlen(app), s1, 70) : "");
		goto done;
	}
	if (port < 1 || port > 65535) {
		seterr(err, errlen, "location answer: bad port %d", port);
		goto done;
	}
	if (len > FLUX_LOCATION_MAX_BYTES) {
		seterr(err, errlen, "location answer: %zu bytes, more than the %u allowed", len,
		       FLUX_LOCATION_MAX_BYTES);
		goto done;
	}
	if (len == 0) {
		seterr(err, errlen, "location answer: empty");
		goto done;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errlen, "location answer: not valid JSON at line %d column %d: %s", je.line, je.column,
		       shown(je.text, strlen(je.text), s1, 70));
		goto done;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "location answer: top level is not an object");
		goto done;
	}
	status = json_object_get(root, "status");
	data = json_object_get(root, "data");
	if (!json_is_string(status)) {
		seterr(err, errlen, "location answer: no \"status\" string");
		goto done;
	}
	if (strcmp(json_string_value(status), "success") != 0) {
		json_t *msg = json_is_object(data) ? json_object_get(data, "message") : NULL;
		seterr(err, errlen, "location API answered status '%s'%s%s",
		       shown(json_string_value(status), json_string_length(status), s2, 40),
		       json_is_string(msg) ? ": " : "",
		       json_is_string(msg) ? shown(json_string_value(msg), json_string_length(msg), s1, 100) : "");
		goto done;
	}
	if (!json_is_array(data)) {
		seterr(err, errlen, "location answer: \"data\" is not a list");
		goto done;
	}
	if (json_array_size(data) == 0) {
		seterr(err, errlen, "location answer: app '%s' has no instance", app);
		goto done;
	}
	if (json_array_size(data) > FLUX_LOCATION_MAX_ENTRIES) {
		seterr(err, errlen, "location answer: %zu entries, more than the %d allowed", json_array_size(data),
		       FLUX_LOCATION_MAX_ENTRIES);
		goto done;
	}
	addrs = calloc(json_array_size(data), sizeof(*addrs));
	if (!addrs) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	json_array_foreach(data, i, ent)
	{
		json_t *ip, *name;
		int dup = 0;

		if (!json_is_object(ent)) {
			seterr(err, errlen, "location answer: data[%zu] is not an object", i);
			goto done;
		}
		name = json_object_get(ent, "name");
		if (name && (!json_is_string(name) || strcasecmp(json_string_value(name), app) != 0)) {
			seterr(err, errlen, "location answer: data[%zu] is for app '%s', not '%s'", i,
			       json_is_string(name) ? shown(json_string_value(name), json_string_length(name), s1, 70)
						    : "(not a string)",
			       app);
			goto done;
		}
		ip = json_object_get(ent, "ip");
		if (!json_is_string(ip)) {
			seterr(err, errlen, "location answer: data[%zu] has no \"ip\" string", i);
			goto done;
		}
		if (parse_flux_ip(json_string_value(ip), json_string_length(ip), &addrs[na]) < 0) {
			seterr(err, errlen,
			       "location answer: data[%zu]: \"%s\" is not an IP address with an optional port", i,
			       shown(json_string_value(ip), json_string_length(ip), s1, 60));
			goto done;
		}
		for (size_t j = 0; j < na && !dup; j++)
			dup = addr_cmp(&addrs[j], &addrs[na]) == 0;
		if (!dup)
			na++;
	}
	if (na > MEMBERS_MAX) {
		seterr(err, errlen, "location answer: %zu instances, more than %d", na, MEMBERS_MAX);
		goto done;
	}
	qsort(addrs, na, sizeof(*addrs), addr_cmp);
	for (i = 0; i < na; i++) {
		struct member m;
		char e[200];

		memset(&m, 0, sizeof(m));
		strlcpy_a(m.addr.host, addrs[i].text, sizeof(m.addr.host));
		m.addr.port = port;
		if (member_list_add(out, &m, e, sizeof(e)) < 0) {
			seterr(err, errlen, "location answer: %s", e);
			goto done;
		}
	}
	rc = 0;
done:
	if (rc < 0)
		member_list_free(out);
	free(addrs);
	json_decref(root);
	return rc;
}

int flux_location_url(const char *api, const char *app, char *buf, size_t len, char *err, size_t errlen)
{
	size_t al;
	int n;

	if (!api)
		api = FLUX_DEFAULT_API;
	al = strlen(api);
	if (al > FLUX_API_MAX)
		return seterr(err, errlen, "Flux API URL longer than %d bytes", FLUX_API_MAX);
	if (strncmp(api, "http://", 7) != 0 && strncmp(api, "https://", 8) != 0)
		return seterr(err, errlen, "Flux API URL must start with http:// or https://");
	for (size_t i = 0; i < al; i++)
		if ((unsigned char)api[i] <= 0x20 || (unsigned char)api[i] >= 0x7f || api[i] == '?' || api[i] == '#')
			return seterr(err, errlen, "Flux API URL has a space, control, query or fragment character");
	while (al > 8 && api[al - 1] == '/')
		al--;
	if (!flux_app_name_valid(app))
		return seterr(err, errlen, "bad Flux app name (1..63 of A-Z a-z 0-9 and inner '-')");
	n = snprintf(buf, len, "%.*s/apps/location/%s", (int)al, api, app);
	if (n < 0 || (size_t)n >= len)
		return seterr(err, errlen, "Flux location URL too long");
	return 0;
}

struct flux_poller {
	struct evloop *loop;        /* borrowed */
	struct http_client *http;   /* borrowed */
	const struct http_tls *tls; /* borrowed */
	char url[FLUX_API_MAX + FLUX_APP_NAME_MAX + 32];
	char app[FLUX_APP_NAME_MAX + 1];
	int port;
	int64_t interval_ms, timeout_ms;
	int64_t timer;
	struct http_request *req; /* in flight, owned by the client */
	struct member_list last;  /* last good membership, owned */
	int have;                 /* a good answer was seen */
	char last_err[ERRBUF];    /* kind of the last failure (report_error) */
	unsigned long polls, failures;
	flux_members_cb *on_members;
	flux_error_cb *on_error;
	void *arg;
};

static int lists_equal(const struct member_list *a, const struct member_list *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!hostport_eq(&a->v[i].addr, &b->v[i].addr) || strcmp(a->v[i].host, b->v[i].host) != 0)
			return 0;
	return 1;
}

/* Copy src into *dst (initialised here). Caller frees. 0 or -1. */
static int list_copy(struct member_list *dst, const struct member_list *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->n == 0)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -1;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	return 0;
}

/* Record a failure and tell the caller. key says what kind of failure it is
 * (transport errors carry timings in their text, so the text is not compared).
 * The callback is the last thing done: it may free the poller. */
static void report_error(struct flux_poller *p, const char *key, const char *msg)
{
	flux_error_cb *cb = p->on_error;
	void *arg = p->arg;
	int repeated = p->failures > 0 && strcmp(p->last_err, key) == 0;
	char copy[ERRBUF];

	p->failures++;
	strlcpy_a(p->last_err, key, sizeof(p->last_err));
	strlcpy_a(copy, msg, sizeof(copy));
	if (cb)
		cb(copy, repeated, arg);
}

static void on_done(struct http_request *req, const struct http_result *res, void *arg)
{
	struct flux_poller *p = arg;
	struct member_list ml, give;
	char e[ERRBUF], msg[ERRBUF];
	flux_members_cb *cb;
	void *cbarg;

	(void)req;
	p->req = NULL;
	p->polls++;
	if (res->error != HTTP_OK) {
		snprintf(e, sizeof(e), "transport %d", (int)res->error);
		report_error(p, e, res->errmsg);
		return;
	}
	if (res->status != 200) {
		snprintf(e, sizeof(e), "status %ld", res->status);
		snprintf(msg, sizeof(msg), "GET %s: HTTP status %ld", p->url, res->status);
		report_error(p, e, msg);
		return;
	}
	if (flux_location_parse(res->body, res->body_len, p->app, p->port, &ml, e, sizeof(e)) < 0) {
		snprintf(msg, sizeof(msg), "GET %s: %s", p->url, e);
		report_error(p, msg, msg);
		return;
	}
	p->failures = 0;
	p->last_err[0] = '\0';
	if (p->have && lists_equal(&ml, &p->last)) {
		member_list_free(&ml);
		return;
	}
	if (list_copy(&give, &ml) < 0) {
		member_list_free(&ml);
		report_error(p, "out of memory", "out of memory");
		return;
	}
	member_list_free(&p->last);
	p->last = ml;
	p->have = 1;
	cb = p->on_members;
	cbarg = p->arg;
	cb(&give, cbarg);
}

static int64_t on_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct flux_poller *p = arg;
	struct http_request_opts o;
	char e[ERRBUF];
	int64_t again = p->interval_ms;

	(void)loop;
	(void)id;
	if (p->req)
		return again; /* the previous poll is still running (timeout <= interval) */
	memset(&o, 0, sizeof(o));
	o.method = "GET";
	o.url = p->url;
	o.timeout_ms = p->timeout_ms;
	o.connect_timeout_ms = p->timeout_ms;
	o.max_body = FLUX_LOCATION_MAX_BYTES;
	o.tls = p->tls;
	o.on_done = on_done;
	o.arg = p;
	p->req = http_request_start(p->http, &o, e, sizeof(e));
	if (!p->req)
		report_error(p, "start", e); /* may free p: nothing after this */
	return again;
}

struct flux_poller *flux_poller_new(struct evloop *loop, struct http_client *http, const struct flux_poller_opts *o,
				    char *err, size_t errlen)
{
	struct flux_poller *p = NULL;
	char e[ERRBUF];

	if (!loop || !http || !o || !o->on_members) {
		seterr(err, errlen, "flux poller: loop, http client and on_members are required");
		goto fail;
	}
	if (o->port < 0 || o->port > 65535 || o->interval_ms < 0 || o->timeout_ms < 0 || o->first_delay_ms < 0) {
		seterr(err, errlen, "flux poller: negative interval/timeout/delay or bad port");
		goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	if (flux_location_url(o->api, o->app, p->url, sizeof(p->url), e, sizeof(e)) < 0) {
		seterr(err, errlen, "flux poller: %s", e);
		goto fail;
	}
	strlcpy_a(p->app, o->app, sizeof(p->app));
	p->loop = loop;
	p->http = http;
	p->tls = o->tls;
	p->port = o->port ? o->port : FLUX_DEFAULT_PORT;
	p->interval_ms = o->interval_ms ? o->interval_ms : FLUX_DEFAULT_INTERVAL_MS;
	p->timeout_ms = o->timeout_ms ? o->timeout_ms : FLUX_DEFAULT_TIMEOUT_MS;
	if (p->timeout_ms > p->interval_ms)
		p->timeout_ms = p->interval_ms;
	p->on_members = o->on_members;
	p->on_error = o->on_error;
	p->arg = o->arg;
	p->timer = evloop_add_timer(loop, o->first_delay_ms, on_timer, p);
	if (p->timer < 0) {
		seterr(err, errlen, "flux poller: cannot add a timer");
		goto fail;
	}
	return p;
fail:
	free(p);
	return NULL;
}

void flux_poller_free(struct flux_poller *p)
{
	if (!p)
		return;
	if (p->req)
		http_request_cancel(p->req);
	if (p->timer > 0)
		evloop_del_timer(p->loop, p->timer);
	member_list_free(&p->last);
	free(p);
}

int flux_poller_poll_now(struct flux_poller *p)
{
	if (p->req)
		return 0;
	if (p->timer > 0)
		evloop_del_timer(p->loop, p->timer);
	p->timer = evloop_add_timer(p->loop, 0, on_timer, p);
	return p->timer > 0 ? 0 : -1;
}

const struct member_list *flux_poller_members(const struct flux_poller *p)
{
	return &p->last;
}

unsigned long flux_poller_polls(const struct flux_poller *p)
{
	return p->polls;
}

unsigned long flux_poller_failures(const struct flux_poller *p)
{
	return p->failures;
}
