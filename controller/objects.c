/* The objects of one ValkeyCluster (see objects.h). Pure: JSON in, JSON out. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objects.h"
#include "util.h"

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int vc_spec_parse(const json_t *vc, struct vc_spec *out, char *err, size_t errlen)
{
	const json_t *meta = json_object_get(vc, "metadata"), *spec = json_object_get(vc, "spec"), *v;
	const char *s;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(meta) || !str_at(meta, "name", NULL) || !str_at(meta, "uid", NULL))
		return seterr(err, errlen, "object without metadata.name/uid");
	strlcpy_a(out->name, str_at(meta, "name", NULL), sizeof(out->name));
	strlcpy_a(out->ns, str_at(meta, "namespace", NULL) ? str_at(meta, "namespace", NULL) : "default",
		  sizeof(out->ns));
	strlcpy_a(out->uid, str_at(meta, "uid", NULL), sizeof(out->uid));
	out->generation = json_integer_value(json_object_get(meta, "generation"));
	if (strlen(out->name) > VC_NAME_MAX)
		return seterr(err, errlen,
			      "metadata.name is longer than %d characters (the pods' names and labels "
			      "derived from it would not fit)",
			      VC_NAME_MAX);
	if (!json_is_object(spec))
		return seterr(err, errlen, "no spec");
	v = json_object_get(spec, "shards");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
		return seterr(err, errlen, "spec.shards must be an integer in 1..1000");
	out->shards = (int)json_integer_value(v);
	v = json_object_get(spec, "replicasPerShard");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 5))
		return seterr(err, errlen, "spec.replicasPerShard must be an integer in 0..5");
	out->replicas_per_shard = v ? (int)json_integer_value(v) : 0;
	if ((s = str_at(spec, "image", NULL)))
		strlcpy_a(out->image, s, sizeof(out->image));
	s = str_at(spec, "persistence", "mode");
	out->persistent = s && strcmp(s, "persistent") == 0;
	strlcpy_a(out->storage, str_at(spec, "persistence", "storage") ? str_at(spec, "persistence", "storage") : "1Gi",
		  sizeof(out->storage));
	if ((s = str_at(spec, "passwordSecret", "name")) && *s) {
		out->has_secret = 1;
		strlcpy_a(out->secret_name, s, sizeof(out->secret_name));
		s = str_at(spec, "passwordSecret", "key");
		strlcpy_a(out->secret_key, s && *s ? s : "password", sizeof(out->secret_key));
	}
	s = str_at(spec, "topologyMismatch", NULL);
	strlcpy_a(out->mismatch, s ? s : "refuse", sizeof(out->mismatch));
	if (strcmp(out->mismatch, "refuse") && strcmp(out->mismatch, "adopt") && strcmp(out->mismatch, "fresh"))
		return seterr(err, errlen, "spec.topologyMismatch must be refuse, adopt or fresh");
	s = str_at(spec, "endpointType", NULL);
	if (s && strcmp(s, "ip") && strcmp(s, "hostname"))
		return seterr(err, errlen, "spec.endpointType must be ip or hostname");
	out->prefer_hostname = s && strcmp(s, "hostname") == 0;
	out->resources = json_object_get(spec, "resources");
	out->config = json_object_get(spec, "config");
	if (out->config) {
		char *c = build_config_overrides(out, err, errlen);
		if (!c)
			return -1;
		free(c);
	}
	return 0;
}

int vc_desired_instances(const struct vc_spec *s)
{
	return s->shards * (1 + s->replicas_per_shard);
}

void vc_selector(const struct vc_spec *s, char *buf, size_t len)
{
	snprintf(buf, len, LABEL_INSTANCE "=%s," LABEL_NAME "=valkey", s->name);
}

/* labels of every object (new reference) */
static json_t *labels(const struct vc_spec *s)
{
	return json_pack("{s:s, s:s, s:s}", LABEL_NAME, "valkey", LABEL_INSTANCE, s->name, LABEL_MANAGED_BY,
			 MANAGED_BY_VALUE);
}

static json_t *selector_labels(const struct vc_spec *s)
{
	return json_pack("{s:s, s:s}", LABEL_NAME, "valkey", LABEL_INSTANCE, s->name);
}

/* metadata with labels and the owner reference (new reference) */
static json_t *metadata(const struct vc_spec *s, const char *name)
{
	return json_pack("{s:s, s:s, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "name", name, "namespace", s->ns,
			 "labels", labels(s), "ownerReferences", "apiVersion", VC_API_VERSION, "kind", VC_KIND, "name",
			 s->name, "uid", s->uid, "controller", 1, "blockOwnerDeletion", 1);
}

