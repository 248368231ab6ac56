#include "toporecord.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define RECORD_FORMAT 1

void topo_record_free(struct topo_record *r)
{
	if (!r)
		return;
	free(r->nodes);
	r->nodes = NULL;
	r->nnodes = 0;
}

static int valid_id(const char *s, int allow_empty)
{
	size_t n = strlen(s);

	if (n == 0)
		return allow_empty;
	if (n != NODE_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Copy a string member; missing is "" when optional. */
static int get_str(json_t *o, const char *key, char *out, size_t outlen, int optional, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v)
		return optional ? 0 : seterr(err, errlen, "topology record: '%s' is missing", key);
	if (!json_is_string(v))
		return seterr(err, errlen, "topology record: '%s' is not a string", key);
	if (json_string_length(v) >= outlen)
		return seterr(err, errlen, "topology record: '%s' is longer than %zu bytes", key, outlen - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	if (strlen(out) != json_string_length(v))
		return seterr(err, errlen, "topology record: '%s' holds a NUL byte", key);
	return 0;
}

static int get_int(json_t *o, const char *key, long long min, long long max, long long *out, int optional, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v)
		return optional ? 0 : seterr(err, errlen, "topology record: '%s' is missing", key);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return seterr(err, errlen, "topology record: '%s' is not an integer in %lld..%lld", key, min, max);
	*out = json_integer_value(v);
	return 0;
}

int topo_record_parse(const char *buf, size_t len, struct topo_record *out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = NULL, *nodes, *v;
	long long n;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > TOPO_RECORD_MAX_BYTES)
		return seterr(err, errlen, "topology record: larger than %u bytes", TOPO_RECORD_MAX_BYTES);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errlen, "topology record: line %d: %s", je.line, je.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "topology record: not a JSON object");
		goto fail;
	}
	if (get_int(root, "format", 0, 1000, &n, 0, err, errlen) < 0)
		goto fail;
	if (n != RECORD_FORMAT) {
		seterr(err, errlen, "topology record: format %lld is not known to this version (%d)", n, RECORD_FORMAT);
		goto fail;
	}
	if (get_str(root, "cluster_name", out->cluster_name, sizeof(out->cluster_name), 1, err, errlen) < 0 ||
	    get_str(root, "cluster_id", out->cluster_id, sizeof(out->cluster_id), 1, err, errlen) < 0 ||
	    get_str(root, "self", out->self_id, sizeof(out->self_id), 0, err, errlen) < 0)
		goto fail;
	if (!valid_id(out->cluster_id, 1) || !valid_id(out->self_id, 0)) {
		seterr(err, errlen, "topology record: '%s' is not a node id (40 hex characters)",
		       valid_id(out->self_id, 0) ? "cluster_id" : "self");
		goto fail;
	}
	if (get_int(root, "generation", 0, (long long)1 << 53, &n, 0, err, errlen) < 0)
		goto fail;
	out->generation = (unsigned long long)n;
	if (get_int(root, "instances", 1, TOPO_RECORD_MAX_NODES, &n, 0, err, errlen) < 0)
		goto fail;
	out->instances = (int)n;
	if (get_int(root, "shards", 1, TOPO_RECORD_MAX_NODES, &n, 0, err, errlen) < 0)
		goto fail;
	out->shards = (int)n;
	if (get_int(root, "replicas", 0, 100, &n, 1, err, errlen) < 0)
		goto fail;
	out->replicas = (int)n;
	if (get_int(root, "updated", 0, (long long)1 << 40, &n, 1, err, errlen) < 0)
		goto fail;
	out->updated = n;
	if (get_int(root, "adopted_from", 0, TOPO_RECORD_MAX_NODES, &n, 1, err, errlen) < 0)
		goto fail;
	out->adopted_from = (int)n;
	v = json_object_get(root, "adopt_pending");
	if (v && !json_is_boolean(v)) {
		seterr(err, errlen, "topology record: 'adopt_pending' is not a boolean");
		goto fail;
	}
	out->adopt_pending = v && json_is_true(v);
	if (out->shards > out->instances) {
		seterr(err, errlen, "topology record: %d shards on %d instances", out->shards, out->instances);
		goto fail;
	}
	nodes = json_object_get(root, "nodes");
	if (!json_is_array(nodes) || json_array_size(nodes) > TOPO_RECORD_MAX_NODES) {
		seterr(err, errlen, "topology record: 'nodes' is not an array of at most %d entries",
		       TOPO_RECORD_MAX_NODES);
		goto fail;
	}
	out->nodes = calloc(json_array_size(nodes) + 1, sizeof(*out->nodes));
	if (!out->nodes) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		json_t *e = json_array_get(nodes, i);
		struct topo_record_node *rn = &out->nodes[i];
		if (!json_is_object(e)) {
			seterr(err, errlen, "topology record: nodes[%zu] is not an object", i);
			goto fail;
		}
		if (get_str(e, "addr", rn->addr, sizeof(rn->addr), 0, err, errlen) < 0 ||
		    get_str(e, "id", rn->id, sizeof(rn->id), 0, err, errlen) < 0)
			goto fail;
		if (!valid_id(rn->id, 0)) {
			seterr(err, errlen, "topology record: nodes[%zu].id is not a node id", i);
			goto fail;
		}
		out->nnodes++;
	}
	rc = 0;
