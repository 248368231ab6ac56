/* Event recorder. See events.h.
 *
 * One entry per involved object remembers the last event sent about it: its
 * key (type, reason, message), the Event's name and count. A repeat while the
 * create (or a previous patch) is still in flight only bumps the count and
 * marks the entry dirty; the completion sends one patch with the final count.
 * The table is bounded (KUBE_EVENTS_TRACKED); when full, the oldest entry is
 * forgotten (its next event is a new Event, which is harmless). */
#include "kubernetes/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubernetes/lease.h" /* lease_format_microtime */
#include "util.h"

#define KUBE_EVENTS_TRACKED 256

struct ev_entry {
	struct kube_event_recorder *rec;
	char *obj_key;   /* kind/ns/name/uid */
	char *ev_key;    /* type \x1f reason \x1f message */
	char *ns, *name; /* the Event */
	int count;
	int dirty;   /* count changed while a request was in flight */
	int created; /* the Event exists on the server */
	struct kube_call *call;
	uint64_t stamp; /* for eviction */
};

struct kube_event_recorder {
	struct kube_client *kc;
	char *component, *instance;
	void (*on_error)(const char *msg, void *arg);
	void *arg;
	struct ev_entry *entries[KUBE_EVENTS_TRACKED];
	uint64_t clock;
	unsigned n_created, n_patched;
};

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *meta_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));

	return s ? s : "";
}

json_t *kube_event_build(const json_t *involved, const char *type, const char *reason, const char *message,
			 const char *component, const char *instance, const char *name, int count, int64_t now_wall_us)
{
	const char *kind = json_string_value(json_object_get(involved, "kind"));
	const char *api = json_string_value(json_object_get(involved, "apiVersion"));
	const char *ns = meta_str(involved, "namespace");
	char now[48], msg[KUBE_EVENT_MESSAGE_MAX + 1];
	json_t *ev, *io;

	if (!kind || !*meta_str(involved, "name") || !type || !reason || !message || !component || !name)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", message);
	lease_format_microtime(now_wall_us - now_wall_us % 1000000, now, sizeof(now));
	/* Timestamps of core/v1 Events are whole seconds: "...:05Z". */
	memmove(now + 19, now + 26, strlen(now + 26) + 1);
	io = json_pack("{ssssss}", "kind", kind, "name", meta_str(involved, "name"), "apiVersion", api ? api : "");
	if (!io)
		return NULL;
	if (*ns)
		json_object_set_new(io, "namespace", json_string(ns));
	if (*meta_str(involved, "uid"))
		json_object_set_new(io, "uid", json_string(meta_str(involved, "uid")));
	if (*meta_str(involved, "resourceVersion"))
		json_object_set_new(io, "resourceVersion", json_string(meta_str(involved, "resourceVersion")));
	ev = json_pack("{ss ss s{ss ss} so ss ss ss s{ss} si ss ss ss ss}", "apiVersion", "v1", "kind", "Event",
		       "metadata", "name", name, "namespace", *ns ? ns : "default", "involvedObject", io, "type", type,
		       "reason", reason, "message", msg, "source", "component", component, "count", count,
		       "firstTimestamp", now, "lastTimestamp", now, "reportingComponent", component,
		       "reportingInstance", instance ? instance : "");
	if (ev && instance && *instance)
		json_object_set_new(json_object_get(ev, "source"), "host", json_string(instance));
	return ev;
}

struct kube_event_recorder *kube_events_new(struct kube_client *kc, const char *component, const char *instance,
					    void (*on_error)(const char *msg, void *arg), void *arg, char *err,
					    size_t errlen)
{
	struct kube_event_recorder *rec = NULL;

	if (!kc || !component || !*component) {
		seterr(err, errlen, "events: a client and a component name are required");
		return NULL;
	}
	if (!(rec = calloc(1, sizeof(*rec))) || !(rec->component = strdup(component)) ||
	    (instance && !(rec->instance = strdup(instance)))) {
		seterr(err, errlen, "events: out of memory");
		kube_events_free(rec);
		return NULL;
	}
	rec->kc = kc;
	rec->on_error = on_error;
	rec->arg = arg;
	return rec;
}

static void entry_free(struct ev_entry *e)
{
	if (!e)
		return;
	kube_call_cancel(e->call);
	free(e->obj_key);
	free(e->ev_key);
	free(e->ns);
	free(e->name);
	free(e);
}

void kube_events_free(struct kube_event_recorder *rec)
{
	int i;

	if (!rec)
		return;
	for (i = 0; i < KUBE_EVENTS_TRACKED; i++)
		entry_free(rec->entries[i]);
	free(rec->component);
	free(rec->instance);
	free(rec);
}

void kube_events_counts(const struct kube_event_recorder *rec, unsigned *created, unsigned *patched)
{
	*created = rec ? rec->n_created : 0;
	*patched = rec ? rec->n_patched : 0;
}

static void report(struct kube_event_recorder *rec, const char *what, const struct ev_entry *e, const char *msg)
{
	char buf[1400];

	if (!rec->on_error)
		return;
	snprintf(buf, sizeof(buf), "event %s/%s: %s: %s", e->ns, e->name, what, msg);
	rec->on_error(buf, rec->arg);
}

static void entry_send_patch(struct ev_entry *e);

