/* Proves: the topology record round-trips through its JSON form, is saved
 * atomically and read back, rejects malformed input (every truncation, bad ids,
 * wrong types, unknown format) with an error naming the field; the clone
 * guard starts on a match, on no record and on a restart inside a live
 * cluster, and otherwise refuses unless the user chose adopt or fresh, with
 * a message that states both counts and the way out. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "toporecord.h"

#define ID1 "ae5d31f3f941cee3bcb33720b23fc78cc94940ea"
#define ID2 "3f06242ee339d5768eb8cb73e796dbcabd97888b"
#define ID3 "bf80ca40f1526a386eeb2fe4995b98b809c951e1"

static void sample(struct topo_record *r, struct topo_record_node *nodes)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->cluster_name, "cache");
	strcpy(r->cluster_id, ID1);
	r->generation = 7;
	r->instances = 3;
	r->shards = 3;
	r->replicas = 0;
	strcpy(r->self_id, ID2);
	strcpy(nodes[0].addr, "127.0.0.1:6379");
	strcpy(nodes[0].id, ID1);
	strcpy(nodes[1].addr, "127.0.0.2:6379");
	strcpy(nodes[1].id, ID2);
	strcpy(nodes[2].addr, "127.0.0.3:6379");
	strcpy(nodes[2].id, ID3);
	r->nodes = nodes;
	r->nnodes = 3;
	r->updated = 1795300000;
}

static void test_roundtrip_and_truncation(void)
{
	struct topo_record_node nodes[3];
	struct topo_record r, back;
	char err[256], *text;
	size_t len;

	sample(&r, nodes);
	text = topo_record_format(&r);
	CHECK(text != NULL);
	len = strlen(text);
	CHECK_MSG(topo_record_parse(text, len, &back, err, sizeof(err)) == 0, "%s", err);
	CHECK(topo_record_same_shape(&r, &back));
	CHECK(back.generation == 7 && back.updated == 1795300000 && !strcmp(back.cluster_name, "cache"));
	CHECK(!strcmp(back.cluster_id, ID1) && !back.adopt_pending);
	topo_record_free(&back);
	/* Every proper prefix is an error, never a crash or a half record. */
	for (size_t i = 0; i + 1 < len; i++) {
		int rc = topo_record_parse(text, i, &back, err, sizeof(err));
		CHECK_MSG(rc < 0, "prefix %zu parsed", i);
		CHECK(back.nodes == NULL);
	}
	free(text);

	r.adopt_pending = 1;
	r.adopted_from = 5;
	text = topo_record_format(&r);
	CHECK(topo_record_parse(text, strlen(text), &back, err, sizeof(err)) == 0);
	CHECK(back.adopt_pending == 1 && back.adopted_from == 5);
	topo_record_free(&back);
	free(text);
}

static void expect_error(const char *json, const char *needle)
{
	struct topo_record r;
	char err[256] = "";

	CHECK_MSG(topo_record_parse(json, strlen(json), &r, err, sizeof(err)) < 0, "accepted: %s", json);
	CHECK_MSG(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err, needle);
}

static void test_malformed(void)
{
	expect_error("[]", "not a JSON object");
	expect_error("{\"format\":2}", "format 2");
	expect_error("{\"format\":1,\"self\":\"xyz\",\"generation\":1,\"instances\":1,\"shards\":1,\"nodes\":[]}",
		     "'self' is not a node id");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":1,\"instances\":0,\"shards\":1,\"nodes\":[]}",
		     "'instances'");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":1,\"instances\":2,\"shards\":3,\"nodes\":[]}",
		     "3 shards on 2 instances");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":-1,\"instances\":2,\"shards\":1,\"nodes\":[]}",
		     "'generation'");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":1,\"instances\":2,\"shards\":1,\"nodes\":{}}",
		     "'nodes'");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":1,\"instances\":2,\"shards\":1,"
		     "\"nodes\":[{\"addr\":\"a:1\",\"id\":\"" ID1 "X\"}]}",
		     "'id' is longer");
	expect_error("{\"format\":1,\"self\":\"" ID1 "\",\"generation\":1,\"instances\":2,\"shards\":1,"
		     "\"adopt_pending\":1,\"nodes\":[]}",
		     "'adopt_pending'");
	expect_error("{\"format\":1,\"format\":1}", "line");
}

