/* health_check over snapshots built from real CLUSTER NODES / CLUSTER INFO
 * replies (tests/unit/data): each kind of problem is reported, a healthy
 * cluster is healthy, counts come from the majority view; the settled-shape
 * expectations (no master without slots, at least R replicas) report a
 * drained master that does not replicate yet, a shard short of replicas and
 * masters further apart than one slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "testlib.h"

#define V21 "b4215ffacf14c5d778098d6a329e4f871e290509"
#define V22 "f6c8b782ae3bace33165de877bb317d281e1f5a2"
#define V24 "eafdbbbac3c1f8fca67ddd94cebc2388402b018b"
#define V26 "e727f4efdf09a84752a155b9c73e4b6c68c79b53"

static struct cluster_snapshot *snap_new(size_t n)
{
	struct cluster_snapshot *s = calloc(1, sizeof(*s));

	s->views = calloc(n, sizeof(*s->views));
	s->nviews = n;
	return s;
}

/* A reachable cluster-mode view of 127.0.0.<host>:<port> from a CLUSTER NODES
 * text and data/<dir>/info_<host>.txt (dir NULL: just cluster_state:ok). */
static void view_from_text(struct node_view *v, int host, int port, const char *nodes, size_t nlen, const char *dir)
{
	char path[128], err[256] = "";
	size_t ilen;
	char *info;

	memset(v, 0, sizeof(*v));
	snprintf(v->addr.host, sizeof(v->addr.host), "127.0.0.%d", host);
	v->addr.port = port;
	v->reachable = 1;
	v->cluster_enabled = 1;
	v->dbsize = 0;
	CHECK_MSG(topology_parse_nodes(nodes, nlen, &v->topo, err, sizeof(err)) == 0, "%s/%d: %s", dir, host, err);
	if (v->topo && v->topo->myself >= 0)
		memcpy(v->id, v->topo->nodes[v->topo->myself].id, sizeof(v->id));
	if (!dir) {
		v->info.state_ok = 1;
		return;
	}
	snprintf(path, sizeof(path), "data/%s/info_%d.txt", dir, host);
	info = test_slurp(path, &ilen);
	CHECK(info != NULL);
	if (info)
		CHECK_MSG(cluster_info_parse(info, ilen, &v->info, err, sizeof(err)) == 0, "%s: %s", path, err);
	free(info);
}

static void view_from_dir(struct node_view *v, const char *dir, int host, int port)
{
	char path[128];
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), "data/%s/nodes_%d.txt", dir, host);
	buf = test_slurp(path, &len);
	CHECK(buf != NULL);
	view_from_text(v, host, port, buf ? buf : "", len, dir);
	free(buf);
}

static void view_unreachable(struct node_view *v, int host, int port, const char *why)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->addr.host, sizeof(v->addr.host), "127.0.0.%d", host);
	v->addr.port = port;
	v->dbsize = -1;
	snprintf(v->error, sizeof(v->error), "%s", why);
}

/* Views of 127.0.0.21..26 from one data directory. */
static struct cluster_snapshot *snap_dir(const char *dir, int port)
{
	struct cluster_snapshot *s = snap_new(6);

	for (int i = 0; i < 6; i++)
		view_from_dir(&s->views[i], dir, 21 + i, port);
	return s;
}

static int has_problem(const struct health_report *r, const char *want)
{
	for (size_t i = 0; i < r->nproblems; i++)
		if (strcmp(r->problems[i], want) == 0)
			return 1;
	return 0;
}

static int has_problem_part(const struct health_report *r, const char *want)
{
	for (size_t i = 0; i < r->nproblems; i++)
		if (strstr(r->problems[i], want))
			return 1;
	return 0;
}

static void dump(const struct health_report *r)
{
	for (size_t i = 0; i < r->nproblems; i++)
		fprintf(stderr, "    problem: %s\n", r->problems[i]);
}

#define CHECK_PROBLEM(r, want)                                     \
	do {                                                       \
		int found_ = has_problem((r), (want));             \
		CHECK_MSG(found_, "missing problem '%s'", (want)); \
		if (!found_)                                       \
			dump(r);                                   \
	} while (0)

#define CHECK_COUNT(r, n)                                                                       \
	do {                                                                                    \
		CHECK_MSG((r)->nproblems == (n), "%zu problems, want %d", (r)->nproblems, (n)); \
		if ((r)->nproblems != (n))                                                      \
			dump(r);                                                                \
	} while (0)

