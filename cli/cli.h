/* autoshard CLI: subcommands. Each takes the words after its name. */
#ifndef AUTOSHARD_CLI_H
#define AUTOSHARD_CLI_H

int cmd_local(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_bootstrap(int argc, char **argv);
int cmd_rebalance(int argc, char **argv);

/* Shared by subcommands: print the progress of a migration (bar on a TTY,
 * plain lines otherwise). arg is unused. */
struct migrator_progress;
void cli_progress(const struct migrator_progress *p, void *arg);

#endif
