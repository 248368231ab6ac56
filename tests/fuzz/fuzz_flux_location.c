/* Flux location API answer (flux_location_parse). App and port come from
 * the input length so seeds are plain JSON. On success: the member
 * invariants (IP literals in canonical form, label = IP, the asked port, no
 * address twice), members sorted by address (IPv4 first, then by bytes), and
 * an answer written back from the members (IPv6 as "[v6]:apiport", IPv4
 * with ":apiport", names in another case, entries reversed and doubled)
 * parses to the same list. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flux/flux_source.h"
#include "fuzz_common.h"

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

/* family rank and bytes of an IP literal, for the sort order check */
static void ip_key(const char *s, unsigned char *key)
{
	memset(key, 0, 17);
	if (inet_pton(AF_INET, s, key + 1) == 1) {
		key[0] = 4;
		return;
	}
	key[0] = 6;
	FUZZ_CHECK(inet_pton(AF_INET6, s, key + 1) == 1, "'%s' is not an IP literal", s);
}

/* The first "name":"<app>" value, when valid: most inputs then name the
 * app asked for; else def. */
static const char *app_from_input(const uint8_t *data, size_t size, const char *def)
{
	static char app[FLUX_APP_NAME_MAX + 1];
	static const char key[] = "\"name\":\"";
	const uint8_t *p = memmem(data, size, key, sizeof(key) - 1), *end;

	if (!p)
		return def;
	p += sizeof(key) - 1;
	end = memchr(p, '"', size - (size_t)(p - data));
	if (!end || end - p > FLUX_APP_NAME_MAX)
		return def;
	memcpy(app, p, (size_t)(end - p));
	app[end - p] = '\0';
	return flux_app_name_valid(app) ? app : def;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const apps[] = {"valkey", "myapp", "cache-1"};
	const char *app = app_from_input(data, size, apps[size % 3]);
	int port = (size / 3) % 2 ? 0 : 7000, want = port ? port : FLUX_DEFAULT_PORT;
	struct member_list l, l2;
	char err[256], *json = NULL, item[IP_MAX + 128];
	size_t len = 0, cap = 0, n;
	unsigned char prev[17], cur[17];
	char upper[FLUX_APP_NAME_MAX + 1];

	err[0] = '\0';
	if (flux_location_parse((const char *)data, size, app, port, &l, err, sizeof(err)) != 0) {
		fuzz_check_err(err, sizeof(err));
		FUZZ_CHECK(l.n == 0 && l.v == NULL, "failed parse left members");
		return 0;
	}
	fuzz_check_members(&l, 1, want);
	for (size_t i = 0; i < l.n; i++) {
		ip_key(l.v[i].addr.host, cur);
		if (i)
			FUZZ_CHECK(memcmp(prev, cur, 17) < 0, "members %zu and %zu not in address order", i - 1, i);
		memcpy(prev, cur, 17);
	}
	for (n = 0; n < FLUX_APP_NAME_MAX && app[n]; n++)
		upper[n] = (char)(app[n] >= 'a' && app[n] <= 'z' ? app[n] - 32 : app[n]);
	upper[n] = '\0';
	put(&json, &len, &cap, "{\"status\":\"success\",\"data\":[");
	for (size_t k = 0; k < 2 * l.n; k++) {
		const char *ip = l.v[l.n - 1 - k % l.n].addr.host;
		int v6 = strchr(ip, ':') != NULL;
		snprintf(item, sizeof(item), "%s{\"name\":\"%s\",\"ip\":\"%s%s%s%s\",\"hash\":\"x\",\"expireAt\":1}",
			 k ? "," : "", upper, v6 ? "[" : "", ip, v6 ? "]" : "", k % 2 ? ":16137" : "");
		put(&json, &len, &cap, item);
	}
	put(&json, &len, &cap, "]}");
	FUZZ_CHECK(flux_location_parse(json, len, app, port, &l2, err, sizeof(err)) == 0,
		   "answer written back does not parse: %s", err);
	fuzz_check_members_equal(&l, &l2);
	member_list_free(&l2);
	member_list_free(&l);
	free(json);
	return 0;
}
