/* nodes.conf repair before a persistent server starts: see nodesfile.h. */
#include "nodesfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SHARD_KEY "shard-id="
#define MAX_CHAIN 16 /* replicas of replicas: deeper is a loop or nonsense */

struct nf_line {
	const char *id;     /* NODE_ID_LEN bytes in the text */
	char *shard;        /* NODE_ID_LEN bytes in the text, or NULL: no shard-id field */
	const char *master; /* NODE_ID_LEN bytes, or NULL: "-" */
	int replica;
	int myself;
};

static int is_id(const char *p, size_t n)
{
	if (n != NODE_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

/* Whether the comma-separated list [p, p+n) has the item word. */
static int has_item(const char *p, size_t n, const char *word)
{
	size_t wl = strlen(word);
	const char *end = p + n;

	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t il = (size_t)((c ? c : end) - p);
		if (il == wl && memcmp(p, word, wl) == 0)
			return 1;
		p = c ? c + 1 : end;
	}
	return 0;
}

/* The shard-id value in an address field ("ip:port@cport,host,k=v,..."), or NULL. */
static char *shard_field(char *p, size_t n)
{
	char *end = p + n, *c = memchr(p, ',', n);

	while (c && c < end) {
		char *item = c + 1, *next = memchr(item, ',', (size_t)(end - item));
		size_t il = (size_t)((next ? next : end) - item);
		if (il > strlen(SHARD_KEY) && memcmp(item, SHARD_KEY, strlen(SHARD_KEY)) == 0)
			return is_id(item + strlen(SHARD_KEY), il - strlen(SHARD_KEY)) ? item + strlen(SHARD_KEY)
										       : NULL;
		c = next;
	}
	return NULL;
}

/* One node line into l; 0, or -1 when it is not one ("vars ...", blank, odd). */
static int parse_line(char *p, size_t n, struct nf_line *l)
{
	char *f[4];
	size_t fl[4];
	char *end = p + n, *q = p;

	for (int i = 0; i < 4; i++) {
		char *sp;
		if (q >= end)
			return -1;
		sp = memchr(q, ' ', (size_t)(end - q));
		f[i] = q;
		fl[i] = (size_t)((sp ? sp : end) - q);
		q = sp ? sp + 1 : end;
	}
	if (!is_id(f[0], fl[0]))
		return -1;
	l->id = f[0];
	l->shard = shard_field(f[1], fl[1]);
	l->replica = has_item(f[2], fl[2], "slave") || has_item(f[2], fl[2], "replica");
	l->myself = has_item(f[2], fl[2], "myself");
	if (fl[3] == 1 && f[3][0] == '-')
		l->master = NULL;
	else if (is_id(f[3], fl[3]))
		l->master = f[3];
	else
		return -1;
	return 0;
}

static const struct nf_line *find(const struct nf_line *ls, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ls[i].id, id, NODE_ID_LEN) == 0)
			return &ls[i];
	return NULL;
}

/* The node lines of text[0..len) (other lines skipped), in *out (caller
 * frees; they point into text). Returns their count, or -1 out of memory. */
static long parse_lines(char *text, size_t len, struct nf_line **out)
{
	struct nf_line *ls;
	size_t n = 0, cap = 1;

	for (size_t i = 0; i < len; i++)
		cap += text[i] == '\n';
	if (!(ls = calloc(cap, sizeof(*ls))))
		return -1;
	for (char *p = text, *end = text + len; p < end && n < cap;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)((nl ? nl : end) - p);
		if (ll && p[ll - 1] == '\r')
			ll--;
		if (parse_line(p, ll, &ls[n]) == 0)
			n++;
		p = nl ? nl + 1 : end;
	}
	*out = ls;
	return (long)n;
}

int nodes_file_myself(char *text, size_t len, char *id)
{
	struct nf_line *ls = NULL;
	long n = parse_lines(text, len, &ls);
	int found = 0;

	for (long i = 0; i < n && !found; i++)
		if (ls[i].myself) {
			memcpy(id, ls[i].id, NODE_ID_LEN);
			id[NODE_ID_LEN] = '\0';
			found = 1;
		}
	free(ls);
	return found;
}

int nodes_file_converge_shard_ids(char *text, size_t len, char *note, size_t notelen)
{
	struct nf_line *ls = NULL;
	long ln = parse_lines(text, len, &ls);
	size_t n;
	int changed = 0;

	if (ln < 0)
		return 0; /* nothing changed: the server judges the file itself */
	n = (size_t)ln;
	for (size_t i = 0; i < n; i++) {
		const struct nf_line *root = &ls[i];
		int depth = 0;

		if (!ls[i].replica || !ls[i].master || !ls[i].shard)
			continue;
		/* up the chain to the primary that follows nobody */
		while (root && root->master && depth++ < MAX_CHAIN)
			root = find(ls, n, root->master);
		if (!root || root->master || !root->shard || root == &ls[i] ||
		    memcmp(root->shard, ls[i].shard, NODE_ID_LEN) == 0)
			continue;
		if (changed == 0 && note && notelen)
			snprintf(note, notelen, "replica %.*s: shard-id %.*s -> %.*s (its primary %.*s)", 8, ls[i].id,
				 8, ls[i].shard, 8, root->shard, 8, root->id);
		memcpy(ls[i].shard, root->shard, NODE_ID_LEN);
		changed++;
	}
	free(ls);
	return changed;
}

/* DIR/nodes.conf into *text (caller frees; *len bytes, NUL after them) and
 * its mode into *mode. 1 read, 0 no file or larger than
 * NODES_FILE_MAX_BYTES (the server reads it as it is), -1 with err. */
static int read_nodes_file(const char *dir, char *path, size_t pathlen, char **text, size_t *len, mode_t *mode,
			   char *err, size_t errlen)
{
	struct stat st;
	ssize_t got;
	size_t off = 0;
	char *t;
	int fd;

	*text = NULL;
	if ((size_t)snprintf(path, pathlen, "%s/nodes.conf", dir) >= pathlen)
		return seterr(err, errlen, "%s/nodes.conf: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : seterr(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return seterr(err, errlen, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > NODES_FILE_MAX_BYTES) {
		close(fd);
		return 0;
	}
	if (!(t = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return seterr(err, errlen, "%s: out of memory", path);
	}
	while (off < (size_t)st.st_size && (got = read(fd, t + off, (size_t)st.st_size - off)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			free(t);
			return -1;
		}
		off += (size_t)got;
	}
	close(fd);
	t[off] = '\0';
	*text = t;
	*len = off;
	*mode = st.st_mode & 0777;
	return 1;
}

int nodes_file_repair(const char *dir, char *note, size_t notelen, char *err, size_t errlen)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int r = read_nodes_file(dir, path, sizeof(path), &text, &len, &mode, err, errlen), changed;

	if (r <= 0)
		return r;
	changed = nodes_file_converge_shard_ids(text, len, note, notelen);
	if (changed > 0 && write_file_atomic(path, text, len, mode, err, errlen) < 0)
		changed = -1;
	free(text);
	return changed;
}

int nodes_file_myself_id(const char *dir, char *id, char *err, size_t errlen)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	mode_t mode = 0;
	int r = read_nodes_file(dir, path, sizeof(path), &text, &len, &mode, err, errlen);

	if (r <= 0)
		return r;
	r = nodes_file_myself(text, len, id);
	free(text);
	return r;
}
