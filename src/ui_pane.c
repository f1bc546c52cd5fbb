/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Text on the screen that every part of the UI draws with: a pane (lines
 * of text in a box under an optional title, from a given line) and the
 * message line's text. Below ui_main.c, ui_inode.c and ui_prompt.c.
 */
#include "config.h"
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "ui.h"

void ui_message(struct ui *ui, bool error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ui->msg, sizeof(ui->msg), fmt, ap);
	va_end(ap);
	ui->msg_error = error;
	ui->dirty = true;
}

void ui_draw_pane(struct ui *ui, int y, int x, int h, int w, const char *title,
                  const char *text, int first)
{
	const char *p = text ? text : "";
	int line = 0, top = 0;

	if (title) {
		attrset(ui_attr(ui, UI_ROLE_PANE_TITLE));
		mvhline(y, x, ' ', w);
		mvaddnstr(y, x, title, w);
		top = 1;
	}
	attrset(ui_attr(ui, UI_ROLE_PANE));
	for (int r = top; r < h; r++)
		mvhline(y + r, x, ' ', w);
	while (*p && line < first + h - top) {
		size_t n = strcspn(p, "\n");
		if (line >= first)
			mvaddnstr(y + top + line - first, x, p,
			          (int)(n < (size_t)w ? n : (size_t)w));
		p += n;
		if (*p)
			p++;
		line++;
	}
	attrset(A_NORMAL);
}
