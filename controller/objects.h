/* What the controller wants to exist for one ValkeyCluster, as pure functions:
 * the spec parsed and checked (vc_spec_parse), the objects to server-side
 * apply (headless and client Service, members ConfigMap, StatefulSet,
 * PodDisruptionBudget; all labelled app.kubernetes.io/managed-by=autoshard and
 * owned by the ValkeyCluster), and the member list read from the pods. No I/O. */
#ifndef AUTOSHARD_CONTROLLER_OBJECTS_H
#define AUTOSHARD_CONTROLLER_OBJECTS_H

#include <jansson.h>
#include <stddef.h>

#define VC_NAME_MAX 40 /* "<name>-headless" and the pods' controller-revision-hash label fit in 63 */
#define VC_GROUP "autoshard.io"
#define VC_VERSION "v1alpha1"
#define VC_API_VERSION "autoshard.io/v1alpha1"
#define VC_KIND "ValkeyCluster"
#define LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define LABEL_INSTANCE "app.kubernetes.io/instance"
#define LABEL_NAME "app.kubernetes.io/name"
#define MANAGED_BY_VALUE "autoshard"
#define VALKEY_PORT 6379
#define MEMBERS_KEY "instances"
#define MEMBERS_MOUNT "/etc/autoshard/members"
#define SECRET_MOUNT "/etc/autoshard/secret"
#define DATA_MOUNT "/data"

/* The parts of a ValkeyCluster the controller acts on. Strings are copies;
 * resources and config are borrowed from the object passed to vc_spec_parse
 * and valid only while it is. */
struct vc_spec {
	char ns[254], name[254], uid[128];
	long long generation;
	int shards, replicas_per_shard;
	char image[513];
	int persistent;
	char storage[64];
	int has_secret;
	char secret_name[254], secret_key[254];
	char mismatch[16];   /* refuse|adopt|fresh */
	int prefer_hostname; /* spec.endpointType hostname: clients get pod DNS names */
	const json_t *resources;
	const json_t *config;
};

/* Parse and check vc (borrowed). The API server already enforced the schema;
 * this also refuses what the schema cannot express (a name too long for the
 * pods' labels, config keys that would break the cluster). -1 with a message
 * fit for the status on failure. */
int vc_spec_parse(const json_t *vc, struct vc_spec *out, char *err, size_t errlen);

/* shards * (1 + replicasPerShard) */
int vc_desired_instances(const struct vc_spec *s);

/* "app.kubernetes.io/instance=NAME,app.kubernetes.io/name=valkey" (the scale
 * subresource's selector) into buf. */
void vc_selector(const struct vc_spec *s, char *buf, size_t len);

/* The objects to apply. New references; caller decrefs. NULL on allocation
 * failure. default_image is used when spec.image is empty; every pod
 * announces POD_NAME.<name>-headless.NAMESPACE.svc.<cluster_domain>. */
json_t *build_headless_service(const struct vc_spec *s);
json_t *build_client_service(const struct vc_spec *s);
json_t *build_pdb(const struct vc_spec *s);
/* instances: the member file's text (borrowed). */
json_t *build_members_configmap(const struct vc_spec *s, const char *instances);
json_t *build_statefulset(const struct vc_spec *s, int replicas, const char *default_image, const char *cluster_domain);

/* The valkey.conf overrides from spec.config ("directive value" lines) as a
 * new string (caller frees), or NULL with err for a bad key or value. */
char *build_config_overrides(const struct vc_spec *s, char *err, size_t errlen);

/* The member file for ordinals 0..n-1 from the pod cache (an informer cache,
 * borrowed: "ns/name" -> Pod): one "podIP:6379" per line, in ordinal order.
 * Returns a new string (caller frees) when every one of them is Running with
 * an IP and not being deleted; NULL otherwise, with why (which pod waits for
 * what). *ready gets how many of them have condition Ready=True. */
char *members_from_pods(const struct vc_spec *s, const json_t *pods, int n, int *ready, char *why, size_t whylen);

/* 1 when a container of a pod of this cluster last exited with code 3 (the
 * clone guard refused), with the pod named in why. */
int pods_topology_mismatch(const struct vc_spec *s, const json_t *pods, int n, char *why, size_t whylen);
/* Whether a line ("ip:port") of the member list old is missing from now:
 * a member's pod is gone or has another address. NULLs count as empty. */
int members_lost(const char *old, const char *now);

#endif
