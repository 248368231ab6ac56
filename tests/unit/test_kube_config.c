/* kubeconfig: contexts, clusters, users (certificate data and files, token,
 * tokenFile), relative paths, refusals (exec, auth-provider), malformed
 * files with errors naming the field, every truncation of a good file,
 * base64, in-cluster config with token rotation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubernetes/kubeconfig.h"
#include "testlib.h"

static struct kube_config *parse_file(const char *path, const char *context, char *err, size_t errlen)
{
	struct kube_config *c = NULL;
	size_t len;
	char *data = test_slurp(path, &len);

	if (!data)
		return NULL;
	err[0] = '\0';
	if (kubeconfig_parse(data, len, "/cfg/dir", context, &c, err, errlen) < 0)
		c = NULL;
	free(data);
	return c;
}

static void test_full(void)
{
	struct kube_config *c;
	const char *tok;
	char err[512];

	c = parse_file("data/kube/full.yaml", NULL, err, sizeof(err));
	CHECK_MSG(c != NULL, "%s", err);
	if (c) {
		CHECK(strcmp(c->context, "admin@local") == 0);
		CHECK(strcmp(c->cluster, "local") == 0 && strcmp(c->user, "admin") == 0);
		CHECK(strcmp(c->namespace, "valkey") == 0);
		CHECK(strcmp(c->server, "https://127.0.0.1:6443") == 0); /* trailing '/' dropped */
		CHECK(c->ca_pem && strstr(c->ca_pem, "MIIBtestCA") && c->ca_pem_len == strlen(c->ca_pem));
		CHECK(c->ca_file == NULL && !c->insecure_skip_tls_verify);
		CHECK(c->tls_server_name && strcmp(c->tls_server_name, "kubernetes") == 0);
		CHECK(c->cert_pem && strstr(c->cert_pem, "MIIBclient"));
		CHECK(c->key_pem && strstr(c->key_pem, "MIIEsecretkey"));
		CHECK(c->token == NULL && c->token_file == NULL);
		CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok == NULL);
	}
	kube_config_free(c);

	c = parse_file("data/kube/full.yaml", "tok@other", err, sizeof(err));
	CHECK_MSG(c != NULL, "%s", err);
	if (c) {
		CHECK(strcmp(c->server, "https://10.9.9.9:443") == 0 && c->insecure_skip_tls_verify);
		CHECK(strcmp(c->namespace, "default") == 0);
		CHECK(c->token && strcmp(c->token, "abc.def-ghi") == 0);
		CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "abc.def-ghi") == 0);
		CHECK(c->cert_pem == NULL && c->key_pem == NULL);
	}
	kube_config_free(c);

	/* Relative paths resolve against the config's directory. */
	c = parse_file("data/kube/full.yaml", "file@local", err, sizeof(err));
	CHECK_MSG(c != NULL, "%s", err);
	if (c)
		CHECK(c->token_file && strcmp(c->token_file, "/cfg/dir/secrets/token") == 0);
	kube_config_free(c);
	c = parse_file("data/kube/full.yaml", "paths@local", err, sizeof(err));
	CHECK_MSG(c != NULL, "%s", err);
	if (c) {
		CHECK(strcmp(c->server, "http://127.0.0.2:8080") == 0);
		CHECK(c->ca_file && strcmp(c->ca_file, "/cfg/dir/ca/ca.crt") == 0);
		CHECK(c->cert_file && strcmp(c->cert_file, "/etc/kube/client.crt") == 0);
		CHECK(c->key_file && strcmp(c->key_file, "/cfg/dir/keys/client.key") == 0);
	}
	kube_config_free(c);
	/* A context without a user: anonymous. */
	c = parse_file("data/kube/full.yaml", "anon@other", err, sizeof(err));
	CHECK_MSG(c != NULL && c->user == NULL && c->token == NULL && c->cert_pem == NULL, "%s", err);
	kube_config_free(c);

	c = parse_file("data/kube/full.yaml", "no-such-context", err, sizeof(err));
	CHECK(c == NULL);
	CHECK_MSG(strstr(err, "contexts") && strstr(err, "no-such-context"), "%s", err);
}

static void expect_error(const char *file, const char *want1, const char *want2)
{
	char err[512], path[256];
	struct kube_config *c;

	snprintf(path, sizeof(path), "data/kube/%s", file);
	c = parse_file(path, NULL, err, sizeof(err));
	CHECK_MSG(c == NULL, "%s parsed", file);
	CHECK_MSG(strstr(err, want1) && (!want2 || strstr(err, want2)), "%s: %s", file, err);
	CHECK_MSG(strchr(err, '\n') == NULL, "%s: multi-line error", file);
	kube_config_free(c);
}

