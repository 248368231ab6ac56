/* Kubernetes API client: requests, paginated lists, the watch-line parser,
 * the informer cache and state machine. See kube_client.h.
 *
 * Informer states (one of list_call, watch_req, timer_id is live at a time):
 *
 *   LIST --ok--> (replace cache, synced) --> WATCH from the list's RV
 *   LIST --error--> RETRY(backoff) --> LIST
 *   WATCH --event--> (apply to cache, RV = event RV) --> WATCH
 *   WATCH --bookmark--> (RV = bookmark RV) --> WATCH
 *   WATCH --410 / ERROR 410 / Expired--> LIST (relist, no wait)
 *   WATCH --clean end (timeoutSeconds)--> WATCH from RV (no wait if it delivered lines)
 *   WATCH --network error, bad line, other ERROR--> RETRY(backoff) --> WATCH from RV
 *
 * Backoff doubles from backoff_initial_ms to backoff_max_ms and is reset by a
 * successful list or a delivered watch event. */
#include "kubernetes/kube_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "util.h"

#define KUBE_PATH_MAX 2048
#define KUBE_MSG_MAX 1024
#define KUBE_LIST_RESTARTS 3

const struct kube_resource KUBE_RES_CONFIGMAPS = {"", "v1", "configmaps", 1};
const struct kube_resource KUBE_RES_LEASES = {"coordination.k8s.io", "v1", "leases", 1};
const struct kube_resource KUBE_RES_EVENTS = {"", "v1", "events", 1};
const struct kube_resource KUBE_RES_PODS = {"", "v1", "pods", 1};
const struct kube_resource KUBE_RES_SERVICES = {"", "v1", "services", 1};
const struct kube_resource KUBE_RES_STATEFULSETS = {"apps", "v1", "statefulsets", 1};
const struct kube_resource KUBE_RES_SECRETS = {"", "v1", "secrets", 1};
const struct kube_resource KUBE_RES_NAMESPACES = {"", "v1", "namespaces", 0};

struct kube_client {
	struct evloop *loop;
	struct http_client *http;
	struct kube_config *cfg;
	struct http_tls tls;
	struct kube_client_opts o;
	struct kube_call *calls;
};

struct kube_list_state {
	char *base_path; /* path with query, without limit/continue */
	json_t *items;
	char *cont;
	unsigned restarts;
};

struct kube_call {
	struct kube_client *kc;
	struct http_request *req;
	kube_done_cb *cb;
	void *arg;
	int finishing;
	struct kube_list_state *list; /* kube_list only */
	struct kube_call *next, *prev;
};

/* ---- paths ---- */

static int unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '.' || ch == '_' || ch == '~';
}

/* Append s percent-encoded; -1 when it does not fit. */
static int append_enc(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (unreserved(ch)) {
			if (n + 1 >= len)
				return -1;
			buf[n++] = (char)ch;
		} else {
			if (n + 3 >= len)
				return -1;
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		}
	}
	buf[n] = '\0';
	return 0;
}

static int append_raw(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf), m = strlen(s);

	if (n + m >= len)
		return -1;
	memcpy(buf + n, s, m + 1);
	return 0;
}