static void test_healthy(void)
{
	struct health_expect e = {3, 1, 6, 0, 0, 0};
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_healthy", 6379);

	CHECK(health_check(s, &e, &r) == 0);
	CHECK_COUNT(&r, 0);
	dump(&r);
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6);
	CHECK(r.slots_covered == CLUSTER_SLOTS && r.open_slots == 0);
	health_report_free(&r);

	CHECK(health_check(s, NULL, &r) == 0 && r.nproblems == 0);
	health_report_free(&r);

	/* wrong expectations, one line each */
	e.masters = 4;
	e.nodes = 7;
	e.replicas_per_master = 2;
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_COUNT(&r, 5);
	CHECK_PROBLEM(&r, "expected 4 masters with slots, found 3");
	CHECK_PROBLEM(&r, "expected 7 nodes, found 6");
	CHECK_PROBLEM(&r, "master 127.0.0.21:6379 (b4215ffa...) has 1 replica, expected 2");
	CHECK_PROBLEM(&r, "master 127.0.0.22:6379 (f6c8b782...) has 1 replica, expected 2");
	CHECK_PROBLEM(&r, "master 127.0.0.23:6379 (cf1e3987...) has 1 replica, expected 2");
	health_report_free(&r);
	/* "any" */
	e = (struct health_expect){0, -1, 0, 0, 0, 0};
	CHECK(health_check(s, &e, &r) == 0);
	health_report_free(&r);
	cluster_snapshot_free(s);

	s = snap_dir("redis7_healthy", 6380);
	e = (struct health_expect){3, 1, 6, 0, 0, 0};
	CHECK(health_check(s, &e, &r) == 0);
	CHECK_COUNT(&r, 0);
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6 && r.slots_covered == CLUSTER_SLOTS);
	health_report_free(&r);
	cluster_snapshot_free(s);
}

static void test_uncovered_and_state_fail(void)
{
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("redis7_uncovered", 6380);

	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "slots 100-199 are not covered");
	CHECK_PROBLEM(&r, "slot 5000 is not covered");
	CHECK_PROBLEM(&r, "node 127.0.0.21:6380 (f9dd2346...): cluster_state is fail");
	CHECK_PROBLEM(&r, "node 127.0.0.26:6380 (2509bd96...): cluster_state is fail");
	/* 2 coverage lines + 6 state lines, nothing else */
	CHECK_COUNT(&r, 8);
	CHECK(r.slots_covered == CLUSTER_SLOTS - 101);
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6);
	health_report_free(&r);
	cluster_snapshot_free(s);
}

static void test_open_slots(void)
{
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_migrating", 6379);

	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.21:6379 (b4215ffa...): slot 7 is migrating to 127.0.0.22:6379 (f6c8b782...)");
	CHECK_PROBLEM(&r,
		      "node 127.0.0.21:6379 (b4215ffa...): slot 5462 is importing from 127.0.0.22:6379 (f6c8b782...)");
	CHECK_PROBLEM(&r, "node 127.0.0.22:6379 (f6c8b782...): slot 7 is importing from 127.0.0.21:6379 (b4215ffa...)");
	CHECK_PROBLEM(&r,
		      "node 127.0.0.22:6379 (f6c8b782...): slot 5462 is migrating to 127.0.0.21:6379 (b4215ffa...)");
	/* Valkey 8 mirrors the master's open slots on its replicas */
	CHECK_PROBLEM(&r, "node 127.0.0.25:6379 (579e14a7...): slot 7 is migrating to 127.0.0.22:6379 (f6c8b782...)");
	CHECK_PROBLEM(&r,
		      "node 127.0.0.26:6379 (e727f4ef...): slot 5462 is migrating to 127.0.0.21:6379 (b4215ffa...)");
	CHECK_COUNT(&r, 8);
	CHECK(r.open_slots == 2);
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6 && r.slots_covered == CLUSTER_SLOTS);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* runs of open slots to the same peer are one line */
	{
		const char *text = V21 " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-16383 "
				       "[1->-" V22 "] [2->-" V22 "] [3->-" V22 "] [5->-" V22 "] [6-<-" V22 "]\n" V22
				       " 10.0.0.2:6379@16379 master - 0 0 2 connected\n";
		s = snap_new(1);
		view_from_text(&s->views[0], 21, 6379, text, strlen(text), "valkey8_healthy");
		CHECK(health_check(s, NULL, &r) == 1);
		CHECK_PROBLEM(
			&r,
			"node 127.0.0.21:6379 (b4215ffa...): slots 1-3 are migrating to 10.0.0.2:6379 (f6c8b782...)");
		CHECK_PROBLEM(&r,
			      "node 127.0.0.21:6379 (b4215ffa...): slot 5 is migrating to 10.0.0.2:6379 (f6c8b782...)");
		CHECK_PROBLEM(
			&r, "node 127.0.0.21:6379 (b4215ffa...): slot 6 is importing from 10.0.0.2:6379 (f6c8b782...)");
		CHECK(r.open_slots == 5);
		health_report_free(&r);
		cluster_snapshot_free(s);
	}
}

