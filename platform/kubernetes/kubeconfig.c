/* kubeconfig parsing (libyaml document loader) and the in-cluster service
 * account. See kubeconfig.h. */
#include "kubernetes/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util.h"

#define FIELD_MAX 160

/* ---- base64 ---- */

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int kube_base64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
	unsigned char *buf = NULL;
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	while (pad < 2 && len > 0 && in[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad && (len + pad) % 4 != 0))
		goto fail;
	buf = malloc(len / 4 * 3 + 3 + 1);
	if (!buf)
		goto fail;
	for (i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			goto fail;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		goto fail;
	buf[o] = '\0';
	*out = (char *)buf;
	*outlen = o;
	return 0;
fail:
	free(buf);
	return -1;
}

/* ---- helpers ---- */

static void free_secret(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len);
	free(s);
}

void kube_config_free(struct kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->context);
	free(cfg->cluster);
	free(cfg->user);
	free(cfg->namespace);
	free(cfg->ca_file);
	free(cfg->ca_pem);
	free(cfg->tls_server_name);
	free(cfg->cert_file);
	free(cfg->cert_pem);
	free(cfg->key_file);
	free_secret(cfg->key_pem, cfg->key_pem_len);
	if (cfg->token)
		free_secret(cfg->token, strlen(cfg->token));
	free(cfg->token_file);
	free(cfg);
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* base_dir + "/" + path unless path is absolute or base_dir is NULL. */
static char *resolve_path(const char *base_dir, const char *path)
{
	size_t n;
	char *p;

	if (path[0] == '/' || !base_dir || !*base_dir)
		return strdup(path);
	n = strlen(base_dir) + strlen(path) + 2;
	p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", base_dir, path);
	return p;
}

/* ---- YAML document navigation ---- */

struct kc_parse {
	yaml_document_t *doc;
	const char *base_dir;
	char *err;
	size_t errlen;
};

/* The value under key in a mapping node, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* A null node: absent, "~", "null" or empty plain scalar. */
static int is_null(const yaml_node_t *n)
{
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return n->data.scalar.length == 0 || (n->data.scalar.length == 1 && n->data.scalar.value[0] == '~') ||
	       (n->data.scalar.length == 4 && memcmp(n->data.scalar.value, "null", 4) == 0);
}

/* A string field: *out = copy or NULL when absent/null. -1 with err. */
static int get_string(struct kc_parse *p, yaml_node_t *map, const char *key, const char *where, char **out)
{
	yaml_node_t *n = map_get(p->doc, map, key);

	*out = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return seterr(p->err, p->errlen, "kubeconfig: %s.%s: must be a string", where, key);
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return seterr(p->err, p->errlen, "kubeconfig: %s.%s: contains a NUL byte", where, key);
	*out = xstrndup((const char *)n->data.scalar.value, n->data.scalar.length);
	if (!*out)
		return seterr(p->err, p->errlen, "kubeconfig: out of memory");
	return 0;
}

static int get_bool(struct kc_parse *p, yaml_node_t *map, const char *key, const char *where, int *out)
{
	yaml_node_t *n = map_get(p->doc, map, key);
	const char *v;
	size_t l;

	*out = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	v = (const char *)n->data.scalar.value;
	l = n->data.scalar.length;
	if ((l == 4 && strncasecmp(v, "true", 4) == 0)) {
		*out = 1;
		return 0;
	}
	if (l == 5 && strncasecmp(v, "false", 5) == 0)
		return 0;
bad:
	return seterr(p->err, p->errlen, "kubeconfig: %s.%s: must be true or false", where, key);
}

/* A *-data field: base64 decoded into *out (NULL when absent). */
static int get_data(struct kc_parse *p, yaml_node_t *map, const char *key, const char *where, char **out,
		    size_t *outlen)
{
	char *s = NULL;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (get_string(p, map, key, where, &s) < 0)
		goto done;
	if (s && kube_base64_decode(s, strlen(s), out, outlen) < 0) {
		seterr(p->err, p->errlen, "kubeconfig: %s.%s: not valid base64", where, key);
		goto done;
	}
	if (s && *outlen == 0) {
		seterr(p->err, p->errlen, "kubeconfig: %s.%s: empty", where, key);
		free(*out);
		*out = NULL;
		goto done;
	}
	rc = 0;
done:
	if (s)
		free_secret(s, strlen(s));
	return rc;
}

