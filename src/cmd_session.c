/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Session commands: help, set, echo, source, record, volume-uuid. */
#include "config.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "commands.h"
#include "session.h"

/* ------------------------------------------------------------------ help */

enum cmd_status cmd_help(struct rl_session *s, const struct cmd_call *c)
{
	char syn[1024];

	if (c->argc == 0) {
		fprintf(s->out, "Commands (help COMMAND for details):\n");
		for (size_t i = 0; i < cmd_table_len; i++)
			fprintf(s->out, "  %-12s %s\n", cmd_table[i].name,
			        cmd_table[i].help);
		fprintf(s->out, "Sizes and addresses are bytes: 4096, 0x1000, "
		                "4K, 1M, 2G, 1T.\n");
		return CMD_OK;
	}
	const struct cmd_def *d = cmd_find(c->argv[0]);
	if (!d) {
		session_error(s, "unknown command '%s'", c->argv[0]);
		return CMD_USAGE;
	}
	cmd_synopsis(d, syn, sizeof(syn));
	fprintf(s->out, "usage: %s\n  %s\n", syn, d->help);
	for (int i = 0; d->opts && d->opts[i].name; i++) {
		char o[64];
		snprintf(o, sizeof(o), "--%s%s%s", d->opts[i].name,
		         d->opts[i].arg ? " " : "",
		         d->opts[i].arg ? d->opts[i].arg : "");
		fprintf(s->out, "  %-22s %s\n", o, d->opts[i].help);
	}
	fprintf(s->out, "  %-22s %s\n", "--json",
	        "print JSON (every command takes it)");
	for (size_t i = 0; i < cmd_flag_notes_len; i++)
		if (d->flags & cmd_flag_notes[i].flag)
			fprintf(s->out, "  (%s)\n", cmd_flag_notes[i].note);
	return CMD_OK;
}

/* ------------------------------------------------------------- session */

static int parse_onoff(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") ||
	    !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") ||
	         !strcmp(v, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Session options: on/off flags of the session (inverted: the field
 * holds "off"). */
static const struct set_opt {
	const char *name;
	size_t off;
	bool inverted;
} set_opts[] = {
    {"json", offsetof(struct rl_session, json), false},
    {"continue-on-error", offsetof(struct rl_session, continue_on_error),
     false},
    {"tunables", offsetof(struct rl_session, no_tunables), true},
    {"step-refresh", offsetof(struct rl_session, refresh_at_end), true},
    {"progress", offsetof(struct rl_session, no_progress), true},
};

enum cmd_status cmd_set(struct rl_session *s, const struct cmd_call *c)
{
	const char *name = c->argv[0];
	const char *val = c->argc > 1 ? c->argv[1] : "on";

	for (size_t i = 0; i < sizeof(set_opts) / sizeof(set_opts[0]); i++) {
		bool on, *target;

		if (strcmp(name, set_opts[i].name))
			continue;
		if (parse_onoff(val, &on) < 0) {
			session_error(s, "%s: '%s' is not on or off", name,
			              val);
			return CMD_USAGE;
		}
		target = (bool *)((char *)s + set_opts[i].off);
		*target = set_opts[i].inverted ? !on : on;
		return CMD_OK;
	}
	session_error(s,
	              "unknown option '%s' (json, continue-on-error, "
	              "tunables, step-refresh, progress)",
	              name);
	return CMD_USAGE;
}

enum cmd_status cmd_echo(struct rl_session *s, const struct cmd_call *c)
{
	for (int i = 0; i < c->argc; i++)
		fprintf(s->out, "%s%s", i ? " " : "", c->argv[i]);
	fputc('\n', s->out);
	return CMD_OK;
}

enum cmd_status cmd_source(struct rl_session *s, const struct cmd_call *c)
{
	return cmd_exec_file(s, c->argv[0]);
}

enum cmd_status cmd_record(struct rl_session *s, const struct cmd_call *c)
{
	int r;

	if (strcmp(c->argv[0], "stop") == 0) {
		if (!s->record) {
			session_error(s, "not recording");
			return CMD_FAIL;
		}
		session_record_stop(s);
		return CMD_OK;
	}
	r = session_record_start(s, c->argv[0]);
	if (r < 0) {
		session_error(s, "%s: cannot record: %s", c->argv[0],
		              session_record_strerror(r));
		return CMD_FAIL;
	}
	return CMD_OK;
}

enum cmd_status cmd_volume_uuid(struct rl_session *s, const struct cmd_call *c)
{
	if (strcmp(s->fs.uuid, c->argv[0]) == 0)
		return CMD_OK;
	if (s->force) {
		fprintf(s->err,
		        "relayout: warning: volume %s has UUID %s, the script "
		        "was made on %s (going on: --force)\n",
		        s->fs.mountpoint, s->fs.uuid[0] ? s->fs.uuid : "(none)",
		        c->argv[0]);
		return CMD_OK;
	}
	session_error(s,
	              "volume %s has UUID %s, but the script was recorded on "
	              "%s: refusing to replay it here (relayout --force to "
	              "override)",
	              s->fs.mountpoint, s->fs.uuid[0] ? s->fs.uuid : "(none)",
	              c->argv[0]);
	return CMD_FAIL;
}