static void test_slot_disagreement(void)
{
	struct health_expect e = {3, 1, 6, 0, 0, 0};
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_disagree", 6379);

	CHECK(health_check(s, &e, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.23:6379 (cf1e3987...) sees slot 5001 owned by f6c8b782... but node "
			  "127.0.0.21:6379 (b4215ffa...) sees b4215ffa...");
	CHECK_COUNT(&r, 1);
	/* counts and coverage from the 5 nodes that agree */
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6 && r.slots_covered == CLUSTER_SLOTS);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* the odd one first: the majority still wins */
	s = snap_new(3);
	view_from_dir(&s->views[0], "valkey8_disagree", 23, 6379);
	view_from_dir(&s->views[1], "valkey8_disagree", 21, 6379);
	view_from_dir(&s->views[2], "valkey8_disagree", 22, 6379);
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.23:6379 (cf1e3987...) sees slot 5001 owned by f6c8b782... but node "
			  "127.0.0.21:6379 (b4215ffa...) sees b4215ffa...");
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* one against one: the view gathered first wins */
	s = snap_new(2);
	view_from_dir(&s->views[0], "valkey8_disagree", 23, 6379);
	view_from_dir(&s->views[1], "valkey8_disagree", 21, 6379);
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.21:6379 (b4215ffa...) sees slot 5001 owned by b4215ffa... but node "
			  "127.0.0.23:6379 (cf1e3987...) sees f6c8b782...");
	health_report_free(&r);
	cluster_snapshot_free(s);
}

static char *drop_line_with(const char *buf, const char *needle)
{
	const char *hit = strstr(buf, needle), *start, *end;
	char *out;

	if (!hit)
		return NULL;
	for (start = hit; start > buf && start[-1] != '\n'; start--)
		;
	end = strchr(hit, '\n');
	end = end ? end + 1 : hit + strlen(hit);
	out = malloc(strlen(buf) + 1);
	memcpy(out, buf, (size_t)(start - buf));
	strcpy(out + (start - buf), end);
	return out;
}

static void test_node_set_and_role_disagreement(void)
{
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_healthy", 6379);
	size_t len;
	char *buf = test_slurp("data/valkey8_healthy/nodes_22.txt", &len), *less;
	struct topology *t;
	int i;

	/* node 22 does not know 26 */
	less = buf ? drop_line_with(buf, V26) : NULL;
	CHECK(less != NULL);
	if (less) {
		topology_free(s->views[1].topo);
		view_from_text(&s->views[1], 22, 6379, less, strlen(less), "valkey8_healthy");
	}
	/* node 23 thinks 24 replicates 22 */
	t = s->views[2].topo;
	i = topology_find(t, V24);
	CHECK(i >= 0);
	if (i >= 0)
		memcpy(t->nodes[i].master_id, V22, sizeof(V22));
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.22:6379 (f6c8b782...) does not know node 127.0.0.26:6379 (e727f4ef...)");
	CHECK_PROBLEM(&r, "node 127.0.0.23:6379 (cf1e3987...) sees node 127.0.0.24:6379 (eafdbbba...) as replica of "
			  "f6c8b782... but node 127.0.0.21:6379 (b4215ffa...) sees it as replica of cf1e3987...");
	CHECK_COUNT(&r, 2);
	CHECK(r.nodes == 6 && r.replicas == 3);
	health_report_free(&r);

	/* and the other way round: 22 knows a node nobody else knows */
	if (buf) {
		size_t n = strlen(buf);
		char *more = malloc(n + 200);
		memcpy(more, buf, n);
		strcpy(more + n,
		       "dddddddddddddddddddddddddddddddddddddddd 127.0.0.99:6379@16379 master - 0 0 0 connected\n");
		topology_free(s->views[1].topo);
		view_from_text(&s->views[1], 22, 6379, more, strlen(more), "valkey8_healthy");
		free(more);
		memcpy(t->nodes[i].master_id, "cf1e398725169b628aee559cc2421b9ea27e43a8", NODE_ID_LEN + 1);
		CHECK(health_check(s, NULL, &r) == 1);
		CHECK_PROBLEM(&r,
			      "node 127.0.0.22:6379 (f6c8b782...) knows node 127.0.0.99:6379 (dddddddd...) which node "
			      "127.0.0.21:6379 (b4215ffa...) does not");
		CHECK_COUNT(&r, 1);
		health_report_free(&r);
	}
	free(less);
	free(buf);
	cluster_snapshot_free(s);
}

