/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Key bindings: every key runs a command line. The defaults are a script
 * of `bind` lines compiled in and run through the executor at start; the
 * help screen is generated from the binding table and the command table.
 */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"
#include "mem.h"
#include "ui.h"

/* Actions that need the transaction commands (move, defrag, compact,
 * evacuate, group, apply, discard, undo) are bound here by name: they work
 * as soon as those commands are in the table. */
const char ui_default_bindings[] =
    "# relayout default key bindings (the command language)\n"
    "bind q quit\n"
    "bind C-c quit\n"
    "bind ? keys\n"
    "bind F1 keys\n"
    "bind : prompt\n"
    "bind g 'prompt \"goto \"'\n"
    "bind / 'prompt \"find \"'\n"
    "bind n 'find --next'\n"
    "bind N 'find --prev'\n"
    "bind + 'zoom in'\n"
    "bind = 'zoom in'\n"
    "bind - 'zoom out'\n"
    "bind WheelUp 'zoom in'\n"
    "bind WheelDown 'zoom out'\n"
    "bind Z 'zoom max'\n"
    "bind z 'zoom min'\n"
    "bind Left 'pan left'\n"
    "bind h 'pan left'\n"
    "bind Right 'pan right'\n"
    "bind l 'pan right'\n"
    "bind Up 'pan up'\n"
    "bind k 'pan up'\n"
    "bind Down 'pan down'\n"
    "bind j 'pan down'\n"
    "bind PgUp 'pan pgup'\n"
    "bind PgDn 'pan pgdn'\n"
    "bind Home 'pan home'\n"
    "bind End 'pan end'\n"
    "bind i 'pane inode'\n"
    "bind o 'pane output'\n"
    "bind J 'pane scroll 1'\n"
    "bind K 'pane scroll -1'\n"
    "bind S 'pane sort next'\n"
    "bind Enter 'pane open'\n"
    "bind Space pick\n"
    "bind c 'select clear'\n"
    "bind m mark\n"
    "bind M 'mark clear'\n"
    "bind C-l redraw\n"
    "bind v 'action move'\n"
    "bind a 'action apply'\n"
    "bind Esc 'action discard'\n"
    "bind u 'action undo'\n"
    "bind U 'action redo'\n"
    "bind L 'log'\n"
    "bind D 'action defrag'\n"
    "bind C 'action compact'\n"
    "bind E 'action evacuate'\n"
    "bind G 'prompt \"group \"'\n";

/* What the default bindings' lines do, for the help screen (a line
 * bound to a key that is not here shows its command's help). */
static const struct {
	const char *line, *does;
} line_help[] = {
    {"quit", "leave (asks first when a plan is pending)"},
    {"keys", "this help"},
    {"prompt", "the command prompt (Tab completes, Up: history)"},
    {"prompt \"goto \"", "go to an address or a file (the prompt)"},
    {"prompt \"find \"", "search names (substring or glob); the map "
                         "marks them *"},
    {"find --next", "the next match of the search (wraps)"},
    {"find --prev", "the previous match of the search (wraps)"},
    {"zoom in", "zoom in around the cursor"},
    {"zoom out", "zoom out"},
    {"zoom max", "one block per cell"},
    {"zoom min", "the whole volume on the screen"},
    {"pan left", "cursor one cell left"},
    {"pan right", "cursor one cell right"},
    {"pan up", "cursor one row up"},
    {"pan down", "cursor one row down"},
    {"pan pgup", "one screen up"},
    {"pan pgdn", "one screen down"},
    {"pan home", "the start of the volume"},
    {"pan end", "the end of the volume"},
    {"pane inode", "the inode pane: the file or the owners under the "
                   "cursor (again: close)"},
    {"pane output", "the output pane: what the commands printed (again: "
                    "close)"},
    {"pane scroll 1", "scroll the pane down (inode pane: next owner)"},
    {"pane scroll -1", "scroll the pane up"},
    {"pane sort next", "sort the owners by address, size or name"},
    {"pane open", "inode pane: go to the owner's file; output pane: "
                  "every note, or grouped"},
    {"pick", "select or deselect the file under the cursor"},
    {"select clear", "deselect every file"},
    {"mark", "mark the target region: its start, then its end"},
    {"mark clear", "drop the target region"},
    {"redraw", "redraw the screen"},
    {"action move", "plan moving the selection into the target region "
                    "(group --to; the map shows the plan)"},
    {"action apply", "apply the plan shown, after a y/n (one "
                     "transaction)"},
    {"action discard", "drop the plan shown"},
    {"action undo", "undo the last action (again: the one before), "
                    "after a y/n"},
    {"action redo", "redo what u undid last, after a y/n"},
    {"log", "the journal: transactions, newest last"},
    {"action defrag", "plan defragmenting the selected files"},
    {"action compact", "plan compacting the target region (none: the "
                       "volume)"},
    {"action evacuate", "plan emptying the target region"},
    {"prompt \"group \"", "group files at an address (the prompt)"},
};

/* What a bound line does, in words: from line_help, else its command's
 * one-line help; NULL when the command is not in the table. */
static const char *line_does(const char *line)
{
	char word[64];
	size_t n = strcspn(line, " \t;");
	const struct cmd_def *d;

	for (size_t i = 0; i < sizeof(line_help) / sizeof(line_help[0]); i++)
		if (!strcmp(line, line_help[i].line))
			return line_help[i].does;
	snprintf(word, sizeof(word), "%.*s", (int)(n < 63 ? n : 63), line);
	d = cmd_find(word);
	return d ? d->help : NULL;
}