fail:
	json_decref(root);
	if (rc < 0)
		topo_record_free(out);
	return rc;
}

char *topo_record_format(const struct topo_record *r)
{
	json_t *root = NULL, *nodes = NULL;
	char *text = NULL, *out = NULL;
	size_t n;

	root = json_object();
	nodes = json_array();
	if (!root || !nodes)
		goto done;
	for (size_t i = 0; i < r->nnodes; i++) {
		json_t *e = json_pack("{s:s, s:s}", "addr", r->nodes[i].addr, "id", r->nodes[i].id);
		if (!e || json_array_append_new(nodes, e) < 0)
			goto done;
	}
	if (json_object_set_new(root, "format", json_integer(RECORD_FORMAT)) < 0 ||
	    json_object_set_new(root, "cluster_name", json_string(r->cluster_name)) < 0 ||
	    json_object_set_new(root, "cluster_id", json_string(r->cluster_id)) < 0 ||
	    json_object_set_new(root, "generation", json_integer((json_int_t)r->generation)) < 0 ||
	    json_object_set_new(root, "instances", json_integer(r->instances)) < 0 ||
	    json_object_set_new(root, "shards", json_integer(r->shards)) < 0 ||
	    json_object_set_new(root, "replicas", json_integer(r->replicas)) < 0 ||
	    json_object_set_new(root, "self", json_string(r->self_id)) < 0 ||
	    json_object_set(root, "nodes", nodes) < 0 ||
	    json_object_set_new(root, "updated", json_integer(r->updated)) < 0 ||
	    json_object_set_new(root, "adopt_pending", json_boolean(r->adopt_pending)) < 0 ||
	    json_object_set_new(root, "adopted_from", json_integer(r->adopted_from)) < 0)
		goto done;
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		goto done;
	n = strlen(text);
	out = malloc(n + 2);
	if (out) {
		memcpy(out, text, n);
		out[n] = '\n';
		out[n + 1] = '\0';
	}
done:
	free(text);
	json_decref(nodes);
	json_decref(root);
	return out;
}

int topo_record_same_shape(const struct topo_record *a, const struct topo_record *b)
{
	if (a->instances != b->instances || a->shards != b->shards || a->nnodes != b->nnodes ||
	    strcmp(a->self_id, b->self_id) != 0)
		return 0;
	for (size_t i = 0; i < a->nnodes; i++)
		if (strcmp(a->nodes[i].id, b->nodes[i].id) != 0)
			return 0;
	return 1;
}

static void record_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