json_t *build_headless_service(const struct vc_spec *s)
{
	char name[300];

	snprintf(name, sizeof(name), "%s-headless", s->name);
	return json_pack("{s:s, s:s, s:o, s:{s:s, s:b, s:o, s:[{s:s, s:i, s:s}, {s:s, s:i, s:s}]}}", "apiVersion", "v1",
			 "kind", "Service", "metadata", metadata(s, name), "spec", "clusterIP", "None",
			 "publishNotReadyAddresses", 1, "selector", selector_labels(s), "ports", "name", "valkey",
			 "port", VALKEY_PORT, "protocol", "TCP", "name", "bus", "port", VALKEY_PORT + 10000, "protocol",
			 "TCP");
}

json_t *build_client_service(const struct vc_spec *s)
{
	return json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:[{s:s, s:i, s:s}]}}", "apiVersion", "v1", "kind", "Service",
			 "metadata", metadata(s, s->name), "spec", "type", "ClusterIP", "selector", selector_labels(s),
			 "ports", "name", "valkey", "port", VALKEY_PORT, "protocol", "TCP");
}

json_t *build_pdb(const struct vc_spec *s)
{
	return json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:o}}}", "apiVersion", "policy/v1", "kind", "PodDisruptionBudget",
			 "metadata", metadata(s, s->name), "spec", "maxUnavailable", 1, "selector", "matchLabels",
			 selector_labels(s));
}

/* Directives the controller sets itself: overriding them would break the
 * cluster or the password handling. */
static const char *const reserved_directives[] = {
	"bind",       "port",    "cluster-enabled", "cluster-config-file", "dir",          "requirepass",
	"masterauth", "include", "daemonize",       "bind-source-addr",    "cluster-port", "unixsocket",
};

char *build_config_overrides(const struct vc_spec *s, char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	size_t cap = 1, len = 0;
	char *out = NULL;

	json_object_foreach((json_t *)s->config, key, val)
	{
		if (!json_is_string(val)) {
			seterr(err, errlen, "spec.config.%.64s: the value must be a string", key);
			goto fail;
		}
		cap += strlen(key) + json_string_length(val) + 2;
	}
	out = malloc(cap);
	if (!out) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	out[0] = 0;
	json_object_foreach((json_t *)s->config, key, val)
	{
		const char *v = json_string_value(val);
		if (!*key) {
			seterr(err, errlen, "spec.config: empty directive name");
			goto fail;
		}
		for (const char *p = key; *p; p++)
			if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-')) {
				seterr(err, errlen,
				       "spec.config.%.64s: directive names are lowercase letters, digits and '-'", key);
				goto fail;
			}
		for (size_t i = 0; i < sizeof(reserved_directives) / sizeof(reserved_directives[0]); i++)
			if (!strcmp(key, reserved_directives[i])) {
				seterr(err, errlen, "spec.config.%s is set by autoshard and cannot be overridden", key);
				goto fail;
			}
		if (strpbrk(v, "\r\n") || json_string_length(val) != strlen(v)) {
			seterr(err, errlen, "spec.config.%.64s: the value must be one line", key);
			goto fail;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s %s\n", key, v);
	}
	return out;
fail:
	free(out);
	return NULL;
}

json_t *build_members_configmap(const struct vc_spec *s, const char *instances)
{
	char name[300], err[256];
	char *conf = NULL;
	json_t *cm;

	snprintf(name, sizeof(name), "%s-members", s->name);
	if (s->config)
		conf = build_config_overrides(s, err, sizeof(err));
	cm = json_pack("{s:s, s:s, s:o, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
		       metadata(s, name), "data", MEMBERS_KEY, instances, "valkey.conf", conf ? conf : "");
	free(conf);
	return cm;
}