static void test_refusals_and_errors(void)
{
	expect_error("exec.yaml", "user \"aws\" (users[0].user.exec) uses an exec credential plugin", NULL);
	expect_error("auth-provider.yaml", "users[0].user.auth-provider", "auth-provider plugin");
	expect_error("bad-yaml.yaml", "YAML error at line", NULL);
	expect_error("bad-base64.yaml", "clusters[0].cluster.certificate-authority-data: not valid base64", NULL);
	expect_error("no-server.yaml", "clusters[0].cluster.server: missing", NULL);
	expect_error("missing-user.yaml", "users: no entry named \"nobody\"", NULL);
	expect_error("cert-without-key.yaml", "users[0].user", "client-certificate and client-key");
	expect_error("not-a-mapping.yaml", "must be a mapping", NULL);
}

static int parse_str(const char *s, char *err, size_t errlen)
{
	struct kube_config *c = NULL;
	int rc = kubeconfig_parse(s, strlen(s), NULL, NULL, &c, err, errlen);

	kube_config_free(c);
	return rc;
}

static void test_inline_errors(void)
{
	char err[512];
	static const char head[] = "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n";
	char buf[1024];

	CHECK(parse_str("", err, sizeof(err)) < 0 && strstr(err, "empty document"));
	CHECK(parse_str("apiVersion: v1\n", err, sizeof(err)) < 0 && strstr(err, "current-context"));
	snprintf(buf, sizeof(buf), "%sclusters: {k: 1}\n", head);
	CHECK(parse_str(buf, err, sizeof(err)) < 0 && strstr(err, "clusters: must be a list"));
	snprintf(buf, sizeof(buf), "%sclusters: [{name: k, cluster: {server: ftp://x}}]\n", head);
	CHECK(parse_str(buf, err, sizeof(err)) < 0 && strstr(err, "clusters[0].cluster.server: must start with"));
	snprintf(buf, sizeof(buf),
		 "%sclusters: [{name: k, cluster: {server: 'https://k', insecure-skip-tls-verify: maybe}}]\n", head);
	CHECK(parse_str(buf, err, sizeof(err)) < 0 && strstr(err, "insecure-skip-tls-verify: must be true or false"));
	snprintf(buf, sizeof(buf),
		 "%sclusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {token: [a]}}]\n",
		 head);
	CHECK(parse_str(buf, err, sizeof(err)) < 0 && strstr(err, "users[0].user.token: must be a string"));
	/* A secret in a bad field never reaches the error text. */
	snprintf(buf, sizeof(buf),
		 "%sclusters: [{name: k, cluster: {server: 'https://k'}}]\n"
		 "users: [{name: u, user: {client-certificate-data: QUJD, client-key-data: 'topsecret*key'}}]\n",
		 head);
	CHECK(parse_str(buf, err, sizeof(err)) < 0 && strstr(err, "client-key-data: not valid base64"));
	CHECK(strstr(err, "topsecret") == NULL);
	snprintf(buf, sizeof(buf),
		 "%sclusters: [{name: k, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {}}]\n", head);
	CHECK(parse_str(buf, err, sizeof(err)) == 0);
	/* Over the size cap. */
	{
		struct kube_config *c = NULL;
		char *big = calloc(1, KUBECONFIG_MAX_BYTES + 2);

		memset(big, ' ', KUBECONFIG_MAX_BYTES + 1);
		CHECK(kubeconfig_parse(big, KUBECONFIG_MAX_BYTES + 1, NULL, NULL, &c, err, sizeof(err)) < 0);
		CHECK(strstr(err, "larger than") != NULL && c == NULL);
		free(big);
	}
}

/* Every prefix parses or fails cleanly; a failure has a message without secrets. */
static void test_truncations(void)
{
	size_t len, i;
	char *data = test_slurp("data/kube/full.yaml", &len);
	char err[512];
	int ok = 0, failed = 0, bad = 0;

	CHECK(data != NULL);
	if (!data)
		return;
	for (i = 0; i <= len; i++) {
		struct kube_config *c = NULL;
		char *copy = malloc(i ? i : 1); /* exact size: ASan sees any overread */

		memcpy(copy, data, i);
		err[0] = '\0';
		if (kubeconfig_parse(copy, i, NULL, NULL, &c, err, sizeof(err)) == 0) {
			ok++;
			if (!c || !c->server)
				bad++;
		} else {
			failed++;
			if (!err[0] || c || strstr(err, "secretkey") || strstr(err, "abc.def"))
				bad++;
		}
		kube_config_free(c);
		free(copy);
	}
	CHECK(bad == 0);
	CHECK(ok >= 1 && failed > 100);
	free(data);
}

