/* autoshard: form, grow, check and rebalance Valkey/Redis clusters. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: autoshard COMMAND [options]   (autoshard COMMAND --help for options)\n\n"
		   "commands:\n"
		   "  local up|scale|down   run a cluster of real servers on 127.x addresses, one sidecar each\n"
		   "  bootstrap             form (or finish forming) a cluster from a member list\n"
		   "  rebalance             move slots with their keys: onto new masters, off drained ones\n"
		   "  check                 exit 0 only when the cluster is healthy, else list each problem\n"
		   "  status                masters, replicas, slot ranges and key counts\n"
		   "  version               print the version\n");
}

int main(int argc, char **argv)
{
	const char *cmd;

	log_init("autoshard", LOG_LEVEL_INFO, 0);
	/* A peer closing mid-write is an error reply, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "local"))
		return cmd_local(argc - 2, argv + 2);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 2, argv + 2);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 2, argv + 2);
	if (!strcmp(cmd, "bootstrap"))
		return cmd_bootstrap(argc - 2, argv + 2);
	if (!strcmp(cmd, "rebalance"))
		return cmd_rebalance(argc - 2, argv + 2);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("autoshard %s\n", AUTOSHARD_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "autoshard: unknown command '%.40s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
