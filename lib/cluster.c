#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define GATHER_MAX_NODES 1000

static int view_fill(struct node_view *v, const struct cluster_gather_opts *o)
{
	struct node_conn *n = NULL;
	redisReply *r = NULL;
	char val[32];
	int rc = -1;

	n = node_connect(&v->addr, o->password, o->timeout_ms > 0 ? o->timeout_ms : 2000, v->error, sizeof(v->error));
	if (!n)
		goto done;
	if (!(r = node_command(n, v->error, sizeof(v->error), "INFO cluster")))
		goto done;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		seterr(v->error, sizeof(v->error), "node %s: INFO: unexpected reply type", n->name);
		goto done;
	}
	v->cluster_enabled = info_get_field(r->str, r->len, "cluster_enabled", val, sizeof(val)) == 0 &&
			     strcmp(val, "1") == 0;
	freeReplyObject(r);
	r = NULL;
	if (!v->cluster_enabled) {
		seterr(v->error, sizeof(v->error), "node %s: not in cluster mode (cluster-enabled no)", n->name);
		v->reachable = 1;
		rc = 0;
		goto done;
	}
	if (!(r = node_command(n, v->error, sizeof(v->error), "CLUSTER NODES")))
		goto done;
	if (r->type != REDIS_REPLY_STRING) {
		seterr(v->error, sizeof(v->error), "node %s: CLUSTER NODES: unexpected reply type", n->name);
		goto done;
	}
	{
		char perr[200];
		if (topology_parse_nodes(r->str, r->len, &v->topo, perr, sizeof(perr)) < 0) {
			seterr(v->error, sizeof(v->error), "node %s: %s", n->name, perr);
			goto done;
		}
	}
	freeReplyObject(r);
	r = NULL;
	if (!(r = node_command(n, v->error, sizeof(v->error), "CLUSTER INFO")))
		goto done;
	if (r->type != REDIS_REPLY_STRING) {
		seterr(v->error, sizeof(v->error), "node %s: CLUSTER INFO: unexpected reply type", n->name);
		goto done;
	}
	{
		char perr[200];
		if (cluster_info_parse(r->str, r->len, &v->info, perr, sizeof(perr)) < 0) {
			seterr(v->error, sizeof(v->error), "node %s: %s", n->name, perr);
			goto done;
		}
	}
	freeReplyObject(r);
	r = NULL;
	if (!(r = node_command(n, v->error, sizeof(v->error), "DBSIZE")))
		goto done;
	v->dbsize = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	if (v->topo->myself >= 0)
		strlcpy_a(v->id, v->topo->nodes[v->topo->myself].id, sizeof(v->id));
	if (v->topo->myself >= 0 && (v->topo->nodes[v->topo->myself].flags & NODE_REPLICA)) {
		freeReplyObject(r);
		if (!(r = node_command(n, v->error, sizeof(v->error), "INFO replication")))
			goto done;
		v->master_link_up = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
				    info_get_field(r->str, r->len, "master_link_status", val, sizeof(val)) == 0 &&
				    strcmp(val, "up") == 0;
	}
	v->reachable = 1;
	v->error[0] = '\0';
	rc = 0;
done:
	if (r)
		freeReplyObject(r);
	node_close(n);
	if (rc < 0) {
		topology_free(v->topo);
		v->topo = NULL;
		v->reachable = 0;
	}
	return rc;
}

static int snapshot_has(const struct cluster_snapshot *s, const struct hostport *a)
{
	for (size_t i = 0; i < s->nviews; i++)
		if (hostport_eq(&s->views[i].addr, a))
			return 1;
	return 0;
}

static int snapshot_add(struct cluster_snapshot *s, size_t *cap, const struct hostport *a)
{
	if (s->nviews == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct node_view *nv = realloc(s->views, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		s->views = nv;
		*cap = ncap;
	}
	memset(&s->views[s->nviews], 0, sizeof(s->views[0]));
	s->views[s->nviews].addr = *a;
	s->views[s->nviews].dbsize = -1;
	s->nviews++;
	return 0;
}

int cluster_gather(const struct hostport *addrs, size_t naddrs, const struct cluster_gather_opts *o,
		   struct cluster_snapshot **out, char *err, size_t errlen)
{
	struct cluster_snapshot *s = NULL;
	size_t cap = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	for (size_t i = 0; i < naddrs; i++)
		if (!snapshot_has(s, &addrs[i]) && snapshot_add(s, &cap, &addrs[i]) < 0)
			goto oom;
	for (size_t i = 0; i < s->nviews; i++) {
		view_fill(&s->views[i], o);
		if (!o->follow || !s->views[i].topo)
			continue;
		const struct topology *t = s->views[i].topo;
		for (size_t j = 0; j < t->nnodes; j++) {
			const struct cluster_node *cn = &t->nodes[j];
			struct hostport hp;
			if (!cn->ip[0] || cn->port <= 0 || (cn->flags & (NODE_NOADDR | NODE_HANDSHAKE)))
				continue;
			strlcpy_a(hp.host, cn->ip, sizeof(hp.host));
			hp.port = cn->port;
			if (snapshot_has(s, &hp))
				continue;
			if (s->nviews >= GATHER_MAX_NODES)
				break;
			if (snapshot_add(s, &cap, &hp) < 0)
				goto oom;
		}
	}
	*out = s;
	return 0;
oom:
	cluster_snapshot_free(s);
	return seterr(err, errlen, "out of memory");
}

void cluster_snapshot_free(struct cluster_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nviews; i++)
		topology_free(s->views[i].topo);
	free(s->views);
	free(s);
}

const struct node_view *cluster_view_by_id(const struct cluster_snapshot *s, const char *id)
{
	for (size_t i = 0; i < s->nviews; i++)
		if (s->views[i].reachable && s->views[i].id[0] && strcmp(s->views[i].id, id) == 0)
			return &s->views[i];
	return NULL;
}

int cluster_pick_ref(const struct cluster_snapshot *s, size_t n, int require_slots)
{
	int best = -1;

	for (size_t i = 0; i < n && i < s->nviews; i++) {
		const struct node_view *v = &s->views[i];
		if (!v->reachable || !v->topo || (require_slots && v->info.slots_assigned <= 0))
			continue;
		if (best < 0 || v->info.slots_assigned > s->views[best].info.slots_assigned ||
		    (v->info.slots_assigned == s->views[best].info.slots_assigned &&
		     v->info.current_epoch > s->views[best].info.current_epoch))
			best = (int)i;
	}
	return best;
}

int cluster_converged(const struct cluster_snapshot *s, size_t n, const struct topology *ref, char *why, size_t whylen)
{
	for (size_t i = 0; i < n && i < s->nviews; i++) {
		const struct node_view *v = &s->views[i];
		const struct topology *t = v->topo;
		if (!v->reachable || !t || t->myself < 0 || !(t->nodes[t->myself].flags & NODE_MASTER))
			continue;
		if (!v->info.state_ok)
			return seterr(why, whylen, "node %s:%d reports cluster_state:fail", v->addr.host, v->addr.port);
		for (int sl = 0; sl < CLUSTER_SLOTS; sl++) {
			int a = ref->slot_owner[sl], b = t->slot_owner[sl];
			if ((a < 0) != (b < 0) || (a >= 0 && strcmp(ref->nodes[a].id, t->nodes[b].id) != 0))
				return seterr(why, whylen, "node %s:%d sees another owner for slot %d", v->addr.host,
					      v->addr.port, sl);
		}
	}
	return 0;
}
