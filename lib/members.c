#include "members.h"

#include <stdlib.h>
#include <string.h>

void member_list_free(struct member_list *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int member_list_index(const struct member_list *l, const struct hostport *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (hostport_eq(&l->v[i].addr, a))
			return (int)i;
	return -1;
}

int member_list_add(struct member_list *l, const struct member *m, char *err, size_t errlen)
{
	char b[HOST_MAX + 16];
	struct member *nv;

	if (member_list_index(l, &m->addr) >= 0)
		return seterr(err, errlen, "instance %s listed twice", hostport_str(&m->addr, b, sizeof(b)));
	if (l->n >= MEMBERS_MAX)
		return seterr(err, errlen, "more than %d instances", MEMBERS_MAX);
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return seterr(err, errlen, "out of memory");
	l->v = nv;
	l->v[l->n] = *m;
	if (!l->v[l->n].host[0])
		strlcpy_a(l->v[l->n].host, m->addr.host, sizeof(l->v[l->n].host));
	l->n++;
	return 0;
}