/* A name or namespace usable as one path segment. */
static int valid_segment(const char *s)
{
	return s && *s && strlen(s) <= 253 && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* "/api/v1/namespaces/ns/configmaps/name/status" */
static int build_path(const struct kube_resource *res, const char *ns, const char *name, const char *sub, char *buf,
		      size_t len, char *err, size_t errlen)
{
	int rc;

	if (!res || !res->version || !res->plural)
		return seterr(err, errlen, "kube: resource without version or plural");
	if (res->group && *res->group)
		rc = snprintf(buf, len, "/apis/%s/%s", res->group, res->version);
	else
		rc = snprintf(buf, len, "/api/%s", res->version);
	if (rc < 0 || (size_t)rc >= len)
		return seterr(err, errlen, "kube: path too long");
	if (res->namespaced && ns && *ns) {
		if (!valid_segment(ns))
			return seterr(err, errlen, "kube: bad namespace \"%s\"", ns);
		if (append_raw(buf, len, "/namespaces/") < 0 || append_enc(buf, len, ns) < 0)
			goto toolong;
	}
	if (append_raw(buf, len, "/") < 0 || append_raw(buf, len, res->plural) < 0)
		goto toolong;
	if (name) {
		if (!valid_segment(name))
			return seterr(err, errlen, "kube: bad object name \"%s\"", name);
		if (append_raw(buf, len, "/") < 0 || append_enc(buf, len, name) < 0)
			goto toolong;
	}
	if (sub) {
		if (!valid_segment(sub))
			return seterr(err, errlen, "kube: bad subresource \"%s\"", sub);
		if (append_raw(buf, len, "/") < 0 || append_raw(buf, len, sub) < 0)
			goto toolong;
	}
	return 0;
toolong:
	return seterr(err, errlen, "kube: path too long");
}

/* Append "&key=value" (or "?key=value" for the first parameter). */
static int add_query(char *buf, size_t len, const char *key, const char *value)
{
	if (append_raw(buf, len, strchr(buf, '?') ? "&" : "?") < 0 || append_raw(buf, len, key) < 0 ||
	    append_raw(buf, len, "=") < 0 || append_enc(buf, len, value) < 0)
		return -1;
	return 0;
}

/* ---- client ---- */

struct kube_client *kube_client_new(struct evloop *loop, struct kube_config *cfg, const struct kube_client_opts *opts,
				    char *err, size_t errlen)
{
	struct kube_client *kc = NULL;

	if (!loop || !cfg || !cfg->server) {
		seterr(err, errlen, "kube client: no loop or no configuration");
		goto fail;
	}
	if (!(kc = calloc(1, sizeof(*kc)))) {
		seterr(err, errlen, "kube client: out of memory");
		goto fail;
	}
	kc->loop = loop;
	kc->cfg = cfg;
	if (opts)
		kc->o = *opts;
	if (kc->o.request_timeout_ms <= 0)
		kc->o.request_timeout_ms = 30000;
	if (!kc->o.max_body)
		kc->o.max_body = 32u << 20;
	if (!kc->o.max_watch_line)
		kc->o.max_watch_line = 8u << 20;
	if (kc->o.list_page_size <= 0)
		kc->o.list_page_size = 500;
	if (kc->o.backoff_initial_ms <= 0)
		kc->o.backoff_initial_ms = 500;
	if (kc->o.backoff_max_ms <= 0)
		kc->o.backoff_max_ms = 30000;
	kc->tls.ca_file = cfg->ca_file;
	kc->tls.ca_pem = cfg->ca_pem;
	kc->tls.ca_pem_len = cfg->ca_pem_len;
	kc->tls.cert_file = cfg->cert_file;
	kc->tls.cert_pem = cfg->cert_pem;
	kc->tls.cert_pem_len = cfg->cert_pem_len;
	kc->tls.key_file = cfg->key_file;
	kc->tls.key_pem = cfg->key_pem;
	kc->tls.key_pem_len = cfg->key_pem_len;
	kc->tls.insecure_skip_verify = cfg->insecure_skip_tls_verify;
	if (!(kc->http = http_client_new(loop, err, errlen)))
		goto fail;
	return kc;
fail:
	free(kc);
	return NULL;
}

struct evloop *kube_client_loop(const struct kube_client *kc)
{
	return kc->loop;
}

const struct kube_config *kube_client_config(const struct kube_client *kc)
{
	return kc->cfg;
}

static void list_state_free(struct kube_list_state *ls)
{
	if (!ls)
		return;
	free(ls->base_path);
	json_decref(ls->items);
	free(ls->cont);
	free(ls);
}

static void call_free(struct kube_call *call)
{
	struct kube_client *kc = call->kc;

	if (call->prev)
		call->prev->next = call->next;
	else
		kc->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	list_state_free(call->list);
	free(call);
}

void kube_client_free(struct kube_client *kc)
{
	if (!kc)
		return;
	while (kc->calls) {
		http_request_cancel(kc->calls->req);
		call_free(kc->calls);
	}
	http_client_free(kc->http);
	free(kc);
}

void kube_call_cancel(struct kube_call *call)
{
	if (!call || call->finishing)
		return;
	http_request_cancel(call->req);
	call_free(call);
}

/* Fill res from an HTTP result. msg (KUBE_MSG_MAX) holds generated text.
 * res->object is a new reference (caller decrefs). */
static void result_from_http(const struct http_result *hr, struct kube_result *res, char *msg)
{
	json_t *o = NULL;
	const char *m = NULL, *r = NULL;

	memset(res, 0, sizeof(*res));
	msg[0] = '\0';
	res->reason = "";
	res->message = msg;
	res->status = hr->status;
	if (hr->error != HTTP_OK) {
		snprintf(msg, KUBE_MSG_MAX, "%s", hr->errmsg);
		return;
	}
	if (hr->body_len > 0)
		o = json_loadb(hr->body, hr->body_len, 0, NULL);
	res->object = o;
	res->ok = hr->status >= 200 && hr->status < 300;
	if (res->ok)
		return;
	if (json_is_object(o) && json_is_string(json_object_get(o, "kind")) &&
	    strcmp(json_string_value(json_object_get(o, "kind")), "Status") == 0) {
		m = json_string_value(json_object_get(o, "message"));
		r = json_string_value(json_object_get(o, "reason"));
	}
	if (r)
		res->reason = r;
	if (m && *m) {
		snprintf(msg, KUBE_MSG_MAX, "%s", m);
	} else {
		size_t n = hr->body_len < 200 ? hr->body_len : 200, i;

		snprintf(msg, KUBE_MSG_MAX, "HTTP %ld%s%.*s", hr->status, n ? ": " : "", (int)n, hr->body);
		for (i = 0; msg[i]; i++)
			if (msg[i] == '\n' || msg[i] == '\r')
				msg[i] = ' ';
	}
}

static int list_next_page(struct kube_call *call, char *err, size_t errlen);

/* A list page arrived: 1 when another page was requested (or the list
 * restarted), 0 when res now holds the final answer to deliver. */
static int list_page_done(struct kube_call *call, struct kube_result *res, json_t **final, char *msg)
{
	struct kube_list_state *ls = call->list;
	const char *cont, *rv;
	json_t *items, *meta;
	char err[256];

	if (!res->ok) {
		if (res->status == 410 && ls->cont && ls->restarts < KUBE_LIST_RESTARTS) {
			/* The continue token expired: start over. */
			ls->restarts++;
			free(ls->cont);
			ls->cont = NULL;
			json_array_clear(ls->items);
			if (list_next_page(call, err, sizeof(err)) == 0)
				return 1;
			snprintf(msg, KUBE_MSG_MAX, "%s", err);
			res->ok = 0;
		}
		return 0;
	}
	items = json_object_get(res->object, "items");
	meta = json_object_get(res->object, "metadata");
	if (!json_is_array(items) && !json_is_null(items) && items) {
		snprintf(msg, KUBE_MSG_MAX, "list %s: \"items\" is not a list", ls->base_path);
		res->message = msg;
		res->ok = 0;
		return 0;
	}
	if (json_is_array(items) && json_array_extend(ls->items, items) < 0) {
		snprintf(msg, KUBE_MSG_MAX, "list %s: out of memory", ls->base_path);
		res->ok = 0;
		return 0;
	}
	cont = json_string_value(json_object_get(meta, "continue"));
	if (cont && *cont) {
		free(ls->cont);
		if (!(ls->cont = strdup(cont)) || list_next_page(call, err, sizeof(err)) < 0) {
			snprintf(msg, KUBE_MSG_MAX, "list %s: %s", ls->base_path, ls->cont ? err : "out of memory");
			res->ok = 0;
			return 0;
		}
		return 1;
	}
	rv = json_string_value(json_object_get(meta, "resourceVersion"));
	*final = json_pack("{sOss}", "items", ls->items, "resourceVersion", rv ? rv : "");
	if (!*final) {
		snprintf(msg, KUBE_MSG_MAX, "list %s: out of memory", ls->base_path);
		res->ok = 0;
	}
	return 0;
}

static void on_http_done(struct http_request *req, const struct http_result *hr, void *arg)
{
	struct kube_call *call = arg;
	struct kube_result res;
	char msg[KUBE_MSG_MAX];
	json_t *final = NULL, *page;

	(void)req;
	call->req = NULL;
	result_from_http(hr, &res, msg);
	page = res.object;
	if (call->list) {
		if (list_page_done(call, &res, &final, msg)) {
			json_decref(page);
			return; /* next page in flight */
		}
		if (res.ok)
			res.object = final;
	}
	call->finishing = 1;
	call->cb(&res, call->arg);
	json_decref(page);
	json_decref(final);
	call_free(call);
}

/* Start the HTTP request for call. */
static int call_start(struct kube_call *call, const char *method, const char *path, const char *content_type,
		      const char *body, size_t body_len, char *err, size_t errlen)
{
	struct kube_client *kc = call->kc;
	static const char *const accept[] = {"Accept: application/json", NULL};
	struct http_request_opts o;
	char url[KUBE_PATH_MAX + 512];
	const char *tok = NULL;

	if (kube_config_token(kc->cfg, &tok, err, errlen) < 0)
		return -1;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", kc->cfg->server, path) >= sizeof(url))
		return seterr(err, errlen, "kube: URL too long");
	memset(&o, 0, sizeof(o));
	o.method = method;
	o.url = url;
	o.headers = accept;
	o.bearer_token = tok;
	o.body = body;
	o.body_len = body_len;
	o.content_type = content_type;
	o.timeout_ms = kc->o.request_timeout_ms;
	o.connect_timeout_ms = kc->o.request_timeout_ms;
	o.max_body = kc->o.max_body;
	o.tls = &kc->tls;
	o.on_done = on_http_done;
	o.arg = call;
	call->req = http_request_start(kc->http, &o, err, errlen);
	return call->req ? 0 : -1;
}

static struct kube_call *call_new(struct kube_client *kc, kube_done_cb *cb, void *arg, char *err, size_t errlen)
{
	struct kube_call *call;

	if (!kc || !cb) {
		seterr(err, errlen, "kube: no client or no callback");
		return NULL;
	}
	if (!(call = calloc(1, sizeof(*call)))) {
		seterr(err, errlen, "kube: out of memory");
		return NULL;
	}
	call->kc = kc;
	call->cb = cb;
	call->arg = arg;
	call->next = kc->calls;
	if (kc->calls)
		kc->calls->prev = call;
	kc->calls = call;
	return call;
}

struct kube_call *kube_request(struct kube_client *kc, const char *method, const char *path, const char *content_type,
			       const char *body, size_t body_len, kube_done_cb *cb, void *arg, char *err, size_t errlen)
{
	struct kube_call *call = call_new(kc, cb, arg, err, errlen);

	if (!call)
		return NULL;
	if (call_start(call, method, path, content_type, body, body_len, err, errlen) < 0) {
		call_free(call);
		return NULL;
	}
	return call;
}

/* A request whose body is obj serialised. */
static struct kube_call *request_json(struct kube_client *kc, const char *method, const char *path,
				      const char *content_type, const json_t *obj, kube_done_cb *cb, void *arg,
				      char *err, size_t errlen)
{
	struct kube_call *call = NULL;
	char *body = NULL;

	if (!obj || !(body = json_dumps(obj, JSON_COMPACT))) {
		seterr(err, errlen, "kube: %s %s: no object or cannot serialise it", method, path);
		goto done;
	}
	call = kube_request(kc, method, path, content_type, body, strlen(body), cb, arg, err, errlen);
done:
	free(body);
	return call;
}

struct kube_call *kube_get(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			   kube_done_cb *cb, void *arg, char *err, size_t errlen)
{
	char path[KUBE_PATH_MAX];

	if (build_path(res, ns, name, NULL, path, sizeof(path), err, errlen) < 0)
		return NULL;
	return kube_request(kc, "GET", path, NULL, NULL, 0, cb, arg, err, errlen);
}

struct kube_call *kube_create(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			      const json_t *obj, kube_done_cb *cb, void *arg, char *err, size_t errlen)
{
	char path[KUBE_PATH_MAX];

	if (build_path(res, ns, NULL, NULL, path, sizeof(path), err, errlen) < 0)
		return NULL;
	return request_json(kc, "POST", path, "application/json", obj, cb, arg, err, errlen);
}

struct kube_call *kube_replace(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			       const char *name, const json_t *obj, kube_done_cb *cb, void *arg, char *err,
			       size_t errlen)
{
	char path[KUBE_PATH_MAX];

	if (build_path(res, ns, name, NULL, path, sizeof(path), err, errlen) < 0)
		return NULL;
	return request_json(kc, "PUT", path, "application/json", obj, cb, arg, err, errlen);
}

struct kube_call *kube_apply(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			     const char *subresource, const json_t *obj, const char *field_manager, int force,
			     kube_done_cb *cb, void *arg, char *err, size_t errlen)
{
	char path[KUBE_PATH_MAX];

	if (!field_manager || !*field_manager) {
		seterr(err, errlen, "kube: server-side apply needs a field manager");
		return NULL;
	}
	if (build_path(res, ns, name, subresource, path, sizeof(path), err, errlen) < 0)
		return NULL;
	if (add_query(path, sizeof(path), "fieldManager", field_manager) < 0 ||
	    (force && add_query(path, sizeof(path), "force", "true") < 0)) {
		seterr(err, errlen, "kube: path too long");
		return NULL;
	}
	return request_json(kc, "PATCH", path, "application/apply-patch+yaml", obj, cb, arg, err, errlen);
}

struct kube_call *kube_merge_patch(struct kube_client *kc, const struct kube_resource *res, const char *ns,
				   const char *name, const char *subresource, const json_t *patch, kube_done_cb *cb,
				   void *arg, char *err, size_t errlen)
{
	char path[KUBE_PATH_MAX];

	if (build_path(res, ns, name, subresource, path, sizeof(path), err, errlen) < 0)
		return NULL;
	return request_json(kc, "PATCH", path, "application/merge-patch+json", patch, cb, arg, err, errlen);
}

struct kube_call *kube_delete(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			      const char *uid, const char *resource_version, const char *propagation, kube_done_cb *cb,
			      void *arg, char *err, size_t errlen)
{
	char path[KUBE_PATH_MAX];
	json_t *opts = NULL, *pre = NULL;
	struct kube_call *call = NULL;

	if (build_path(res, ns, name, NULL, path, sizeof(path), err, errlen) < 0)
		goto done;
	opts = json_pack("{ssss}", "kind", "DeleteOptions", "apiVersion", "v1");
	pre = json_object();
	if (!opts || !pre)
		goto oom;
	if (uid && json_object_set_new(pre, "uid", json_string(uid)) < 0)
		goto oom;
	if (resource_version && json_object_set_new(pre, "resourceVersion", json_string(resource_version)) < 0)
		goto oom;
	if (json_object_size(pre) && json_object_set(opts, "preconditions", pre) < 0)
		goto oom;
	if (propagation && json_object_set_new(opts, "propagationPolicy", json_string(propagation)) < 0)
		goto oom;
	call = request_json(kc, "DELETE", path, "application/json", opts, cb, arg, err, errlen);
	goto done;
oom:
	seterr(err, errlen, "kube: out of memory");
done:
	json_decref(opts);
	json_decref(pre);
	return call;
}

static int list_next_page(struct kube_call *call, char *err, size_t errlen)
{
	struct kube_list_state *ls = call->list;
	char path[KUBE_PATH_MAX + 1024], limit[32];

	snprintf(path, sizeof(path), "%s", ls->base_path);
	snprintf(limit, sizeof(limit), "%d", call->kc->o.list_page_size);
	if (add_query(path, sizeof(path), "limit", limit) < 0 ||
	    (ls->cont && add_query(path, sizeof(path), "continue", ls->cont) < 0))
		return seterr(err, errlen, "kube: list path too long");
	return call_start(call, "GET", path, NULL, NULL, 0, err, errlen);
}

/* Path of a list or watch with selectors. */
static int collection_path(const struct kube_resource *res, const char *ns, const char *label_selector,
			   const char *field_selector, char *path, size_t len, char *err, size_t errlen)
{
	if (build_path(res, ns, NULL, NULL, path, len, err, errlen) < 0)
		return -1;
	if ((label_selector && *label_selector && add_query(path, len, "labelSelector", label_selector) < 0) ||
	    (field_selector && *field_selector && add_query(path, len, "fieldSelector", field_selector) < 0))
		return seterr(err, errlen, "kube: selector too long");
	return 0;
}

struct kube_call *kube_list(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			    const char *label_selector, const char *field_selector, kube_done_cb *cb, void *arg,
			    char *err, size_t errlen)
{
	struct kube_call *call = NULL;
	char path[KUBE_PATH_MAX];

	if (collection_path(res, ns, label_selector, field_selector, path, sizeof(path), err, errlen) < 0)
		return NULL;
	if (!(call = call_new(kc, cb, arg, err, errlen)))
		return NULL;
	if (!(call->list = calloc(1, sizeof(*call->list))) || !(call->list->base_path = strdup(path)) ||
	    !(call->list->items = json_array())) {
		seterr(err, errlen, "kube: out of memory");
		goto fail;
	}
	if (list_next_page(call, err, errlen) < 0)
		goto fail;
	return call;
fail:
	call_free(call);
	return NULL;
}

/* ---- watch events ---- */

const char *kube_event_type_name(enum kube_event_type t)
{
	switch (t) {
	case KUBE_EVENT_ADDED:
		return "ADDED";
	case KUBE_EVENT_MODIFIED:
		return "MODIFIED";
	case KUBE_EVENT_DELETED:
		return "DELETED";
	case KUBE_EVENT_BOOKMARK:
		return "BOOKMARK";
	case KUBE_EVENT_ERROR:
		return "ERROR";
	}
	return "?";
}

void kube_watch_event_clear(struct kube_watch_event *ev)
{
	if (!ev)
		return;
	json_decref(ev->object);
	memset(ev, 0, sizeof(*ev));
}

int kube_watch_parse_line(const char *line, size_t len, struct kube_watch_event *ev, char *err, size_t errlen)
{
	static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	json_t *root = NULL, *obj, *meta;
	json_error_t jerr;
	const char *type, *rv, *name;
	size_t i;
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		seterr(err, errlen, "watch event: not JSON (column %d: %s)", jerr.column, jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "watch event: not a JSON object");
		goto fail;
	}
	type = json_string_value(json_object_get(root, "type"));
	obj = json_object_get(root, "object");
	if (!type) {
		seterr(err, errlen, "watch event: no \"type\"");
		goto fail;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(type, names[i]) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		seterr(err, errlen, "watch event: unknown type \"%.32s\"", type);
		goto fail;
	}
	if (!json_is_object(obj)) {
		seterr(err, errlen, "watch event %s: \"object\" is not an object", type);
		goto fail;
	}
	ev->type = (enum kube_event_type)i;
	ev->object = json_incref(obj);
	ev->resource_version = "";
	ev->reason = "";
	ev->message = "";
	if (ev->type == KUBE_EVENT_ERROR) {
		json_t *code = json_object_get(obj, "code");

		ev->code = json_is_integer(code) ? (long)json_integer_value(code) : 0;
		if (json_is_string(json_object_get(obj, "reason")))
			ev->reason = json_string_value(json_object_get(obj, "reason"));
		if (json_is_string(json_object_get(obj, "message")))
			ev->message = json_string_value(json_object_get(obj, "message"));
		rc = 0;
		goto fail;
	}
	meta = json_object_get(obj, "metadata");
	rv = json_string_value(json_object_get(meta, "resourceVersion"));
	name = json_string_value(json_object_get(meta, "name"));
	if (!rv || !*rv) {
		seterr(err, errlen, "watch event %s: no metadata.resourceVersion", type);
		goto fail;
	}
	if (ev->type != KUBE_EVENT_BOOKMARK && (!name || !*name)) {
		seterr(err, errlen, "watch event %s: no metadata.name", type);
		goto fail;
	}
	ev->resource_version = rv;
	rc = 0;
fail:
	if (rc < 0)
		kube_watch_event_clear(ev);
	json_decref(root); /* ev->object holds its own reference */
	return rc;
}

