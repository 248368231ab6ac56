#include "static/static_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NUL, control bytes and DEL: never part of an address or a label (a NUL
 * would silently cut the C string the bytes are copied into). */
static int has_control_byte(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
			return 1;
	return 0;
}

static int parse_entry(const char *tok, size_t len, const char *label, size_t llen, int default_port,
		       struct member_list *out, char *err, size_t errlen, const char *where)
{
	char buf[HOST_MAX + 16];
	struct member m;
	char e[200];

	memset(&m, 0, sizeof(m));
	if (len >= sizeof(buf))
		return seterr(err, errlen, "%s: instance address too long", where);
	if (has_control_byte(tok, len))
		return seterr(err, errlen, "%s: control byte in instance address", where);
	memcpy(buf, tok, len);
	buf[len] = '\0';
	if (hostport_parse(buf, default_port, &m.addr, e, sizeof(e)) < 0)
		return seterr(err, errlen, "%s: %s", where, e);
	if (label) {
		if (llen == 0 || llen >= sizeof(m.host) || has_control_byte(label, llen))
			return seterr(err, errlen, "%s: bad host= label", where);
		memcpy(m.host, label, llen);
		m.host[llen] = '\0';
	}
	if (member_list_add(out, &m, e, sizeof(e)) < 0)
		return seterr(err, errlen, "%s: %s", where, e);
	return 0;
}

int static_source_parse_list(const char *list, int default_port, struct member_list *out, char *err, size_t errlen)
{
	const char *p = list;

	memset(out, 0, sizeof(*out));
	while (*p) {
		size_t len;
		p += strspn(p, ", \t\n");
		len = strcspn(p, ", \t\n");
		if (len == 0)
			break;
		if (parse_entry(p, len, NULL, 0, default_port, out, err, errlen, "instance list") < 0)
			goto fail;
		p += len;
	}
	if (out->n == 0) {
		seterr(err, errlen, "instance list is empty");
		goto fail;
	}
	return 0;
fail:
	member_list_free(out);
	return -1;
}

int static_source_parse_text(const char *buf, size_t len, int default_port, struct member_list *out, char *err,
			     size_t errlen)
{
	size_t pos = 0;
	int lineno = 0;

	memset(out, 0, sizeof(*out));
	if (len > STATIC_SOURCE_MAX_BYTES) {
		seterr(err, errlen, "instance file larger than %u bytes", STATIC_SOURCE_MAX_BYTES);
		goto fail;
	}
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		const char *tok, *label = NULL;
		size_t tl, labl = 0, i = 0;
		char where[48];

		pos += ll + (nl ? 1 : 0);
		lineno++;
		snprintf(where, sizeof(where), "instance file line %d", lineno);
		/* the comment first, then the blanks before it ("h:p host=a # rack") */
		for (size_t k = 0; k < ll; k++)
			if (line[k] == '#') {
				ll = k;
				break;
			}
		while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' ' || line[ll - 1] == '\t'))
			ll--;
		while (i < ll && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == ll)
			continue;
		tok = line + i;
		while (i < ll && line[i] != ' ' && line[i] != '\t')
			i++;
		tl = (size_t)(line + i - tok);
		while (i < ll && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i < ll) {
			if (ll - i < 6 || strncmp(line + i, "host=", 5) != 0) {
				seterr(err, errlen, "%s: unexpected '%.*s' (want 'host:port [host=LABEL]')", where,
				       (int)(ll - i > 40 ? 40 : ll - i), line + i);
				goto fail;
			}
			label = line + i + 5;
			labl = ll - i - 5;
			if (memchr(label, ' ', labl) || memchr(label, '\t', labl)) {
				seterr(err, errlen, "%s: junk after host= label", where);
				goto fail;
			}
		}
		if (parse_entry(tok, tl, label, labl, default_port, out, err, errlen, where) < 0)
			goto fail;
	}
	if (out->n == 0) {
		seterr(err, errlen, "instance file lists no instance");
		goto fail;
	}
	return 0;
fail:
	member_list_free(out);
	return -1;
}

int static_source_read_file(const char *path, int default_port, struct member_list *out, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int rc = -1;
	char e[200];

	memset(out, 0, sizeof(*out));
	f = fopen(path, "r");
	if (!f) {
		seterr(err, errlen, "instance file %s: %s", path, strerror(errno));
		goto done;
	}
	buf = malloc(STATIC_SOURCE_MAX_BYTES + 1);
	if (!buf) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	n = fread(buf, 1, STATIC_SOURCE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		seterr(err, errlen, "instance file %s: read error", path);
		goto done;
	}
	if (static_source_parse_text(buf, n, default_port, out, e, sizeof(e)) < 0) {
		seterr(err, errlen, "%s: %s", path, e);
		goto done;
	}
	rc = 0;
done:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}
