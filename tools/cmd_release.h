/*
 * cmd_release: `seedctl release ...` — create, ls, show, verify, rm.
 * Exit codes: 0 success, 1 failure (or corruption found by verify),
 * 2 usage error (EXIT_USAGE, cmdopt.h).
 */
#ifndef SEED_CMD_RELEASE_H
#define SEED_CMD_RELEASE_H

/* argv[0] is "release". */
int cmd_release(int argc, char **argv);

/* `seedctl store scrub`: argv[0] is "store". Exit 0 when the store is
 * whole afterwards, 1 when something is lost, 2 on a usage error. */
int cmd_store(int argc, char **argv);

#endif
