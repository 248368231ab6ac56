/* prestart: before the server starts. Ephemeral mode removes the cluster
 * state and data (after the replica of a restarted master took over);
 * persistent mode runs the clone guard and, when the server may start, makes
 * its nodes.conf loadable (replicas carry their primary's shard-id). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "log.h"
#include "node.h"
#include "nodesfile.h"
#include "proc.h"
#include "reconcile.h"
#include "serverconf.h"
#include "sidecar.h"
#include "toporecord.h"

/* Remove a file or a directory tree (one level: appendonlydir holds files). */
static int remove_path(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		if (!d)
			return -1;
		while ((de = readdir(d))) {
			char p[PATH_MAX];
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
			unlink(p);
		}
		closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

/* Remove the configured cluster-state and data files (ephemeral start, or a
 * fresh start chosen at the clone guard), and the topology record. */
static int clean_data_dir(const char *dir, const char *files)
{
	char err[256];

	for (const char *p = files; *p;) {
		size_t l = strcspn(p, ",");
		char path[PATH_MAX];
		if (l > 0 && l < 200 && !memchr(p, '/', l)) {
			snprintf(path, sizeof(path), "%s/%.*s", dir, (int)l, p);
			if (remove_path(path) < 0) {
				log_warn("prestart: cannot remove %s", path);
				return -1;
			}
			log_debug("prestart: removed %s", path);
		}
		p += l;
		if (*p == ',')
			p++;
	}
	if (topo_record_remove(dir, err, sizeof(err)) < 0) {
		log_warnx("prestart: %s", err);
		return -1;
	}
	return 0;
}

/* 1 when a reachable peer's cluster knows node id: the cluster is live and
 * this is a restart inside it, not a copy of its data started elsewhere. */
static int live_peer_knows(const struct member_list *ml, const struct hostport *self, const char *pw, const char *id)
{
	struct hostport *addrs = calloc(ml->n + 1, sizeof(*addrs));
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {pw, 500, 0};
	size_t n = 0;
	int known = 0;
	char err[256];

	if (!addrs)
		return 0;
	for (size_t i = 0; i < ml->n; i++)
		if (!self || !hostport_eq(&ml->v[i].addr, self))
			addrs[n++] = ml->v[i].addr;
	if (n && cluster_gather(addrs, n, &go, &snap, err, sizeof(err)) == 0)
		for (size_t i = 0; i < snap->nviews && !known; i++) {
			const struct node_view *v = &snap->views[i];
			if (v->reachable && v->topo && strcmp(v->id, id) != 0 && topology_find(v->topo, id) >= 0) {
				log_info("prestart: peer %s:%d knows node %.8s", v->addr.host, v->addr.port, id);
				known = 1;
			}
		}
	cluster_snapshot_free(snap);
	free(addrs);
	return known;
}

/* Ephemeral restart of a master that has a replica: the new, empty server
 * would answer on the old address, and the replica, still following that
 * address, would resync from it and drop every key. So before the server
 * starts, wait until the cluster has promoted the replica (no reachable peer
 * still sees the old id as a master with slots and a live replica).
 * 0 to go on, -1 when the wait runs out (a transient failure: retry). */
static int wait_replica_promoted(struct cfg *c, const char *old_id)
{
	struct member_list ml = {NULL, 0};
	struct hostport self, *addrs = NULL;
	char err[512], *pw = NULL;
	int64_t end = now_ms() + cfg_int(c, "failover-wait") * 1000, logged = 0;
	size_t n = 0;
	int rc = 0, has_self;

	if (source_read_once(c, &ml, err, sizeof(err)) < 0)
		return 0; /* no peers known: nothing to wait for */
	has_self = source_self(c, &ml, &self, err, sizeof(err)) == 0;
	if (secret_load_password(cfg_str(c, "password-file"), &pw, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		rc = -1;
		goto done;
	}
	addrs = calloc(ml.n + 1, sizeof(*addrs));
	if (!addrs) {
		rc = -1;
		goto done;
	}
	for (size_t i = 0; i < ml.n; i++)
		if (!has_self || !hostport_eq(&ml.v[i].addr, &self))
			addrs[n++] = ml.v[i].addr;
	for (;;) {
		struct cluster_snapshot *snap = NULL;
		struct cluster_gather_opts go = {pw, 500, 0};
		int waiting = 0;
		if (n && cluster_gather(addrs, n, &go, &snap, err, sizeof(err)) == 0)
			for (size_t i = 0; i < snap->nviews && !waiting; i++) {
				const struct topology *t = snap->views[i].topo;
				int k = t ? topology_find(t, old_id) : -1;
				if (k < 0 || !(t->nodes[k].flags & NODE_MASTER) || t->nodes[k].nslots == 0)
					continue;
				for (size_t j = 0; j < t->nnodes && !waiting; j++)
					if ((t->nodes[j].flags & NODE_REPLICA) &&
					    strcmp(t->nodes[j].master_id, old_id) == 0 &&
					    !(t->nodes[j].flags & (NODE_FAIL | NODE_PFAIL | NODE_NOADDR)))
						waiting = 1;
			}
		cluster_snapshot_free(snap);
		if (!waiting)
			break;
		if (!logged)
			log_info(
				"prestart: node %.8s was a master with a replica; waiting for the replica to take over "
				"before starting empty (else it would resync from the empty node)",
				old_id);
		logged = 1;
		if (now_ms() > end) {
			log_warnx("prestart: the replica of node %.8s did not take over within %lld s; not starting an "
				  "empty server at its address",
				  old_id, cfg_int(c, "failover-wait"));
			rc = -1;
			break;
		}
		sleep_ms(200);
	}
	if (logged && rc == 0)
		log_info("prestart: the replica of node %.8s took over", old_id);
done:
	free(addrs);
	secret_free(pw);
	member_list_free(&ml);
	return rc;
}

/* Persistent mode, the server about to start on its own nodes.conf: give
 * replicas their primary's shard-id, which Valkey 8.0 insists on (nodesfile.h).
 * A file that cannot be rewritten is left for the server to judge. */
static void converge_shard_ids(const char *dir)
{
	char note[256] = "", err[512];
	int n = nodes_file_repair(dir, note, sizeof(note), err, sizeof(err));

	if (n < 0)
		log_warnx("prestart: %s; starting with nodes.conf as it is", err);
	else if (n > 0)
		log_info("prestart: nodes.conf: %d replica line%s given the shard-id of %s primary, as the server "
			 "requires: %s",
			 n, n == 1 ? "" : "s", n == 1 ? "its" : "their", note);
}

int sidecar_prestart(struct cfg *c)
{
	const char *dir = cfg_str(c, "data-dir");
	struct member_list ml = {NULL, 0};
	struct topo_record rec;
	struct hostport self, *selfp = NULL;
	enum mismatch_policy policy = MISMATCH_REFUSE;
	enum guard_verdict v;
	char err[512], msg[1536];
	char *pw = NULL;
	int exists = 0, live = 0, rc = EXIT_FAILURE_GENERIC;

	memset(&rec, 0, sizeof(rec));
	if (!dir) {
		log_warnx("prestart: --data-dir is required");
		return EXIT_USAGE;
	}
	if (strcmp(cfg_str(c, "mode"), "ephemeral") == 0) {
		char old_id[NODE_ID_LEN + 1];
		int had = nodes_file_myself_id(dir, old_id, err, sizeof(err));
		if (had < 0)
			log_warnx("prestart: %s; not waiting for a replica to take over", err);
		if (had == 1 && wait_replica_promoted(c, old_id) < 0)
			return EXIT_FAILURE_GENERIC;
		/* Before the server starts, never after it has read the files. */
		if (clean_data_dir(dir, cfg_str(c, "ephemeral-files")) < 0)
			return EXIT_FAILURE_GENERIC;
		log_info("prestart: ephemeral mode: %s cleaned; the server starts as a fresh node", dir);
		return 0;
	}
	mismatch_policy_parse(cfg_str(c, "topology-mismatch"), &policy);
	if (topo_record_load(dir, &rec, &exists, err, sizeof(err)) < 0) {
		log_warnx("clone guard: %s; refusing to start (data left untouched). Repair or remove the record to "
			  "start without the guard",
			  err);
		return EXIT_REFUSED;
	}
	if (!exists) {
		log_info("prestart: persistent mode: no topology record in %s yet; keeping nodes.conf and data", dir);
		converge_shard_ids(dir);
		return 0;
	}
	if (source_read_once(c, &ml, err, sizeof(err)) < 0) {
		log_warnx("clone guard: %s (needed to compare with the record in %s)", err, dir);
		rc = EXIT_USAGE;
		goto done;
	}
	if (source_self(c, &ml, &self, err, sizeof(err)) == 0)
		selfp = &self;
	if (rec.instances != (int)ml.n) {
		if (secret_load_password(cfg_str(c, "password-file"), &pw, err, sizeof(err)) < 0) {
			log_warnx("%s", err);
			rc = EXIT_USAGE;
			goto done;
		}
		live = live_peer_knows(&ml, selfp, pw, rec.self_id);
	}
	v = clone_guard_decide(&rec, dir, (int)ml.n, live, policy, "AUTOSHARD_TOPOLOGY_MISMATCH", msg, sizeof(msg));
	switch (v) {
	case GUARD_START:
		log_info("prestart: %s", msg);
		converge_shard_ids(dir);
		rc = 0;
		break;
	case GUARD_REFUSE:
		log_warnx("%s", msg);
		rc = EXIT_REFUSED;
		break;
	case GUARD_ADOPT:
		log_warnx("prestart: %s", msg);
		rec.adopted_from = rec.instances;
		rec.adopt_pending = 1;
		rec.instances = (int)ml.n;
		if (rec.shards > rec.instances)
			rec.shards = rec.instances;
		rec.updated = (long long)time(NULL);
		rec.generation++;
		if (topo_record_save(dir, &rec, err, sizeof(err)) < 0) {
			log_warnx("prestart: %s", err);
			break;
		}
		converge_shard_ids(dir);
		rc = 0;
		break;
	case GUARD_FRESH:
		log_warnx("prestart: %s", msg);
		if (clean_data_dir(dir, cfg_str(c, "ephemeral-files")) < 0)
			break;
		rc = 0;
		break;
	}
done:
	secret_free(pw);
	member_list_free(&ml);
	topo_record_free(&rec);
	return rc;
}
