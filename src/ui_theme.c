/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Colour roles and themes. A theme is a script of `color ROLE FG BG
 * [ATTRS]` commands (share/themes/NAME.theme) run by the one executor.
 * Glyphs carry the meaning; colours only reinforce it, so NO_COLOR and
 * monochrome terminals keep every state readable.
 */
#include "config.h"
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ui.h"

static const char *const role_names[UI_ROLE_N] = {
#define X(id, name, help) [UI_ROLE_##id] = name,
    UI_ROLE_TABLE(X)
#undef X
};

int ui_role_parse(const char *name)
{
	for (int i = 0; i < UI_ROLE_N; i++)
		if (!strcmp(name, role_names[i]))
			return i;
	return -1;
}

const char *ui_role_name(int role)
{
	return role >= 0 && role < UI_ROLE_N ? role_names[role] : "?";
}

int ui_color_parse(const char *name)
{
	static const char *const base[] = {"black",  "red",  "green",
	                                   "yellow", "blue", "magenta",
	                                   "cyan",   "white"};
	char *end;
	long v;

	if (!strcmp(name, "default") || !strcmp(name, "-1"))
		return -1;
	for (int i = 0; i < 8; i++) {
		if (!strcmp(name, base[i]))
			return i;
		if (!strncmp(name, "bright", 6) && !strcmp(name + 6, base[i]))
			return i + 8;
	}
	if (!strncmp(name, "color", 5))
		name += 5;
	v = strtol(name, &end, 10);
	if (end != name && !*end && v >= 0 && v <= 255)
		return (int)v;
	return -2;
}

int ui_theme_path(const char *name, char *buf, size_t size)
{
	/* Uninstalled: next to the program (in-tree build) or one level up
	 * (build directory inside the source tree). */
	char exe[4096], up[4096 + 32], here[4096 + 32];
	const char *dirs[4];
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (strchr(name, '/')) {
		snprintf(buf, size, "%s", name);
		return stat(buf, &st) == 0 ? 0 : -ENOENT;
	}
	dirs[0] = getenv("RELAYOUT_THEMES_DIR");
	dirs[1] = RL_DATADIR "/themes";
	dirs[2] = dirs[3] = NULL;
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(here, sizeof(here), "%s/share/themes", exe);
			snprintf(up, sizeof(up), "%s/../share/themes", exe);
			dirs[2] = here;
			dirs[3] = up;
		}
	}
	for (int i = 0; i < 4; i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(buf, size, "%s/%s.theme", dirs[i], name);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	return -ENOENT;
}

/* Pair i+1 for role i. */
void ui_theme_apply(struct ui *ui)
{
	if (!ui->active || ui->no_color || !has_colors())
		return;
	for (int i = 0; i < UI_ROLE_N; i++) {
		short fg = ui->colors[i].set ? ui->colors[i].fg : -1;
		short bg = ui->colors[i].set ? ui->colors[i].bg : -1;

		if (fg >= COLORS)
			fg = (short)(fg % 8);
		if (bg >= COLORS)
			bg = (short)(bg % 8);
		init_pair((short)(i + 1), fg, bg);
	}
}

int ui_attr(const struct ui *ui, int role)
{
	int a = 0, at;

	if (role < 0 || role >= UI_ROLE_N)
		return A_NORMAL;
	at = ui->colors[role].attrs;
	/* Attributes that carry meaning without colour. */
	if (role == UI_ROLE_CURSOR)
		at |= UI_ATTR_REVERSE;
	if (role == UI_ROLE_GROUP)
		at |= UI_ATTR_UNDERLINE;
	if (role == UI_ROLE_STATUS || role == UI_ROLE_TITLE)
		at |= UI_ATTR_REVERSE;
	if (at & UI_ATTR_BOLD)
		a |= A_BOLD;
	if (at & UI_ATTR_UNDERLINE)
		a |= A_UNDERLINE;
	if (at & UI_ATTR_REVERSE)
		a |= A_REVERSE;
	if (at & UI_ATTR_DIM)
		a |= A_DIM;
	if (at & UI_ATTR_STANDOUT)
		a |= A_STANDOUT;
	if (ui->active && !ui->no_color && has_colors() &&
	    ui->colors[role].set && role != UI_ROLE_GROUP)
		a |= COLOR_PAIR(role + 1);
	return a;
}
