/* kubeconfig YAML (kubeconfig_parse, libyaml) with a base directory, and the
 * current context or a named one (from the input length). On success: a
 * server URL with a scheme and no trailing '/', names and namespace set,
 * file paths made absolute, decoded PEM data terminated at its length, a
 * token file winning over no token; on failure a one-line message that
 * quotes no secret (no token or client key value from the input).
 * kube_base64_decode is checked by a round trip. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kubernetes/kubeconfig.h"

/* Abort if a message quotes the value of a "token:" or "client-key-data:"
 * line. Each such value is overwritten with a run of one letter found
 * nowhere in the input ('Q's, say) in a copy, which is parsed again: the
 * run must not reach the message. (Comparing text
 * instead would flag a value that happens to read like the message's own
 * words, or like a name the message rightly quotes.) */
static void check_no_secret(const uint8_t *data, size_t size, const char *context)
{
	/* YAML "key: value" (a ':' glued to the next word is part of a scalar) */
	static const char *const keys[] = {"token: ", "client-key-data: "};
	char qs[64];

	for (size_t k = 0; k < 2; k++) {
		size_t kl = strlen(keys[k]);
		for (size_t i = 0; i + kl < size; i++) {
			struct kube_config *c = NULL;
			char err[256];
			size_t s, e;
			char *copy;

			size_t b = i;

			if (memcmp(data + i, keys[k], kl) != 0)
				continue;
			/* a key starts its line (after indentation or "- "); the
			 * same words inside a scalar (a name) are no secret */
			while (b > 0 && (data[b - 1] == ' ' || data[b - 1] == '-'))
				b--;
			if (b > 0 && data[b - 1] != '\n')
				continue;
			for (s = i + kl; s < size && (data[s] == ' ' || data[s] == '"'); s++)
				;
			for (e = s; e < size && data[e] != '\n' && data[e] != '"' && data[e] != ' '; e++)
				;
			if (e - s < 12 || e - s >= sizeof(qs))
				continue; /* short values can appear in a message by chance */
			for (size_t j = s; j < e; j++)
				if (data[j] <= 0x20 || data[j] >= 0x7f || data[j] == ':')
					e = s; /* not a printable token: skip it */
			if (e == s)
				continue;
			/* a run of one letter the input does not hold anywhere */
			const char *letters = "QZXJKVWY";
			for (; *letters; letters++) {
				memset(qs, *letters, e - s);
				qs[e - s] = '\0';
				if (!memmem(data, size, qs, e - s))
					break;
			}
			if (!*letters)
				continue;
			copy = malloc(size);
			FUZZ_CHECK(copy != NULL, "out of memory");
			memcpy(copy, data, size);
			memcpy(copy + s, qs, e - s);
			err[0] = '\0';
			if (kubeconfig_parse(copy, size, "/etc/autoshard", context, &c, err, sizeof(err)) != 0)
				FUZZ_CHECK(!strstr(err, qs), "error message quotes the secret of '%s': %s", keys[k],
					   err);
			kube_config_free(c);
			free(copy);
		}
	}
}

static void check_path(const char *p, const char *what)
{
	FUZZ_CHECK(!p || p[0] == '/', "%s '%s' not absolute with a base directory", what, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_config *c = NULL;
	const char *context = size % 2 ? "fuzz" : NULL;
	char err[256], *dec = NULL;
	size_t n;

	err[0] = '\0';
	if (kubeconfig_parse((const char *)data, size, "/etc/autoshard", context, &c, err, sizeof(err)) != 0) {
		FUZZ_CHECK(c == NULL, "failed parse left a config");
		fuzz_check_err(err, sizeof(err));
		check_no_secret(data, size, context);
	} else {
		FUZZ_CHECK(c != NULL && c->server && c->namespace && c->namespace[0],
			   "config without server/namespace");
		FUZZ_CHECK(strncmp(c->server, "https://", 8) == 0 || strncmp(c->server, "http://", 7) == 0,
			   "server '%s' has no http(s) scheme", c->server);
		n = strlen(c->server);
		FUZZ_CHECK(n && c->server[n - 1] != '/', "server '%s' ends with '/'", c->server);
		FUZZ_CHECK(!context || (c->context && strcmp(c->context, context) == 0), "not the asked context");
		check_path(c->ca_file, "certificate-authority");
		check_path(c->cert_file, "client-certificate");
		check_path(c->key_file, "client-key");
		check_path(c->token_file, "tokenFile");
		FUZZ_CHECK(!c->ca_pem || c->ca_pem[c->ca_pem_len] == '\0', "CA data not terminated");
		FUZZ_CHECK(!c->cert_pem || c->cert_pem[c->cert_pem_len] == '\0', "cert data not terminated");
		FUZZ_CHECK(!c->key_pem || c->key_pem[c->key_pem_len] == '\0', "key data not terminated");
		kube_config_free(c);
	}

	/* the input as base64: decoded bytes encode and decode back */
	if (kube_base64_decode((const char *)data, size, &dec, &n) == 0) {
		char *enc = fuzz_base64((const unsigned char *)dec, n), *dec2 = NULL;
		size_t n2;
		FUZZ_CHECK(dec[n] == '\0', "decoded text not terminated");
		FUZZ_CHECK(kube_base64_decode(enc, strlen(enc), &dec2, &n2) == 0 && n2 == n &&
				   memcmp(dec, dec2, n) == 0,
			   "base64 round trip differs");
		free(enc);
		free(dec2);
		free(dec);
	}
	return 0;
}