static const struct {
	const char *name;
	int key;
} key_names[] = {
    {"Up", KEY_UP},
    {"Down", KEY_DOWN},
    {"Left", KEY_LEFT},
    {"Right", KEY_RIGHT},
    {"PgUp", KEY_PPAGE},
    {"PgDn", KEY_NPAGE},
    {"Home", KEY_HOME},
    {"End", KEY_END},
    {"Enter", '\n'},
    {"Esc", 27},
    {"Space", ' '},
    {"Tab", '\t'},
    {"Backspace", KEY_BACKSPACE},
    {"Delete", KEY_DC},
    {"Insert", KEY_IC},
    {"WheelUp", UI_KEY_WHEEL_UP},
    {"WheelDown", UI_KEY_WHEEL_DOWN},
};

int ui_key_parse(const char *name)
{
	if (!name || !*name)
		return -1;
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (!strcasecmp(name, key_names[i].name))
			return key_names[i].key;
	if (name[1] == '\0' && (unsigned char)name[0] > ' ' &&
	    (unsigned char)name[0] < 127)
		return (unsigned char)name[0];
	if ((name[0] == 'C' || name[0] == 'c') && name[1] == '-' && name[2] &&
	    !name[3]) {
		char c = name[2];
		if (c >= 'a' && c <= 'z')
			return c - 'a' + 1;
		if (c >= 'A' && c <= 'Z')
			return c - 'A' + 1;
		return -1;
	}
	if (name[0] == 'F' && name[1] >= '1' && name[1] <= '9') {
		int n = atoi(name + 1);
		if (n >= 1 && n <= 12)
			return KEY_F(n);
	}
	return -1;
}

const char *ui_key_name(int key, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_names[i].key == key) {
			snprintf(buf, size, "%s", key_names[i].name);
			return buf;
		}
	if (key > ' ' && key < 127)
		snprintf(buf, size, "%c", key);
	else if (key >= 1 && key <= 26)
		snprintf(buf, size, "C-%c", 'a' + key - 1);
	else if (key >= KEY_F(1) && key <= KEY_F(12))
		snprintf(buf, size, "F%d", key - KEY_F(0));
	else
		snprintf(buf, size, "key%d", key);
	return buf;
}

int ui_bind(struct ui *ui, int key, const char *line)
{
	for (size_t i = 0; i < ui->nbinds; i++) {
		if (ui->binds[i].key != key)
			continue;
		if (!line) {
			free(ui->binds[i].line);
			ui->binds[i] = ui->binds[--ui->nbinds];
			return 0;
		}
		char *d = strdup(line);
		if (!d)
			return -ENOMEM;
		free(ui->binds[i].line);
		ui->binds[i].line = d;
		return 0;
	}
	if (!line)
		return 0;
	if (mem_grow(&ui->binds, &ui->capbinds, ui->nbinds + 1,
	             sizeof(*ui->binds)) < 0)
		return -ENOMEM;
	ui->binds[ui->nbinds].line = strdup(line);
	if (!ui->binds[ui->nbinds].line)
		return -ENOMEM;
	ui->binds[ui->nbinds++].key = key;
	return 0;
}

const char *ui_binding(const struct ui *ui, int key)
{
	for (size_t i = 0; i < ui->nbinds; i++)
		if (ui->binds[i].key == key)
			return ui->binds[i].line;
	return NULL;
}

char *ui_help_text(const struct ui *ui)
{
	char *text = NULL, name[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "Keys (each runs a command; change with 'bind KEY "
	           "COMMAND'):\n");
	/* In binding order, keys running the same line together. */
	for (size_t i = 0; i < ui->nbinds; i++) {
		const char *line = ui->binds[i].line;
		char keys[128];
		size_t used = 0;
		const char *does;
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(ui->binds[j].line, line);
		if (seen)
			continue;
		keys[0] = '\0';
		for (size_t j = i; j < ui->nbinds; j++) {
			if (strcmp(ui->binds[j].line, line))
				continue;
			int k = snprintf(
			    keys + used, sizeof(keys) - used, "%s%s",
			    used ? " " : "",
			    ui_key_name(ui->binds[j].key, name, sizeof(name)));
			if (k < 0 || (size_t)k >= sizeof(keys) - used)
				break;
			used += (size_t)k;
		}
		does = line_does(line);
		fprintf(f, "  %-16s %-20s %s\n", keys, line,
		        does ? does : "(command not available in this build)");
	}
	fprintf(f, "\nCommands (':' opens the prompt; 'help COMMAND'):\n");
	for (size_t i = 0; i < cmd_table_len; i++)
		fprintf(f, "  %-12s %s%s\n", cmd_table[i].name,
		        cmd_table[i].help,
		        cmd_table[i].flags & CMD_F_UI ? " [UI]" : "");
	fprintf(f, "\nMap: ");
	for (int k = 0; k < UI_CELL_N; k++)
		if (k != UI_CELL_OUTSIDE)
			fprintf(f, "%c %s  ", ui_cell_styles[k].glyph,
			        ui_cell_styles[k].name);
	fprintf(f, "\n");
	fclose(f);
	return text;
}
