/* CLUSTER NODES / CLUSTER INFO / INFO / CLUSTER SHARDS parsers against real
 * Valkey 8 and Redis 7 replies (tests/unit/data) and against broken input. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "topology.h"

#define V21 "b4215ffacf14c5d778098d6a329e4f871e290509"
#define V22 "f6c8b782ae3bace33165de877bb317d281e1f5a2"
#define V23 "cf1e398725169b628aee559cc2421b9ea27e43a8"
#define V24 "eafdbbbac3c1f8fca67ddd94cebc2388402b018b"
#define V25 "579e14a74e55cbe5e74f8f7f35edb565f7ceb57e"
#define V26 "e727f4efdf09a84752a155b9c73e4b6c68c79b53"
#define IDA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IDB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define IDC "cccccccccccccccccccccccccccccccccccccccc"

/* Parse a data file; NULL (and a failed check) when it does not parse. */
static struct topology *parse_file(const char *path)
{
	struct topology *t = NULL;
	char err[256] = "";
	size_t len;
	char *buf = test_slurp(path, &len);

	CHECK_MSG(buf != NULL, "%s", path);
	if (!buf)
		return NULL;
	CHECK_MSG(topology_parse_nodes(buf, len, &t, err, sizeof(err)) == 0, "%s: %s", path, err);
	free(buf);
	return t;
}

static int parse_str(const char *s, struct topology **t, char *err, size_t errlen)
{
	err[0] = '\0';
	return topology_parse_nodes(s, strlen(s), t, err, errlen);
}

static const struct cluster_node *node(const struct topology *t, const char *id)
{
	int i = topology_find(t, id);

	return i < 0 ? NULL : &t->nodes[i];
}

/* A 3-master / 3-replica cluster of this shape, as one of its nodes sees it. */
static void check_six_node_cluster(const struct topology *t, const char *myself, const char *m1, const char *m2,
				   const char *m3)
{
	const char *masters[3] = {m1, m2, m3};
	int starts[3] = {0, 5461, 10923}, ends[3] = {5460, 10922, 16383};

	CHECK(t->nnodes == 6);
	CHECK(t->myself >= 0 && strcmp(t->nodes[t->myself].id, myself) == 0);
	CHECK(topology_masters_with_slots(t) == 3);
	for (int k = 0; k < 3; k++) {
		int i = topology_find(t, masters[k]);
		struct slot_range r[4];
		CHECK_MSG(i >= 0, "master %s", masters[k]);
		if (i < 0)
			continue;
		CHECK(t->nodes[i].flags & NODE_MASTER);
		CHECK(!(t->nodes[i].flags & NODE_REPLICA));
		CHECK(t->nodes[i].master_id[0] == '\0');
		CHECK(t->nodes[i].nslots == ends[k] - starts[k] + 1);
		CHECK(t->nodes[i].nranges == 1);
		CHECK(t->nodes[i].ranges[0].start == starts[k] && t->nodes[i].ranges[0].end == ends[k]);
		CHECK(t->slot_owner[starts[k]] == i && t->slot_owner[ends[k]] == i);
		CHECK(topology_replica_count(t, masters[k]) == 1);
		CHECK(topology_node_ranges(t, i, r, 4) == 1 && r[0].start == starts[k] && r[0].end == ends[k]);
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct cluster_node *n = &t->nodes[i];
		CHECK(n->link_connected == 1);
		CHECK(n->nopen == 0);
		CHECK(n->bus_port == n->port + 10000);
		if (n->flags & NODE_REPLICA) {
			CHECK(n->nslots == 0 && n->nranges == 0);
			CHECK(topology_find(t, n->master_id) >= 0);
		}
		CHECK(!(n->flags & (NODE_FAIL | NODE_PFAIL | NODE_HANDSHAKE | NODE_NOADDR | NODE_UNKNOWN_FLAG)));
	}
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		if (t->slot_owner[s] < 0) {
			CHECK_MSG(0, "slot %d unowned", s);
			break;
		}
}

static void test_valkey8_healthy(void)
{
	struct topology *t = parse_file("data/valkey8_healthy/nodes_21.txt");
	const struct cluster_node *n;

	if (!t)
		return;
	check_six_node_cluster(t, V21, V21, V22, V23);
	CHECK(t->myself == 1);
	n = &t->nodes[1];
	CHECK(n->flags == (NODE_MYSELF | NODE_MASTER));
	CHECK(strcmp(n->ip, "127.0.0.21") == 0 && n->port == 6379 && n->bus_port == 16379);
	CHECK(n->hostname[0] == '\0');
	CHECK(n->ping_sent == 0 && n->pong_recv == 0 && n->config_epoch == 1);
	n = node(t, V24);
	CHECK(n && n->flags == NODE_REPLICA && strcmp(n->master_id, V23) == 0);
	CHECK(n && n->pong_recv == 1795291516067LL && n->config_epoch == 3);
	CHECK(topology_replica_count(t, V24) == 0);
	CHECK(topology_replica_count(t, "") == 0 && topology_replica_count(t, NULL) == 0);
	CHECK(topology_find(t, "nope") == -1 && topology_find(t, NULL) == -1);
	topology_free(t);

	/* every node of the cluster sees the same thing */
	for (int i = 22; i <= 26; i++) {
		char path[64];
		const char *ids[] = {V22, V23, V24, V25, V26};
		snprintf(path, sizeof(path), "data/valkey8_healthy/nodes_%d.txt", i);
		t = parse_file(path);
		if (t)
			check_six_node_cluster(t, ids[i - 22], V21, V22, V23);
		topology_free(t);
	}
}