static void test_save_load(void)
{
	struct topo_record_node nodes[3];
	struct topo_record r, back;
	char dir[] = "/tmp/autoshard-rec.XXXXXX", err[256], path[128];
	int exists = -1;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(topo_record_load(dir, &back, &exists, err, sizeof(err)) == 0 && exists == 0);
	sample(&r, nodes);
	CHECK_MSG(topo_record_save(dir, &r, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(topo_record_load(dir, &back, &exists, err, sizeof(err)) == 0 && exists == 1, "%s", err);
	CHECK(topo_record_same_shape(&r, &back));
	topo_record_free(&back);
	/* No temporary file is left behind: the record is the only file. */
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		int files = 0;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
				files += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		if (d)
			closedir(d);
		CHECK_MSG(files == 1, "%d files in the record's directory", files);
	}
	/* A corrupt record is an error, not "no record". */
	snprintf(path, sizeof(path), "%s/%s", dir, TOPO_RECORD_FILE);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"format\":1,", f);
	fclose(f);
	CHECK(topo_record_load(dir, &back, &exists, err, sizeof(err)) < 0);
	CHECK(strstr(err, TOPO_RECORD_FILE) != NULL);
	CHECK(topo_record_remove(dir, err, sizeof(err)) == 0);
	CHECK(topo_record_remove(dir, err, sizeof(err)) == 0);
	CHECK(topo_record_load(dir, &back, &exists, err, sizeof(err)) == 0 && exists == 0);
	rmdir(dir);
}

static void test_guard(void)
{
	struct topo_record_node nodes[3];
	struct topo_record r;
	enum mismatch_policy p;
	char msg[1536];

	sample(&r, nodes);
	CHECK(clone_guard_decide(NULL, "/d", 4, 0, MISMATCH_REFUSE, "V", msg, sizeof(msg)) == GUARD_START);
	CHECK(clone_guard_decide(&r, "/d", 3, 0, MISMATCH_REFUSE, "V", msg, sizeof(msg)) == GUARD_START);
	CHECK(clone_guard_decide(&r, "/d", 3, 0, MISMATCH_FRESH, "V", msg, sizeof(msg)) == GUARD_START);
	/* A restart during a scale: the live cluster knows this node. */
	CHECK(clone_guard_decide(&r, "/d", 5, 1, MISMATCH_REFUSE, "V", msg, sizeof(msg)) == GUARD_START);
	CHECK(strstr(msg, "not a clone") != NULL);
	CHECK(clone_guard_decide(&r, "/data/x", 2, 0, MISMATCH_REFUSE, "AUTOSHARD_TOPOLOGY_MISMATCH", msg,
				 sizeof(msg)) == GUARD_REFUSE);
	CHECK_MSG(strstr(msg, "/data/x") && strstr(msg, "3 instances") && strstr(msg, "reports 2 instances") &&
			  strstr(msg, "AUTOSHARD_TOPOLOGY_MISMATCH=adopt") &&
			  strstr(msg, "AUTOSHARD_TOPOLOGY_MISMATCH=fresh") && !strchr(msg, '\n'),
		  "%s", msg);
	CHECK(clone_guard_decide(&r, "/d", 4, 0, MISMATCH_REFUSE, "V", msg, sizeof(msg)) == GUARD_REFUSE);
	CHECK(clone_guard_decide(&r, "/d", 2, 0, MISMATCH_ADOPT, "V", msg, sizeof(msg)) == GUARD_ADOPT);
	CHECK(clone_guard_decide(&r, "/d", 4, 0, MISMATCH_FRESH, "V", msg, sizeof(msg)) == GUARD_FRESH);
	CHECK(mismatch_policy_parse("adopt", &p) == 0 && p == MISMATCH_ADOPT);
	CHECK(mismatch_policy_parse("fresh", &p) == 0 && p == MISMATCH_FRESH);
	CHECK(mismatch_policy_parse(NULL, &p) == 0 && p == MISMATCH_REFUSE);
	CHECK(mismatch_policy_parse("yes", &p) < 0);
}

int main(void)
{
	test_roundtrip_and_truncation();
	test_malformed();
	test_save_load();
	test_guard();
	return TEST_DONE();
}
