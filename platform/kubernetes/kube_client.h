/* Kubernetes API client on the event loop (http/http_client.h underneath).
 *
 * Three layers:
 *   - requests: get, create, replace (PUT, optimistic concurrency through
 *     metadata.resourceVersion), server-side apply, merge patch (also on the
 *     status subresource), delete with preconditions, paginated list. Each
 *     ends in one kube_done_cb with the parsed JSON and, on failure, the API's
 *     Status message ("configmaps \"x\" not found", "ValkeyCluster.autoshard.io
 *     \"x\" is invalid: spec.shards: ...").
 *   - watch: the pure line parser (kube_watch_parse_line) and a streaming
 *     watch request (allowWatchBookmarks=true).
 *   - informer: list (paginated) + watch from the list's resourceVersion, a
 *     local cache keyed "namespace/name", add/update/delete/synced callbacks;
 *     relist on 410 Gone (also an expired continue token, an "Expired" ERROR
 *     event); re-watch after a clean end; capped exponential backoff after
 *     network errors. The diff after a relist is a pure function
 *     (kube_cache_replace) and so is applying one event (kube_cache_apply).
 *
 * Ownership: JSON handed to callbacks is borrowed for the duration of the
 * call (json_incref to keep it). Objects passed in (create/apply bodies) are
 * borrowed. Callbacks may start and cancel requests and stop informers,
 * including the one calling them. */
#ifndef AUTOSHARD_KUBE_CLIENT_H
#define AUTOSHARD_KUBE_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "kubernetes/kubeconfig.h"

struct kube_client;
struct kube_call;
struct kube_informer;

/* Which API resource. Strings are borrowed and must outlive their users. */
struct kube_resource {
	const char *group;   /* "" or NULL for the core group */
	const char *version; /* "v1", "v1alpha1" */
	const char *plural;  /* "configmaps", "leases", "valkeyclusters" */
	int namespaced;
};

extern const struct kube_resource KUBE_RES_CONFIGMAPS, KUBE_RES_LEASES, KUBE_RES_EVENTS, KUBE_RES_PODS,
	KUBE_RES_SERVICES, KUBE_RES_STATEFULSETS, KUBE_RES_SECRETS, KUBE_RES_NAMESPACES;

struct kube_client_opts {
	int64_t request_timeout_ms; /* each non-watch request; 0: 30 s */
	size_t max_body;            /* cap on one response; 0: 32 MiB */
	size_t max_watch_line;      /* cap on one watch event; 0: 8 MiB */
	int list_page_size;         /* limit= for lists; 0: 500 */
	int64_t backoff_initial_ms; /* informer retry after an error; 0: 500 ms */
	int64_t backoff_max_ms;     /* cap; 0: 30 s */
	int watch_timeout_s;        /* timeoutSeconds of a watch; 0: 300..600 s */
};

/* cfg is borrowed and must outlive the client (its token file is re-read as
 * it rotates). opts may be NULL. Caller frees with kube_client_free. */
struct kube_client *kube_client_new(struct evloop *loop, struct kube_config *cfg, const struct kube_client_opts *opts,
				    char *err, size_t errlen);
/* Cancels requests in flight (no callbacks). Informers must be stopped first.
 * Not from a callback. Accepts NULL. */
void kube_client_free(struct kube_client *kc);

/* The loop the client runs on (borrowed). */
struct evloop *kube_client_loop(const struct kube_client *kc);
/* The configuration (borrowed): server, namespace, ... */
const struct kube_config *kube_client_config(const struct kube_client *kc);

/* ---- requests ---- */

struct kube_result {
	int ok;              /* 2xx */
	long status;         /* HTTP status; 0 when no response arrived */
	json_t *object;      /* parsed body (borrowed), NULL if none or not JSON */
	const char *reason;  /* Status.reason ("NotFound", "Conflict", "AlreadyExists", "Invalid",
			      * "Expired", "Gone") or "" */
	const char *message; /* "" when ok; else the Status message, or "HTTP 503: ..."
			      * or the transport error (names method and URL) */
};
typedef void kube_done_cb(const struct kube_result *res, void *arg);

/* All return a call handle (owned by the client, valid until cb returns or
 * kube_call_cancel) or NULL with err (cb is then not called). ns is ignored
 * for cluster-scoped resources. */
struct kube_call *kube_get(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			   kube_done_cb *cb, void *arg, char *err, size_t errlen);
struct kube_call *kube_create(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			      const json_t *obj, kube_done_cb *cb, void *arg, char *err, size_t errlen);
/* PUT: fails with 409 Conflict when metadata.resourceVersion is stale. */
struct kube_call *kube_replace(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			       const char *name, const json_t *obj, kube_done_cb *cb, void *arg, char *err,
			       size_t errlen);
/* Server-side apply (application/apply-patch+yaml; JSON is YAML). subresource
 * NULL or "status". field_manager is required. */
struct kube_call *kube_apply(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			     const char *subresource, const json_t *obj, const char *field_manager, int force,
			     kube_done_cb *cb, void *arg, char *err, size_t errlen);
/* JSON merge patch (RFC 7386); subresource NULL or "status". */
struct kube_call *kube_merge_patch(struct kube_client *kc, const struct kube_resource *res, const char *ns,
				   const char *name, const char *subresource, const json_t *patch, kube_done_cb *cb,
				   void *arg, char *err, size_t errlen);