static int get_path(struct kc_parse *p, yaml_node_t *map, const char *key, const char *where, char **out)
{
	char *s = NULL;

	if (get_string(p, map, key, where, out) < 0)
		return -1;
	if (!*out)
		return 0;
	if (!**out) {
		free(*out);
		*out = NULL;
		return 0;
	}
	s = resolve_path(p->base_dir, *out);
	free(*out);
	*out = s;
	if (!s)
		return seterr(p->err, p->errlen, "kubeconfig: out of memory");
	return 0;
}

/* In the named list (clusters, contexts, users) find the entry called name and
 * return its inner mapping (under inner_key). where receives "list[i].inner". */
static yaml_node_t *find_named(struct kc_parse *p, yaml_node_t *root, const char *list, const char *inner_key,
			       const char *name, char *where, size_t wlen)
{
	yaml_node_t *seq = map_get(p->doc, root, list), *inner;
	yaml_node_item_t *it;
	int i = 0;

	if (is_null(seq)) {
		char shown[128]; /* the name comes from the file: one printable line */

		seterr(p->err, p->errlen, "kubeconfig: %s: missing (looking for \"%s\")", list,
		       printable(shown, sizeof(shown), name, strlen(name)));
		return NULL;
	}
	if (seq->type != YAML_SEQUENCE_NODE) {
		seterr(p->err, p->errlen, "kubeconfig: %s: must be a list", list);
		return NULL;
	}
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(p->doc, *it), *nm;

		if (!e || e->type != YAML_MAPPING_NODE) {
			seterr(p->err, p->errlen, "kubeconfig: %s[%d]: must be a mapping", list, i);
			return NULL;
		}
		nm = map_get(p->doc, e, "name");
		if (!nm || nm->type != YAML_SCALAR_NODE) {
			seterr(p->err, p->errlen, "kubeconfig: %s[%d].name: missing or not a string", list, i);
			return NULL;
		}
		if (nm->data.scalar.length != strlen(name) || memcmp(nm->data.scalar.value, name, strlen(name)) != 0)
			continue;
		snprintf(where, wlen, "%s[%d].%s", list, i, inner_key);
		inner = map_get(p->doc, e, inner_key);
		if (is_null(inner) && strcmp(inner_key, "user") == 0) {
			static yaml_node_t empty; /* a user with no credentials */

			empty.type = YAML_MAPPING_NODE;
			return &empty;
		}
		if (!inner || inner->type != YAML_MAPPING_NODE) {
			seterr(p->err, p->errlen, "kubeconfig: %s: missing or not a mapping", where);
			return NULL;
		}
		return inner;
	}
	{
		char shown[128]; /* the name comes from the file: one printable line */

		seterr(p->err, p->errlen, "kubeconfig: %s: no entry named \"%s\"", list,
		       printable(shown, sizeof(shown), name, strlen(name)));
	}
	return NULL;
}

static int parse_cluster(struct kc_parse *p, yaml_node_t *cl, const char *where, struct kube_config *c)
{
	size_t n;

	if (get_string(p, cl, "server", where, &c->server) < 0)
		return -1;
	if (!c->server || !*c->server)
		return seterr(p->err, p->errlen, "kubeconfig: %s.server: missing", where);
	if (strncmp(c->server, "https://", 8) != 0 && strncmp(c->server, "http://", 7) != 0)
		return seterr(p->err, p->errlen, "kubeconfig: %s.server: must start with https:// or http://", where);
	if (strpbrk(c->server, " \t\r\n?#"))
		return seterr(p->err, p->errlen, "kubeconfig: %s.server: not a plain URL", where);
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	if (n <= (size_t)(strncmp(c->server, "https://", 8) == 0 ? 8 : 7))
		return seterr(p->err, p->errlen, "kubeconfig: %s.server: no host in the URL", where);
	if (get_path(p, cl, "certificate-authority", where, &c->ca_file) < 0 ||
	    get_data(p, cl, "certificate-authority-data", where, &c->ca_pem, &c->ca_pem_len) < 0 ||
	    get_bool(p, cl, "insecure-skip-tls-verify", where, &c->insecure_skip_tls_verify) < 0 ||
	    get_string(p, cl, "tls-server-name", where, &c->tls_server_name) < 0)
		return -1;
	if (map_get(p->doc, cl, "proxy-url") && !is_null(map_get(p->doc, cl, "proxy-url")))
		return seterr(p->err, p->errlen, "kubeconfig: %s.proxy-url: proxies are not supported", where);
	return 0;
}

