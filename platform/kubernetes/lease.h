/* Leader election on a coordination.k8s.io/v1 Lease, with client-go's
 * semantics and defaults (lease duration 15 s, renew deadline 10 s, retry
 * period 2 s):
 *
 *   - the Lease is created when missing, with us as holder;
 *   - it is taken over when holderIdentity is empty, or when the record has
 *     not changed for leaseDurationSeconds as measured on *our* monotonic
 *     clock since we first saw that record (other clocks are not trusted);
 *   - the holder renews (renewTime) every retry period; every write is a PUT
 *     carrying the resourceVersion that was read (optimistic concurrency: a
 *     concurrent writer makes it fail with 409 Conflict);
 *   - a holder that has not renewed successfully for renew deadline, or that
 *     sees another holder in the record, has lost the lease and is told so
 *     (on_stopped_leading): the program must stop acting at once;
 *   - on shutdown the holder releases: holderIdentity "", leaseDurationSeconds 1.
 *
 * The decision is a pure function (lease_decide) over the Lease object, the
 * monotonic time and our observation of the record; lease_build makes the
 * object to write. lease_elector drives both on the event loop. */
#ifndef AUTOSHARD_LEASE_H
#define AUTOSHARD_LEASE_H

#include <jansson.h>
#include <stdint.h>

#include "kubernetes/kube_client.h"

#define LEASE_DURATION_MS_DEFAULT 15000
#define LEASE_RENEW_DEADLINE_MS_DEFAULT 10000
#define LEASE_RETRY_PERIOD_MS_DEFAULT 2000
#define LEASE_IDENTITY_MAX 256

enum lease_action {
	LEASE_CREATE,  /* no Lease: create it with us as holder */
	LEASE_ACQUIRE, /* empty holder or expired: take over (transitions + 1) */
	LEASE_RENEW,   /* we hold it: renew */
	LEASE_WAIT,    /* another holder, still valid: try again later */
};

/* What we last saw of the record and when (monotonic ms). Start zeroed. */
struct lease_observation {
	char record[1024]; /* holder|duration|acquire|renew|transitions */
	int64_t observed_ms;
	char holder[LEASE_IDENTITY_MAX];
};

/* lease is the current object (NULL when it does not exist). obs is updated
 * when the record changed since last time. default_duration_ms applies when
 * the record has no leaseDurationSeconds. */
enum lease_action lease_decide(const json_t *lease, int64_t now_ms, const char *identity, struct lease_observation *obs,
			       int64_t default_duration_ms);

/* The Lease to write for action (CREATE, ACQUIRE, RENEW) or for a release
 * (release = 1: holder "" and duration 1 s). current is the object read (its
 * metadata.resourceVersion is kept) or NULL for CREATE. now_wall_us is
 * microseconds since the epoch (for acquireTime/renewTime). New reference;
 * caller decrefs. NULL on allocation failure. */
json_t *lease_build(const json_t *current, const char *ns, const char *name, const char *identity, int64_t duration_ms,
		    enum lease_action action, int release, int64_t now_wall_us);

/* RFC 3339 with microseconds, UTC: "2024-05-01T12:00:00.123456Z". */
void lease_format_microtime(int64_t wall_us, char *buf, size_t len);

struct lease_elector;

struct lease_elector_opts {
	const char *ns;            /* required */
	const char *name;          /* required */
	const char *identity;      /* required: unique per contender (pod name) */
	int64_t lease_duration_ms; /* 0: 15 s */
	int64_t renew_deadline_ms; /* 0: 10 s */
	int64_t retry_period_ms;   /* 0: 2 s */
	void (*on_started_leading)(void *arg);
	/* Lost, or released by lease_elector_release. Stop acting now. */
	void (*on_stopped_leading)(void *arg);
	/* The observed holder changed ("" when nobody); identity is borrowed. */
	void (*on_new_leader)(const char *identity, void *arg);
	/* A failed attempt, for the program's log. */
	void (*on_error)(const char *msg, void *arg);
	void *arg;
};

/* Start contending on the loop of kc (borrowed; must outlive the elector).
 * Caller frees with lease_elector_free. */
struct lease_elector *lease_elector_start(struct kube_client *kc, const struct lease_elector_opts *opts, char *err,
					  size_t errlen);
int lease_elector_is_leader(const struct lease_elector *le);
/* Stop contending; if we hold the lease, release it (one PUT) and call done
 * when that finished (ok = 1 released, 0 failed). Without the lease done is
 * called at once. on_stopped_leading is called first if we were leading. */
void lease_elector_release(struct lease_elector *le, void (*done)(int ok, void *arg), void *arg);
/* Stop without releasing (in-flight requests are cancelled). Accepts NULL.
 * Allowed from the elector's callbacks. */
void lease_elector_free(struct lease_elector *le);

#endif
