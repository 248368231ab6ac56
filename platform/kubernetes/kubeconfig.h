/* Where the API server is and how to authenticate to it.
 *
 * Two sources, one model (struct kube_config):
 *   - a kubeconfig file, parsed by kubeconfig_parse (pure: bytes in, model or
 *     error out; libyaml's document loader) or read by kubeconfig_load;
 *   - the in-cluster service account: KUBERNETES_SERVICE_HOST/_PORT and
 *     /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}.
 *
 * Supported authentication: client certificate + key (files or *-data), bearer
 * token (inline or tokenFile; the file is re-read when it changes, as the
 * kubelet rotates projected tokens). exec and auth-provider users and basic
 * auth are refused with a one-line error naming the user.
 *
 * Secrets (token, client key) never appear in error messages; kube_config_free
 * wipes them. */
#ifndef AUTOSHARD_KUBECONFIG_H
#define AUTOSHARD_KUBECONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define KUBECONFIG_MAX_BYTES (1024 * 1024)
#define KUBE_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_TOKEN_MAX_BYTES 16384

struct kube_config {
	char *server;    /* "https://host:port" (no trailing '/') */
	char *context;   /* context name used ("in-cluster" for the service account) */
	char *cluster;   /* cluster name */
	char *user;      /* user name */
	char *namespace; /* context namespace, else "default" */

	char *ca_file; /* certificate-authority (absolute path) or NULL */
	char *ca_pem;  /* certificate-authority-data, decoded, or NULL */
	size_t ca_pem_len;
	int insecure_skip_tls_verify;
	char *tls_server_name; /* tls-server-name or NULL (informational) */

	char *cert_file; /* client-certificate (absolute path) or NULL */
	char *cert_pem;  /* client-certificate-data, decoded, or NULL */
	size_t cert_pem_len;
	char *key_file; /* client-key (absolute path) or NULL */
	char *key_pem;  /* client-key-data, decoded, or NULL (secret) */
	size_t key_pem_len;

	char *token;      /* inline token, or the last one read from token_file (secret) */
	char *token_file; /* tokenFile (absolute path) or NULL; wins over token */

	/* token_file change detection (kube_config_token) */
	dev_t token_dev;
	ino_t token_ino;
	off_t token_size;
	struct timespec token_mtime;
	int token_loaded;
};

/* Parse kubeconfig bytes (need not be NUL-terminated; at most
 * KUBECONFIG_MAX_BYTES). base_dir resolves relative file paths (the
 * directory of the kubeconfig; NULL leaves them as written). context selects a
 * context by name; NULL uses current-context. No I/O: files named in the
 * config are not opened. On success *out is set; caller frees with
 * kube_config_free. -1 with err naming the field on failure. */
int kubeconfig_parse(const char *data, size_t len, const char *base_dir, const char *context, struct kube_config **out,
		     char *err, size_t errlen);

/* Read and parse the file at path (relative paths inside it resolve against
 * its directory). Caller frees *out. */
int kubeconfig_load(const char *path, const char *context, struct kube_config **out, char *err, size_t errlen);

/* The service account configuration. host/port as in KUBERNETES_SERVICE_HOST
 * and KUBERNETES_SERVICE_PORT (NULL: read those variables); sa_dir NULL means
 * KUBE_SA_DIR_DEFAULT. Reads the namespace file (optional) and the token once
 * (required); ca.crt is used as a file. Caller frees *out. */
int kubeconfig_in_cluster(const char *host, const char *port, const char *sa_dir, struct kube_config **out, char *err,
			  size_t errlen);

/* The usual choice: explicit path if given; else in-cluster when
 * KUBERNETES_SERVICE_HOST is set; else $KUBECONFIG (a single path; lists are
 * not merged); else ~/.kube/config. Caller frees *out. */
int kubeconfig_load_default(const char *path, const char *context, struct kube_config **out, char *err, size_t errlen);

/* The bearer token to send now, or NULL when the config has none. With a
 * token_file the file is stat()ed on every call and re-read when its inode,
 * size or mtime changed (rotation); if a re-read fails the last good token is
 * kept and -1 is returned only when there is none. The string is borrowed
 * until the next call or kube_config_free. */
int kube_config_token(struct kube_config *cfg, const char **token, char *err, size_t errlen);

/* Wipes secrets and frees. Accepts NULL. */
void kube_config_free(struct kube_config *cfg);

/* Strict standard base64 (padding optional, no whitespace) into a new
 * NUL-terminated buffer; caller frees. -1 on a bad character or length. */
int kube_base64_decode(const char *in, size_t len, char **out, size_t *outlen);

#endif