static void test_redis7_healthy(void)
{
	struct topology *t = parse_file("data/redis7_healthy/nodes_21.txt");

	if (!t)
		return;
	check_six_node_cluster(t, "f9dd23467956818914037d225b3e9bea582ed2cd",
			       "f9dd23467956818914037d225b3e9bea582ed2cd", "df810cd51188e133ef8282578f7306d0f813543e",
			       "ba4ee3efbe0c9531991ffb5d2ace44a21426d1d2");
	CHECK(t->nodes[t->myself].port == 6380 && t->nodes[t->myself].bus_port == 16380);
	topology_free(t);
}

static void test_migrating(void)
{
	struct topology *t = parse_file("data/valkey8_migrating/nodes_21.txt");
	const struct cluster_node *n;

	if (!t)
		return;
	n = &t->nodes[t->myself];
	CHECK(strcmp(n->id, V21) == 0);
	CHECK(n->nopen == 2);
	CHECK(n->nopen == 2 && n->open[0].slot == 7 && n->open[0].importing == 0 &&
	      strcmp(n->open[0].peer_id, V22) == 0);
	CHECK(n->nopen == 2 && n->open[1].slot == 5462 && n->open[1].importing == 1 &&
	      strcmp(n->open[1].peer_id, V22) == 0);
	/* open slots do not change ownership */
	CHECK(n->nslots == 5461 && n->nranges == 1);
	CHECK(t->slot_owner[7] == t->myself);
	CHECK(t->slot_owner[5462] == topology_find(t, V22));
	for (size_t i = 0; i < t->nnodes; i++)
		if ((int)i != t->myself)
			CHECK(t->nodes[i].nopen == 0);
	topology_free(t);

	t = parse_file("data/valkey8_migrating/nodes_22.txt");
	if (!t)
		return;
	n = &t->nodes[t->myself];
	CHECK(n->nopen == 2 && n->open[0].slot == 7 && n->open[0].importing == 1 &&
	      strcmp(n->open[0].peer_id, V21) == 0);
	CHECK(n->nopen == 2 && n->open[1].slot == 5462 && n->open[1].importing == 0);
	topology_free(t);

	/* Valkey 8 mirrors the master's open slots on the replica's own line */
	t = parse_file("data/valkey8_migrating/nodes_25.txt");
	if (!t)
		return;
	n = &t->nodes[t->myself];
	CHECK(n->flags == (NODE_MYSELF | NODE_REPLICA) && n->nslots == 0);
	CHECK(n->nopen == 2 && n->open[0].slot == 7 && n->open[0].importing == 0 &&
	      strcmp(n->open[0].peer_id, V22) == 0);
	topology_free(t);
}

static void test_hostnames_and_aux(void)
{
	struct topology *t = parse_file("data/nodes_valkey8_hostnames.txt");
	const struct cluster_node *n;

	if (t) {
		check_six_node_cluster(t, V21, V21, V22, V23);
		n = node(t, V23);
		CHECK(n && strcmp(n->hostname, "node-23.example.internal") == 0 && strcmp(n->ip, "127.0.0.23") == 0);
		CHECK(n && n->port == 6379 && n->bus_port == 16379);
		n = node(t, V24); /* had not gossiped its hostname yet */
		CHECK(n && n->hostname[0] == '\0');
	}
	topology_free(t);

	t = parse_file("data/nodes_redis7_hostnames.txt");
	if (t) {
		n = &t->nodes[t->myself];
		CHECK(strcmp(n->hostname, "r21.svc") == 0 && n->port == 6380);
	}
	topology_free(t);

	/* nodes.conf lines: ",hostname,tls-port=0,shard-id=..." */
	t = parse_file("data/nodes_valkey8_nodesconf.txt");
	if (t) {
		check_six_node_cluster(t, V21, V21, V22, V23);
		n = node(t, V26);
		CHECK(n && strcmp(n->hostname, "node-26.example.internal") == 0);
	}
	topology_free(t);
	t = parse_file("data/nodes_redis7_nodesconf.txt");
	CHECK(t && t->nnodes == 6 && topology_masters_with_slots(t) == 3);
	topology_free(t);
}

static void test_flags_from_real_servers(void)
{
	struct topology *t;
	const struct cluster_node *n;

	t = parse_file("data/nodes_valkey8_handshake.txt");
	if (t) {
		CHECK(t->nnodes == 7);
		n = node(t, "9db4eedd86a43251729f397501ef1812764eab42");
		CHECK(n && n->flags == NODE_HANDSHAKE && !n->link_connected && strcmp(n->ip, "127.0.0.29") == 0);
		CHECK(n && n->config_epoch == 0);
	}
	topology_free(t);
	t = parse_file("data/nodes_redis7_handshake.txt");
	CHECK(t && t->nnodes == 7);
	topology_free(t);

	t = parse_file("data/nodes_redis7_pfail.txt");
	if (t) {
		n = node(t, "2509bd963a271790b442e9a1c2bf62c8452c9f2d");
		CHECK(n && n->flags == (NODE_REPLICA | NODE_PFAIL) && !n->link_connected);
		CHECK(n && n->ping_sent == 1795291723453LL);
	}
	topology_free(t);

	t = parse_file("data/valkey8_replica_down/nodes_21.txt");
	if (t) {
		n = node(t, V26);
		CHECK(n && n->flags == (NODE_REPLICA | NODE_FAIL) && !n->link_connected);
	}
	topology_free(t);

	t = parse_file("data/valkey8_master_failed_over/nodes_21.txt");
	if (t) {
		n = node(t, V23);
		CHECK(n && n->flags == (NODE_MASTER | NODE_FAIL) && n->nslots == 0);
		n = node(t, V24);
		CHECK(n && n->flags == NODE_MASTER && n->nslots == 5461 && n->config_epoch == 7);
		CHECK(topology_masters_with_slots(t) == 3);
		CHECK(topology_replica_count(t, V23) == 0);
	}
	topology_free(t);

	t = parse_file("data/nodes_valkey8_nofailover.txt");
	if (t) {
		n = node(t, V25);
		CHECK(n && n->flags == (NODE_REPLICA | NODE_NOFAILOVER));
	}
	topology_free(t);

	/* a node that never learned its own address: ":6379@16379" */
	t = parse_file("data/nodes_valkey8_meeting.txt");
	if (t) {
		CHECK(t->nnodes == 2 && t->myself == 1);
		n = &t->nodes[1];
		CHECK(n->ip[0] == '\0' && n->port == 6379 && n->bus_port == 16379);
		CHECK(n->nslots == 10922 - 5461 + 1);
	}
	topology_free(t);
}