json_t *build_statefulset(const struct vc_spec *s, int replicas, const char *default_image, const char *cluster_domain)
{
	char name[300], cmname[300], headless[300], reps[16], fqdn[1024];
	json_t *sts = NULL, *args = NULL, *env = NULL, *mounts = NULL, *volumes = NULL, *container = NULL, *pod = NULL;

	snprintf(cmname, sizeof(cmname), "%s-members", s->name);
	snprintf(headless, sizeof(headless), "%s-headless", s->name);
	snprintf(reps, sizeof(reps), "%d", s->replicas_per_shard);
	strlcpy_a(name, s->name, sizeof(name));
	/* The pod's DNS name under the headless Service (publishNotReadyAddresses:
	 * it resolves before the pod is Ready, as joining needs). */
	snprintf(fqdn, sizeof(fqdn), "$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s", headless,
		 cluster_domain && *cluster_domain ? cluster_domain : "cluster.local");
	args = json_pack("[s,s, s,s, s,s, s,s, s,s, s,s, s,s, s,s, s,s, s]", "supervise", "--reconcile=false",
			 "--peers-file", MEMBERS_MOUNT "/" MEMBERS_KEY, "--data-dir", DATA_MOUNT, "--mode",
			 s->persistent ? "persistent" : "ephemeral", "--node", "$(POD_IP):6379", "--server-include",
			 MEMBERS_MOUNT "/valkey.conf", "--replicas", reps, "--topology-mismatch", s->mismatch,
			 "--cluster-name", name,
			 s->persistent ? "--reassign-lost-slots=false" : "--reassign-lost-slots=true");
	if (args && (json_array_append_new(args, json_string("--announce-hostname")) < 0 ||
		     json_array_append_new(args, json_string(fqdn)) < 0 ||
		     json_array_append_new(args, json_string("--announce-ip=true")) < 0 ||
		     json_array_append_new(args, json_string("--endpoint-type")) < 0 ||
		     json_array_append_new(args, json_string(s->prefer_hostname ? "hostname" : "ip")) < 0))
		goto fail;
	env = json_pack("[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}, {s:s, s:s}]", "name", "POD_IP",
			"valueFrom", "fieldRef", "fieldPath", "status.podIP", "name", "POD_NAME", "valueFrom",
			"fieldRef", "fieldPath", "metadata.name", "name", "POD_NAMESPACE", "valueFrom", "fieldRef",
			"fieldPath", "metadata.namespace", "name", "AUTOSHARD_NODE", "value", "$(POD_IP):6379");
	mounts = json_pack("[{s:s, s:s}, {s:s, s:s, s:b}]", "name", "data", "mountPath", DATA_MOUNT, "name", "members",
			   "mountPath", MEMBERS_MOUNT, "readOnly", 1);
	volumes = json_pack("[{s:s, s:{s:s}}]", "name", "members", "configMap", "name", cmname);
	if (!args || !env || !mounts || !volumes)
		goto fail;
	if (!s->persistent && json_array_append_new(volumes, json_pack("{s:s, s:{}}", "name", "data", "emptyDir")) < 0)
		goto fail;
	if (s->has_secret) {
		if (json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AUTOSHARD_PASSWORD_FILE", "value",
							 SECRET_MOUNT "/password")) < 0 ||
		    json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "name", "password", "mountPath",
							    SECRET_MOUNT, "readOnly", 1)) < 0 ||
		    json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:i, s:[{s:s, s:s}]}}", "name", "password",
							     "secret", "secretName", s->secret_name, "defaultMode",
							     0400, "items", "key", s->secret_key, "path", "password")) <
			    0)
			goto fail;
	}
	container = json_pack("{s:s, s:s, s:[s], s:O, s:O, s:O, s:[{s:s, s:i}, {s:s, s:i}], "
			      "s:{s:{s:[s,s,s,s]}, s:i, s:i, s:i, s:i}}",
			      "name", "valkey", "image", s->image[0] ? s->image : default_image, "command",
			      "autoshard-sidecar", "args", args, "env", env, "volumeMounts", mounts, "ports", "name",
			      "valkey", "containerPort", VALKEY_PORT, "name", "bus", "containerPort",
			      VALKEY_PORT + 10000, "readinessProbe", "exec", "command", "autoshard-sidecar",
			      "wait-ready", "--ready-timeout", "1", "periodSeconds", 2, "timeoutSeconds", 5,
			      "failureThreshold", 2, "successThreshold", 1);
	if (!container)
		goto fail;
	if (json_is_object(s->resources) && json_object_set(container, "resources", (json_t *)s->resources) < 0)
		goto fail;
	pod = json_pack("{s:{s:o}, s:{s:i, s:[O], s:O}}", "metadata", "labels", labels(s), "spec",
			"terminationGracePeriodSeconds", 30, "containers", container, "volumes", volumes);
	if (!pod)
		goto fail;
	sts = json_pack("{s:s, s:s, s:o, s:{s:i, s:s, s:s, s:{s:o}, s:O}}", "apiVersion", "apps/v1", "kind",
			"StatefulSet", "metadata", metadata(s, name), "spec", "replicas", replicas, "serviceName",
			headless, "podManagementPolicy", "Parallel", "selector", "matchLabels", selector_labels(s),
			"template", pod);
	if (!sts)
		goto fail;
	if (s->persistent &&
	    json_object_set_new(json_object_get(sts, "spec"), "volumeClaimTemplates",
				json_pack("[{s:{s:s, s:o}, s:{s:[s], s:{s:{s:s}}}}]", "metadata", "name", "data",
					  "labels", labels(s), "spec", "accessModes", "ReadWriteOnce", "resources",
					  "requests", "storage", s->storage)) < 0)
		goto fail;
	json_decref(args);
	json_decref(env);
	json_decref(mounts);
	json_decref(volumes);
	json_decref(container);
	json_decref(pod);
	return sts;