static void test_unreachable_and_fail_flags(void)
{
	struct health_expect e = {3, 1, 6, 0, 0, 0};
	struct health_report r;
	struct cluster_snapshot *s = snap_new(6);

	for (int i = 0; i < 5; i++)
		view_from_dir(&s->views[i], "valkey8_replica_down", 21 + i, 6379);
	view_unreachable(&s->views[5], 26, 6379, "Connection refused");
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.26:6379: unreachable: Connection refused");
	for (int i = 21; i <= 25; i++) {
		char want[256];
		const char *ids[] = {"b4215ffa", "f6c8b782", "cf1e3987", "eafdbbba", "579e14a7"};
		snprintf(want, sizeof(want),
			 "node 127.0.0.%d:6379 (%s...) flags node 127.0.0.26:6379 (e727f4ef...) as fail", i,
			 ids[i - 21]);
		CHECK_PROBLEM(&r, want);
	}
	CHECK_COUNT(&r, 6);
	/* 26 is still a member: counted */
	CHECK(r.masters == 3 && r.replicas == 3 && r.nodes == 6);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* a master died and its replica took over */
	s = snap_new(6);
	view_from_dir(&s->views[0], "valkey8_master_failed_over", 21, 6379);
	view_from_dir(&s->views[1], "valkey8_master_failed_over", 22, 6379);
	view_unreachable(&s->views[2], 23, 6379, "Connection refused");
	view_from_dir(&s->views[3], "valkey8_master_failed_over", 24, 6379);
	view_from_dir(&s->views[4], "valkey8_master_failed_over", 25, 6379);
	view_unreachable(&s->views[5], 26, 6379, "Connection refused");
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.23:6379: unreachable: Connection refused");
	CHECK_PROBLEM(&r, "node 127.0.0.24:6379 (eafdbbba...) flags node 127.0.0.23:6379 (cf1e3987...) as fail");
	CHECK_PROBLEM(&r, "master 127.0.0.24:6379 (eafdbbba...) has 0 replicas, expected 1");
	CHECK(!has_problem_part(&r, "not covered"));
	CHECK(r.masters == 3 && r.replicas == 2 && r.nodes == 6);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* pfail, as Redis shows it before agreement */
	s = snap_new(1);
	{
		size_t len;
		char *buf = test_slurp("data/nodes_redis7_pfail.txt", &len);
		view_from_text(&s->views[0], 21, 6380, buf ? buf : "", len, "redis7_healthy");
		free(buf);
	}
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.21:6380 (f9dd2346...) flags node 127.0.0.26:6380 (2509bd96...) as pfail");
	health_report_free(&r);
	cluster_snapshot_free(s);
}

static void test_handshake_not_counted(void)
{
	struct health_expect e = {3, 1, 6, 0, 0, 0};
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_healthy", 6379);
	size_t len;
	char *buf = test_slurp("data/valkey8_healthy/nodes_21.txt", &len), *more = malloc(len + 200);

	/* node 21 is meeting 127.0.0.29 (line as captured from Valkey 8) */
	memcpy(more, buf ? buf : "", len);
	strcpy(more + len,
	       "9db4eedd86a43251729f397501ef1812764eab42 127.0.0.29:6379@16379 handshake - 0 0 0 disconnected\n");
	topology_free(s->views[0].topo);
	view_from_text(&s->views[0], 21, 6379, more, strlen(more), "valkey8_healthy");
	free(buf);
	free(more);
	CHECK(s->views[0].topo && s->views[0].topo->nnodes == 7);
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.21:6379 (b4215ffa...) flags node 127.0.0.29:6379 (9db4eedd...) as handshake");
	CHECK_COUNT(&r, 1);
	CHECK(r.nodes == 6);
	health_report_free(&r);
	cluster_snapshot_free(s);
}