int kube_object_key(const json_t *obj, char *buf, size_t len)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	int n;

	if (!name || !*name)
		return -1;
	if (ns && *ns)
		n = snprintf(buf, len, "%s/%s", ns, name);
	else
		n = snprintf(buf, len, "%s", name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static const char *object_rv(const json_t *obj)
{
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	return rv ? rv : "";
}

/* ---- cache (pure) ---- */

/* What no reader of the cache uses and every object carries: the server-side
 * apply bookkeeping (often half an object) and kubectl's copy of the last
 * applied manifest. Dropped before caching (client-go informers do the same
 * with a transform), which keeps the controller's idle memory small. */
static void strip_for_cache(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");

	json_object_del(meta, "managedFields");
	json_object_del(json_object_get(meta, "annotations"), "kubectl.kubernetes.io/last-applied-configuration");
}

int kube_cache_apply(json_t *cache, const struct kube_watch_event *ev, const struct kube_informer_callbacks *cb,
		     void *arg)
{
	char key[600];
	json_t *old;

	if (ev->type != KUBE_EVENT_ADDED && ev->type != KUBE_EVENT_MODIFIED && ev->type != KUBE_EVENT_DELETED)
		return 0;
	if (kube_object_key(ev->object, key, sizeof(key)) < 0)
		return -1;
	old = json_incref(json_object_get(cache, key)); /* survives the replacement */
	if (ev->type == KUBE_EVENT_DELETED) {
		if (old) {
			json_object_del(cache, key);
			if (cb && cb->on_delete)
				cb->on_delete(ev->object, arg);
		}
	} else {
		strip_for_cache(ev->object);
		if (json_object_set(cache, key, ev->object) < 0) {
			json_decref(old);
			return -1;
		}
		if (old && cb && cb->on_update)
			cb->on_update(old, ev->object, arg);
		else if (!old && cb && cb->on_add)
			cb->on_add(ev->object, arg);
	}
	json_decref(old);
	return 0;
}

int kube_cache_replace(json_t *cache, const json_t *items, const struct kube_informer_callbacks *cb, void *arg)
{
	json_t *seen = NULL, *item, *old, *val;
	const char *k;
	void *tmp;
	char key[600];
	size_t i;
	int calls = 0, rc = -1;

	if (!json_is_array(items) || !(seen = json_object()))
		goto done;
	json_array_foreach(items, i, item)
	{
		if (!json_is_object(item) || kube_object_key(item, key, sizeof(key)) < 0)
			goto done; /* validate everything before touching the cache */
	}
	json_array_foreach(items, i, item)
	{
		kube_object_key(item, key, sizeof(key));
		if (json_object_set(seen, key, json_true()) < 0)
			goto done;
		old = json_incref(json_object_get(cache, key));
		if (!old || strcmp(object_rv(old), object_rv(item)) != 0) {
			strip_for_cache(item);
			if (json_object_set(cache, key, item) < 0) {
				json_decref(old);
				goto done;
			}
			calls++;
			if (old && cb && cb->on_update)
				cb->on_update(old, item, arg);
			else if (!old && cb && cb->on_add)
				cb->on_add(item, arg);
		}
		json_decref(old);
	}
	json_object_foreach_safe(cache, tmp, k, val)
	{
		if (json_object_get(seen, k))
			continue;
		json_incref(val);
		json_object_del(cache, k);
		calls++;
		if (cb && cb->on_delete)
			cb->on_delete(val, arg);
		json_decref(val);
	}
	rc = calls;
done:
	json_decref(seen);
	return rc;
}

/* ---- informer ---- */

struct kube_informer {
	struct kube_client *kc;
	struct kube_resource res;
	char *ns;
	char *label_selector;
	struct kube_informer_callbacks cb;
	void *arg;

	json_t *cache;
	char *rv;
	int synced;

	struct kube_call *list_call;
	struct http_request *watch_req;
	int64_t timer_id;
	int retry_watch; /* what the timer restarts: 1 watch, 0 list */
	int64_t backoff_ms;
	int watch_lines;  /* lines seen on the current watch */
	int watch_failed; /* the current watch is being abandoned */

	int busy;    /* inside one of our entry points */
	int stopped; /* kube_informer_stop was called */
	struct kube_informer_stats stats;
};

static void informer_free(struct kube_informer *inf)
{
	free(inf->ns);
	free(inf->label_selector);
	free(inf->rv);
	json_decref(inf->cache);
	free(inf);
}

/* Leave an entry point: 1 when the informer was freed (touch nothing). */
static int inf_leave(struct kube_informer *inf)
{
	if (--inf->busy == 0 && inf->stopped) {
		informer_free(inf);
		return 1;
	}
	return 0;
}

static void inf_error(struct kube_informer *inf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void inf_error(struct kube_informer *inf, const char *fmt, ...)
{
	char msg[KUBE_MSG_MAX + 256];
	va_list ap;

	if (!inf->cb.on_error || inf->stopped)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	inf->cb.on_error(msg, inf->arg);
}

static const char *inf_where(const struct kube_informer *inf, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", inf->res.plural, inf->ns ? " in " : "", inf->ns ? inf->ns : "",
		 inf->label_selector ? " with " : "", inf->label_selector ? inf->label_selector : "");
	return buf;
}

static void inf_list(struct kube_informer *inf);
static void inf_watch(struct kube_informer *inf);

static int64_t inf_on_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct kube_informer *inf = arg;

	(void)loop;
	(void)id;
	inf->timer_id = 0;
	inf->busy++;
	if (!inf->stopped) {
		if (inf->retry_watch && inf->rv)
			inf_watch(inf);
		else
			inf_list(inf);
	}
	inf_leave(inf);
	return 0;
}