static void on_sent(const struct kube_result *res, void *arg)
{
	struct ev_entry *e = arg;
	struct kube_event_recorder *rec = e->rec;

	e->call = NULL;
	if (!res->ok) {
		report(rec, e->created ? "patch failed" : "create failed", e, res->message);
		/* Forget the Event: the next repeat creates a new one. */
		free(e->ev_key);
		e->ev_key = NULL;
		e->dirty = 0;
		return;
	}
	if (e->created)
		rec->n_patched++;
	else
		rec->n_created++;
	e->created = 1;
	if (e->dirty)
		entry_send_patch(e);
}

static void entry_send_patch(struct ev_entry *e)
{
	char now[48], err[512];
	json_t *patch;

	e->dirty = 0;
	lease_format_microtime(wall_us() / 1000000 * 1000000, now, sizeof(now));
	memmove(now + 19, now + 26, strlen(now + 26) + 1);
	patch = json_pack("{siss}", "count", e->count, "lastTimestamp", now);
	if (!patch)
		return;
	e->call = kube_merge_patch(e->rec->kc, &KUBE_RES_EVENTS, e->ns, e->name, NULL, patch, on_sent, e, err,
				   sizeof(err));
	if (!e->call)
		report(e->rec, "patch", e, err);
	json_decref(patch);
}

/* The entry for obj_key, or a fresh slot (evicting the oldest when full). */
static struct ev_entry *entry_for(struct kube_event_recorder *rec, const char *obj_key)
{
	struct ev_entry *e;
	int i, free_slot = -1, oldest = 0;

	for (i = 0; i < KUBE_EVENTS_TRACKED; i++) {
		e = rec->entries[i];
		if (!e) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(e->obj_key, obj_key) == 0)
			return e;
		if (!rec->entries[oldest] || e->stamp < rec->entries[oldest]->stamp)
			oldest = i;
	}
	if (free_slot < 0) {
		entry_free(rec->entries[oldest]);
		rec->entries[oldest] = NULL;
		free_slot = oldest;
	}
	if (!(e = calloc(1, sizeof(*e))) || !(e->obj_key = strdup(obj_key))) {
		free(e);
		return NULL;
	}
	e->rec = rec;
	rec->entries[free_slot] = e;
	return e;
}

int kube_event_record(struct kube_event_recorder *rec, const json_t *involved, const char *type, const char *reason,
		      const char *message, char *err, size_t errlen)
{
	char obj_key[1200], *ev_key = NULL, name[320];
	struct ev_entry *e;
	json_t *ev = NULL;
	size_t klen;
	int rc = -1;

	if (!rec || !involved || !type || !reason || !message) {
		seterr(err, errlen, "events: missing argument");
		goto done;
	}
	if (strcmp(type, "Normal") != 0 && strcmp(type, "Warning") != 0) {
		seterr(err, errlen, "events: type must be Normal or Warning, not \"%.32s\"", type);
		goto done;
	}
	if (!*reason || strlen(reason) > KUBE_EVENT_REASON_MAX) {
		seterr(err, errlen, "events: reason must be 1..%d characters", KUBE_EVENT_REASON_MAX);
		goto done;
	}
	if (!json_is_string(json_object_get(involved, "kind")) || !*meta_str(involved, "name")) {
		seterr(err, errlen, "events: the involved object needs kind and metadata.name");
		goto done;
	}
	snprintf(obj_key, sizeof(obj_key), "%s/%s/%s/%s", json_string_value(json_object_get(involved, "kind")),
		 meta_str(involved, "namespace"), meta_str(involved, "name"), meta_str(involved, "uid"));
	klen = strlen(type) + strlen(reason) + strnlen(message, KUBE_EVENT_MESSAGE_MAX) + 3;
	if (!(ev_key = malloc(klen)) || !(e = entry_for(rec, obj_key))) {
		seterr(err, errlen, "events: out of memory");
		goto done;
	}
	snprintf(ev_key, klen, "%s\x1f%s\x1f%.*s", type, reason, KUBE_EVENT_MESSAGE_MAX, message);
	e->stamp = ++rec->clock;
	if (e->ev_key && strcmp(e->ev_key, ev_key) == 0) {
		/* The same as last time: count it on the existing Event. */
		e->count++;
		if (e->call)
			e->dirty = 1;
		else
			entry_send_patch(e);
		rc = 0;
		goto done;
	}
	/* A different event: a new Event object. */
	kube_call_cancel(e->call);
	e->call = NULL;
	free(e->ev_key);
	free(e->ns);
	free(e->name);
	e->ev_key = ev_key;
	ev_key = NULL;
	e->count = 1;
	e->dirty = 0;
	e->created = 0;
	snprintf(name, sizeof(name), "%.240s.%llx", meta_str(involved, "name"),
		 (unsigned long long)wall_us() * 1000 + rec->clock % 1000);
	e->name = strdup(name);
	e->ns = strdup(*meta_str(involved, "namespace") ? meta_str(involved, "namespace") : "default");
	ev = kube_event_build(involved, type, reason, message, rec->component, rec->instance, name, 1, wall_us());
	if (!e->name || !e->ns || !ev) {
		free(e->ev_key);
		e->ev_key = NULL;
		seterr(err, errlen, "events: out of memory");
		goto done;
	}
	e->call = kube_create(rec->kc, &KUBE_RES_EVENTS, e->ns, ev, on_sent, e, err, errlen);
	if (!e->call) {
		free(e->ev_key);
		e->ev_key = NULL;
		goto done;
	}
	rc = 0;
done:
	free(ev_key);
	json_decref(ev);
	return rc;
}
