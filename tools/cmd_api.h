/*
 * cmd_api: the seedctl commands that talk to a running seed-control over
 * its API socket (docs/api.md): status, tenant ls/add/set, release
 * publish/pause/retire/embargo, peers, top, drain, reload.
 *
 * Every command takes --socket PATH (default $SEED_API_SOCKET, else
 * /run/seed/control.sock), --timeout SEC and --help; each one that prints
 * an answer takes --json (the API's JSON, indented). Exit codes: 0 success,
 * 1 failure (seed-control unreachable or it refused the request; the error
 * line is printed), 2 usage error.
 */
#ifndef SEED_CMD_API_H
#define SEED_CMD_API_H

#include <stdio.h>

/* argv[0] is the command name ("status", "tenant", ...). */
int cmd_api_status(int argc, char **argv);
int cmd_api_tenant(int argc, char **argv);
int cmd_api_peers(int argc, char **argv);
int cmd_api_top(int argc, char **argv);
int cmd_api_drain(int argc, char **argv);
int cmd_api_reload(int argc, char **argv);

/*
 * `seedctl release VERB ...` for the verbs that act on a running node:
 * argv[0] is the verb ("publish", "pause", "retire", "embargo").
 */
int cmd_api_release(int argc, char **argv);

/* Non-zero when `verb` is one cmd_api_release() handles. */
int cmd_api_is_release_verb(const char *verb);

/*
 * One line per release verb for `seedctl release --help` ("  %-8s %s\n"
 * each), so the caller can list them beside its own subcommands.
 */
void cmd_api_release_verbs_help(FILE *f);

#endif
