/* Upsun sources: /run/peers.json (upsun_peers_parse) and
 * PLATFORM_RELATIONSHIPS (upsun_relationship_members, given the input as
 * base64 the way the variable holds it), plus upsun_base64_decode. App and
 * port come from the input length so seeds are plain JSON. On success: the
 * member invariants (IP literals in canonical form, label = IP, the asked
 * port, no address twice), and peers.json written back from the members
 * (with another app's entries mixed in) parses to the same list. Decoded
 * base64 encodes and decodes back to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "upsun/upsun_source.h"

static void put(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = realloc(*buf, *cap);
		FUZZ_CHECK(*buf != NULL, "out of memory");
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

/* The app of the first "<app>.<N>" key, when valid: most inputs then
 * name the app asked for; else def. */
static const char *app_from_input(const uint8_t *data, size_t size, const char *def)
{
	static char app[UPSUN_APP_NAME_MAX + 1];
	const uint8_t *q = memchr(data, '"', size), *dot;

	if (!q || !(dot = memchr(q + 1, '.', size - (size_t)(q + 1 - data))) || dot - q - 1 > UPSUN_APP_NAME_MAX)
		return def;
	memcpy(app, q + 1, (size_t)(dot - q - 1));
	app[dot - q - 1] = '\0';
	return upsun_app_name_valid(app) ? app : def;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const apps[] = {"valkey", "app", "cache-1"};
	const char *app = app_from_input(data, size, apps[size % 3]);
	int port = (size / 3) % 2 ? 0 : 7000, want = port ? port : UPSUN_DEFAULT_PORT;
	struct member_list l, l2;
	char err[256], *b64, *dec = NULL, *dec2 = NULL, *b64b;
	size_t declen, declen2;

	err[0] = '\0';
	if (upsun_peers_parse((const char *)data, size, app, port, &l, err, sizeof(err)) == 0) {
		char *json = NULL, item[IP_MAX + 96];
		size_t len = 0, cap = 0;

		fuzz_check_members(&l, 1, want);
		/* another app's entry first; never the asked app's own name */
		put(&json, &len, &cap,
		    strcmp(app, "zz-other") ? "{\"zz-other.0\": \"192.0.2.1\"" : "{\"zz-another.0\": \"192.0.2.1\"");
		for (size_t i = 0; i < l.n; i++) {
			snprintf(item, sizeof(item), ", \"%s.%zu\": \"%s\"", app, i, l.v[i].addr.host);
			put(&json, &len, &cap, item);
		}
		put(&json, &len, &cap, "}\n");
		FUZZ_CHECK(upsun_peers_parse(json, len, app, port, &l2, err, sizeof(err)) == 0,
			   "peers.json written back does not parse: %s", err);
		fuzz_check_members_equal(&l, &l2);
		member_list_free(&l2);
		member_list_free(&l);
		free(json);
	} else {
		fuzz_check_err(err, sizeof(err));
		FUZZ_CHECK(l.n == 0 && l.v == NULL, "failed parse left members");
	}

	if (size == 0)
		return 0; /* "" is not valid base64 (documented) */
	b64 = fuzz_base64(data, size);
	if (upsun_relationship_members(b64, app, port, &l, err, sizeof(err)) == 0) {
		fuzz_check_members(&l, 0, want);
		member_list_free(&l);
	} else {
		fuzz_check_err(err, sizeof(err));
	}
	/* the relationship JSON decodes back to the input */
	FUZZ_CHECK(upsun_base64_decode(b64, strlen(b64), &dec, &declen, err, sizeof(err)) == 0 && declen == size &&
			   (size == 0 || memcmp(dec, data, size) == 0),
		   "base64 of the input does not decode to it: %s", err);
	free(dec);
	free(b64);

	/* the raw input as base64 text */
	if (upsun_base64_decode((const char *)data, size, &dec, &declen, err, sizeof(err)) == 0) {
		FUZZ_CHECK(dec[declen] == '\0', "decoded text not terminated");
		b64b = fuzz_base64((const unsigned char *)dec, declen);
		FUZZ_CHECK(upsun_base64_decode(b64b, strlen(b64b), &dec2, &declen2, err, sizeof(err)) == 0 &&
				   declen2 == declen && memcmp(dec, dec2, declen) == 0,
			   "base64 round trip differs");
		free(dec2);
		free(b64b);
		free(dec);
	}
	return 0;
}
