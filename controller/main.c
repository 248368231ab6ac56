/* autoshard-controller: the ValkeyCluster operator. Leader-elected on a Lease
 * (only the holder acts; it exits when it loses the lease), informers on
 * ValkeyClusters and on the StatefulSets, Pods and ConfigMaps it owns, one
 * event loop; engine runs happen in child processes (engine.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "http/httpd.h"
#include "kubernetes/events.h"
#include "kubernetes/kube_client.h"
#include "kubernetes/kubeconfig.h"
#include "kubernetes/lease.h"
#include "log.h"
#include "operator.h"
#include "dashboard.h"
#include "util.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

static const struct cfg_option controller_opts[] = {
	{"kubeconfig", CFG_STRING, 0, 0, NULL, "AUTOSHARD_KUBECONFIG", NULL,
	 "kubeconfig file (default: in-cluster service account, else $KUBECONFIG, else ~/.kube/config)"},
	{"context", CFG_STRING, 0, 0, NULL, "AUTOSHARD_KUBE_CONTEXT", NULL, "kubeconfig context (default: current)"},
	{"namespace", CFG_STRING, 0, 0, "", "AUTOSHARD_NAMESPACE", NULL,
	 "watch ValkeyClusters in this namespace only (default: all namespaces)"},
	{"lease-namespace", CFG_STRING, 0, 0, NULL, "AUTOSHARD_LEASE_NAMESPACE", NULL,
	 "namespace of the leader-election Lease (default: --namespace, else POD_NAMESPACE, else the kubeconfig's)"},
	{"lease-name", CFG_STRING, 0, 0, "autoshard-controller", "AUTOSHARD_LEASE_NAME", NULL,
	 "name of the leader-election Lease"},
	{"identity", CFG_STRING, 0, 0, NULL, "AUTOSHARD_IDENTITY", NULL,
	 "this replica's identity in the Lease (default: POD_NAME or the host name, and the pid)"},
	{"lease-duration-ms", CFG_INT, 1000, 600000, "15000", "AUTOSHARD_LEASE_DURATION_MS", NULL,
	 "how long a Lease not renewed stays valid"},
	{"renew-deadline-ms", CFG_INT, 500, 600000, "10000", "AUTOSHARD_RENEW_DEADLINE_MS", NULL,
	 "the leader gives up when it could not renew for this long"},
	{"retry-period-ms", CFG_INT, 100, 60000, "2000", "AUTOSHARD_RETRY_PERIOD_MS", NULL,
	 "how often the Lease is tried or renewed"},
	{"image", CFG_STRING, 0, 0, "ghcr.io/autoshard/autoshard:" AUTOSHARD_VERSION, "AUTOSHARD_IMAGE", NULL,
	 "the Valkey pods' image when spec.image is empty (valkey-server and autoshard-sidecar)"},
	{"cluster-domain", CFG_STRING, 0, 0, "cluster.local", "AUTOSHARD_CLUSTER_DOMAIN", NULL,
	 "the cluster's DNS domain: pods announce POD.NAME-headless.NAMESPACE.svc.<this>"},
	{"resync-s", CFG_INT, 5, 86400, "30", "AUTOSHARD_RESYNC_S", NULL,
	 "re-check every cluster's health (and re-apply its objects) this often"},
	{"engine-deadline-s", CFG_INT, 10, 86400, "600", "AUTOSHARD_ENGINE_DEADLINE_S", NULL,
	 "one engine run (bootstrap, rebalance, drain) at most this long, then it is retried"},
	{"http-addr", CFG_STRING, 0, 0, ":8080", "AUTOSHARD_HTTP_ADDR", NULL,
	 "serve the dashboard (/), /api/v1/clusters, /ws, /healthz, /readyz and /metrics on HOST:PORT (:PORT every address; \"\" disables)"},
	{"http-max-clients", CFG_INT, 1, 10000, "64", "AUTOSHARD_HTTP_MAX_CLIENTS", NULL,
	 "HTTP connections open at once at most"},
	{"log-level", CFG_ENUM, 0, 0, "info", "AUTOSHARD_LOG_LEVEL", "error|warn|info|debug", "log verbosity"},
	{"log-format", CFG_ENUM, 0, 0, "text", "AUTOSHARD_LOG_FORMAT", "text|json", "log line format"},
};

struct controller {
	struct evloop *loop;
	struct operator* op;
	struct lease_elector *le;
	struct httpd *http;
	int64_t publish_timer;
	int exit_code;
	int stopping;
	int leader;
};

static int64_t epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The /api/v1/clusters document (also what WebSocket clients get). */
static char *clusters_doc(struct controller *ctl)
{
	json_t *arr = operator_clusters_json(ctl->op), *doc;
	char *text = NULL;

	if (!arr)
		return NULL;
	doc = json_pack("{s:s, s:b, s:I, s:o}", "version", AUTOSHARD_VERSION, "leader", ctl->leader, "generatedAt",
			(json_int_t)epoch_ms(), "clusters", arr);
	if (doc)
		text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* Dashboard clients get the clusters document on every change, at most
 * every PUBLISH_MS. */
#define PUBLISH_MS 250
static int64_t publish_fired(struct evloop *loop, int64_t id, void *arg)
{
	struct controller *ctl = arg;
	char *text;

	(void)loop;
	(void)id;
	ctl->publish_timer = 0;
	if (!ctl->http || httpd_ws_clients(ctl->http) == 0)
		return 0;
	if ((text = clusters_doc(ctl))) {
		httpd_ws_publish(ctl->http, text, strlen(text));
		free(text);
	}
	return 0;
}

static void on_change(void *arg)
{
	struct controller *ctl = arg;

	if (ctl->publish_timer || !ctl->http)
		return;
	ctl->publish_timer = evloop_add_timer(ctl->loop, PUBLISH_MS, publish_fired, ctl);
	if (ctl->publish_timer < 0)
		ctl->publish_timer = 0;
}

/* /healthz: the event loop answers. /readyz: every informer has listed and
 * every watch runs (a replica that does not lead is ready too: it is
 * standing by). /metrics: the controller's own state. */
static void http_handler(const char *path, struct httpd_response *res, void *arg)
{
	struct controller *ctl = arg;
	struct textbuf b = {0};
	char why[200];

	if (strcmp(path, "/healthz") == 0) {
		tb_printf(&b, "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		int ready = !ctl->stopping && operator_ready(ctl->op, why, sizeof(why));

		res->status = ready ? 200 : 503;
		tb_printf(&b, "%s\n", ctl->stopping ? "stopping" : why);
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		res->body = malloc(dashboard_html_len);
		if (res->body) {
			memcpy(res->body, dashboard_html, dashboard_html_len);
			res->len = dashboard_html_len;
		}
		res->content_type = "text/html; charset=utf-8";
		return;
	} else if (strcmp(path, "/api/v1/clusters") == 0) {
		char *text = clusters_doc(ctl);

		if (!text) {
			res->status = 500;
			tb_printf(&b, "out of memory\n");
		} else {
			tb_printf(&b, "%s\n", text);
			free(text);
			tb_respond(&b, res, "application/json");
			return;
		}
	} else if (strcmp(path, "/metrics") == 0) {
		int ready = operator_ready(ctl->op, why, sizeof(why));

		tb_printf(&b,
			  "# HELP autoshard_controller_leader Whether this replica holds the leader Lease.\n"
			  "# TYPE autoshard_controller_leader gauge\n"
			  "autoshard_controller_leader %d\n",
			  ctl->leader);
		tb_printf(&b,
			  "# HELP autoshard_controller_ready Whether every informer has listed and every watch runs.\n"
			  "# TYPE autoshard_controller_ready gauge\n"
			  "autoshard_controller_ready %d\n",
			  ready);
		tb_printf(&b,
			  "# HELP autoshard_controller_engines_running Engine child processes running now.\n"
			  "# TYPE autoshard_controller_engines_running gauge\n"
			  "autoshard_controller_engines_running %d\n",
			  operator_engines_running(ctl->op));
		tb_printf(&b,
			  "# HELP autoshard_controller_http_connections HTTP connections open now.\n"
			  "# TYPE autoshard_controller_http_connections gauge\n"
			  "autoshard_controller_http_connections %d\n",
			  ctl->http ? httpd_clients(ctl->http) : 0);
		operator_metrics(ctl->op, &b);
		tb_respond(&b, res, "text/plain; version=0.0.4; charset=utf-8");
		return;
	} else {
		res->status = 404;
		tb_printf(&b, "not found: try /healthz, /readyz or /metrics\n");
	}
	tb_respond(&b, res, "text/plain; charset=utf-8");
}

static void started_leading(void *arg)
{
	struct controller *ctl = arg;
	log_info("leading: acting on ValkeyClusters");
	ctl->leader = 1;
	operator_set_leader(ctl->op, 1);
}

static void stopped_leading(void *arg)
{
	struct controller *ctl = arg;
	ctl->leader = 0;
	operator_set_leader(ctl->op, 0);
	if (ctl->stopping)
		return;
	log_warnx("lost the lease: stopping (engine runs were killed; the next leader resumes them)");
	ctl->exit_code = EXIT_FAILURE_GENERIC;
	evloop_stop(ctl->loop);
}

static void new_leader(const char *identity, void *arg)
{
	(void)arg;
	log_info("leader: %s", *identity ? identity : "(none)");
}

static void lease_error(const char *msg, void *arg)
{
	struct controller *ctl = arg;

	log_warnx("lease: %s", msg);
	operator_api_error(ctl->op);
}

static void event_error(const char *msg, void *arg)
{
	(void)arg;
	log_warnx("event: %s", msg);
}

static void released(int ok, void *arg)
{
	struct controller *ctl = arg;
	if (!ok)
		log_warnx("could not release the lease; it expires on its own");
	evloop_stop(ctl->loop);
}

static void on_signal_fd(struct evloop *loop, int fd, int mask, void *arg)
{
	struct controller *ctl = arg;
	struct signalfd_siginfo si;

	(void)loop;
	(void)mask;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si) || ctl->stopping)
		return;
	log_info("signal %u: stopping", si.ssi_signo);
	ctl->stopping = 1;
	operator_set_leader(ctl->op, 0);
	lease_elector_release(ctl->le, released, ctl);
}

