/* Proves: the controller reads the engine child's slot map lines into the
 * map the dashboard and /api/v1/clusters show: nodes with role, master,
 * state and slot count, and the owner of every slot from chunked range
 * lists; every malformed line (before "map begin", a bad id, a slot out of
 * range, a reversed range, an unknown node, a duplicate node, junk after a
 * number) drops the map being read; progress and result lines still parse. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "testlib.h"

#define A "ae5d31f3f941cee3bcb33720b23fc78cc94940ea"
#define B "3f06242ee339d5768eb8cb73e796dbcabd97888b"
#define C "bf80ca40f1526a386eeb2fe4995b98b809c951e1"

static struct engine_map *feed(const char *const *lines, int *rc_last)
{
	struct engine_map *pending = NULL;
	int rc = 0;

	for (size_t i = 0; lines[i]; i++) {
		rc = engine_map_line(lines[i], &pending);
		if (rc < 0)
			break;
	}
	*rc_last = rc;
	if (rc == 1)
		return pending;
	engine_map_free(pending);
	return NULL;
}

static void test_good_map(void)
{
	const char *lines[] = {"map begin",
			       "node " A " 127.0.0.1:6379 master - ok 8192",
			       "node " B " 127.0.0.2:6379 master - pfail 8192",
			       "node " C " 127.0.0.3:6379 replica " A " ok 0",
			       "slots " A " 0-4095",
			       "slots " A " 4096 4097-8191",
			       "slots " B " 8192-16383",
			       "keys 300000",
			       "map end",
			       NULL};
	int rc;
	struct engine_map *m = feed(lines, &rc);

	CHECK(rc == 1 && m);
	if (!m)
		return;
	CHECK(m->n == 3);
	CHECK(!strcmp(m->nodes[0].id, A) && !strcmp(m->nodes[0].addr, "127.0.0.1:6379") &&
	      !strcmp(m->nodes[0].role, "master") && m->nodes[0].master[0] == 0 && m->nodes[0].nslots == 8192);
	CHECK(!strcmp(m->nodes[1].state, "pfail"));
	CHECK(!strcmp(m->nodes[2].role, "replica") && !strcmp(m->nodes[2].master, A));
	CHECK(m->keys == 300000);
	CHECK(m->owner[0] == 0 && m->owner[4096] == 0 && m->owner[8191] == 0 && m->owner[8192] == 1 &&
	      m->owner[16383] == 1);
	engine_map_free(m);

	/* a slot nobody owns stays -1 */
	{
		const char *l2[] = {"map begin", "node " A " 1.2.3.4:6379 master - ok 1", "slots " A " 7", "map end",
				    NULL};

		m = feed(l2, &rc);
		CHECK(rc == 1 && m && m->owner[7] == 0 && m->owner[6] == -1 && m->owner[8] == -1 && m->keys == -1);
		engine_map_free(m);
	}
}

static void test_bad_lines(void)
{
	static const char *const bad[] = {
		"node " A " 1.2.3.4:6379 master - ok 1",   /* before map begin */
		"node abc 1.2.3.4:6379 master - ok 1",     /* short id */
		"node " A " 1.2.3.4:6379 master xyz ok 1", /* bad master id */
		"node " A " 1.2.3.4:6379 master - ok -1",  /* negative count */
		"node " A " 1.2.3.4:6379 master - ok",     /* missing field */
		"slots " B " 1-2",                         /* unknown node */
		"slots " A " 16384",                       /* out of range */
		"slots " A " 9-3",                         /* reversed */
		"slots " A " 3x",                          /* junk */
		"slots " A " -5",                          /* negative */
		"node " A " 1.2.3.4:6379 master - ok 1",   /* duplicate */
		"map middle",                              /* unknown */
		"keys -3",                                 /* negative keys */
		"keys 12x",                                /* junk keys */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct engine_map *pending = NULL;
		int rc;

		if (i > 0) {
			CHECK(engine_map_line("map begin", &pending) == 0 && pending);
			if (i != 1 && i != 2 && i != 3 && i != 4)
				CHECK(engine_map_line("node " A " 1.2.3.4:6379 master - ok 1", &pending) == 0);
		}
		rc = engine_map_line(bad[i], &pending);
		CHECK_MSG(rc == -1 && pending == NULL, "line %zu '%s': rc %d", i, bad[i], rc);
		engine_map_free(pending);
	}
}

static void test_progress_and_result(void)
{
	struct engine_progress p;
	struct engine_report r;

	CHECK(engine_parse_line("progress 10 100 5000 migrating", &p, &r) == 1 && p.slots_done == 10 &&
	      p.slots_total == 100 && p.keys == 5000 && !strcmp(p.phase, "migrating"));
	CHECK(engine_parse_line("result 0 3 0 16384 healthy", &p, &r) == 2 && r.masters == 3 && r.slots == 16384 &&
	      !strcmp(r.msg, "healthy"));
	CHECK(engine_parse_line("progress x", &p, &r) == -1);
	CHECK(engine_parse_line("map begin", &p, &r) == -1);
}

int main(void)
{
	test_good_map();
	test_bad_lines();
	test_progress_and_result();
	return TEST_DONE();
}