static void inf_retry(struct kube_informer *inf, int watch)
{
	int64_t delay = inf->backoff_ms;

	if (inf->stopped)
		return;
	inf->stats.errors++;
	inf->backoff_ms = inf->backoff_ms * 2 > inf->kc->o.backoff_max_ms ? inf->kc->o.backoff_max_ms
									  : inf->backoff_ms * 2;
	inf->retry_watch = watch;
	inf->timer_id = evloop_add_timer(inf->kc->loop, delay, inf_on_timer, inf);
	if (inf->timer_id < 0) {
		inf->timer_id = 0;
		inf_error(inf, "cannot schedule a retry (out of memory)");
	}
}

static void inf_set_rv(struct kube_informer *inf, const char *rv)
{
	char *n;

	if (!rv || !*rv || (inf->rv && strcmp(inf->rv, rv) == 0))
		return;
	if ((n = strdup(rv))) {
		free(inf->rv);
		inf->rv = n;
	}
}

static void inf_on_list(const struct kube_result *res, void *arg)
{
	struct kube_informer *inf = arg;
	char where[512];

	inf->list_call = NULL;
	inf->busy++;
	if (inf->stopped)
		goto out;
	if (!res->ok) {
		inf_error(inf, "list %s: %s", inf_where(inf, where, sizeof(where)), res->message);
		inf_retry(inf, 0);
		goto out;
	}
	if (kube_cache_replace(inf->cache, json_object_get(res->object, "items"), &inf->cb, inf->arg) < 0) {
		inf_error(inf, "list %s: an item without metadata.name", inf_where(inf, where, sizeof(where)));
		inf_retry(inf, 0);
		goto out;
	}
	if (inf->stopped)
		goto out;
	inf->stats.lists++;
	inf_set_rv(inf, json_string_value(json_object_get(res->object, "resourceVersion")));
	inf->backoff_ms = inf->kc->o.backoff_initial_ms;
	if (!inf->synced) {
		inf->synced = 1;
		if (inf->cb.on_synced)
			inf->cb.on_synced(inf->arg);
		if (inf->stopped)
			goto out;
	}
	inf_watch(inf);
out:
	inf_leave(inf);
}