static void test_odd_views(void)
{
	struct health_report r;
	struct cluster_snapshot *s = snap_dir("valkey8_healthy", 6379);
	struct node_view *v;
	size_t len;
	char *buf;

	/* not in cluster mode; state fail; a member nobody visited; an outsider */
	s->views[1].cluster_enabled = 0;
	s->views[2].info.state_ok = 0;
	topology_free(s->views[5].topo);
	buf = test_slurp("data/nodes_valkey8_meeting.txt", &len);
	view_from_text(&s->views[5], 30, 6379, buf ? buf : "", len, NULL);
	free(buf);
	v = &s->views[3];
	v->error[0] = '\0';
	snprintf(v->error, sizeof(v->error), "LOADING dataset in memory");
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "node 127.0.0.22:6379 (f6c8b782...): not in cluster mode");
	CHECK_PROBLEM(&r, "node 127.0.0.23:6379 (cf1e3987...): cluster_state is fail");
	CHECK_PROBLEM(&r, "node 127.0.0.24:6379 (eafdbbba...): LOADING dataset in memory");
	CHECK_PROBLEM(&r, "node 127.0.0.30:6379 (a16b3b6a...) is not a member of the cluster node 127.0.0.21:6379 "
			  "(b4215ffa...) sees");
	CHECK_PROBLEM(&r, "node 127.0.0.26:6379 (e727f4ef...) was not checked (known to node 127.0.0.21:6379 "
			  "(b4215ffa...))");
	CHECK_COUNT(&r, 5);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* nothing at all */
	CHECK(health_check(NULL, NULL, &r) == 1);
	CHECK_PROBLEM(&r, "no nodes in the snapshot");
	health_report_free(&r);
	s = snap_new(2);
	view_unreachable(&s->views[0], 21, 6379, "timeout");
	view_unreachable(&s->views[1], 21, 6379, "timeout");
	{
		struct health_expect e = {3, 1, 6, 0, 0, 0};
		CHECK(health_check(s, &e, &r) == 1);
	}
	/* duplicates collapse */
	CHECK_PROBLEM(&r, "node 127.0.0.21:6379: unreachable: timeout");
	CHECK_PROBLEM(&r, "no node answered in cluster mode");
	CHECK_PROBLEM(&r, "expected 3 masters with slots, found 0");
	CHECK_PROBLEM(&r, "expected 6 nodes, found 0");
	CHECK_COUNT(&r, 4);
	CHECK(r.masters == 0 && r.nodes == 0);
	health_report_free(&r);
	health_report_free(NULL);
	cluster_snapshot_free(s);
}

static void test_cap(void)
{
	struct health_report r;
	struct cluster_snapshot *s = snap_new(1);
	char *text = malloc(200000), *p = text;

	/* one master owning every other slot: 8192 uncovered single slots */
	p += sprintf(p, V21 " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected");
	for (int i = 0; i < CLUSTER_SLOTS; i += 2)
		p += sprintf(p, " %d", i);
	*p++ = '\n';
	view_from_text(&s->views[0], 21, 6379, text, (size_t)(p - text), "valkey8_healthy");
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK_COUNT(&r, 200);
	CHECK(r.nproblems == 200 && strcmp(r.problems[0], "slot 1 is not covered") == 0);
	CHECK(r.nproblems == 200 && strcmp(r.problems[198], "slot 397 is not covered") == 0);
	CHECK_MSG(r.nproblems == 200 && strcmp(r.problems[199], "... and 7993 more problems") == 0, "%s",
		  r.nproblems ? r.problems[r.nproblems - 1] : "");
	CHECK(r.slots_covered == CLUSTER_SLOTS / 2);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* exactly 200 problems: no summary line */
	s = snap_new(1);
	p = text;
	p += sprintf(p, V21 " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected");
	for (int i = 0; i < 400; i += 2)
		p += sprintf(p, " %d", i);
	p += sprintf(p, " 400-16383\n");
	view_from_text(&s->views[0], 21, 6379, text, (size_t)(p - text), "valkey8_healthy");
	CHECK(health_check(s, NULL, &r) == 1);
	CHECK(r.nproblems == 200 && strcmp(r.problems[199], "slot 399 is not covered") == 0);
	health_report_free(&r);
	cluster_snapshot_free(s);
	free(text);
}