static void test_synthetic_forms(void)
{
	struct topology *t = NULL;
	char err[256];
	const struct cluster_node *n;
	const char *s = IDA
		" :0@0 master,fail,noaddr - 1 2 3 disconnected\n" IDB " ::1:6379@16379 myself,slave " IDA
		" 0 0 4 connected\n" IDC
		" 2001:db8::5:7000@17000,host-c.example master,futureflag - 0 5 18446744073709551615 "
		"connected 0 1 2-9 11 16383\n"
		"dddddddddddddddddddddddddddddddddddddddd 10.0.0.4:6379@16379, noflags - 0 0 0 connected\n"
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee 10.0.0.5:6379@16379,,shard-id=x master - 0 0 0 connected";

	CHECK_MSG(parse_str(s, &t, err, sizeof(err)) == 0, "%s", err);
	if (!t)
		return;
	CHECK(t->nnodes == 5 && t->myself == 1);
	n = node(t, IDA);
	CHECK(n && n->ip[0] == '\0' && n->port == 0 && n->bus_port == 0);
	CHECK(n && n->flags == (NODE_MASTER | NODE_FAIL | NODE_NOADDR));
	CHECK(n && n->ping_sent == 1 && n->pong_recv == 2 && n->config_epoch == 3 && !n->link_connected);
	n = node(t, IDB);
	CHECK(n && strcmp(n->ip, "::1") == 0 && n->port == 6379 && n->bus_port == 16379);
	CHECK(n && n->flags == (NODE_MYSELF | NODE_REPLICA) && strcmp(n->master_id, IDA) == 0);
	CHECK(topology_replica_count(t, IDA) == 1);
	n = node(t, IDC);
	CHECK(n && strcmp(n->ip, "2001:db8::5") == 0 && n->port == 7000 && n->bus_port == 17000);
	CHECK(n && strcmp(n->hostname, "host-c.example") == 0);
	CHECK(n && n->flags == (NODE_MASTER | NODE_UNKNOWN_FLAG));
	CHECK(n && n->config_epoch == UINT64_MAX);
	/* "0 1 2-9" merge, "11" and "16383" do not */
	CHECK(n && n->nslots == 12 && n->nranges == 3);
	CHECK(n && n->nranges == 3 && n->ranges[0].start == 0 && n->ranges[0].end == 9 && n->ranges[1].start == 11 &&
	      n->ranges[1].end == 11 && n->ranges[2].start == 16383);
	CHECK(t->slot_owner[10] == -1 && t->slot_owner[11] == 2);
	CHECK(topology_masters_with_slots(t) == 1);
	n = node(t, "dddddddddddddddddddddddddddddddddddddddd");
	CHECK(n && n->flags == 0 && n->hostname[0] == '\0');
	n = node(t, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	CHECK(n && n->hostname[0] == '\0');
	topology_free(t);
}

static void test_node_ranges(void)
{
	struct topology *t = NULL;
	char err[256];
	struct slot_range r[8];

	CHECK_MSG(parse_str(IDA " 1.2.3.4:1@2 myself,master - 0 0 0 connected 5 0-4 7 9-10\n", &t, err, sizeof(err)) ==
			  0,
		  "%s", err);
	if (!t)
		return;
	/* as given: 5, 0-4 (not adjacent after 5), 7, 9-10 */
	CHECK(t->nodes[0].nranges == 4 && t->nodes[0].nslots == 9);
	CHECK(topology_node_ranges(t, 0, r, 8) == 3);
	CHECK(r[0].start == 0 && r[0].end == 5 && r[1].start == 7 && r[1].end == 7 && r[2].start == 9 &&
	      r[2].end == 10);
	CHECK(topology_node_ranges(t, 0, r, 1) == 1 && r[0].end == 5);
	CHECK(topology_node_ranges(t, 1, r, 8) == 0);
	CHECK(topology_node_ranges(t, -1, r, 8) == 0);
	topology_free(t);
}

struct bad_case {
	const char *input;
	const char *want; /* substring of the error */
};

static void check_rejected(size_t i, const char *input, size_t len, const char *want)
{
	struct topology *t = (struct topology *)&t; /* must be reset to NULL */
	char err[256] = "";
	int rc = topology_parse_nodes(input, len, &t, err, sizeof(err));

	CHECK_MSG(rc == -1, "case %zu accepted: %s", i, input);
	CHECK_MSG(t == NULL, "case %zu: out not NULL", i);
	CHECK_MSG(strstr(err, want) != NULL, "case %zu: error '%s', want '%s'", i, err, want);
	if (rc == 0)
		topology_free(t);
}

static void test_malformed(void)
{
	static const struct bad_case cases[] = {
		{IDA " 1.2.3.4:1@2 master - 0 0 0\n", "line 1: 7 fields, expected at least 8"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected\n" IDB " 1.2.3.4:1@2 master -\n", "line 2: 4 fields"},
		{"aaaa 1.2.3.4:1@2 master - 0 0 0 connected\n", "line 1: bad node id 'aaaa'"},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1.2.3.4:1@2 master - 0 0 0 connected\n", "bad node id"},
		{"gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1.2.3.4:1@2 master - 0 0 0 connected\n", "bad node id"},
		{IDA " 1.2.3.4:65536@2 master - 0 0 0 connected\n", "line 1: bad address '1.2.3.4:65536@2': bad port"},
		{IDA " 1.2.3.4:x@2 master - 0 0 0 connected\n", "bad port"},
		{IDA " 1.2.3.4:@2 master - 0 0 0 connected\n", "bad port"},
		{IDA " 1.2.3.4:-1@2 master - 0 0 0 connected\n", "bad port"},
		{IDA " 1.2.3.4:1@99999 master - 0 0 0 connected\n", "bad cluster bus port"},
		{IDA " 1.2.3.4:1 master - 0 0 0 connected\n", "no '@cport'"},
		{IDA " 1.2.3.4@2 master - 0 0 0 connected\n", "no ':port'"},
		{IDA " 1.2.3/4:1@2 master - 0 0 0 connected\n", "bad ip"},
		{IDA " 1.2.3.4:1@2,bad\x01host master - 0 0 0 connected\n", "bad hostname"},
		{IDA " 1.2.3.4:1@2 master,,slave - 0 0 0 connected\n", "bad flags"},
		{IDA " 1.2.3.4:1@2 slave xyz 0 0 0 connected\n", "bad master id 'xyz'"},
		{IDA " 1.2.3.4:1@2 master - -1 0 0 connected\n", "bad ping-sent '-1'"},
		{IDA " 1.2.3.4:1@2 master - 0 9223372036854775808 0 connected\n", "bad pong-recv"},
		{IDA " 1.2.3.4:1@2 master - 0 0 18446744073709551616 connected\n", "bad config-epoch"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 up\n", "bad link-state 'up'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 0\n" IDB " 1.2.3.4:1@2 master - 0 0 0 connected 1\n" IDC
		     " 1.2.3.4:1@2 master - 0 0 0 connected 16384\n",
		 "CLUSTER NODES line 3: bad slot '16384'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected a-b\n", "line 1: bad slot range 'a-b'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 1-\n", "bad slot range '1-'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 0-16384\n", "bad slot range"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 10-5\n", "line 1: reversed slot range '10-5'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected x\n", "bad slot 'x'"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 0-100\n" IDB " 1.2.3.4:1@2 master - 0 0 0 connected 100\n",
		 "line 2: slot 100 is claimed by bbbbbbbb... and by aaaaaaaa... (line 1)"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 5 5\n", "slot 5 is claimed"},
		{IDA " 1.2.3.4:1@2 myself,master - 0 0 0 connected\n" IDB
		     " 1.2.3.4:1@2 myself,master - 0 0 0 connected\n",
		 "line 2: second node flagged myself (first on line 1)"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected\n" IDB " 1.2.3.4:1@2 master - 0 0 0 connected\n" IDA
		     " 1.2.3.4:1@2 master - 0 0 0 connected\n",
		 "line 3: node id " IDA " already on line 1"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected\n\n" IDB " 1.2.3.4:1@2 master - 0 0 0 connected\n",
		 "line 2: empty line"},
		{IDA "  1.2.3.4:1@2 master - 0 0 0 connected\n", "line 1: field 2 is empty"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected 1  2\n", "empty slot field"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected \n", "empty slot field"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [7->-" IDB "\n", "bad open slot"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [7->-abc]\n", "bad open slot"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [7-x-" IDB "]\n", "bad open slot"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [16384->-" IDB "]\n", "bad open slot"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [7->-" IDB "] [7->-" IDC "]\n",
		 "slot 7 is migrating twice"},
		{IDA " 1.2.3.4:1@2 master - 0 0 0 connected [7->-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB]\n",
		 "bad node id in open slot"},
		{"", "CLUSTER NODES reply is empty"},
	};
	static const char nul1[] = IDA " 1.2.3.4:1@2 master - 0 0 0 conn\0cted\n";
	static const char nul2[] = IDA " 1.2.3.4:1@2 master - 0 0 0 connected 1\0\n";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_rejected(i, cases[i].input, strlen(cases[i].input), cases[i].want);
	/* NUL bytes inside a line */
	check_rejected(100, nul1, sizeof(nul1) - 1, "bad link-state 'conn?cted'");
	check_rejected(101, nul2, sizeof(nul2) - 1, "bad slot '1?'");
}

/* A cut at any byte of a real reply must parse or fail cleanly. */
static void test_truncated(void)
{
	static const char *files[] = {"data/valkey8_migrating/nodes_21.txt", "data/nodes_valkey8_nodesconf.txt",
				      "data/nodes_redis7_hostnames.txt", "data/nodes_valkey8_handshake.txt"};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len, ok = 0, failed = 0, lines_before = 0;
		char *buf = test_slurp(files[f], &len);
		int bad = 0;

		CHECK(buf != NULL);
		if (!buf)
			continue;
		for (size_t cut = 0; cut <= len; cut++) {
			struct topology *t = NULL;
			char err[256] = "";
			/* a private copy so valgrind/ASan catch any read past the cut */
			char *part = malloc(cut ? cut : 1);
			memcpy(part, buf, cut);
			if (topology_parse_nodes(part, cut, &t, err, sizeof(err)) == 0) {
				ok++;
				if (!t || t->nnodes == 0 || t->nnodes > lines_before + 1)
					bad++;
			} else {
				failed++;
				if (t || !err[0])
					bad++;
			}
			/* a cut right after a newline keeps exactly the whole lines */
			if (cut > 0 && buf[cut - 1] == '\n') {
				lines_before++;
				if (!t || t->nnodes != lines_before)
					bad++;
			}
			topology_free(t);
			free(part);
		}
		CHECK_MSG(bad == 0, "%s: %d bad cuts", files[f], bad);
		CHECK(ok > 0 && failed > 0);
		free(buf);
	}
}

static void test_caps(void)
{
	struct topology *t = NULL;
	char err[256];
	size_t n;
	char *buf = malloc(TOPOLOGY_MAX_REPLY + 2);
	char *p;

	if (!buf)
		return;
	/* over the reply cap: refused before looking at it */
	memset(buf, 'x', TOPOLOGY_MAX_REPLY + 1);
	CHECK(topology_parse_nodes(buf, TOPOLOGY_MAX_REPLY + 1, &t, err, sizeof(err)) == -1 && !t);
	CHECK_MSG(strstr(err, "over the cap") != NULL, "%s", err);

	/* over the line cap */
	n = (size_t)snprintf(buf, 200, IDA " 1.2.3.4:1@2 master - 0 0 0 connected 0");
	memset(buf + n, '0', TOPOLOGY_MAX_LINE);
	buf[n + TOPOLOGY_MAX_LINE] = '\n';
	CHECK(topology_parse_nodes(buf, n + TOPOLOGY_MAX_LINE + 1, &t, err, sizeof(err)) == -1 && !t);
	CHECK_MSG(strstr(err, "line 1:") && strstr(err, "over the cap"), "%s", err);

	/* all 16384 slots one by one on one line: fits, merges into one range */
	p = buf;
	p += sprintf(p, IDA " 1.2.3.4:1@2 myself,master - 0 0 0 connected");
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		p += sprintf(p, " %d", s);
	*p++ = '\n';
	CHECK(topology_parse_nodes(buf, (size_t)(p - buf), &t, err, sizeof(err)) == 0);
	CHECK(t && t->nodes[0].nslots == CLUSTER_SLOTS && t->nodes[0].nranges == 1);
	topology_free(t);
	t = NULL;

	/* every other slot: 8192 ranges */
	p = buf;
	p += sprintf(p, IDA " 1.2.3.4:1@2 myself,master - 0 0 0 connected");
	for (int s = 0; s < CLUSTER_SLOTS; s += 2)
		p += sprintf(p, " %d", s);
	*p++ = '\n';
	CHECK(topology_parse_nodes(buf, (size_t)(p - buf), &t, err, sizeof(err)) == 0);
	CHECK(t && t->nodes[0].nslots == CLUSTER_SLOTS / 2 && t->nodes[0].nranges == CLUSTER_SLOTS / 2);
	if (t) {
		struct slot_range *r = malloc(CLUSTER_SLOTS / 2 * sizeof(*r));
		CHECK(r && topology_node_ranges(t, 0, r, CLUSTER_SLOTS / 2) == CLUSTER_SLOTS / 2);
		CHECK(r && r[4095].start == 8190 && r[4095].end == 8190);
		free(r);
	}
	topology_free(t);
	t = NULL;

	/* TOPOLOGY_MAX_NODES nodes pass, one more fails */
	p = buf;
	for (int i = 0; i <= TOPOLOGY_MAX_NODES; i++)
		p += sprintf(p, "%040x 10.0.%d.%d:6379@16379 master - 0 0 0 connected\n", i + 1, i / 256, i % 256);
	n = (size_t)(p - buf);
	CHECK(topology_parse_nodes(buf, n, &t, err, sizeof(err)) == -1 && !t);
	CHECK_MSG(strstr(err, "line 2001: more than 2000 nodes") != NULL, "%s", err);
	/* drop the last line */
	n--;
	while (buf[n - 1] != '\n')
		n--;
	CHECK_MSG(topology_parse_nodes(buf, n, &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(t && t->nnodes == TOPOLOGY_MAX_NODES && t->myself == -1);
	topology_free(t);
	free(buf);
}

static void test_crlf_and_final_newline(void)
{
	size_t len;
	char *buf = test_slurp("data/valkey8_healthy/nodes_21.txt", &len);
	char *crlf;
	struct topology *t = NULL;
	char err[256];
	size_t k = 0;

	if (!buf)
		return;
	crlf = malloc(len * 2 + 1);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			crlf[k++] = '\r';
		crlf[k++] = buf[i];
	}
	CHECK_MSG(topology_parse_nodes(crlf, k, &t, err, sizeof(err)) == 0, "%s", err);
	if (t)
		check_six_node_cluster(t, V21, V21, V22, V23);
	topology_free(t);
	t = NULL;
	/* "\r\n" cut to "\r": still fine */
	CHECK_MSG(topology_parse_nodes(crlf, k - 1, &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(t && t->nnodes == 6);
	topology_free(t);
	t = NULL;
	/* no final newline at all */
	CHECK_MSG(topology_parse_nodes(buf, len - 1, &t, err, sizeof(err)) == 0, "%s", err);
	if (t)
		check_six_node_cluster(t, V21, V21, V22, V23);
	topology_free(t);
	free(crlf);
	free(buf);
}

static void test_cluster_info(void)
{
	struct cluster_info ci;
	char err[256];
	size_t len;
	char *buf = test_slurp("data/valkey8_healthy/info_21.txt", &len);

	if (buf) {
		CHECK_MSG(cluster_info_parse(buf, len, &ci, err, sizeof(err)) == 0, "%s", err);
		CHECK(ci.state_ok == 1 && ci.slots_assigned == 16384 && ci.slots_ok == 16384 && ci.slots_pfail == 0 &&
		      ci.slots_fail == 0 && ci.known_nodes == 6 && ci.size == 3 && ci.current_epoch == 6 &&
		      ci.my_epoch == 1);
		free(buf);
	}
	buf = test_slurp("data/redis7_uncovered/info_22.txt", &len);
	if (buf) {
		CHECK_MSG(cluster_info_parse(buf, len, &ci, err, sizeof(err)) == 0, "%s", err);
		CHECK(ci.state_ok == 0 && ci.slots_assigned == 16283 && ci.known_nodes == 6 && ci.size == 3);
		free(buf);
	}
	buf = test_slurp("data/valkey8_replica_down/info_21.txt", &len);
	if (buf) {
		CHECK_MSG(cluster_info_parse(buf, len, &ci, err, sizeof(err)) == 0, "%s", err);
		CHECK(ci.state_ok == 1 && ci.known_nodes == 6);
		free(buf);
	}

	CHECK(cluster_info_parse("cluster_state:ok\ncluster_slots_assigned:5\nfuture_key:x", 53, &ci, err,
				 sizeof(err)) == 0);
	CHECK(ci.state_ok == 1 && ci.slots_assigned == 5);
	CHECK(cluster_info_parse("cluster_slots_assigned:5\r\n", 26, &ci, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "no cluster_state") != NULL, "%s", err);
	CHECK(cluster_info_parse("cluster_state:ok\r\n", 18, &ci, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "no cluster_slots_assigned") != NULL, "%s", err);
	CHECK(cluster_info_parse("cluster_state:meh\r\ncluster_slots_assigned:5\r\n", 45, &ci, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "CLUSTER INFO line 1: bad cluster_state 'meh'") != NULL, "%s", err);
	CHECK(cluster_info_parse("cluster_state:ok\r\ncluster_slots_assigned:16385\r\n", 47, &ci, err, sizeof(err)) ==
	      -1);
	CHECK_MSG(strstr(err, "line 2: bad value for cluster_slots_assigned: '16385'") != NULL, "%s", err);
	CHECK(cluster_info_parse("cluster_state:ok\r\ncluster_slots_assigned:1\r\ncluster_my_epoch:-1\r\n", 63, &ci,
				 err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "line 3: bad value for cluster_my_epoch") != NULL, "%s", err);
	CHECK(cluster_info_parse("cluster_state:ok\r\ngarbage\r\n", 27, &ci, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "line 2: no ':'") != NULL, "%s", err);
	CHECK(cluster_info_parse("", 0, &ci, err, sizeof(err)) == -1);
}

static void test_info_get_field(void)
{
	char out[64];
	size_t len;
	char *buf = test_slurp("data/info_all_valkey8.txt", &len);

	if (buf) {
		CHECK(info_get_field(buf, len, "cluster_enabled", out, sizeof(out)) == 0 && strcmp(out, "1") == 0);
		CHECK(info_get_field(buf, len, "valkey_version", out, sizeof(out)) == 0 && strcmp(out, "8.0.1") == 0);
		CHECK(info_get_field(buf, len, "role", out, sizeof(out)) == 0 && strcmp(out, "master") == 0);
		CHECK(info_get_field(buf, len, "cluster", out, sizeof(out)) == -1); /* no prefix match */
		CHECK(info_get_field(buf, len, "no_such_key", out, sizeof(out)) == -1);
		CHECK(info_get_field(buf, len, "valkey_version", out, 4) == 0 && strcmp(out, "8.0") == 0);
		free(buf);
	}
	buf = test_slurp("data/info_replication_valkey8.txt", &len);
	if (buf) {
		CHECK(info_get_field(buf, len, "role", out, sizeof(out)) == 0 && strcmp(out, "slave") == 0);
		CHECK(info_get_field(buf, len, "master_host", out, sizeof(out)) == 0 && strcmp(out, "127.0.0.21") == 0);
		CHECK(info_get_field(buf, len, "master_port", out, sizeof(out)) == 0 && strcmp(out, "6379") == 0);
		free(buf);
	}
	CHECK(info_get_field("a:1\nb:2", 7, "b", out, sizeof(out)) == 0 && strcmp(out, "2") == 0);
	CHECK(info_get_field("a:1\nb:2", 6, "b", out, sizeof(out)) == 0 && out[0] == '\0');
	CHECK(info_get_field("a:1\nb:2", 5, "b", out, sizeof(out)) == -1);
	CHECK(info_get_field("a:1", 3, "", out, sizeof(out)) == -1);
}

/* ---- CLUSTER SHARDS ---- */

static redisReply *resp_parse(const char *buf, size_t len)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	if (!rd)
		return NULL;
	if (redisReaderFeed(rd, buf, len) != REDIS_OK || redisReaderGetReply(rd, &reply) != REDIS_OK)
		reply = NULL;
	redisReaderFree(rd);
	return reply;
}

static redisReply *resp_file(const char *path)
{
	size_t len;
	char *buf = test_slurp(path, &len);
	redisReply *r;

	if (!buf)
		return NULL;
	r = resp_parse(buf, len);
	free(buf);
	CHECK_MSG(r != NULL, "%s: not RESP", path);
	return r;
}

static struct topology *shards_file(const char *path)
{
	redisReply *r = resp_file(path);
	struct topology *t = NULL;
	char err[256] = "";

	if (!r)
		return NULL;
	CHECK_MSG(topology_from_shards(r, &t, err, sizeof(err)) == 0, "%s: %s", path, err);
	freeReplyObject(r);
	return t;
}

/* Same nodes, roles, masters and slot owners as a CLUSTER NODES topology. */
static void check_same_as_nodes(const struct topology *s, const struct topology *n)
{
	CHECK(s->nnodes == n->nnodes);
	CHECK(s->myself == -1);
	for (size_t i = 0; i < n->nnodes; i++) {
		const struct cluster_node *a = &n->nodes[i], *b = node(s, a->id);
		CHECK_MSG(b != NULL, "%s missing", a->id);
		if (!b)
			continue;
		CHECK(strcmp(a->ip, b->ip) == 0 && a->port == b->port);
		CHECK((a->flags & (NODE_MASTER | NODE_REPLICA)) == (b->flags & (NODE_MASTER | NODE_REPLICA)));
		CHECK(strcmp(a->master_id, b->master_id) == 0);
		CHECK(a->nslots == b->nslots && b->nopen == 0);
		CHECK(b->bus_port == 0);
	}
	for (int sl = 0; sl < CLUSTER_SLOTS; sl++) {
		int ia = n->slot_owner[sl], ib = s->slot_owner[sl];
		if ((ia < 0) != (ib < 0) || (ia >= 0 && strcmp(n->nodes[ia].id, s->nodes[ib].id))) {
			CHECK_MSG(0, "slot %d owner differs", sl);
			break;
		}
	}
}

static void test_shards_real(void)
{
	struct topology *n = parse_file("data/valkey8_healthy/nodes_21.txt");
	struct topology *s = shards_file("data/shards_valkey8.resp");
	const struct cluster_node *x;

	if (n && s)
		check_same_as_nodes(s, n);
	if (s) {
		CHECK(topology_masters_with_slots(s) == 3);
		CHECK(topology_replica_count(s, V21) == 1 && topology_replica_count(s, V22) == 1 &&
		      topology_replica_count(s, V23) == 1);
		for (size_t i = 0; i < s->nnodes; i++)
			CHECK(s->nodes[i].link_connected &&
			      !(s->nodes[i].flags & ~(unsigned)(NODE_MASTER | NODE_REPLICA)));
	}
	topology_free(s);
	topology_free(n);

	n = parse_file("data/redis7_healthy/nodes_21.txt");
	s = shards_file("data/shards_redis7.resp");
	if (n && s)
		check_same_as_nodes(s, n);
	topology_free(s);
	topology_free(n);

	s = shards_file("data/shards_valkey8_hostnames.resp");
	x = s ? node(s, V24) : NULL;
	CHECK(x && strcmp(x->hostname, "node-24.example.internal") == 0 && (x->flags & NODE_REPLICA) &&
	      strcmp(x->master_id, V23) == 0);
	CHECK(s && topology_replica_count(s, V23) == 1);
	topology_free(s);

	s = shards_file("data/shards_valkey8_from_replica.resp");
	CHECK(s && s->nnodes == 6 && topology_masters_with_slots(s) == 3);
	topology_free(s);

	/* Valkey 8.0 says health "fail" */
	s = shards_file("data/shards_valkey8_failed.resp");
	x = s ? node(s, V26) : NULL;
	CHECK(x && (x->flags & NODE_FAIL) && (x->flags & NODE_REPLICA) && !x->link_connected);
	CHECK(s && !(node(s, V21)->flags & NODE_FAIL));
	topology_free(s);
}

/* Replace the first occurrence of from by to in a copy of s. */
static char *replace(const char *s, size_t len, const char *from, const char *to, size_t *outlen)
{
	const char *hit = NULL;
	size_t fl = strlen(from), tl = strlen(to);
	char *out;

	for (size_t i = 0; i + fl <= len; i++)
		if (memcmp(s + i, from, fl) == 0) {
			hit = s + i;
			break;
		}
	if (!hit)
		return NULL;
	out = malloc(len - fl + tl + 1);
	memcpy(out, s, (size_t)(hit - s));
	memcpy(out + (hit - s), to, tl);
	memcpy(out + (hit - s) + tl, hit + fl, len - (size_t)(hit - s) - fl);
	*outlen = len - fl + tl;
	out[*outlen] = '\0';
	return out;
}

static void test_shards_malformed(void)
{
	static const struct {
		const char *from, *to, *want;
	} cases[] = {
		{":10923\r\n", "$5\r\n10923\r\n", "shard 1: slot element 1 is not a slot number"},
		{":16383\r\n", ":16384\r\n", "shard 1: slot element 2 is not a slot number"},
		{":10923\r\n:16383\r\n", ":16383\r\n:10923\r\n", "shard 1: reversed slot range 16383-10923"},
		{"*2\r\n:10923\r\n:16383\r\n", "*1\r\n:10923\r\n", "shard 1: 'slots' missing or not an array of pairs"},
		{"$5\r\nslots\r\n", "$5\r\nslotz\r\n", "shard 1: 'slots' missing"},
		{"$5\r\nnodes\r\n*2\r\n", "$5\r\nnodes\r\n:2\r\n*2\r\n", "shard 1: 'nodes' missing or not an array"},
		{"*3\r\n*4\r\n", "*3\r\n*3\r\n", "shard 1: not a key/value array"},
		{"*3\r\n*4\r\n$5\r\nslots\r\n", "*3\r\n*4\r\n:5\r\n", "shard 1: key 1 is not a string"},
		{"$2\r\nid\r\n$40\r\ncf1e398725169b628aee559cc2421b9ea27e43a8",
		 "$2\r\nid\r\n$40\r\nzf1e398725169b628aee559cc2421b9ea27e43a8", "shard 1 node 1: bad id 'zf1e"},
		{"$2\r\nid\r\n$40\r\ncf1e398725169b628aee559cc2421b9ea27e43a8",
		 "$2\r\nix\r\n$40\r\ncf1e398725169b628aee559cc2421b9ea27e43a8", "shard 1 node 1: no id"},
		{"$4\r\nport\r\n:6379", "$4\r\nport\r\n:65536", "shard 1 node 1: bad port"},
		{"$4\r\nport\r\n:6379", "$4\r\nport\r\n$4\r\n6379", "bad port '6379'"},
		{"$4\r\nrole\r\n$7\r\nreplica", "$4\r\nrole\r\n$7\r\nsidecar", "shard 1 node 2: bad role 'sidecar'"},
		{"$4\r\nrole\r\n$7\r\nreplica", "$4\r\nrule\r\n$7\r\nreplica", "shard 1 node 2: no role"},
		{"$4\r\nrole\r\n$7\r\nreplica", "$4\r\nrole\r\n$6\r\nmaster",
		 "shard 1: two masters, cf1e3987... and eafdbbba..."},
		{"$4\r\nrole\r\n$6\r\nmaster", "$4\r\nrole\r\n$7\r\nreplica", "shard 1: has slots but no master"},
		{"$2\r\nip\r\n$10\r\n127.0.0.23", "$2\r\nip\r\n$10\r\n127.0 0.23", "bad ip"},
		{"$18\r\nreplication-offset\r\n:84", "$18\r\nreplication-offset\r\n$2\r\n84", "bad replication-offset"},
		{"$6\r\nhealth\r\n$6\r\nonline", "$6\r\nhealth\r\n:6", "bad health"},
		{"*16\r\n$2\r\nid", "*15\r\n$2\r\nid", "shard 1 node 1: not a key/value array"},
		{":10922\r\n", ":10923\r\n", "shard 2: slot 10923 is claimed by f6c8b782... and by cf1e3987..."},
		{"$40\r\nf6c8b782ae3bace33165de877bb317d281e1f5a2\r\n$4\r\nport",
		 "$40\r\nb4215ffacf14c5d778098d6a329e4f871e290509\r\n$4\r\nport", "node id " V21 " appears twice"},
	};
	size_t len, mlen;
	char *buf = test_slurp("data/shards_valkey8_hostnames.resp", &len);
	redisReply *r;
	struct topology *t;
	char err[256];

	if (!buf)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = replace(buf, len, cases[i].from, cases[i].to, &mlen);
		CHECK_MSG(m != NULL, "case %zu: '%s' not in sample", i, cases[i].from);
		if (!m)
			continue;
		r = resp_parse(m, mlen);
		CHECK_MSG(r != NULL, "case %zu: mutated sample is not RESP", i);
		t = (struct topology *)&t;
		err[0] = '\0';
		CHECK_MSG(r && topology_from_shards(r, &t, err, sizeof(err)) == -1, "case %zu accepted", i);
		CHECK_MSG(t == NULL, "case %zu: out not NULL", i);
		CHECK_MSG(strstr(err, cases[i].want) && strstr(err, "CLUSTER SHARDS"),
			  "case %zu: error '%s', want '%s'", i, err, cases[i].want);
		freeReplyObject(r);
		free(m);
	}

	/* unknown keys anywhere are ignored; endpoint stands in for a missing ip */
	{
		char *m1 = replace(buf, len, "$8\r\nhostname\r\n$24\r\nnode-23.example.internal",
				   "$6\r\nfuture\r\n$24\r\nnode-23.example.internal", &mlen);
		size_t l2;
		char *m2 = m1 ? replace(m1, mlen, "$2\r\nip\r\n$10\r\n127.0.0.23", "$2\r\nxx\r\n$10\r\n127.0.0.23", &l2)
			      : NULL;
		char *m3 = m2 ? replace(m2, l2, "*3\r\n*4\r\n", "*3\r\n*6\r\n$5\r\nfuzzy\r\n*1\r\n:1\r\n", &mlen)
			      : NULL;
		CHECK(m3 != NULL);
		r = m3 ? resp_parse(m3, mlen) : NULL;
		t = NULL;
		CHECK_MSG(r && topology_from_shards(r, &t, err, sizeof(err)) == 0, "%s", err);
		CHECK(t && t->nnodes == 6 && node(t, V23) && node(t, V23)->hostname[0] == '\0' &&
		      strcmp(node(t, V23)->ip, "127.0.0.23") == 0);
		topology_free(t);
		freeReplyObject(r);
		free(m1);
		free(m2);
		free(m3);
	}
	free(buf);

	t = (struct topology *)&t;
	CHECK(topology_from_shards(NULL, &t, err, sizeof(err)) == -1 && t == NULL);
	r = resp_parse("*0\r\n", 4);
	CHECK(r && topology_from_shards(r, &t, err, sizeof(err)) == -1 && strstr(err, "no nodes"));
	freeReplyObject(r);
	r = resp_parse("$2\r\nno\r\n", 8);
	CHECK(r && topology_from_shards(r, &t, err, sizeof(err)) == -1 && strstr(err, "not an array"));
	freeReplyObject(r);
	r = resp_parse("*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n$1\r\nx\r\n", 46);
	CHECK(r && topology_from_shards(r, &t, err, sizeof(err)) == -1 &&
	      strstr(err, "shard 1 node 1: not a key/value"));
	freeReplyObject(r);
}

int main(void)
{
	topology_free(NULL);
	test_valkey8_healthy();
	test_redis7_healthy();
	test_migrating();
	test_hostnames_and_aux();
	test_flags_from_real_servers();
	test_synthetic_forms();
	test_node_ranges();
	test_malformed();
	test_truncated();
	test_caps();
	test_crlf_and_final_newline();
	test_cluster_info();
	test_info_get_field();
	test_shards_real();
	test_shards_malformed();
	return TEST_DONE();
}