static void inf_list(struct kube_informer *inf)
{
	char err[512], where[512];

	inf->list_call = kube_list(inf->kc, &inf->res, inf->ns, inf->label_selector, NULL, inf_on_list, inf, err,
				   sizeof(err));
	if (!inf->list_call) {
		inf_error(inf, "list %s: %s", inf_where(inf, where, sizeof(where)), err);
		inf_retry(inf, 0);
	}
}

/* Abandon the current watch (from its own callbacks too). */
static void inf_drop_watch(struct kube_informer *inf)
{
	if (inf->watch_req) {
		http_request_cancel(inf->watch_req);
		inf->watch_req = NULL;
	}
}

static void inf_relist(struct kube_informer *inf)
{
	inf_drop_watch(inf);
	inf->stats.relists++;
	inf_list(inf);
}

static void inf_on_line(struct http_request *req, const char *line, size_t len, void *arg)
{
	struct kube_informer *inf = arg;
	struct kube_watch_event ev;
	char err[512], where[512];

	(void)req;
	if (inf->stopped || req != inf->watch_req)
		return;
	inf->busy++;
	inf->watch_lines++;
	if (kube_watch_parse_line(line, len, &ev, err, sizeof(err)) < 0) {
		inf_error(inf, "watch %s: %s", inf_where(inf, where, sizeof(where)), err);
		inf_drop_watch(inf);
		inf_retry(inf, 1);
		goto out;
	}
	switch (ev.type) {
	case KUBE_EVENT_BOOKMARK:
		inf->stats.bookmarks++;
		inf_set_rv(inf, ev.resource_version);
		break;
	case KUBE_EVENT_ERROR:
		if (ev.code == 410 || strcmp(ev.reason, "Expired") == 0 || strcmp(ev.reason, "Gone") == 0) {
			inf_relist(inf);
		} else {
			inf_error(inf, "watch %s: error event %ld %s: %s", inf_where(inf, where, sizeof(where)),
				  ev.code, ev.reason, ev.message);
			inf_drop_watch(inf);
			inf_retry(inf, 1);
		}
		break;
	default:
		if (kube_cache_apply(inf->cache, &ev, &inf->cb, inf->arg) < 0) {
			inf_error(inf, "watch %s: cannot apply a %s event", inf_where(inf, where, sizeof(where)),
				  kube_event_type_name(ev.type));
			break;
		}
		inf_set_rv(inf, ev.resource_version);
		inf->backoff_ms = inf->kc->o.backoff_initial_ms;
		break;
	}
	kube_watch_event_clear(&ev);
out:
	inf_leave(inf);
}

