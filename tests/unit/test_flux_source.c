/* Flux location answer parser and URL builder. Samples in data/flux/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flux/flux_source.h"
#include "testlib.h"

#define APP "valkeycluster"

static int one_line(const char *s)
{
	return s[0] != '\0' && strchr(s, '\n') == NULL && strchr(s, '\r') == NULL;
}

static int parse_file(const char *name, const char *app, int port, struct member_list *ml, char *err, size_t errlen)
{
	char path[256];
	size_t len;
	char *buf;
	int rc;

	snprintf(path, sizeof(path), "data/flux/%s", name);
	buf = test_slurp(path, &len);
	if (!buf) {
		memset(ml, 0, sizeof(*ml));
		snprintf(err, errlen, "cannot read %s", path);
		return -2;
	}
	rc = flux_location_parse(buf, len, app, port, ml, err, errlen);
	free(buf);
	return rc;
}

static void expect_error(const char *file, const char *needle)
{
	struct member_list ml;
	char err[256] = "";
	int rc = parse_file(file, APP, 0, &ml, err, sizeof(err));

	CHECK_MSG(rc == -1, "%s: rc %d", file, rc);
	CHECK_MSG(ml.n == 0 && ml.v == NULL, "%s: list not empty on error", file);
	CHECK_MSG(strstr(err, needle) != NULL, "%s: error '%s' lacks '%s'", file, err, needle);
	CHECK_MSG(one_line(err), "%s: error not one line: '%s'", file, err);
	member_list_free(&ml);
}

static void test_good(void)
{
	struct member_list ml, ml2;
	char err[256] = "";

	CHECK(parse_file("location_three.json", APP, 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 3, "n=%zu err=%s", ml.n, err);
	if (ml.n == 3) {
		/* sorted by address, api ports dropped, Valkey port applied */
		CHECK(strcmp(ml.v[0].addr.host, "192.0.2.200") == 0);
		CHECK(strcmp(ml.v[1].addr.host, "198.51.100.7") == 0);
		CHECK(strcmp(ml.v[2].addr.host, "203.0.113.45") == 0);
		CHECK(ml.v[0].addr.port == 6379 && ml.v[2].addr.port == 6379);
		CHECK(strcmp(ml.v[1].host, "198.51.100.7") == 0);
	}
	/* another order of the same instances gives the same list */
	CHECK(parse_file("location_three_reordered.json", APP, 0, &ml2, err, sizeof(err)) == 0);
	CHECK(ml2.n == ml.n);
	for (size_t i = 0; i < ml.n && i < ml2.n; i++)
		CHECK(hostport_eq(&ml.v[i].addr, &ml2.v[i].addr));
	member_list_free(&ml);
	member_list_free(&ml2);

	/* app name matched case-insensitively, as Flux does */
	CHECK(parse_file("location_three.json", "ValkeyCluster", 16379, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 3 && ml.v[0].addr.port == 16379);
	member_list_free(&ml);

	/* the same IP with several api ports is one member; numeric order (2 < 10) */
	CHECK(parse_file("location_dup_ips.json", APP, 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 2, "n=%zu %s", ml.n, err);
	CHECK(ml.n == 2 && strcmp(ml.v[0].addr.host, "192.0.2.2") == 0 && strcmp(ml.v[1].addr.host, "192.0.2.10") == 0);
	member_list_free(&ml);

	/* IPv6, bracketed or bare, canonical; IPv4 sorts first */
	CHECK(parse_file("location_ipv6.json", APP, 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 3, "n=%zu %s", ml.n, err);
	if (ml.n == 3) {
		char b[300];
		CHECK(strcmp(ml.v[0].addr.host, "203.0.113.1") == 0);
		CHECK_MSG(strcmp(ml.v[1].addr.host, "2001:db8::9") == 0, "%s", ml.v[1].addr.host);
		CHECK(strcmp(ml.v[2].addr.host, "2001:db8::10") == 0);
		CHECK(strcmp(hostport_str(&ml.v[2].addr, b, sizeof(b)), "[2001:db8::10]:6379") == 0);
	}
	member_list_free(&ml);
}

static void test_bad(void)
{
	expect_error("location_error.json", "location API answered status 'error': No Flux App name specified");
	expect_error("location_warning.json", "status 'warning': Flux is not yet synced");
	expect_error("location_empty.json", "app 'valkeycluster' has no instance");
	expect_error("location_wrong_app.json", "data[1] is for app 'otherapp', not 'valkeycluster'");
	expect_error("location_bad_port.json", "data[0]: \"192.0.2.1:99999\" is not an IP address");
	expect_error("location_hostname.json", "\"node1.example.com:16127\" is not an IP address");
	expect_error("location_no_ip.json", "data[0] has no \"ip\" string");
	expect_error("location_data_not_list.json", "\"data\" is not a list");
	expect_error("location_not_object.json", "top level is not an object");
	expect_error("location_no_status.json", "no \"status\" string");
	expect_error("location_html.txt", "not valid JSON at line 1");

	{
		struct member_list ml;
		char err[256];
		const char *cases[][2] = {
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1:\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1:0\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1:016127\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"[2001:db8::1]16127\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"[2001:db8::1\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"[192.0.2.1]:1\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"\"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1 \"}]}", "is not an IP"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":7}]}", "has no \"ip\" string"},
			{"{\"status\":\"success\",\"data\":[{\"name\":3,\"ip\":\"192.0.2.1\"}]}", "(not a string)"},
			{"{\"status\":\"success\",\"data\":[7]}", "data[0] is not an object"},
			{"{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1\"}],\"data\":[]}", "duplicate"},
			{"{\"status\":1,\"data\":[]}", "no \"status\" string"},
			{"{\"status\":\"error\",\"data\":\"x\"}", "status 'error'"},
			{"{\"status\":\"err\\u0001or\",\"data\":{\"message\":\"a\\nb\"}}", "status 'err?or': a?b"},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int rc = flux_location_parse(cases[i][0], strlen(cases[i][0]), APP, 0, &ml, err, sizeof(err));
			CHECK_MSG(rc == -1 && strstr(err, cases[i][1]) && one_line(err), "case %zu: rc %d err '%s'", i,
				  rc, err);
			member_list_free(&ml);
		}
		/* an entry without "name" is accepted (the API filtered by name) */
		{
			const char *ok = "{\"status\":\"success\",\"data\":[{\"ip\":\"192.0.2.1\"}]}";
			CHECK(flux_location_parse(ok, strlen(ok), APP, 0, &ml, err, sizeof(err)) == 0 && ml.n == 1);
			member_list_free(&ml);
			CHECK(flux_location_parse(ok, strlen(ok), "-bad", 0, &ml, err, sizeof(err)) == -1 &&
			      strstr(err, "bad app name"));
			CHECK(flux_location_parse(ok, strlen(ok), APP, 65536, &ml, err, sizeof(err)) == -1 &&
			      strstr(err, "bad port"));
			CHECK(flux_location_parse(ok, 0, APP, 0, &ml, err, sizeof(err)) == -1 && strstr(err, "empty"));
			CHECK(flux_location_parse(ok, strlen(ok), APP, 0, &ml, NULL, 0) == 0);
			member_list_free(&ml);
		}
	}
}

static void test_truncated(const char *name)
{
	char path[256];
	size_t len, end;
	char *buf;
	int bad = 0;

	snprintf(path, sizeof(path), "data/flux/%s", name);
	buf = test_slurp(path, &len);
	CHECK(buf != NULL);
	if (!buf)
		return;
	end = len;
	while (end > 0 && buf[end - 1] != '}')
		end--;
	for (size_t k = 0; k <= len; k++) {
		struct member_list ml;
		char err[256] = "";
		char *copy = malloc(k + 2);
		int rc;

		memcpy(copy, buf, k);
		rc = flux_location_parse(copy, k, APP, 0, &ml, err, sizeof(err));
		if (k < end ? (rc != -1 || ml.n != 0 || !one_line(err)) : rc != 0) {
			bad++;
			fprintf(stderr, "%s prefix %zu: rc %d n %zu err '%s'\n", name, k, rc, ml.n, err);
		}
		member_list_free(&ml);
		copy[k] = ']';
		if (flux_location_parse(copy, k + 1, APP, 0, &ml, err, sizeof(err)) != -1) {
			bad++;
			fprintf(stderr, "%s prefix %zu + ']': accepted\n", name, k);
		}
		member_list_free(&ml);
		free(copy);
	}
	CHECK_MSG(bad == 0, "%s: %d bad prefixes", name, bad);
	free(buf);
}

static char *make_answer(size_t count, size_t distinct, size_t *len)
{
	size_t cap = count * 64 + 64, o = 0;
	char *b = malloc(cap);

	o += (size_t)snprintf(b + o, cap - o, "{\"status\":\"success\",\"data\":[");
	for (size_t i = 0; i < count; i++) {
		size_t k = i % distinct;
		o += (size_t)snprintf(b + o, cap - o, "%s{\"name\":\"" APP "\",\"ip\":\"10.%zu.%zu.%zu:16127\"}",
				      i ? "," : "", (k >> 16) & 255, (k >> 8) & 255, k & 255);
	}
	o += (size_t)snprintf(b + o, cap - o, "]}");
	*len = o;
	return b;
}

static void test_huge(void)
{
	struct member_list ml;
	char err[256];
	size_t len;
	char *b;

	b = make_answer(MEMBERS_MAX, MEMBERS_MAX, &len);
	CHECK(flux_location_parse(b, len, APP, 0, &ml, err, sizeof(err)) == 0 && ml.n == MEMBERS_MAX);
	member_list_free(&ml);
	free(b);
	b = make_answer(MEMBERS_MAX + 1, MEMBERS_MAX + 1, &len);
	CHECK(flux_location_parse(b, len, APP, 0, &ml, err, sizeof(err)) == -1 && strstr(err, "more than 1000"));
	free(b);
	/* many entries, few addresses: fine up to the entry cap */
	b = make_answer(FLUX_LOCATION_MAX_ENTRIES, 5, &len);
	CHECK(flux_location_parse(b, len, APP, 0, &ml, err, sizeof(err)) == 0 && ml.n == 5);
	member_list_free(&ml);
	free(b);
	b = make_answer(FLUX_LOCATION_MAX_ENTRIES + 1, 5, &len);
	CHECK(flux_location_parse(b, len, APP, 0, &ml, err, sizeof(err)) == -1 && strstr(err, "entries, more than"));
	free(b);
	/* over the byte cap */
	b = malloc(FLUX_LOCATION_MAX_BYTES + 1);
	memset(b, ' ', FLUX_LOCATION_MAX_BYTES + 1);
	CHECK(flux_location_parse(b, FLUX_LOCATION_MAX_BYTES + 1, APP, 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "more than the 1048576 allowed"));
	free(b);
}

static void test_url(void)
{
	char url[700], err[256];

	CHECK(flux_location_url("https://api.runonflux.io", APP, url, sizeof(url), err, sizeof(err)) == 0 &&
	      strcmp(url, "https://api.runonflux.io/apps/location/valkeycluster") == 0);
	CHECK(flux_location_url("http://127.0.0.1:16127//", APP, url, sizeof(url), err, sizeof(err)) == 0 &&
	      strcmp(url, "http://127.0.0.1:16127/apps/location/valkeycluster") == 0);
	CHECK(flux_location_url(NULL, "a-b", url, sizeof(url), err, sizeof(err)) == 0 &&
	      strcmp(url, FLUX_DEFAULT_API "/apps/location/a-b") == 0);
	CHECK(flux_location_url("ftp://x", APP, url, sizeof(url), err, sizeof(err)) == -1);
	CHECK(flux_location_url("https://x/a b", APP, url, sizeof(url), err, sizeof(err)) == -1);
	CHECK(flux_location_url("https://x/?q=1", APP, url, sizeof(url), err, sizeof(err)) == -1);
	CHECK(flux_location_url("https://x", "a/b", url, sizeof(url), err, sizeof(err)) == -1);
	CHECK(flux_location_url("https://x", "", url, sizeof(url), err, sizeof(err)) == -1);
	CHECK(flux_location_url("https://x", APP, url, 20, err, sizeof(err)) == -1 && strstr(err, "too long"));
	CHECK(flux_app_name_valid("a") && flux_app_name_valid("Valkey-2") && !flux_app_name_valid("a-") &&
	      !flux_app_name_valid("a_b") && !flux_app_name_valid(NULL));
}

int main(void)
{
	test_good();
	test_bad();
	test_truncated("location_three.json");
	test_truncated("location_ipv6.json");
	test_huge();
	test_url();
	return TEST_DONE();
}
