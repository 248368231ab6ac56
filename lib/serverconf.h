/* The server configuration file autoshard writes for valkey-server or
 * redis-server (local mode, and the sidecar's `supervise` on PaaS): cluster
 * mode on the instance's own address, persistence by mode, and the password
 * in the 0600 file only, never on a command line. */
#ifndef AUTOSHARD_SERVERCONF_H
#define AUTOSHARD_SERVERCONF_H

#include <stddef.h>

struct server_conf {
	const char *bind_ip;           /* required: bind and bind-source-addr */
	int port;                      /* default 6379 */
	const char *dir;               /* required: data directory */
	int persistent;                /* appendonly yes (everysec), else no persistence */
	int node_timeout_ms;           /* cluster-node-timeout; default 15000 */
	const char *password;          /* borrowed, may be NULL: requirepass + masterauth */
	const char *announce_hostname; /* may be NULL: cluster-announce-hostname */
	int prefer_hostname;           /* cluster-preferred-endpoint-type hostname (needs announce_hostname) */
	int announce_ip;               /* cluster-announce-ip bind_ip (pods: the pod IP) */
	const char *include;           /* may be NULL: a user file included last (overrides) */
	const char *logfile;           /* may be NULL: server.log in dir; "" for stdout */
	const char *pidfile;           /* may be NULL: none */
};

/* Write the configuration atomically to path with mode 0600. The text holding
 * the password is wiped from memory afterwards. */
int server_conf_write(const char *path, const struct server_conf *c, char *err, size_t errlen);

#endif