static void inf_on_watch_done(struct http_request *req, const struct http_result *hr, void *arg)
{
	struct kube_informer *inf = arg;
	struct kube_result res;
	char msg[KUBE_MSG_MAX], where[512];

	if (req != inf->watch_req)
		return; /* not ours any more (cannot happen: dropped requests are cancelled) */
	inf->watch_req = NULL;
	inf->busy++;
	if (inf->stopped)
		goto out;
	result_from_http(hr, &res, msg);
	if (res.status == 410) {
		inf_relist(inf);
	} else if (res.ok && hr->error == HTTP_OK) {
		/* The server closed the watch (timeoutSeconds): watch again. */
		if (inf->watch_lines > 0)
			inf_watch(inf);
		else
			inf_retry(inf, 1);
	} else {
		inf_error(inf, "watch %s: %s", inf_where(inf, where, sizeof(where)), res.message);
		inf_retry(inf, 1);
	}
	json_decref(res.object);
out:
	inf_leave(inf);
}

static void inf_watch(struct kube_informer *inf)
{
	struct kube_client *kc = inf->kc;
	char path[KUBE_PATH_MAX], url[KUBE_PATH_MAX + 512], err[512], where[512], tmo[32];
	static const char *const accept[] = {"Accept: application/json", NULL};
	struct http_request_opts o;
	const char *tok = NULL;
	int timeout_s = kc->o.watch_timeout_s > 0 ? kc->o.watch_timeout_s : 300 + rand() % 300;

	inf_drop_watch(inf);
	inf->watch_lines = 0;
	snprintf(tmo, sizeof(tmo), "%d", timeout_s);
	if (collection_path(&inf->res, inf->ns, inf->label_selector, NULL, path, sizeof(path), err, sizeof(err)) < 0 ||
	    add_query(path, sizeof(path), "watch", "1") < 0 ||
	    add_query(path, sizeof(path), "allowWatchBookmarks", "true") < 0 ||
	    add_query(path, sizeof(path), "resourceVersion", inf->rv ? inf->rv : "") < 0 ||
	    add_query(path, sizeof(path), "timeoutSeconds", tmo) < 0) {
		inf_error(inf, "watch %s: path too long", inf_where(inf, where, sizeof(where)));
		inf_retry(inf, 1);
		return;
	}
	if (kube_config_token(kc->cfg, &tok, err, sizeof(err)) < 0) {
		inf_error(inf, "watch %s: %s", inf_where(inf, where, sizeof(where)), err);
		inf_retry(inf, 1);
		return;
	}
	snprintf(url, sizeof(url), "%s%s", kc->cfg->server, path);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.headers = accept;
	o.bearer_token = tok;
	o.timeout_ms = (int64_t)(timeout_s + 60) * 1000; /* the server ends it first */
	o.connect_timeout_ms = kc->o.request_timeout_ms;
	o.max_body = 1 << 20; /* a non-2xx answer (Status) */
	o.max_line = kc->o.max_watch_line;
	o.tls = &kc->tls;
	o.on_line = inf_on_line;
	o.on_done = inf_on_watch_done;
	o.arg = inf;
	inf->stats.watches++;
	inf->watch_req = http_request_start(kc->http, &o, err, sizeof(err));
	if (!inf->watch_req) {
		inf_error(inf, "watch %s: %s", inf_where(inf, where, sizeof(where)), err);
		inf_retry(inf, 1);
	}
}

