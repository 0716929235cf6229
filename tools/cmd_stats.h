/*
 * cmd_stats: `seedctl stats --file PATH [--json]` — the data plane's live
 * counters read straight from its shared-memory file (no seed-control
 * needed). Exit 0, 1 when the file cannot be read, 2 on usage errors.
 */
#ifndef SEED_CMD_STATS_H
#define SEED_CMD_STATS_H

/* argv[0] is "stats". */
int cmd_stats(int argc, char **argv);

#endif
