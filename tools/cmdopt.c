/* cmdopt: see cmdopt.h. */
#include "cmdopt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cmdopt_longopts(const struct cmdopt *opts, struct option *lo)
{
	size_t n = 0;
	for (const struct cmdopt *o = opts; o->name && n < CMDOPT_MAX - 1; o++, n++)
		lo[n] = (struct option){ o->name, o->has_arg ? required_argument : no_argument,
					 NULL, o->id };
	lo[n] = (struct option){ 0 };
}

void cmdopt_help(const struct cmdopt *opts, FILE *f)
{
	for (const struct cmdopt *o = opts; o->name; o++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-22s %s\n", left, o->help);
	}
}

void cmdopt_usage(FILE *f, const char *cmd, const char *synopsis, const char *summary,
		  const char *notes, const struct cmdopt *opts)
{
	fprintf(f, "usage: seedctl %s %s\n\n%s.\n", cmd, synopsis, summary);
	if (notes)
		fprintf(f, "\n%s\n", notes);
	fprintf(f, "\noptions:\n");
	cmdopt_help(opts, f);
}

int cmdopt_is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

int cmdopt_usage_err(const char *cmd, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* one fprintf: the line reaches stderr whole */
	fprintf(stderr, "seedctl: %s: %s (see 'seedctl %s --help')\n", cmd, what, cmd);
	return EXIT_USAGE;
}

int cmdopt_unknown(const char *group, const char *word)
{
	if (group)
		fprintf(stderr, "seedctl: %s: unknown subcommand '%s' (try 'seedctl %s --help')\n",
			group, word, group);
	else
		fprintf(stderr, "seedctl: unknown command '%s' (try 'seedctl --help')\n", word);
	return EXIT_USAGE;
}

int cmdopt_fail(const char *cmd, const struct seed_err *e)
{
	const char *msg = e->msg[0] ? e->msg : strerror(-e->code);
	if (cmd)
		fprintf(stderr, "seedctl: %s: %s\n", cmd, msg);
	else
		fprintf(stderr, "seedctl: %s\n", msg);
	return 1;
}

void cmdopt_group_usage(FILE *f, const char *group, void (*list)(FILE *f))
{
	fprintf(f, "usage: seedctl %s SUBCOMMAND [OPTIONS]\n\nsubcommands:\n", group);
	list(f);
	fprintf(f, "\nRun 'seedctl %s SUBCOMMAND --help' for its options.\n", group);
}

int cmdopt_push(const char ***v, size_t *n, const char *s)
{
	if (*n >= CMDOPT_LIST_MAX)
		return -1;
	const char **t = realloc(*v, (*n + 1) * sizeof(**v));
	if (!t)
		return -1;
	t[(*n)++] = s;
	*v = t;
	return 0;
}

const struct cmdopt_sub *cmdopt_sub_find(const struct cmdopt_sub *subs, size_t n, const char *group,
					 const char *word)
{
	size_t skip = group ? strlen(group) + 1 : 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = subs[i].name;
		if (group && (strncmp(name, group, skip - 1) || name[skip - 1] != ' '))
			continue;
		if (!strcmp(name + skip, word))
			return &subs[i];
	}
	return NULL;
}

void cmdopt_sub_usage(const struct cmdopt_sub *s, FILE *f)
{
	cmdopt_usage(f, s->name, s->synopsis, s->summary, s->notes, s->opts);
}

void cmdopt_sub_list(const struct cmdopt_sub *subs, size_t n, const char *group, FILE *f)
{
	size_t gl = strlen(group);
	for (size_t i = 0; i < n; i++)
		if (!strncmp(subs[i].name, group, gl) && subs[i].name[gl] == ' ')
			fprintf(f, "  %-8s %s\n", subs[i].name + gl + 1, subs[i].summary);
}

int cmdopt_sub_bad_option(const struct cmdopt_sub *s, int c, const char *arg)
{
	if (c == ':')
		return cmdopt_usage_err(s->name, "option '%s' needs a value", arg);
	return cmdopt_usage_err(s->name, "unknown option '%s'", arg);
}

int cmdopt_sub_check_pos(const struct cmdopt_sub *s, int n, char **pos)
{
	if (n < s->min_pos)
		return cmdopt_usage_err(s->name, "missing %s", s->pos_what);
	if (n > s->max_pos)
		return cmdopt_usage_err(s->name, "unexpected argument '%s'", pos[s->max_pos]);
	return -1;
}
