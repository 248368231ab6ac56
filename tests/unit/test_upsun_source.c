/* Upsun source: peers.json parser, file poller, own-instance finder,
 * PLATFORM_RELATIONSHIPS decoder. Samples in data/upsun/. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "upsun/upsun_source.h"

static int one_line(const char *s)
{
	return s[0] != '\0' && strchr(s, '\n') == NULL && strchr(s, '\r') == NULL;
}

/* Parse a data file; 0/-1 as the parser. */
static int parse_file(const char *name, const char *app, int port, struct member_list *ml, char *err, size_t errlen)
{
	char path[256];
	size_t len;
	char *buf;
	int rc;

	snprintf(path, sizeof(path), "data/upsun/%s", name);
	buf = test_slurp(path, &len);
	if (!buf) {
		memset(ml, 0, sizeof(*ml));
		snprintf(err, errlen, "cannot read %s", path);
		return -2;
	}
	rc = upsun_peers_parse(buf, len, app, port, ml, err, errlen);
	free(buf);
	return rc;
}

static void expect_error(const char *file, const char *app, const char *needle)
{
	struct member_list ml;
	char err[256] = "";
	int rc = parse_file(file, app, 0, &ml, err, sizeof(err));

	CHECK_MSG(rc == -1, "%s: rc %d", file, rc);
	CHECK_MSG(ml.n == 0 && ml.v == NULL, "%s: list not empty on error", file);
	CHECK_MSG(strstr(err, needle) != NULL, "%s: error '%s' lacks '%s'", file, err, needle);
	CHECK_MSG(one_line(err), "%s: error not one line: '%s'", file, err);
	member_list_free(&ml);
}