static int parse_user(struct kc_parse *p, yaml_node_t *u, const char *where, struct kube_config *c)
{
	static const char *const refused[][2] = {
		{"exec", "an exec credential plugin"},
		{"auth-provider", "an auth-provider plugin"},
		{"username", "basic authentication"},
		{"password", "basic authentication"},
		{"as", "impersonation"},
	};
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!is_null(map_get(p->doc, u, refused[i][0])))
			return seterr(p->err, p->errlen,
				      "kubeconfig: user \"%s\" (%s.%s) uses %s; autoshard supports client "
				      "certificates and bearer tokens only",
				      c->user, where, refused[i][0], refused[i][1]);
	if (get_path(p, u, "client-certificate", where, &c->cert_file) < 0 ||
	    get_data(p, u, "client-certificate-data", where, &c->cert_pem, &c->cert_pem_len) < 0 ||
	    get_path(p, u, "client-key", where, &c->key_file) < 0 ||
	    get_data(p, u, "client-key-data", where, &c->key_pem, &c->key_pem_len) < 0 ||
	    get_string(p, u, "token", where, &c->token) < 0 || get_path(p, u, "tokenFile", where, &c->token_file) < 0)
		return -1;
	if (c->token && (!*c->token || strpbrk(c->token, "\r\n"))) {
		return seterr(p->err, p->errlen, "kubeconfig: %s.token: empty or contains a line break", where);
	}
	if (!!(c->cert_file || c->cert_pem) != !!(c->key_file || c->key_pem))
		return seterr(p->err, p->errlen,
			      "kubeconfig: %s: client-certificate and client-key must be given together", where);
	return 0;
}

static void yaml_error(const yaml_parser_t *parser, char *err, size_t errlen)
{
	seterr(err, errlen, "kubeconfig: YAML error at line %zu column %zu: %s", parser->problem_mark.line + 1,
	       parser->problem_mark.column + 1, parser->problem ? parser->problem : "malformed");
}

int kubeconfig_parse(const char *data, size_t len, const char *base_dir, const char *context, struct kube_config **out,
		     char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct kc_parse p;
	struct kube_config *c = NULL;
	yaml_node_t *root, *ctx, *cl, *u;
	char where[FIELD_MAX], *cur = NULL, *ctxname = NULL;
	int parser_ok = 0, doc_ok = 0, rc = -1;

	*out = NULL;
	if (len > KUBECONFIG_MAX_BYTES) {
		seterr(err, errlen, "kubeconfig: larger than %d bytes", KUBECONFIG_MAX_BYTES);
		goto fail;
	}
	if (!yaml_parser_initialize(&parser)) {
		seterr(err, errlen, "kubeconfig: out of memory");
		goto fail;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_error(&parser, err, errlen);
		goto fail;
	}
	doc_ok = 1;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		seterr(err, errlen, "kubeconfig: empty document");
		goto fail;
	}
	if (root->type != YAML_MAPPING_NODE) {
		seterr(err, errlen, "kubeconfig: the document must be a mapping");
		goto fail;
	}
	memset(&p, 0, sizeof(p));
	p.doc = &doc;
	p.base_dir = base_dir;
	p.err = err;
	p.errlen = errlen;
	if (!(c = calloc(1, sizeof(*c)))) {
		seterr(err, errlen, "kubeconfig: out of memory");
		goto fail;
	}
	if (context) {
		if (!(ctxname = strdup(context)))
			goto oom;
	} else {
		if (get_string(&p, root, "current-context", "(top)", &cur) < 0)
			goto fail;
		if (!cur || !*cur) {
			seterr(err, errlen, "kubeconfig: current-context: not set and no context was chosen");
			goto fail;
		}
		ctxname = cur;
		cur = NULL;
	}
	c->context = ctxname;
	ctxname = NULL;
	if (!(ctx = find_named(&p, root, "contexts", "context", c->context, where, sizeof(where))))
		goto fail;
	if (get_string(&p, ctx, "cluster", where, &c->cluster) < 0 ||
	    get_string(&p, ctx, "user", where, &c->user) < 0 ||
	    get_string(&p, ctx, "namespace", where, &c->namespace) < 0)
		goto fail;
	if (!c->cluster || !*c->cluster) {
		seterr(err, errlen, "kubeconfig: %s.cluster: missing", where);
		goto fail;
	}
	if (!c->namespace || !*c->namespace) {
		free(c->namespace);
		if (!(c->namespace = strdup("default")))
			goto oom;
	}
	if (!(cl = find_named(&p, root, "clusters", "cluster", c->cluster, where, sizeof(where))) ||
	    parse_cluster(&p, cl, where, c) < 0)
		goto fail;
	if (c->user && *c->user) {
		if (!(u = find_named(&p, root, "users", "user", c->user, where, sizeof(where))) ||
		    parse_user(&p, u, where, c) < 0)
			goto fail;
	}
	*out = c;
	c = NULL;
	rc = 0;
	goto fail;