int main(int argc, char **argv)
{
	struct cfg c;
	struct kube_config *kcfg = NULL;
	struct kube_client *kc = NULL;
	struct kube_event_recorder *rec = NULL;
	struct controller ctl;
	struct operator_opts oo;
	struct lease_elector_opts lo;
	enum log_level lvl = LOG_LEVEL_INFO;
	char err[512], identity[LEASE_IDENTITY_MAX], host[128];
	const char *lease_ns;
	sigset_t mask;
	int sfd = -1, rc = EXIT_FAILURE_GENERIC, parsed = 0;

	memset(&ctl, 0, sizeof(ctl));
	log_init("autoshard-controller", LOG_LEVEL_INFO, 0);
	if (cfg_parse(&c, controller_opts, NOPTS(controller_opts), argc - 1, argv + 1, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	parsed = 1;
	log_level_parse(cfg_str(&c, "log-level"), &lvl);
	log_init("autoshard-controller", lvl, strcmp(cfg_str(&c, "log-format"), "json") == 0);
	if (cfg_handle_info(&c, "autoshard-controller [options]")) {
		rc = EXIT_OK;
		goto done;
	}
	if (c.nargs != 0) {
		fprintf(stderr, "usage: autoshard-controller [options] (--help)\n");
		rc = EXIT_USAGE;
		goto done;
	}
	if (cfg_int(&c, "renew-deadline-ms") >= cfg_int(&c, "lease-duration-ms") ||
	    cfg_int(&c, "retry-period-ms") >= cfg_int(&c, "renew-deadline-ms")) {
		log_warnx("need retry-period-ms < renew-deadline-ms < lease-duration-ms");
		rc = EXIT_USAGE;
		goto done;
	}
	if (kubeconfig_load_default(cfg_str(&c, "kubeconfig"), cfg_str(&c, "context"), &kcfg, err, sizeof(err)) < 0) {
		log_warnx("kubeconfig: %s", err);
		rc = EXIT_USAGE;
		goto done;
	}
	if (cfg_str(&c, "identity")) {
		strlcpy_a(identity, cfg_str(&c, "identity"), sizeof(identity));
	} else {
		const char *pod = getenv("POD_NAME");
		if (!pod || !*pod) {
			if (gethostname(host, sizeof(host)) < 0)
				strlcpy_a(host, "autoshard-controller", sizeof(host));
			host[sizeof(host) - 1] = 0;
			pod = host;
		}
		snprintf(identity, sizeof(identity), "%s_%d", pod, (int)getpid());
	}
	lease_ns = cfg_str(&c, "lease-namespace");
	if (!lease_ns || !*lease_ns)
		lease_ns = *cfg_str(&c, "namespace") ? cfg_str(&c, "namespace") : getenv("POD_NAMESPACE");
	if (!lease_ns || !*lease_ns)
		lease_ns = kcfg->namespace;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctl.loop = evloop_new();
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!ctl.loop || sfd < 0 || evloop_add_file(ctl.loop, sfd, EV_READABLE, on_signal_fd, &ctl) < 0) {
		log_warn("event loop setup");
		goto done;
	}
	kc = kube_client_new(ctl.loop, kcfg, NULL, err, sizeof(err));
	if (!kc) {
		log_warnx("kubernetes client: %s", err);
		goto done;
	}
	rec = kube_events_new(kc, "autoshard-controller", identity, event_error, NULL, err, sizeof(err));
	if (!rec) {
		log_warnx("events: %s", err);
		goto done;
	}
	memset(&oo, 0, sizeof(oo));
	oo.ns = cfg_str(&c, "namespace");
	oo.default_image = cfg_str(&c, "image");
	oo.cluster_domain = cfg_str(&c, "cluster-domain");
	oo.resync_s = (int)cfg_int(&c, "resync-s");
	oo.engine_deadline_s = (int)cfg_int(&c, "engine-deadline-s");
	oo.on_change = on_change;
	oo.change_arg = &ctl;
	ctl.op = operator_new(ctl.loop, kc, rec, &oo, err, sizeof(err));
	if (!ctl.op || operator_start(ctl.op, err, sizeof(err)) < 0) {
		log_warnx("operator: %s", err);
		goto done;
	}
	if (*cfg_str(&c, "http-addr")) {
		struct httpd_opts ho = {cfg_str(&c, "http-addr"), (int)cfg_int(&c, "http-max-clients"), 0, 0};

		ctl.http = httpd_new(ctl.loop, &ho, http_handler, &ctl, err, sizeof(err));
		if (!ctl.http) {
			log_warnx("%s", err);
			rc = EXIT_USAGE;
			goto done;
		}
		httpd_ws_enable(ctl.http, "/ws");
		log_info("http: serving /healthz, /readyz and /metrics on port %d", httpd_port(ctl.http));
	}
	memset(&lo, 0, sizeof(lo));
	lo.ns = lease_ns;
	lo.name = cfg_str(&c, "lease-name");
	lo.identity = identity;
	lo.lease_duration_ms = cfg_int(&c, "lease-duration-ms");
	lo.renew_deadline_ms = cfg_int(&c, "renew-deadline-ms");
	lo.retry_period_ms = cfg_int(&c, "retry-period-ms");
	lo.on_started_leading = started_leading;
	lo.on_stopped_leading = stopped_leading;
	lo.on_new_leader = new_leader;
	lo.on_error = lease_error;
	lo.arg = &ctl;
	ctl.le = lease_elector_start(kc, &lo, err, sizeof(err));
	if (!ctl.le) {
		log_warnx("lease: %s", err);
		goto done;
	}
	log_info("autoshard-controller %s as %s: watching %s, lease %s/%s", AUTOSHARD_VERSION, identity,
		 *oo.ns ? oo.ns : "all namespaces", lease_ns, lo.name);
	evloop_run(ctl.loop);
	rc = ctl.stopping ? EXIT_OK : ctl.exit_code;
done:
	lease_elector_free(ctl.le);
	if (ctl.publish_timer)
		evloop_del_timer(ctl.loop, ctl.publish_timer);
	httpd_free(ctl.http);
	operator_free(ctl.op);
	kube_events_free(rec);
	kube_client_free(kc);
	kube_config_free(kcfg);
	if (sfd >= 0)
		close(sfd);
	evloop_free(ctl.loop);
	if (parsed)
		cfg_free(&c);
	return rc;
}
