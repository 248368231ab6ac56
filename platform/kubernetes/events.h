/* core/v1 Events about an object ("kubectl describe" shows them).
 *
 * kube_event_record creates an Event (type Normal or Warning, a CamelCase
 * reason, a message) about an involved object. An event identical to the last
 * one recorded for the same object (same type, reason and message) is not
 * created again: the existing Event gets count + 1 and a new lastTimestamp
 * (merge patch), as client-go's event correlator does for exact repeats.
 * Sending is asynchronous and best effort; failures go to on_error.
 *
 * The Event object itself is built by a pure function (kube_event_build). */
#ifndef AUTOSHARD_EVENTS_H
#define AUTOSHARD_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "kubernetes/kube_client.h"

#define KUBE_EVENT_MESSAGE_MAX 1024 /* longer messages are cut */
#define KUBE_EVENT_REASON_MAX 128

struct kube_event_recorder;

/* component: source.component / reportingComponent ("autoshard-controller");
 * instance: source.host / reportingInstance (pod name), may be NULL.
 * on_error (may be NULL) gets one line per failed send. kc is borrowed.
 * Caller frees with kube_events_free. */
struct kube_event_recorder *kube_events_new(struct kube_client *kc, const char *component, const char *instance,
					    void (*on_error)(const char *msg, void *arg), void *arg, char *err,
					    size_t errlen);
/* Cancels sends in flight. Accepts NULL. */
void kube_events_free(struct kube_event_recorder *rec);

/* About involved (borrowed; its apiVersion, kind, metadata.namespace/name/uid/
 * resourceVersion are used). type "Normal" or "Warning". -1 with err on bad
 * arguments; send errors are reported through on_error. */
int kube_event_record(struct kube_event_recorder *rec, const json_t *involved, const char *type, const char *reason,
		      const char *message, char *err, size_t errlen);

/* The Event to create (new reference, caller decrefs; NULL on bad input).
 * name is the Event's metadata.name; count usually 1. */
json_t *kube_event_build(const json_t *involved, const char *type, const char *reason, const char *message,
			 const char *component, const char *instance, const char *name, int count, int64_t now_wall_us);

/* Number of Events created and patched so far (tests). */
void kube_events_counts(const struct kube_event_recorder *rec, unsigned *created, unsigned *patched);

#endif
