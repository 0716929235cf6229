/*
 * seedctl: the operator's command-line tool. The command table below is the
 * single source of the top-level help.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_api.h"
#include "cmd_release.h"
#include "cmd_stats.h"
#include "cmdopt.h"

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "release", "create, list, show, verify and remove releases in a store", cmd_release },
	{ "store", "scrub a store: find and repair bad blocks and metadata", cmd_store },
	{ "stats", "the data plane's live counters, from its shared-memory file", cmd_stats },
	{ "status", "the running node at a glance: data plane, totals, tenants, releases",
	  cmd_api_status },
	{ "tenant", "list, add and change tenants on the running node", cmd_api_tenant },
	{ "peers", "connected peers by protocol", cmd_api_peers },
	{ "top", "a live view of rates, peers, cache and the busiest releases", cmd_api_top },
	{ "drain", "stop accepting peers and announce every release stopped", cmd_api_drain },
	{ "reload", "re-read the config file (the running config stays on error)", cmd_api_reload },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: seedctl COMMAND [ARGS...]\n\n"
		"BitStream seed appliance control tool (version %s).\n\ncommands:\n",
		SEED_VERSION);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'seedctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || cmdopt_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("seedctl %s\n", SEED_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return cmdopt_unknown(NULL, argv[1]);
}