oom:
	seterr(err, errlen, "kubeconfig: out of memory");
fail:
	free(cur);
	free(ctxname);
	kube_config_free(c);
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	return rc;
}

/* ---- files ---- */

/* Read a whole file of at most max bytes. Caller frees *out (NUL-terminated). */
static int read_file_capped(const char *path, size_t max, char **out, size_t *outlen, char *err, size_t errlen,
			    const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;
	ssize_t n;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, errlen, "%s %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if (!(buf = malloc(max + 2))) {
		seterr(err, errlen, "%s %s: out of memory", what, path);
		goto fail;
	}
	while ((n = read(fd, buf + len, max + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > max)
			break;
	}
	if (n < 0) {
		seterr(err, errlen, "%s %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if (len > max) {
		seterr(err, errlen, "%s %s: larger than %zu bytes", what, path, max);
		goto fail;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
fail:
	if (buf)
		free_secret(buf, max + 2);
	if (fd >= 0)
		close(fd);
	return rc;
}

int kubeconfig_load(const char *path, const char *context, struct kube_config **out, char *err, size_t errlen)
{
	char *data = NULL, *dir = NULL, *slash;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	if (read_file_capped(path, KUBECONFIG_MAX_BYTES, &data, &len, err, errlen, "kubeconfig") < 0)
		goto fail;
	if (!(dir = strdup(path))) {
		seterr(err, errlen, "kubeconfig: out of memory");
		goto fail;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (kubeconfig_parse(data, len, dir, context, out, err, errlen) < 0) {
		/* Name the file: "kubeconfig /x/config: users[0]..." */
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err ? err : "");
		if (err && errlen && strncmp(tmp, "kubeconfig: ", 12) == 0)
			seterr(err, errlen, "kubeconfig %s: %s", path, tmp + 12);
		goto fail;
	}
	rc = 0;
fail:
	if (data)
		free_secret(data, len);
	free(dir);
	return rc;
}

/* First line of a small file, trailing whitespace removed. */
static int read_first_line(const char *path, size_t max, char **out, char *err, size_t errlen, const char *what)
{
	size_t len = 0;
	char *s = NULL;

	if (read_file_capped(path, max, &s, &len, err, errlen, what) < 0)
		return -1;
	len = strcspn(s, "\r\n");
	s[len] = '\0';
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	*out = s;
	return 0;
}

int kube_config_token(struct kube_config *cfg, const char **token, char *err, size_t errlen)
{
	struct stat st;
	char *fresh = NULL;
	char lerr[256];

	*token = NULL;
	if (!cfg->token_file) {
		*token = cfg->token;
		return 0;
	}
	if (stat(cfg->token_file, &st) < 0) {
		seterr(lerr, sizeof(lerr), "token file %s: %s", cfg->token_file, strerror(errno));
		goto keep;
	}
	if (cfg->token_loaded && st.st_dev == cfg->token_dev && st.st_ino == cfg->token_ino &&
	    st.st_size == cfg->token_size && st.st_mtim.tv_sec == cfg->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == cfg->token_mtime.tv_nsec) {
		*token = cfg->token;
		return 0;
	}
	if (read_first_line(cfg->token_file, KUBE_TOKEN_MAX_BYTES, &fresh, lerr, sizeof(lerr), "token file") < 0)
		goto keep;
	if (!*fresh) {
		seterr(lerr, sizeof(lerr), "token file %s: empty", cfg->token_file);
		free(fresh);
		goto keep;
	}
	if (cfg->token)
		free_secret(cfg->token, strlen(cfg->token));
	cfg->token = fresh;
	cfg->token_dev = st.st_dev;
	cfg->token_ino = st.st_ino;
	cfg->token_size = st.st_size;
	cfg->token_mtime = st.st_mtim;
	cfg->token_loaded = 1;
	*token = cfg->token;
	return 0;
keep:
	/* Keep using the last good token through a failed re-read. */
	if (cfg->token_loaded && cfg->token) {
		*token = cfg->token;
		return 0;
	}
	return seterr(err, errlen, "%s", lerr);
}

int kubeconfig_in_cluster(const char *host, const char *port, const char *sa_dir, struct kube_config **out, char *err,
			  size_t errlen)
{
	struct kube_config *c = NULL;
	char path[4096];
	const char *tok;
	long long portnum;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (!host)
		host = getenv("KUBERNETES_SERVICE_HOST");
	if (!port)
		port = getenv("KUBERNETES_SERVICE_PORT");
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR_DEFAULT;
	if (!host || !*host || !port || !*port) {
		seterr(err, errlen,
		       "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
		goto fail;
	}
	if (parse_int(port, 1, 65535, &portnum) < 0 || strpbrk(host, "/?#@ \t\r\n")) {
		seterr(err, errlen, "in-cluster config: bad KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT");
		goto fail;
	}
	if (!(c = calloc(1, sizeof(*c))))
		goto oom;
	n = strlen(host) + 32;
	if (!(c->server = malloc(n)))
		goto oom;
	if (strchr(host, ':'))
		snprintf(c->server, n, "https://[%s]:%lld", host, portnum);
	else
		snprintf(c->server, n, "https://%s:%lld", host, portnum);
	if (!(c->context = strdup("in-cluster")) || !(c->cluster = strdup("in-cluster")) ||
	    !(c->user = strdup("serviceaccount")))
		goto oom;
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if (access(path, R_OK) < 0) {
		seterr(err, errlen, "in-cluster config: %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!(c->ca_file = strdup(path)))
		goto oom;
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (access(path, F_OK) == 0) {
		if (read_first_line(path, 256, &c->namespace, err, errlen, "in-cluster config: namespace file") < 0)
			goto fail;
	}
	if (!c->namespace || !*c->namespace) {
		free(c->namespace);
		if (!(c->namespace = strdup("default")))
			goto oom;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	if (!(c->token_file = strdup(path)))
		goto oom;
	if (kube_config_token(c, &tok, err, errlen) < 0)
		goto fail;
	*out = c;
	c = NULL;
	rc = 0;
	goto fail;
oom:
	seterr(err, errlen, "in-cluster config: out of memory");
fail:
	kube_config_free(c);
	return rc;
}

int kubeconfig_load_default(const char *path, const char *context, struct kube_config **out, char *err, size_t errlen)
{
	const char *env, *home;
	char buf[4096];

	*out = NULL;
	if (path && *path)
		return kubeconfig_load(path, context, out, err, errlen);
	env = getenv("KUBERNETES_SERVICE_HOST");
	if (env && *env)
		return kubeconfig_in_cluster(NULL, NULL, NULL, out, err, errlen);
	env = getenv("KUBECONFIG");
	if (env && *env) {
		if (strchr(env, ':'))
			return seterr(err, errlen,
				      "KUBECONFIG lists several files; autoshard reads one (pass --kubeconfig)");
		return kubeconfig_load(env, context, out, err, errlen);
	}
	home = getenv("HOME");
	if (!home || !*home)
		return seterr(err, errlen, "no kubeconfig: not in a cluster, KUBECONFIG and HOME unset");
	snprintf(buf, sizeof(buf), "%s/.kube/config", home);
	return kubeconfig_load(buf, context, out, err, errlen);
}