static void test_good_files(void)
{
	struct member_list ml;
	char err[256] = "";

	CHECK(parse_file("peers_three.json", "valkey", 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 3, "n=%zu err=%s", ml.n, err);
	if (ml.n == 3) {
		CHECK(strcmp(ml.v[0].addr.host, "169.254.1.2") == 0);
		CHECK(strcmp(ml.v[1].addr.host, "169.254.1.3") == 0);
		CHECK(strcmp(ml.v[2].addr.host, "169.254.1.4") == 0);
		CHECK(ml.v[0].addr.port == 6379 && ml.v[2].addr.port == 6379);
		CHECK(strcmp(ml.v[1].host, "169.254.1.3") == 0);
	}
	member_list_free(&ml);

	CHECK(parse_file("peers_three.json", "valkey", 7000, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 3 && ml.v[0].addr.port == 7000);
	member_list_free(&ml);

	CHECK(parse_file("peers_three.json", "client", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 1 && strcmp(ml.v[0].addr.host, "169.254.9.1") == 0);
	member_list_free(&ml);

	/* numeric order of N (0, 2, 10), not text order; other app ignored */
	CHECK(parse_file("peers_pretty_gaps.json", "valkey", 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 3, "n=%zu err=%s", ml.n, err);
	if (ml.n == 3) {
		CHECK(strcmp(ml.v[0].addr.host, "169.254.3.40") == 0);
		CHECK(strcmp(ml.v[1].addr.host, "169.254.3.20") == 0);
		CHECK(strcmp(ml.v[2].addr.host, "169.254.17.139") == 0);
	}
	member_list_free(&ml);
	CHECK(parse_file("peers_pretty_gaps.json", "valkey--worker", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 1 && strcmp(ml.v[0].addr.host, "169.254.8.8") == 0);
	member_list_free(&ml);

	/* IPv6 in canonical form */
	CHECK(parse_file("peers_ipv6.json", "valkey", 0, &ml, err, sizeof(err)) == 0);
	CHECK_MSG(ml.n == 3, "n=%zu err=%s", ml.n, err);
	if (ml.n == 3) {
		char b[300];
		CHECK_MSG(strcmp(ml.v[0].addr.host, "fd00::a") == 0, "%s", ml.v[0].addr.host);
		CHECK_MSG(strcmp(ml.v[1].addr.host, "fd00::b") == 0, "%s", ml.v[1].addr.host);
		CHECK(strcmp(ml.v[2].addr.host, "169.254.1.9") == 0);
		CHECK(strcmp(hostport_str(&ml.v[0].addr, b, sizeof(b)), "[fd00::a]:6379") == 0);
	}
	member_list_free(&ml);

	CHECK(parse_file("peers_docs_shape.json", "hello_distributed", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 4 && strcmp(ml.v[0].addr.host, "10.0.12.40") == 0 &&
	      strcmp(ml.v[3].addr.host, "10.0.12.20") == 0);
	member_list_free(&ml);
}

static void test_bad_files(void)
{
	expect_error("peers_wrong_app.json", "valkey", "no instance of application 'valkey'");
	expect_error("peers_wrong_app.json", "valkey", "frontend, backend");
	expect_error("peers_empty_object.json", "valkey",
		     "no instance of application 'valkey' (applications present: none)");
	expect_error("peers_dup_ip.json", "valkey", "same address 169.254.1.2");
	expect_error("peers_dup_key.json", "valkey", "duplicate");
	expect_error("peers_bad_key_leading_zero.json", "valkey", "\"valkey.01\" is not <app>.<instance number>");
	expect_error("peers_bad_key_no_number.json", "valkey", "\"valkey\" is not <app>");
	expect_error("peers_bad_key_space.json", "valkey", "\"valkey app.1\" is not");
	expect_error("peers_bad_ip.json", "valkey", "\"169.254.1.300\" is not an IPv4 or IPv6 address");
	expect_error("peers_hostname.json", "valkey", "\"valkey.internal\" is not an IPv4");
	expect_error("peers_ip_with_port.json", "valkey", "is not an IPv4");
	expect_error("peers_value_number.json", "valkey", "value of \"valkey.1\" is not a string");
	expect_error("peers_array.json", "valkey", "top level is not an object");
	expect_error("peers_trailing_garbage.json", "valkey", "not valid JSON at line 1");
	expect_error("peers_nul_escape.json", "valkey", "not valid JSON");
	/* bad application names are refused before the file is looked at */
	expect_error("peers_three.json", "", "bad application name");
	expect_error("peers_three.json", "val.key", "bad application name");
	expect_error("peers_three.json", "a234567890123456789012345678901234567890123456789012345678901234x",
		     "bad application name");
}

static void test_bad_args(void)
{
	struct member_list ml;
	char err[256];
	const char *ok = "{\"valkey.0\": \"10.0.0.1\"}";

	CHECK(upsun_peers_parse(ok, strlen(ok), "valkey", 70000, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "bad port"));
	CHECK(upsun_peers_parse(ok, strlen(ok), NULL, 0, &ml, err, sizeof(err)) == -1);
	CHECK(upsun_peers_parse("", 0, "valkey", 0, &ml, err, sizeof(err)) == -1 && strstr(err, "empty"));
	/* a NULL error buffer is allowed */
	CHECK(upsun_peers_parse("[", 1, "valkey", 0, &ml, NULL, 0) == -1);
	/* raw NUL byte inside the document */
	CHECK(upsun_peers_parse("{\"valkey.0\": \"10.0.0.1\"}\0", 25, "valkey", 0, &ml, err, sizeof(err)) == -1);
	/* control characters in a key are not echoed raw (jansson refuses them
	 * and quotes the input near the error; we print it sanitised) */
	{
		const char *k = "{\"va\x01lkey.0\": \"10.0.0.1\"}";
		CHECK(upsun_peers_parse(k, strlen(k), "valkey", 0, &ml, err, sizeof(err)) == -1);
		CHECK_MSG(strchr(err, '\x01') == NULL && one_line(err), "%s", err);
		k = "{\"va\\u0001lkey.0\": \"10.0.0.1\"}";
		CHECK(upsun_peers_parse(k, strlen(k), "valkey", 0, &ml, err, sizeof(err)) == -1);
		CHECK_MSG(strstr(err, "\"va?lkey.0\" is not <app>"), "%s", err);
	}
}

/* Every strict prefix that is not the whole object must fail cleanly; so must
 * every prefix with junk appended. */
static void test_truncated(const char *name, const char *app)
{
	char path[256];
	size_t len, end;
	char *buf;
	int bad = 0;

	snprintf(path, sizeof(path), "data/upsun/%s", name);
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
		rc = upsun_peers_parse(copy, k, app, 0, &ml, err, sizeof(err));
		if (k < end) {
			if (rc != -1 || ml.n != 0 || !one_line(err)) {
				bad++;
				fprintf(stderr, "%s prefix %zu: rc %d n %zu err '%s'\n", name, k, rc, ml.n, err);
			}
		} else if (rc != 0) {
			bad++;
			fprintf(stderr, "%s prefix %zu (complete): %s\n", name, k, err);
		}
		member_list_free(&ml);
		copy[k] = ',';
		rc = upsun_peers_parse(copy, k + 1, app, 0, &ml, err, sizeof(err));
		if (rc != -1) {
			bad++;
			fprintf(stderr, "%s prefix %zu + ',': accepted\n", name, k);
		}
		member_list_free(&ml);
		free(copy);
	}
	CHECK_MSG(bad == 0, "%s: %d bad prefixes", name, bad);
	free(buf);
}

static char *make_peers(const char *app, size_t count, size_t *len)
{
	size_t cap = count * 48 + 16, o = 0;
	char *b = malloc(cap);

	o += (size_t)snprintf(b + o, cap - o, "{");
	for (size_t i = 0; i < count; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s\"%s.%zu\": \"10.%zu.%zu.%zu\"", i ? ", " : "", app, i,
				      (i >> 16) & 255, (i >> 8) & 255, i & 255);
	o += (size_t)snprintf(b + o, cap - o, "}");
	*len = o;
	return b;
}

static void test_huge(void)
{
	struct member_list ml;
	char err[256];
	size_t len;
	char *b;

	b = make_peers("valkey", MEMBERS_MAX, &len);
	CHECK(upsun_peers_parse(b, len, "valkey", 0, &ml, err, sizeof(err)) == 0 && ml.n == MEMBERS_MAX);
	CHECK(ml.n == MEMBERS_MAX && strcmp(ml.v[MEMBERS_MAX - 1].addr.host, "10.0.3.231") == 0);
	member_list_free(&ml);
	free(b);

	b = make_peers("valkey", MEMBERS_MAX + 1, &len);
	CHECK(upsun_peers_parse(b, len, "valkey", 0, &ml, err, sizeof(err)) == -1 && strstr(err, "more than 1000"));
	free(b);

	b = make_peers("other", UPSUN_PEERS_MAX_ENTRIES + 1, &len);
	CHECK(len <= UPSUN_PEERS_MAX_BYTES);
	CHECK(upsun_peers_parse(b, len, "valkey", 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "entries, more than the 4096 allowed"));
	free(b);

	/* over the byte cap, even if well formed: refused before parsing */
	b = malloc(UPSUN_PEERS_MAX_BYTES + 2);
	memset(b, ' ', UPSUN_PEERS_MAX_BYTES + 1);
	memcpy(b, "{\"valkey.0\": \"10.0.0.1\"}", 24);
	CHECK(upsun_peers_parse(b, UPSUN_PEERS_MAX_BYTES + 1, "valkey", 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "more than the"));
	/* exactly at the cap is fine */
	CHECK(upsun_peers_parse(b, UPSUN_PEERS_MAX_BYTES, "valkey", 0, &ml, err, sizeof(err)) == 0 && ml.n == 1);
	member_list_free(&ml);
	free(b);

	/* deep nesting is a type error, not a stack overflow */
	b = malloc(UPSUN_PEERS_MAX_BYTES);
	len = 0;
	len += (size_t)sprintf(b, "{\"valkey.0\": ");
	for (int i = 0; i < 100000; i++)
		b[len++] = '[';
	CHECK(upsun_peers_parse(b, len, "valkey", 0, &ml, err, sizeof(err)) == -1);
	free(b);
}

static int write_file(const char *path, const char *s)
{
	char tmp[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(s, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* Write in place (same inode), as a non-atomic writer would. */
static int write_in_place(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(s, f);
	return fclose(f);
}

static void set_mtime(const char *path, time_t sec, long nsec)
{
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};

	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static void test_poll(void)
{
	char dir[] = "/tmp/autoshard-upsun-XXXXXX";
	char path[256], fifo[256];
	struct upsun_peers_watch w;
	struct member_list ml;
	char err[256];
	int r;
	time_t now = time(NULL);

	memset(&w, 0, sizeof(w));
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/peers.json", dir);

	/* missing file: error, repeated error flagged */
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && strstr(err, "No such file") && !w.err_repeated && w.errors == 1);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && w.err_repeated && w.errors == 2);

	/* first good file */
	CHECK(write_file(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.2\"}") == 0);
	set_mtime(path, now - 100, 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK_MSG(r == UPSUN_PEERS_CHANGED && ml.n == 2, "r=%d err=%s", r, err);
	CHECK(w.errors == 0 && w.last_err[0] == '\0' && !w.err_repeated);
	member_list_free(&ml);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_UNCHANGED && ml.n == 0 && ml.v == NULL);

	/* same bytes, new file and mtime: unchanged (content hash) */
	CHECK(write_file(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.2\"}") == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_UNCHANGED);

	/* malformed: error, the watch still describes the last good file */
	CHECK(write_file(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": ") == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK_MSG(r == UPSUN_PEERS_ERROR && strstr(err, "peers.json: not valid JSON") && ml.n == 0, "%s", err);
	CHECK(w.have && !w.err_repeated);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && w.err_repeated);
	/* removed: error; back with the old content: unchanged */
	CHECK(unlink(path) == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && !w.err_repeated);
	CHECK(write_file(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.2\"}") == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_UNCHANGED && w.errors == 0);

	/* scale up */
	CHECK(write_file(path,
			 "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.2\", \"valkey.2\": \"10.0.0.3\"}") == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_CHANGED && ml.n == 3);
	member_list_free(&ml);

	/* racily clean: rewritten in place with the same size within the same
	 * mtime tick as the last read. The stat shortcut must not hide it. */
	CHECK(write_in_place(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.2\"}") == 0);
	set_mtime(path, now, 5);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_CHANGED && ml.n == 2);
	member_list_free(&ml);
	CHECK(write_in_place(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.4\"}") == 0);
	set_mtime(path, now, 5);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK_MSG(r == UPSUN_PEERS_CHANGED && ml.n == 2 && strcmp(ml.v[1].addr.host, "10.0.0.4") == 0, "r=%d", r);
	member_list_free(&ml);
	/* an old mtime that is forged back after a same-size write is not seen:
	 * the documented limit of the stat shortcut */
	set_mtime(path, now - 100, 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_UNCHANGED);
	CHECK(write_in_place(path, "{\"valkey.0\": \"10.0.0.1\", \"valkey.1\": \"10.0.0.5\"}") == 0);
	set_mtime(path, now - 100, 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_UNCHANGED);
	set_mtime(path, now - 99, 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_CHANGED && ml.n == 2 && strcmp(ml.v[1].addr.host, "10.0.0.5") == 0);
	member_list_free(&ml);

	/* too big */
	{
		char *big = malloc(UPSUN_PEERS_MAX_BYTES + 10);
		memset(big, ' ', UPSUN_PEERS_MAX_BYTES + 9);
		memcpy(big, "{\"valkey.0\": \"10.0.0.1\"}", 24);
		big[UPSUN_PEERS_MAX_BYTES + 9] = '\0';
		CHECK(write_file(path, big) == 0);
		free(big);
		r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
		CHECK_MSG(r == UPSUN_PEERS_ERROR && strstr(err, "more than the 262144 allowed"), "%s", err);
	}

	/* not a regular file */
	CHECK(unlink(path) == 0);
	CHECK(mkdir(path, 0700) == 0);
	r = upsun_peers_poll(&w, path, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && strstr(err, "not a regular file"));
	CHECK(rmdir(path) == 0);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	r = upsun_peers_poll(&w, fifo, "valkey", 0, &ml, err, sizeof(err));
	CHECK(r == UPSUN_PEERS_ERROR && strstr(err, "not a regular file"));
	CHECK(unlink(fifo) == 0);

	/* the list of the last good read was 10.0.0.1, 10.0.0.5: a new watcher
	 * on a valid file gets the full list again */
	{
		struct upsun_peers_watch w2;
		memset(&w2, 0, sizeof(w2));
		CHECK(write_file(path, "{\"valkey.0\": \"10.0.0.1\"}") == 0);
		r = upsun_peers_poll(&w2, path, "valkey", 0, &ml, err, sizeof(err));
		CHECK(r == UPSUN_PEERS_CHANGED && ml.n == 1);
		member_list_free(&ml);
		/* same watcher, different app: the content hash is per file, so the
		 * caller uses one watch per (file, app) */
		CHECK(unlink(path) == 0);
	}
	CHECK(rmdir(dir) == 0);
}

static void test_self(void)
{
	struct member_list ml;
	char err[256];
	const char *doc = "{\"v.0\": \"10.9.9.1\", \"v.1\": \"127.0.0.1\", \"v.2\": \"fd00::7\"}";
	const char *ips1[] = {"192.168.1.1", "fd00:0::7"};
	const char *ips2[] = {"192.168.1.1"};
	const char *ips3[] = {"10.9.9.1", "127.0.0.1"};
	char local[64][IP_MAX];
	size_t n = 0;
	int lo = 0;

	CHECK(upsun_peers_parse(doc, strlen(doc), "v", 0, &ml, err, sizeof(err)) == 0 && ml.n == 3);
	CHECK(upsun_match_self(&ml, ips1, 2, err, sizeof(err)) == 2);
	CHECK(upsun_match_self(&ml, ips2, 1, err, sizeof(err)) == -1 && strstr(err, "none of this host"));
	CHECK(upsun_match_self(&ml, ips3, 2, err, sizeof(err)) == -1 && strstr(err, "two instances"));
	CHECK(upsun_find_self(&ml, "10.9.9.1", err, sizeof(err)) == 0);
	CHECK(upsun_find_self(&ml, "10.9.9.2", err, sizeof(err)) == -1 && strstr(err, "tried 10.9.9.2"));
	CHECK(upsun_find_self(&ml, "valkey.0", err, sizeof(err)) == -1 && strstr(err, "not an IP address"));

	/* getifaddrs: the loopback interface is up on any test machine */
	CHECK(upsun_local_ips(local, 64, &n, err, sizeof(err)) == 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(local[i], "127.0.0.1") == 0)
			lo = 1;
	CHECK_MSG(lo, "127.0.0.1 not among %zu local addresses", n);
	CHECK_MSG(upsun_find_self(&ml, NULL, err, sizeof(err)) == 1, "%s", err);
	CHECK(upsun_find_self(&ml, "", err, sizeof(err)) == 1);
	member_list_free(&ml);

	doc = "{\"v.0\": \"10.9.9.1\"}";
	CHECK(upsun_peers_parse(doc, strlen(doc), "v", 0, &ml, err, sizeof(err)) == 0);
	CHECK(upsun_find_self(&ml, NULL, err, sizeof(err)) == -1 && strstr(err, "127.0.0.1"));
	member_list_free(&ml);
}

static void test_base64(void)
{
	char *out = NULL;
	size_t n = 0;
	char err[256];

	CHECK(upsun_base64_decode("aGVsbG8=", 8, &out, &n, err, sizeof(err)) == 0 && n == 5 &&
	      strcmp(out, "hello") == 0);
	free(out);
	CHECK(upsun_base64_decode("aGVsbG8h\n", 9, &out, &n, err, sizeof(err)) == 0 && n == 6 &&
	      strcmp(out, "hello!") == 0);
	free(out);
	CHECK(upsun_base64_decode("aGk=", 4, &out, &n, err, sizeof(err)) == 0 && n == 2 && strcmp(out, "hi") == 0);
	free(out);
	CHECK(upsun_base64_decode("aA==", 4, &out, &n, err, sizeof(err)) == 0 && n == 1 && out[0] == 'h');
	free(out);
	CHECK(upsun_base64_decode("+/+/", 4, &out, &n, err, sizeof(err)) == 0 && n == 3 &&
	      (unsigned char)out[0] == 0xfb && (unsigned char)out[1] == 0xff && (unsigned char)out[2] == 0xbf);
	free(out);
	CHECK(upsun_base64_decode("aGVsbG8", 7, &out, &n, err, sizeof(err)) == -1 && out == NULL);
	CHECK(upsun_base64_decode("", 0, &out, &n, err, sizeof(err)) == -1);
	CHECK(upsun_base64_decode("aG=sbG8=", 8, &out, &n, err, sizeof(err)) == -1 && strstr(err, "offset 2"));
	CHECK(upsun_base64_decode("aGVs bG8", 8, &out, &n, err, sizeof(err)) == -1);
	CHECK(upsun_base64_decode("a===", 4, &out, &n, err, sizeof(err)) == -1);
	CHECK(upsun_base64_decode("aGVsbG8_", 8, &out, &n, err, sizeof(err)) == -1);
}

static void test_relationships(void)
{
	struct member_list ml;
	char err[256];
	size_t len, jlen, dlen;
	char *b64 = test_slurp("data/upsun/relationships.b64", &len);
	char *json = test_slurp("data/upsun/relationships.json", &jlen);
	char *dec = NULL;

	CHECK(b64 && json);
	if (!b64 || !json)
		goto out;
	CHECK(upsun_base64_decode(b64, len, &dec, &dlen, err, sizeof(err)) == 0);
	CHECK(dec && dlen == jlen && memcmp(dec, json, jlen) == 0);
	free(dec);

	CHECK(upsun_relationship_members(b64, "valkey", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 3 && strcmp(ml.v[0].addr.host, "169.254.1.2") == 0 &&
	      strcmp(ml.v[2].addr.host, "169.254.1.4") == 0 && ml.v[0].addr.port == 6379);
	member_list_free(&ml);
	/* empty instance_ips: falls back to ip */
	CHECK(upsun_relationship_members(b64, "database", 5432, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 1 && strcmp(ml.v[0].addr.host, "169.254.30.1") == 0 && ml.v[0].addr.port == 5432);
	member_list_free(&ml);
	/* no instance_ips nor ip: host name */
	CHECK(upsun_relationship_members(b64, "cache", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 1 && strcmp(ml.v[0].addr.host, "cache.internal") == 0);
	member_list_free(&ml);
	/* two endpoints sharing an address: listed once, in order */
	CHECK(upsun_relationship_members(b64, "twoeps", 0, &ml, err, sizeof(err)) == 0);
	CHECK(ml.n == 3 && strcmp(ml.v[1].addr.host, "169.254.5.2") == 0 &&
	      strcmp(ml.v[2].addr.host, "169.254.5.3") == 0);
	member_list_free(&ml);

	CHECK(upsun_relationship_members(b64, "badips", 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "instance_ips[1] is not an IP address") && !strstr(err, "not-an-ip"));
	CHECK(upsun_relationship_members(b64, "nothing", 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "has no instance_ips, ip or host"));
	CHECK(upsun_relationship_members(b64, "nosuch", 0, &ml, err, sizeof(err)) == -1 &&
	      strstr(err, "no relationship 'nosuch' (present: valkey, database"));
	CHECK(upsun_relationship_members(NULL, "valkey", 0, &ml, err, sizeof(err)) == -1 && strstr(err, "not set"));
	CHECK(upsun_relationship_members("!!!!", "valkey", 0, &ml, err, sizeof(err)) == -1 && strstr(err, "base64"));

	/* Broken JSON holding a password: the error gives the position only.
	 * base64 of {"db":[{"password":"hunter2-xyz" ,}]} */
	CHECK(upsun_relationship_members("eyJkYiI6W3sicGFzc3dvcmQiOiJodW50ZXIyLXh5eiIgLH1dfQ==", "db", 0, &ml, err,
					 sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "not valid JSON at line 1") && !strstr(err, "hunter2"), "%s", err);
	/* and a wrong type next to a password does not quote it either:
	 * {"db":[{"password":"hunter2-xyz","ip":"hunter2-xyz"}]} */
	CHECK(upsun_relationship_members("eyJkYiI6W3sicGFzc3dvcmQiOiJodW50ZXIyLXh5eiIsImlwIjoiaHVudGVyMi14eXoifV19",
					 "db", 0, &ml, err, sizeof(err)) == -1);
	CHECK_MSG(strstr(err, "ip is not an IP address") && !strstr(err, "hunter2"), "%s", err);
out:
	free(b64);
	free(json);
}

int main(void)
{
	test_good_files();
	test_bad_files();
	test_bad_args();
	test_truncated("peers_three.json", "valkey");
	test_truncated("peers_ipv6.json", "valkey");
	test_truncated("peers_pretty_gaps.json", "valkey");
	test_huge();
	test_poll();
	test_self();
	test_base64();
	test_relationships();
	return TEST_DONE();
}
