/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Build-time generator: the man page's command list and the bash
 * completion, both from the one command table. */
#include "config.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "commands.h"

/* Escape for roff: backslashes and leading dots/quotes. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

static void gen_man(void)
{
	char syn[1024];

	for (size_t i = 0; i < cmd_table_len; i++) {
		const struct cmd_def *d = &cmd_table[i];

		cmd_synopsis(d, syn, sizeof(syn));
		fputs(".TP\n.B ", stdout);
		roff(syn);
		putchar('\n');
		roff(d->help);
		fputs(".", stdout);
		for (size_t k = 0; k < cmd_flag_notes_len; k++) {
			const char *n = cmd_flag_notes[k].note;

			if (!(d->flags & cmd_flag_notes[k].flag))
				continue;
			printf(" %c", toupper((unsigned char)n[0]));
			roff(n + 1);
			putchar('.');
		}
		putchar('\n');
		for (int k = 0; d->opts && d->opts[k].name; k++) {
			fputs(".RS\n.TP\n.B \\-\\-", stdout);
			roff(d->opts[k].name);
			if (d->opts[k].arg) {
				fputs(" ", stdout);
				roff(d->opts[k].arg);
			}
			putchar('\n');
			roff(d->opts[k].help);
			fputs("\n.RE\n", stdout);
		}
	}
}

static void gen_bash(void)
{
	fputs("# bash completion for relayout (generated from the command "
	      "table)\n",
	      stdout);
	fputs("_relayout_commands='", stdout);
	for (size_t i = 0; i < cmd_table_len; i++)
		printf("%s%s", i ? " " : "", cmd_table[i].name);
	fputs("'\n", stdout);
	fputs("_relayout_cmd_opts() {\n\tcase $1 in\n", stdout);
	for (size_t i = 0; i < cmd_table_len; i++) {
		const struct cmd_def *d = &cmd_table[i];
		printf("\t%s) echo '", d->name);
		for (int k = 0; d->opts && d->opts[k].name; k++)
			printf("--%s ", d->opts[k].name);
		fputs("--json' ;;\n", stdout);
	}
	fputs("\tesac\n}\n", stdout);
	fputs("_relayout() {\n"
	      "\tlocal cur prev\n"
	      "\tcur=${COMP_WORDS[COMP_CWORD]}\n"
	      "\tprev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\tcase $prev in\n"
	      "\t-e|--execute)\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$_relayout_commands\" -- "
	      "\"$cur\")); return ;;\n"
	      "\t-x|--script)\n"
	      "\t\tCOMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
	      "\tesac\n"
	      "\tif [[ $cur == -* ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W '-e --execute -x --script --json "
	      "--demo -k --keep-going -r --record -f --force --theme --ui "
	      "--journal-dir -h --help -V --version' -- \"$cur\"))\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "}\n"
	      "complete -o filenames -F _relayout relayout\n",
	      stdout);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "man") == 0)
		gen_man();
	else if (argc == 2 && strcmp(argv[1], "bash") == 0)
		gen_bash();
	else {
		fprintf(stderr, "usage: rl-docgen man|bash\n");
		return 2;
	}
	return 0;
}
