/* Static instance source: the instance file parser (static_source_parse_text)
 * and the --peers/--members list parser (static_source_parse_list), chosen by
 * the input length (so seeds are plain files), with and without a default
 * port. On success: 1..MEMBERS_MAX members, ports 1..65535, hosts non-empty
 * and without blanks, '/' or control bytes, labels set, no address twice;
 * and the members written back in the same syntax parse to the same list.
 * On failure: a message and an empty list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "static/static_source.h"

struct outbuf {
	char *p;
	size_t len, cap;
};

static void put(struct outbuf *o, const char *s)
{
	size_t n = strlen(s);

	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->p = realloc(o->p, o->cap);
		FUZZ_CHECK(o->p != NULL, "out of memory");
	}
	memcpy(o->p + o->len, s, n + 1);
	o->len += n;
}

/* host:port as the parser reads it back; 0 if it cannot be written. */
static int write_addr(struct outbuf *o, const struct hostport *a, int default_port)
{
	char port[16];

	snprintf(port, sizeof(port), ":%d", a->port);
	if (strchr(a->host, ':') && strchr(a->host, ']')) {
		/* only a bare IPv6-looking host with the default port gives this */
		if (a->port != default_port)
			return 0;
		put(o, a->host);
		return 1;
	}
	if (strchr(a->host, ':') || a->host[0] == '[') {
		put(o, "[");
		put(o, a->host);
		put(o, "]");
	} else {
		put(o, a->host);
	}
	put(o, port);
	return 1;
}

static void check_members(const struct member_list *l)
{
	FUZZ_CHECK(l->n >= 1 && l->n <= MEMBERS_MAX && l->v, "%zu members", l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct member *m = &l->v[i];
		size_t hl = strnlen(m->addr.host, sizeof(m->addr.host));
		FUZZ_CHECK(hl > 0 && hl < sizeof(m->addr.host), "member %zu: host length %zu", i, hl);
		FUZZ_CHECK(strnlen(m->host, sizeof(m->host)) > 0 && strnlen(m->host, sizeof(m->host)) < sizeof(m->host),
			   "member %zu: label not set or not terminated", i);
		FUZZ_CHECK(m->addr.port >= 1 && m->addr.port <= 65535, "member %zu: port %d", i, m->addr.port);
		for (size_t k = 0; k < hl; k++) {
			unsigned char c = (unsigned char)m->addr.host[k];
			FUZZ_CHECK(c >= 0x20 && c != ' ' && c != '\t' && c != '/', "member %zu: host byte 0x%02x", i,
				   c);
		}
		if (l->n <= 256)
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(!hostport_eq(&l->v[j].addr, &m->addr), "members %zu and %zu are the same", j,
					   i);
		FUZZ_CHECK(member_list_index(l, &m->addr) == (int)i, "member_list_index(%zu)", i);
	}
}

static void check_same(const struct member_list *a, const struct member_list *b)
{
	FUZZ_CHECK(a->n == b->n, "round trip: %zu members, then %zu", a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(hostport_eq(&a->v[i].addr, &b->v[i].addr) && strcmp(a->v[i].host, b->v[i].host) == 0,
			   "round trip: member %zu differs", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct member_list l = {(struct member *)1, 7}, l2;
	struct outbuf o = {NULL, 0, 0};
	int list_mode = size % 2, default_port = (size / 2) % 2 ? 6379 : 0, rc, ok = 1;
	char err[256], *copy = NULL;

	err[0] = '\0';
	if (list_mode) {
		copy = malloc(size + 1);
		FUZZ_CHECK(copy != NULL, "out of memory");
		memcpy(copy, data, size);
		copy[size] = '\0';
		rc = static_source_parse_list(copy, default_port, &l, err, sizeof(err));
	} else {
		rc = static_source_parse_text((const char *)data, size, default_port, &l, err, sizeof(err));
	}
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && l.v == NULL && l.n == 0, "failed parse left members");
		fuzz_check_err(err, sizeof(err));
		goto done;
	}
	check_members(&l);
	put(&o, "");
	for (size_t i = 0; i < l.n && ok; i++) {
		if (list_mode) {
			ok = write_addr(&o, &l.v[i].addr, default_port);
			put(&o, ",");
		} else {
			put(&o, "  ");
			ok = write_addr(&o, &l.v[i].addr, default_port);
			put(&o, " host=");
			put(&o, l.v[i].host);
			put(&o, " # comment\r\n");
		}
	}
	if (ok) {
		if (list_mode)
			rc = static_source_parse_list(o.p, default_port, &l2, err, sizeof(err));
		else
			rc = static_source_parse_text(o.p, o.len, default_port, &l2, err, sizeof(err));
		FUZZ_CHECK(rc == 0, "members written back do not parse: %s", err);
		check_same(&l, &l2);
		member_list_free(&l2);
	}
	free(o.p);
	member_list_free(&l);
done:
	free(copy);
	return 0;
}
