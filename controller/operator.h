/* The ValkeyCluster operator: informers on ValkeyClusters and on the
 * StatefulSets, Pods and ConfigMaps it owns; for every cluster a level-based,
 * idempotent pass that server-side applies the owned objects, writes the
 * member list, runs the engine in a child process, scales the StatefulSet in
 * the safe order and patches /status. Acts only while told it leads. */
#ifndef AUTOSHARD_CONTROLLER_OPERATOR_H
#define AUTOSHARD_CONTROLLER_OPERATOR_H

#include <stddef.h>

#include "evloop.h"
#include "kubernetes/events.h"
#include "kubernetes/kube_client.h"

#define FIELD_MANAGER "autoshard-controller"

struct operator_opts {
	const char *ns;             /* "" or NULL: every namespace */
	const char *default_image;  /* when spec.image is empty */
	const char *cluster_domain; /* pods' DNS names end in .svc.<this> */
	int resync_s;               /* re-check every cluster's health this often */
	int engine_deadline_s;      /* one engine run at most */
	/* Something the dashboard shows changed (progress, a slot map, a
	 * result). May be NULL. */
	void (*on_change)(void *arg);
	void *change_arg;
};

struct operator;

/* kc and rec are borrowed and must outlive the operator; opts strings too.
 * Caller frees with operator_free. */
struct operator* operator_new(struct evloop *loop, struct kube_client *kc, struct kube_event_recorder *rec,
			      const struct operator_opts *opts, char *err, size_t errlen);
/* Start the informers. */
int operator_start(struct operator* op, char *err, size_t errlen);
/* Act (1) or stop acting (0: running engines are killed). */
/* A request outside the informers failed for want of an answer (the Lease):
 * hold every action until the API server answers and every watch runs. */
void operator_api_error(struct operator* op);
void operator_set_leader(struct operator* op, int leader);
struct textbuf;
/* The clusters as /api/v1/clusters shows them (a new JSON array; see
 * controller/README.md); NULL on allocation failure. */
json_t *operator_clusters_json(const struct operator* op);
/* Per-cluster and operator metrics in the Prometheus text format. */
void operator_metrics(const struct operator* op, struct textbuf *b);
/* 1 when every informer has listed and every watch runs; else 0 and why. */
int operator_ready(const struct operator* op, char *why, size_t whylen);
/* Number of engine children running. */
int operator_engines_running(const struct operator* op);
/* Stops informers, kills engines, cancels requests. Accepts NULL. */
void operator_free(struct operator* op);

#endif