struct kube_informer *kube_informer_start(struct kube_client *kc, const struct kube_resource *res, const char *ns,
					  const char *label_selector, const struct kube_informer_callbacks *cb,
					  void *arg, char *err, size_t errlen)
{
	struct kube_informer *inf = NULL;
	char path[KUBE_PATH_MAX];

	if (!kc || !res) {
		seterr(err, errlen, "kube informer: no client or resource");
		goto fail;
	}
	if (collection_path(res, ns, label_selector, NULL, path, sizeof(path), err, errlen) < 0)
		goto fail;
	if (!(inf = calloc(1, sizeof(*inf))))
		goto oom;
	inf->kc = kc;
	inf->res = *res;
	if (cb)
		inf->cb = *cb;
	inf->arg = arg;
	inf->backoff_ms = kc->o.backoff_initial_ms;
	if ((ns && *ns && !(inf->ns = strdup(ns))) ||
	    (label_selector && *label_selector && !(inf->label_selector = strdup(label_selector))) ||
	    !(inf->cache = json_object()))
		goto oom;
	inf->busy++;
	inf_list(inf);
	inf->busy--;
	return inf;
oom:
	seterr(err, errlen, "kube informer: out of memory");
fail:
	if (inf)
		informer_free(inf);
	return NULL;
}

