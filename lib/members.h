/* Desired members of a cluster: what a platform source (static list, Kubernetes,
 * Upsun peers.json, Flux) says the instances are. Input of the reconciler. */
#ifndef AUTOSHARD_MEMBERS_H
#define AUTOSHARD_MEMBERS_H

#include <stddef.h>

#include "util.h"

#define MEMBERS_MAX 1000

struct member {
	struct hostport addr; /* where to reach the instance */
	char host[HOST_MAX];  /* failure domain for anti-affinity (machine/zone); default addr.host */
};

struct member_list {
	struct member *v; /* owned */
	size_t n;
};

void member_list_free(struct member_list *l);
/* Append; fails on duplicates (same address) or when MEMBERS_MAX is reached. */
int member_list_add(struct member_list *l, const struct member *m, char *err, size_t errlen);
int member_list_index(const struct member_list *l, const struct hostport *a);

#endif