int topo_record_load(const char *dir, struct topo_record *out, int *exists, char *err, size_t errlen)
{
	char path[PATH_MAX], *buf = NULL, e[256];
	FILE *f = NULL;
	size_t n;
	int rc = -1;

	*exists = 0;
	memset(out, 0, sizeof(*out));
	record_path(dir, TOPO_RECORD_FILE, path, sizeof(path));
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	}
	buf = malloc(TOPO_RECORD_MAX_BYTES + 1);
	if (!buf) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	n = fread(buf, 1, TOPO_RECORD_MAX_BYTES + 1, f);
	if (ferror(f)) {
		seterr(err, errlen, "%s: read error", path);
		goto done;
	}
	if (topo_record_parse(buf, n, out, e, sizeof(e)) < 0) {
		seterr(err, errlen, "%s: %s", path, e);
		goto done;
	}
	*exists = 1;
	rc = 0;
done:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

int topo_record_save(const char *dir, const struct topo_record *r, char *err, size_t errlen)
{
	char path[PATH_MAX], *text;
	int rc;

	record_path(dir, TOPO_RECORD_FILE, path, sizeof(path));
	text = topo_record_format(r);
	if (!text)
		return seterr(err, errlen, "out of memory");
	rc = write_file_atomic(path, text, strlen(text), 0600, err, errlen);
	free(text);
	return rc;
}

int topo_record_remove(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];

	record_path(dir, TOPO_RECORD_FILE, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	return 0;
}

int mismatch_policy_parse(const char *s, enum mismatch_policy *out)
{
	if (!s || !strcmp(s, "refuse"))
		*out = MISMATCH_REFUSE;
	else if (!strcmp(s, "adopt"))
		*out = MISMATCH_ADOPT;
	else if (!strcmp(s, "fresh"))
		*out = MISMATCH_FRESH;
	else
		return -1;
	return 0;
}

static const char *when(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "an unknown time");
	return buf;
}

enum guard_verdict clone_guard_decide(const struct topo_record *rec, const char *dir, int current, int live_knows_me,
				      enum mismatch_policy policy, const char *how_to_override, char *msg,
				      size_t msglen)
{
	char t[64];

	if (!rec) {
		snprintf(msg, msglen, "no topology record in %s: first start of this instance", dir);
		return GUARD_START;
	}
	if (rec->instances == current) {
		snprintf(msg, msglen, "topology record matches: %d instances, %d shards (generation %llu)", current,
			 rec->shards, rec->generation);
		return GUARD_START;
	}
	if (live_knows_me) {
		snprintf(msg, msglen,
			 "topology record says %d instances, the platform reports %d, and a live peer knows node %.8s: "
			 "a restart during a scale, not a clone",
			 rec->instances, current, rec->self_id);
		return GUARD_START;
	}
	switch (policy) {
	case MISMATCH_ADOPT:
		snprintf(
			msg, msglen,
			"topology mismatch (recorded %d instances, %d shards; now %d instances): adopting the new count "
			"as asked; shards whose instance is not here will be reassigned empty",
			rec->instances, rec->shards, current);
		return GUARD_ADOPT;
	case MISMATCH_FRESH:
		snprintf(msg, msglen,
			 "topology mismatch (recorded %d instances, now %d): starting a fresh cluster as asked; this "
			 "instance's data and cluster state are erased",
			 rec->instances, current);
		return GUARD_FRESH;
	case MISMATCH_REFUSE:
		break;
	}
	snprintf(msg, msglen,
		 "clone guard: %s holds data of a cluster of %d instances (%d shards, generation %llu, recorded %s) "
		 "but the platform reports %d instances now; refusing to start so that no shard is lost or mixed "
		 "(data left untouched). Start it with %d instances, or set %s=adopt to keep this data and reshard "
		 "onto %d instances (shards whose instance is missing are lost), or %s=fresh to erase it and start a "
		 "new cluster",
		 dir, rec->instances, rec->shards, rec->generation, when(rec->updated, t, sizeof(t)), current,
		 rec->instances, how_to_override, current, how_to_override);
	return GUARD_REFUSE;
}