/* Delete; uid and resource_version are optional preconditions (NULL: none);
 * propagation NULL, "Foreground", "Background" or "Orphan". */
struct kube_call *kube_delete(struct kube_client *kc, const struct kube_resource *res, const char *ns, const char *name,
			      const char *uid, const char *resource_version, const char *propagation, kube_done_cb *cb,
			      void *arg, char *err, size_t errlen);
/* A whole list, page by page (limit/continue). On success res->object is
 * {"items":[...], "resourceVersion":"..."}. An expired continue token (410)
 * restarts the list from the beginning, at most 3 times. label_selector and
 * field_selector may be NULL. */
struct kube_call *kube_list(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			    const char *label_selector, const char *field_selector, kube_done_cb *cb, void *arg,
			    char *err, size_t errlen);
/* Any request: method, path (from "/api" or "/apis", with query) and body. */
struct kube_call *kube_request(struct kube_client *kc, const char *method, const char *path, const char *content_type,
			       const char *body, size_t body_len, kube_done_cb *cb, void *arg, char *err,
			       size_t errlen);
/* Cancel: cb is not called. NULL is fine. */
void kube_call_cancel(struct kube_call *call);

/* ---- watch events (pure) ---- */

enum kube_event_type {
	KUBE_EVENT_ADDED,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
	KUBE_EVENT_ERROR
};

struct kube_watch_event {
	enum kube_event_type type;
	json_t *object;               /* owned; released by kube_watch_event_clear */
	const char *resource_version; /* borrowed from object; "" for ERROR */
	long code;                    /* ERROR: Status.code (410 for expired) */
	const char *reason;           /* ERROR: Status.reason or "" */
	const char *message;          /* ERROR: Status.message or "" */
};

/* One watch line ({"type":..,"object":..}) into ev. -1 with err when the line
 * is not JSON, the type is unknown, or the object lacks metadata.name (except
 * bookmarks) or metadata.resourceVersion (except errors). */
int kube_watch_parse_line(const char *line, size_t len, struct kube_watch_event *ev, char *err, size_t errlen);
void kube_watch_event_clear(struct kube_watch_event *ev);
const char *kube_event_type_name(enum kube_event_type t);

/* "namespace/name" (or "name" without a namespace) of obj into buf; -1 if obj
 * has no metadata.name. */
int kube_object_key(const json_t *obj, char *buf, size_t len);

/* ---- informer ---- */

struct kube_informer_callbacks {
	/* obj/old are borrowed. Any may be NULL. */
	void (*on_add)(const json_t *obj, void *arg);
	void (*on_update)(const json_t *old, const json_t *obj, void *arg);
	void (*on_delete)(const json_t *obj, void *arg);
	/* Once, after the first complete list has been delivered. */
	void (*on_synced)(void *arg);
	/* A recoverable problem (the informer retries); for the program's log. */
	void (*on_error)(const char *msg, void *arg);
};

/* The cache primitives (pure): cache is a JSON object "ns/name" -> object.
 * Objects are cached without metadata.managedFields and the annotation
 * kubectl.kubernetes.io/last-applied-configuration (removed in place). */
/* Apply one ADDED/MODIFIED/DELETED event; callbacks as an informer would. */
int kube_cache_apply(json_t *cache, const struct kube_watch_event *ev, const struct kube_informer_callbacks *cb,
		     void *arg);
/* Make cache equal to items (a JSON array): add new keys, update those whose
 * resourceVersion changed, delete missing ones. Returns the number of
 * callbacks made, -1 on a malformed item. */
int kube_cache_replace(json_t *cache, const json_t *items, const struct kube_informer_callbacks *cb, void *arg);

/* Start listing and watching res in ns (NULL or "": all namespaces) with an
 * optional label selector. Callbacks and arg are borrowed/copied. Caller
 * stops with kube_informer_stop (allowed from its own callbacks). */
struct kube_informer *kube_informer_start(struct kube_client *kc, const struct kube_resource *res, const char *ns,
					  const char *label_selector, const struct kube_informer_callbacks *cb,
					  void *arg, char *err, size_t errlen);
void kube_informer_stop(struct kube_informer *inf);

/* Cache access: borrowed object or NULL. ns NULL/"" for cluster-scoped. */
const json_t *kube_informer_get(const struct kube_informer *inf, const char *ns, const char *name);
/* The whole cache (borrowed JSON object keyed "ns/name"). */
const json_t *kube_informer_cache(const struct kube_informer *inf);
int kube_informer_synced(const struct kube_informer *inf);
const char *kube_informer_resource_version(const struct kube_informer *inf);

struct kube_informer_stats {
	unsigned lists;     /* complete lists, the first one included */
	unsigned relists;   /* lists caused by 410 / Expired */
	unsigned watches;   /* watch requests started */
	unsigned bookmarks; /* bookmark events seen */
	unsigned errors;    /* retries after errors */
};
void kube_informer_get_stats(const struct kube_informer *inf, struct kube_informer_stats *out);

/* Tests: drop the current watch and watch again from resource_version (e.g. a
 * too-old one, to exercise the 410 path). */
int kube_informer_rewatch_from(struct kube_informer *inf, const char *resource_version);

#endif