#define SA "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define SB "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

/* Two nodes, both views alike: A owns every slot, B is given by b_line. */
static struct cluster_snapshot *snap_pair(const char *b_role)
{
	struct cluster_snapshot *s = snap_new(2);
	char a[512], b[512];

	snprintf(a, sizeof(a),
		 SA " 127.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-16383\n" SB
		    " 127.0.0.2:6379@16379 %s 0 0 1 "
		    "connected\n",
		 b_role);
	snprintf(b, sizeof(b),
		 SA " 127.0.0.1:6379@16379 master - 0 0 1 connected 0-16383\n" SB
		    " 127.0.0.2:6379@16379 myself,%s 0 0 1 "
		    "connected\n",
		 b_role);
	view_from_text(&s->views[0], 1, 6379, a, strlen(a), NULL);
	view_from_text(&s->views[1], 2, 6379, b, strlen(b), NULL);
	return s;
}

static void test_settled_shape(void)
{
	struct health_expect e = {1, -1, 2, 0, 0, 0};
	struct health_report r;
	struct cluster_snapshot *s = snap_pair("master -");

	/* a drained master that does not replicate yet: fine unless asked */
	CHECK(health_check(s, &e, &r) == 0);
	health_report_free(&r);
	e.no_empty_masters = 1;
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_COUNT(&r, 1);
	CHECK_PROBLEM(&r, "master 127.0.0.2:6379 (b2b2b2b2...) owns no slots and replicates nobody");
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* once it replicates, the shape is settled; a minimum above it is not met */
	s = snap_pair("slave " SA);
	e.min_replicas_per_master = 1;
	CHECK(health_check(s, &e, &r) == 0);
	CHECK_COUNT(&r, 0);
	health_report_free(&r);
	e.min_replicas_per_master = 2;
	CHECK(health_check(s, &e, &r) == 1);
	CHECK_COUNT(&r, 1);
	CHECK_PROBLEM(&r, "master 127.0.0.1:6379 (a1a1a1a1...) has 1 replica, expected at least 2");
	health_report_free(&r);
	/* an exact count wins over the minimum */
	e.replicas_per_master = 1;
	CHECK(health_check(s, &e, &r) == 0);
	health_report_free(&r);
	cluster_snapshot_free(s);

	/* balanced: within one slot, as the planner leaves masters */
	s = snap_dir("valkey8_healthy", 6379);
	e = (struct health_expect){3, 1, 6, 1, 1, 1};
	CHECK(health_check(s, &e, &r) == 0);
	CHECK_COUNT(&r, 0);
	health_report_free(&r);
	cluster_snapshot_free(s);
	{
		const char *a = SA " 127.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-10000\n" SB
				   " 127.0.0.2:6379@16379 master - 0 0 2 connected 10001-16383\n";
		const char *b = SA " 127.0.0.1:6379@16379 master - 0 0 1 connected 0-10000\n" SB
				   " 127.0.0.2:6379@16379 myself,master - 0 0 2 connected 10001-16383\n";
		s = snap_new(2);
		view_from_text(&s->views[0], 1, 6379, a, strlen(a), NULL);
		view_from_text(&s->views[1], 2, 6379, b, strlen(b), NULL);
		e = (struct health_expect){2, -1, 2, 0, 1, 0};
		CHECK(health_check(s, &e, &r) == 0);
		health_report_free(&r);
		e.balanced = 1;
		CHECK(health_check(s, &e, &r) == 1);
		CHECK_COUNT(&r, 1);
		CHECK_PROBLEM(&r, "not balanced: masters own between 6383 and 10001 slots");
		health_report_free(&r);
		cluster_snapshot_free(s);
	}
}

int main(void)
{
	test_healthy();
	test_uncovered_and_state_fail();
	test_open_slots();
	test_slot_disagreement();
	test_node_set_and_role_disagreement();
	test_unreachable_and_fail_flags();
	test_handshake_not_counted();
	test_odd_views();
	test_cap();
	test_settled_shape();
	return TEST_DONE();
}