fail:
	json_decref(sts);
	json_decref(args);
	json_decref(env);
	json_decref(mounts);
	json_decref(volumes);
	json_decref(container);
	json_decref(pod);
	return NULL;
}

static int pod_ready(const json_t *pod)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
	{
		if (str_at(c, "type", NULL) && !strcmp(str_at(c, "type", NULL), "Ready"))
			return str_at(c, "status", NULL) && !strcmp(str_at(c, "status", NULL), "True");
	}
	return 0;
}

static const json_t *pod_of(const struct vc_spec *s, const json_t *pods, int ordinal)
{
	char key[600];

	snprintf(key, sizeof(key), "%s/%s-%d", s->ns, s->name, ordinal);
	return json_object_get(pods, key);
}

char *members_from_pods(const struct vc_spec *s, const json_t *pods, int n, int *ready, char *why, size_t whylen)
{
	size_t cap = (size_t)n * (IP_MAX + 8) + 1, len = 0;
	char *out = NULL;
	int waiting = 0;

	*ready = 0;
	if (why && whylen)
		why[0] = 0;
	out = malloc(cap);
	if (!out) {
		seterr(why, whylen, "out of memory");
		goto fail;
	}
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		const json_t *p = pod_of(s, pods, i);
		const char *phase = str_at(p, "status", "phase"), *ip = str_at(p, "status", "podIP");
		if (p && pod_ready(p))
			(*ready)++;
		if (waiting)
			continue;
		if (!p)
			seterr(why, whylen, "pod %s-%d does not exist yet", s->name, i);
		else if (json_object_get(json_object_get(p, "metadata"), "deletionTimestamp"))
			seterr(why, whylen, "pod %s-%d is being deleted", s->name, i);
		else if (!phase || strcmp(phase, "Running"))
			seterr(why, whylen, "pod %s-%d is %s", s->name, i, phase ? phase : "not started");
		else if (!ip || !*ip || strlen(ip) >= IP_MAX || strchr(ip, '\n'))
			seterr(why, whylen, "pod %s-%d has no IP yet", s->name, i);
		else {
			len += (size_t)snprintf(out + len, cap - len, strchr(ip, ':') ? "[%s]:%d\n" : "%s:%d\n", ip,
						VALKEY_PORT);
			continue;
		}
		waiting = 1;
	}
	if (waiting)
		goto fail;
	return out;
fail:
	free(out);
	return NULL;
}

int pods_topology_mismatch(const struct vc_spec *s, const json_t *pods, int n, char *why, size_t whylen)
{
	for (int i = 0; i < n; i++) {
		const json_t *p = pod_of(s, pods, i), *cs;
		size_t k;
		json_array_foreach(json_object_get(json_object_get(p, "status"), "containerStatuses"), k, cs)
		{
			const json_t *t = json_object_get(json_object_get(cs, "state"), "terminated");
			if (!t)
				t = json_object_get(json_object_get(cs, "lastState"), "terminated");
			if (t && json_integer_value(json_object_get(t, "exitCode")) == EXIT_REFUSED) {
				seterr(why, whylen,
				       "pod %s-%d: the sidecar refused to start (exit 3: its data belongs to "
				       "a cluster of another size; see spec.topologyMismatch)",
				       s->name, i);
				return 1;
			}
		}
	}
	return 0;
}

/* Whether text (lines) holds the line l of n bytes. */
static int has_line(const char *text, const char *l, size_t n)
{
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t m = e ? (size_t)(e - p) : strlen(p);

		if (m == n && strncmp(p, l, n) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

int members_lost(const char *old, const char *now)
{
	for (const char *l = old; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (n && !has_line(now, l, n))
			return 1;
		l = e ? e + 1 : NULL;
	}
	return 0;
}
