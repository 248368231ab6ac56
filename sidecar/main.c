/* autoshard-sidecar: runs next to every Valkey/Redis instance.
 *   prestart   before the server starts: in ephemeral mode remove nodes.conf and
 *              the data files so the server starts as a fresh, empty node; in
 *              persistent mode run the clone guard (exit 3 on a mismatch).
 *   run        wait for the local server, then keep it in the cluster.
 *   supervise  prestart, start the server, run; exit when the server exits.
 *   wait-ready exit 0 once the local server is in a healthy cluster. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "sidecar.h"
#include "util.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

static const struct cfg_option sidecar_opts[] = {
	{"node", CFG_STRING, 0, 0, NULL, "AUTOSHARD_NODE", NULL,
	 "the local server, HOST:PORT (Upsun: found in peers.json by this host's addresses)"},
	{"port", CFG_INT, 1, 65535, "6379", "AUTOSHARD_PORT", NULL,
	 "the servers' port where a source gives only addresses"},
	{"source", CFG_ENUM, 0, 0, "static", "AUTOSHARD_SOURCE", "static|upsun|flux",
	 "where the instance list comes from"},
	{"peers", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PEERS", NULL, "static: all instances, comma separated HOST:PORT"},
	{"peers-file", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PEERS_FILE", NULL,
	 "static: file listing all instances, re-read on change"},
	{"upsun-app", CFG_STRING, 0, 0, NULL, "AUTOSHARD_UPSUN_APP", NULL,
	 "upsun: the application whose instances form the cluster (default PLATFORM_APPLICATION_NAME)"},
	{"upsun-peers", CFG_STRING, 0, 0, "/run/peers.json", "AUTOSHARD_UPSUN_PEERS", NULL, "upsun: the peers file"},
	{"flux-api", CFG_STRING, 0, 0, "https://api.runonflux.io", "AUTOSHARD_FLUX_API", NULL,
	 "flux: the API base URL"},
	{"flux-app", CFG_STRING, 0, 0, NULL, "AUTOSHARD_FLUX_APP", NULL, "flux: the application name"},
	{"flux-interval-ms", CFG_INT, 1000, 3600000, "30000", "AUTOSHARD_FLUX_INTERVAL_MS", NULL,
	 "flux: how often the location API is asked"},
	{"replicas", CFG_INT, 0, 100, "0", "AUTOSHARD_REPLICAS", NULL, "replicas per master"},
	{"password-file", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PASSWORD_FILE", NULL, "file holding the server password"},
	{"mode", CFG_ENUM, 0, 0, "persistent", "AUTOSHARD_MODE", "ephemeral|persistent", "what a restart keeps"},
	{"data-dir", CFG_STRING, 0, 0, NULL, "AUTOSHARD_DATA_DIR", NULL, "the server's data directory"},
	{"ephemeral-files", CFG_STRING, 0, 0, "nodes.conf,dump.rdb,appendonly.aof,appendonlydir", NULL, NULL,
	 "files prestart removes in ephemeral mode (and for a fresh start)"},
	{"topology-mismatch", CFG_ENUM, 0, 0, "refuse", "AUTOSHARD_TOPOLOGY_MISMATCH", "refuse|adopt|fresh",
	 "persistent mode: what prestart does when the recorded instance count differs from the platform's"},
	{"reassign-lost-slots", CFG_BOOL, 0, 0, "false", "AUTOSHARD_REASSIGN_LOST_SLOTS", NULL,
	 "give the slots of a dead master without replica to the members, empty (always on in ephemeral mode)"},
	{"failover-wait", CFG_INT, 0, 3600, "120", "AUTOSHARD_FAILOVER_WAIT", NULL,
	 "ephemeral prestart: seconds to wait for a replica to take over before starting empty"},
	{"cluster-name", CFG_STRING, 0, 0, "autoshard", "AUTOSHARD_CLUSTER_NAME", NULL,
	 "name kept in the topology record"},
	{"reconcile", CFG_BOOL, 0, 0, "true", "AUTOSHARD_RECONCILE", NULL,
	 "run the reconciler when elected (false where a controller drives the cluster, as on Kubernetes)"},
	{"takeover-ms", CFG_INT, 0, 600000, "5000", "AUTOSHARD_TAKEOVER_MS", NULL,
	 "how long every earlier member must be silent before this one reconciles instead"},
	{"interval-ms", CFG_INT, 50, 60000, "500", "AUTOSHARD_INTERVAL_MS", NULL, "how often run checks the cluster"},
	{"server", CFG_STRING, 0, 0, "valkey-server", "AUTOSHARD_SERVER", NULL, "supervise: the server binary"},
	{"server-include", CFG_STRING, 0, 0, NULL, "AUTOSHARD_SERVER_INCLUDE", NULL,
	 "supervise: a server config file included last (your overrides)"},
	{"node-timeout-ms", CFG_INT, 100, 600000, "15000", "AUTOSHARD_NODE_TIMEOUT_MS", NULL,
	 "supervise: cluster-node-timeout"},
	{"announce-hostname", CFG_STRING, 0, 0, NULL, "AUTOSHARD_ANNOUNCE_HOSTNAME", NULL,
	 "supervise: cluster-announce-hostname (shown in CLUSTER SHARDS/NODES, and to clients with --endpoint-type "
	 "hostname)"},
	{"endpoint-type", CFG_ENUM, 0, 0, "hostname", "AUTOSHARD_ENDPOINT_TYPE", "ip|hostname",
	 "supervise: what clients get in MOVED/ASK and CLUSTER SLOTS when a hostname is announced"},
	{"announce-ip", CFG_BOOL, 0, 0, "false", "AUTOSHARD_ANNOUNCE_IP", NULL,
	 "supervise: cluster-announce-ip the --node address (pods: the pod IP)"},
	{"http-addr", CFG_STRING, 0, 0, "", "AUTOSHARD_HTTP_ADDR", NULL,
	 "run/supervise: serve /healthz, /readyz and /metrics on HOST:PORT (\"\": off)"},
	{"ready-timeout", CFG_INT, 1, 86400, "600", "AUTOSHARD_READY_TIMEOUT", NULL,
	 "wait-ready: seconds to wait for a healthy cluster"},
	{"log-level", CFG_ENUM, 0, 0, "info", "AUTOSHARD_LOG_LEVEL", "error|warn|info|debug", "log verbosity"},
	{"log-format", CFG_ENUM, 0, 0, "text", "AUTOSHARD_LOG_FORMAT", "text|json", "log line format"},
};

int main(int argc, char **argv)
{
	struct cfg c;
	char err[256];
	enum log_level lvl = LOG_LEVEL_INFO;
	int rc;
	const char *synopsis = "autoshard-sidecar prestart|run|supervise|wait-ready [options]";

	log_init("autoshard-sidecar", LOG_LEVEL_INFO, 0);
	if (cfg_parse(&c, sidecar_opts, NOPTS(sidecar_opts), argc - 1, argv + 1, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	log_level_parse(cfg_str(&c, "log-level"), &lvl);
	log_init("autoshard-sidecar", lvl, strcmp(cfg_str(&c, "log-format"), "json") == 0);
	if (cfg_handle_info(&c, synopsis)) {
		rc = 0;
	} else if (c.nargs != 1) {
		fprintf(stderr, "usage: %s\n", synopsis);
		rc = EXIT_USAGE;
	} else if (!strcmp(c.args[0], "prestart")) {
		rc = sidecar_prestart(&c);
	} else if (!strcmp(c.args[0], "run")) {
		rc = sidecar_run(&c, 0);
	} else if (!strcmp(c.args[0], "supervise")) {
		rc = sidecar_supervise(&c);
	} else if (!strcmp(c.args[0], "wait-ready")) {
		rc = sidecar_wait_ready(&c);
	} else {
		log_warnx("unknown action '%.20s' (prestart, run, supervise or wait-ready)", c.args[0]);
		rc = EXIT_USAGE;
	}
	cfg_free(&c);
	return rc;
}
