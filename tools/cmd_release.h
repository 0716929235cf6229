/*
 * cmd_release: `seedctl release ...` — create, ls, show, verify, rm.
 * Exit codes: 0 success, 1 failure (or corruption found by verify),
 * 2 usage error (EXIT_USAGE, cmdopt.h).
 */
#ifndef SEED_CMD_RELEASE_H
#define SEED_CMD_RELEASE_H

/* argv[0] is "release". */
int cmd_release(int argc, char **argv);

#endif
