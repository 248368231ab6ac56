/* Proves: a nodes.conf whose replica lines carry another shard-id than their
 * primary's (what Valkey 8.0 refuses to load) gets the primary's id on every
 * such line, whether the replica comes before or after its primary and
 * through a chain of replicas; only those 40 bytes change; files that already
 * agree, lines without shard-ids, unknown primaries, loops and malformed
 * lines are left byte for byte; the file is rewritten atomically only when
 * something changed, keeps its mode, and a missing file is not an error.
 * The same parser finds the node id on the line flagged myself, and only
 * there (not a "myself" elsewhere on a line, not in a malformed line). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nodesfile.h"
#include "testlib.h"

#define P1 "1111111111111111111111111111111111111111"
#define P2 "2222222222222222222222222222222222222222"
#define R1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define R2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define R3 "cccccccccccccccccccccccccccccccccccccccc"
#define S1 "5151515151515151515151515151515151515151"
#define S2 "5252525252525252525252525252525252525252"
#define SX "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

#define ADDR(n) "127.0.0." #n ":6379@16379,,tls-port=0,shard-id="
#define MASTER(id, n, s, slots) id " " ADDR(n) s " master - 0 0 1 connected " slots "\n"
#define REPLICA(id, n, s, m, flags) id " " ADDR(n) s " " flags " " m " 0 0 1 connected\n"
#define VARS "vars currentEpoch 6 lastVoteEpoch 0\n"

static char *dup_text(const char *s)
{
	char *d = strdup(s);
	CHECK(d != NULL);
	return d;
}

static void expect(const char *in, const char *want, int want_n)
{
	char *t = dup_text(in), note[256] = "";
	int n = nodes_file_converge_shard_ids(t, strlen(t), note, sizeof(note));

	CHECK_MSG(n == want_n, "changed %d lines, want %d", n, want_n);
	CHECK_MSG(strcmp(t, want) == 0, "got\n%s\nwant\n%s", t, want);
	if (want_n > 0)
		CHECK_MSG(strstr(note, "replica ") && strstr(note, "shard-id"), "note '%s'", note);
	free(t);
}

static void test_converge(void)
{
	/* replica after its primary, with a stale shard-id; the other shard agrees */
	expect(MASTER(P1, 1, S1, "0-8191") MASTER(P2, 2, S2, "8192-16383") REPLICA(R1, 3, SX, P1, "myself,slave")
		       REPLICA(R2, 4, S2, P2, "slave") VARS,
	       MASTER(P1, 1, S1, "0-8191") MASTER(P2, 2, S2, "8192-16383") REPLICA(R1, 3, S1, P1, "myself,slave")
		       REPLICA(R2, 4, S2, P2, "slave") VARS,
	       1);
	/* replica before its primary; "replica" spelling; CRLF line ends */
	expect(REPLICA(R1, 3, SX, P2, "replica") MASTER(P2, 2, S2, "0-16383"),
	       REPLICA(R1, 3, S2, P2, "replica") MASTER(P2, 2, S2, "0-16383"), 1);
	expect(R1 " " ADDR(3) SX " slave " P1 " 0 0 1 connected\r\n" MASTER(P1, 1, S1, "0-16383"),
	       R1 " " ADDR(3) S1 " slave " P1 " 0 0 1 connected\r\n" MASTER(P1, 1, S1, "0-16383"), 1);
	/* a chain: R2 follows R1 which follows P1; both take P1's id */
	expect(REPLICA(R2, 4, SX, R1, "slave") REPLICA(R1, 3, S2, P1, "slave") MASTER(P1, 1, S1, "0-16383"),
	       REPLICA(R2, 4, S1, R1, "slave") REPLICA(R1, 3, S1, P1, "slave") MASTER(P1, 1, S1, "0-16383"), 2);
	/* failed and no-address flags are still replicas */
	expect(MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, SX, P1, "slave,fail,noaddr"),
	       MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, S1, P1, "slave,fail,noaddr"), 1);
}