void kube_informer_stop(struct kube_informer *inf)
{
	if (!inf || inf->stopped)
		return;
	inf->stopped = 1;
	kube_call_cancel(inf->list_call);
	inf->list_call = NULL;
	inf_drop_watch(inf);
	if (inf->timer_id > 0) {
		evloop_del_timer(inf->kc->loop, inf->timer_id);
		inf->timer_id = 0;
	}
	if (!inf->busy)
		informer_free(inf);
}

const json_t *kube_informer_get(const struct kube_informer *inf, const char *ns, const char *name)
{
	char key[600];

	if (!inf || !name)
		return NULL;
	if (ns && *ns)
		snprintf(key, sizeof(key), "%s/%s", ns, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	return json_object_get(inf->cache, key);
}

const json_t *kube_informer_cache(const struct kube_informer *inf)
{
	return inf ? inf->cache : NULL;
}

int kube_informer_synced(const struct kube_informer *inf)
{
	return inf && inf->synced;
}

const char *kube_informer_resource_version(const struct kube_informer *inf)
{
	return inf && inf->rv ? inf->rv : "";
}

void kube_informer_get_stats(const struct kube_informer *inf, struct kube_informer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (inf)
		*out = inf->stats;
}

int kube_informer_rewatch_from(struct kube_informer *inf, const char *resource_version)
{
	char *n;

	if (!inf || inf->stopped || !inf->synced || !resource_version || !(n = strdup(resource_version)))
		return -1;
	free(inf->rv);
	inf->rv = n;
	if (inf->timer_id > 0) {
		evloop_del_timer(inf->kc->loop, inf->timer_id);
		inf->timer_id = 0;
	}
	kube_call_cancel(inf->list_call);
	inf->list_call = NULL;
	inf_watch(inf);
	return 0;
}
