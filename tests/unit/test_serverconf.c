/* server_conf_write (lib/serverconf.c): the file the sidecar gives
 * valkey-server. Proves: the announce lines follow the options (hostname
 * with endpoint type hostname or ip, announce-ip = the bind address), an
 * endpoint type hostname without a hostname is refused, quotes and
 * backslashes in values are escaped, a control character is refused without
 * writing a file, the password never appears in an error, the file is 0600. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serverconf.h"
#include "testlib.h"

static char dir[64];

static char *write_and_read(const struct server_conf *c, int *rc, char *err, size_t errlen)
{
	char path[128];
	size_t len;

	snprintf(path, sizeof(path), "%s/s.conf", dir);
	unlink(path);
	*rc = server_conf_write(path, c, err, errlen);
	return test_slurp(path, &len);
}

int main(void)
{
	struct server_conf c;
	char err[256], path[128];
	struct stat st;
	char *t;
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/autoshard-serverconf.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	memset(&c, 0, sizeof(c));
	c.bind_ip = "10.1.2.3";
	c.dir = "/data";

	/* Plain: no announce lines at all. */
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK(rc == 0 && t && strstr(t, "bind 10.1.2.3\n") && !strstr(t, "cluster-announce"));
	free(t);

	/* Kubernetes: name, IP, clients get names. */
	c.announce_hostname = "vk-0.vk-headless.ns.svc.cluster.local";
	c.prefer_hostname = 1;
	c.announce_ip = 1;
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK_MSG(rc == 0 && t, "%s", err);
	CHECK(t && strstr(t, "cluster-announce-hostname \"vk-0.vk-headless.ns.svc.cluster.local\"\n"));
	CHECK(t && strstr(t, "cluster-preferred-endpoint-type hostname\n"));
	CHECK(t && strstr(t, "cluster-announce-ip 10.1.2.3\n"));
	free(t);
	snprintf(path, sizeof(path), "%s/s.conf", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* The name announced, clients still get IPs. */
	c.prefer_hostname = 0;
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK(rc == 0 && t && strstr(t, "cluster-preferred-endpoint-type ip\n") &&
	      strstr(t, "cluster-announce-hostname"));
	free(t);

	/* Clients sent to names nobody announced: refused. */
	c.announce_hostname = NULL;
	c.prefer_hostname = 1;
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK(rc < 0 && !t && strstr(err, "hostname"));
	free(t);
	c.prefer_hostname = 0;
	c.announce_ip = 0;

	/* Escaping, and a control character refused with nothing written. */
	c.password = "pa\"ss\\word";
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK(rc == 0 && t && strstr(t, "requirepass \"pa\\\"ss\\\\word\"\n"));
	free(t);
	c.password = "bad\nsecret-value";
	t = write_and_read(&c, &rc, err, sizeof(err));
	CHECK(rc < 0 && !t && strstr(err, "password") && !strstr(err, "secret-value"));
	free(t);

	snprintf(path, sizeof(path), "%s/s.conf", dir);
	unlink(path);
	rmdir(dir);
	return TEST_DONE();
}