static void test_left_alone(void)
{
	static const char *const same[] = {
		/* already agrees */
		MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, S1, P1, "myself,slave") VARS,
		/* primary unknown to the file */
		REPLICA(R1, 3, SX, P2, "slave") MASTER(P1, 1, S1, "0-16383"),
		/* primary without a shard-id (an older server's file) */
		P1 " 127.0.0.1:6379@16379 master - 0 0 1 connected 0-16383\n" REPLICA(R1, 3, SX, P1, "slave"),
		/* replica without a shard-id */
		MASTER(P1, 1, S1, "0-16383") R1 " 127.0.0.3:6379@16379 slave " P1 " 0 0 1 connected\n",
		/* a loop of replicas, nobody's primary */
		REPLICA(R1, 3, S1, R2, "slave") REPLICA(R2, 4, S2, R1, "slave"),
		/* a replica of itself */
		REPLICA(R3, 5, SX, R3, "slave"),
		/* a master that lists a primary (not a replica: not ours to change) */
		MASTER(P1, 1, S1, "0-16383") P2 " " ADDR(2) SX " master " P1 " 0 0 1 connected\n",
		/* malformed: short id, bad shard-id length, missing fields, binary */
		"abc " ADDR(3) SX " slave " P1 " 0 0 1 connected\n" MASTER(P1, 1, S1, "0-16383"),
		MASTER(P1, 1, S1, "0-16383") R1 " 127.0.0.3:6379@16379,,shard-id=abc slave " P1 " 0\n",
		MASTER(P1, 1, S1, "0-16383") R1 " " ADDR(3) SX " slave\n",
		MASTER(P1, 1, S1, "0-16383") R1 " " ADDR(3) SX " slave " P1 "x 0 0 1 connected\n",
		"",
		"\n\n\n",
		VARS,
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		expect(same[i], same[i], 0);
	{
		/* not NUL-terminated input: only len bytes are read */
		char buf[] = MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, SX, P1, "slave");
		size_t cut = strlen(buf) - 60; /* inside R1's line, before its primary field */
		char *t = malloc(cut);
		CHECK(t != NULL);
		memcpy(t, buf, cut);
		CHECK(nodes_file_converge_shard_ids(t, cut, NULL, 0) == 0);
		CHECK(memcmp(t, buf, cut) == 0);
		free(t);
	}
}

static void test_file(void)
{
	char dir[] = "/tmp/autoshard-nodesfile.XXXXXX", path[256], err[256] = "", note[256] = "";
	const char *bad = MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, SX, P1, "myself,slave") VARS;
	const char *good = MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, S1, P1, "myself,slave") VARS;
	struct stat st, st2;
	char *back;
	size_t len;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(nodes_file_repair(dir, note, sizeof(note), err, sizeof(err)) == 0); /* no file */
	snprintf(path, sizeof(path), "%s/nodes.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(bad, f);
	fclose(f);
	CHECK(chmod(path, 0640) == 0);
	CHECK(nodes_file_repair(dir, note, sizeof(note), err, sizeof(err)) == 1);
	CHECK_MSG(strstr(note, "aaaaaaaa") && strstr(note, "deadbeef") && strstr(note, "51515151"), "note '%s'", note);
	back = test_slurp(path, &len);
	CHECK(back && strcmp(back, good) == 0);
	free(back);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	/* nothing to change: the file is not rewritten (same inode) */
	CHECK(nodes_file_repair(dir, note, sizeof(note), err, sizeof(err)) == 0);
	CHECK(stat(path, &st2) == 0 && st2.st_ino == st.st_ino);
	/* a directory where the file should be */
	CHECK(unlink(path) == 0 && mkdir(path, 0700) == 0);
	CHECK(nodes_file_repair(dir, note, sizeof(note), err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "nodes.conf") != NULL, "err '%s'", err);
	CHECK(rmdir(path) == 0);
	CHECK(rmdir(dir) == 0);
}

static void test_myself(void)
{
	char dir[] = "/tmp/autoshard-nodesfile.XXXXXX", path[256], err[256] = "", id[64];
	char t1[] = MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, S1, P1, "myself,slave") VARS;
	char t2[] = MASTER(P1, 1, S1, "0-16383") REPLICA(R1, 3, S1, P1, "slave") VARS;
	/* "myself" in the address field, and a myself line cut short */
	char t3[] = P2 " 127.0.0.2:6379@16379,myself master - 0 0 1 connected\n" R2 " 127.0.0.4:6379@16379 myself";
	char t4[] = "\r\n" R3 " 127.0.0.5:6379@16379,, myself,master - 0 0 7 connected 0-5\r\n";
	FILE *f;

	CHECK(nodes_file_myself(t1, strlen(t1), id) == 1 && strcmp(id, R1) == 0);
	CHECK(nodes_file_myself(t2, strlen(t2), id) == 0);
	CHECK(nodes_file_myself(t3, strlen(t3), id) == 0);
	CHECK(nodes_file_myself(t4, strlen(t4), id) == 1 && strcmp(id, R3) == 0);
	CHECK(mkdtemp(dir) != NULL);
	CHECK(nodes_file_myself_id(dir, id, err, sizeof(err)) == 0); /* no file */
	snprintf(path, sizeof(path), "%s/nodes.conf", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs(t1, f);
	fclose(f);
	CHECK(nodes_file_myself_id(dir, id, err, sizeof(err)) == 1 && strcmp(id, R1) == 0);
	CHECK(unlink(path) == 0 && mkdir(path, 0700) == 0);
	CHECK(nodes_file_myself_id(dir, id, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "nodes.conf") != NULL, "err '%s'", err);
	CHECK(rmdir(path) == 0);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	test_converge();
	test_left_alone();
	test_file();
	test_myself();
	return TEST_DONE();
}