static void test_base64(void)
{
	char *out;
	size_t n;

	CHECK(kube_base64_decode("aGVsbG8=", 8, &out, &n) == 0 && n == 5 && strcmp(out, "hello") == 0);
	free(out);
	CHECK(kube_base64_decode("aGVsbG8", 7, &out, &n) == 0 && n == 5 && strcmp(out, "hello") == 0);
	free(out);
	CHECK(kube_base64_decode("aGk=", 4, &out, &n) == 0 && n == 2 && strcmp(out, "hi") == 0);
	free(out);
	CHECK(kube_base64_decode("", 0, &out, &n) == 0 && n == 0);
	free(out);
	CHECK(kube_base64_decode("a", 1, &out, &n) < 0 && out == NULL);
	CHECK(kube_base64_decode("aGk*", 4, &out, &n) < 0);
	CHECK(kube_base64_decode("aGl=", 4, &out, &n) < 0); /* non-canonical */
	CHECK(kube_base64_decode("aG k=", 5, &out, &n) < 0);
	CHECK(kube_base64_decode("a===", 4, &out, &n) < 0);
}

static void write_text(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

static void test_in_cluster(void)
{
	char dir[] = "/tmp/kubecfg-test-XXXXXX", path[256], tmp[256], err[512];
	struct kube_config *c = NULL;
	const char *tok = NULL;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(kubeconfig_in_cluster("10.96.0.1", "443", dir, &c, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "ca.crt"), "%s", err);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	write_text(path, "-----BEGIN CERTIFICATE-----\n");
	CHECK(kubeconfig_in_cluster("10.96.0.1", "443", dir, &c, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "/token"), "%s", err);
	snprintf(path, sizeof(path), "%s/token", dir);
	write_text(path, "tok-one\n");
	snprintf(path, sizeof(path), "%s/namespace", dir);
	write_text(path, "autoshard-system\n");
	CHECK(kubeconfig_in_cluster(NULL, "443", dir, &c, err, sizeof(err)) < 0 || getenv("KUBERNETES_SERVICE_HOST"));
	kube_config_free(c);
	c = NULL;
	CHECK(kubeconfig_in_cluster("10.96.0.1", "44x", dir, &c, err, sizeof(err)) < 0);
	CHECK(kubeconfig_in_cluster("fd00::1", "443", dir, &c, err, sizeof(err)) == 0);
	if (c) {
		CHECK(strcmp(c->server, "https://[fd00::1]:443") == 0);
		kube_config_free(c);
		c = NULL;
	}
	CHECK_MSG(kubeconfig_in_cluster("10.96.0.1", "443", dir, &c, err, sizeof(err)) == 0, "%s", err);
	if (!c)
		goto out;
	CHECK(strcmp(c->server, "https://10.96.0.1:443") == 0);
	CHECK(strcmp(c->namespace, "autoshard-system") == 0);
	CHECK(c->ca_file && strstr(c->ca_file, "/ca.crt"));
	CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "tok-one") == 0);

	/* Rotation the kubelet's way: a new file renamed over the old one. */
	snprintf(tmp, sizeof(tmp), "%s/token.new", dir);
	snprintf(path, sizeof(path), "%s/token", dir);
	write_text(tmp, "tok-two-longer\n");
	CHECK(rename(tmp, path) == 0);
	CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "tok-two-longer") == 0);
	/* Unchanged file: same token, no re-read needed. */
	CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "tok-two-longer") == 0);
	/* The file vanishes: the last good token is kept. */
	CHECK(unlink(path) == 0);
	CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "tok-two-longer") == 0);
	/* And comes back, rewritten in place. */
	write_text(path, "tok-3\n");
	CHECK(kube_config_token(c, &tok, err, sizeof(err)) == 0 && tok && strcmp(tok, "tok-3") == 0);
out:
	kube_config_free(c);
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/namespace", dir);
	unlink(path);
	rmdir(dir);
}

static void test_load_file(void)
{
	struct kube_config *c = NULL;
	char err[512];

	CHECK(kubeconfig_load("data/kube/full.yaml", "paths@local", &c, err, sizeof(err)) == 0);
	if (c)
		CHECK_MSG(strcmp(c->ca_file, "data/kube/ca/ca.crt") == 0, "%s", c->ca_file);
	kube_config_free(c);
	c = NULL;
	CHECK(kubeconfig_load("data/kube/exec.yaml", NULL, &c, err, sizeof(err)) < 0);
	CHECK_MSG(strncmp(err, "kubeconfig data/kube/exec.yaml: user \"aws\"", 42) == 0, "%s", err);
	CHECK(kubeconfig_load("data/kube/does-not-exist.yaml", NULL, &c, err, sizeof(err)) < 0);
	CHECK(strstr(err, "does-not-exist.yaml") && strstr(err, "No such file"));
	kube_config_free(NULL);
}

int main(void)
{
	test_full();
	test_refusals_and_errors();
	test_inline_errors();
	test_truncations();
	test_base64();
	test_in_cluster();
	test_load_file();
	return TEST_DONE();
}
