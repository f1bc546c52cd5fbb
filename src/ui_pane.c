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
#include <stdlib.h>
#include <string.h>
#include "mem.h"
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

/* Where a line of n bytes that is longer than width breaks: at the last
 * blank in its second half that fits, else at width. */
static size_t wrap_at(const char *p, size_t n, size_t width)
{
	if (n <= width)
		return n;
	for (size_t k = width; k > width / 2; k--)
		if (p[k] == ' ')
			return k;
	return width;
}

/* The indent of continuation lines: as asked when it leaves them half
 * the width, or 20 columns; else none. */
static size_t wrap_indent(int indent, size_t w)
{
	size_t i = indent > 0 ? (size_t)indent : 0;

	return i * 2 < w || i + 20 <= w ? i : 0;
}

/* Call emit for each screen line of text wrapped to width. */
static void wrap_each(const char *text, int width, int indent,
                      void (*emit)(void *arg, const char *p, size_t n,
                                   bool cont),
                      void *arg)
{
	const char *p = text ? text : "";
	size_t w = width > 0 ? (size_t)width : 1;
	size_t ind = wrap_indent(indent, w);

	while (*p) {
		size_t n = strcspn(p, "\n"), k;
		bool cont = false;
		const char *q = p;

		do {
			size_t room = cont ? w - ind : w;
			k = wrap_at(q, n, room);
			emit(arg, q, k, cont);
			q += k;
			n -= k;
			while (n && *q == ' ') { /* the blank it broke at */
				q++;
				n--;
			}
			cont = true;
		} while (n);
		p = q;
		if (*p == '\n')
			p++;
	}
}

struct wrap_out {
	FILE *f;
	int indent;
	int lines;
};

static void wrap_put(void *arg, const char *p, size_t n, bool cont)
{
	struct wrap_out *o = arg;

	if (cont)
		fprintf(o->f, "%*s", o->indent, "");
	fprintf(o->f, "%.*s\n", (int)n, p);
}

static void wrap_count(void *arg, const char *p, size_t n, bool cont)
{
	(void)p;
	(void)n;
	(void)cont;
	((struct wrap_out *)arg)->lines++;
}

char *ui_text_wrap(const char *text, int width, int indent)
{
	char *out = NULL;
	size_t len = 0;
	struct wrap_out o = {open_memstream(&out, &len), 0, 0};
	size_t w = width > 0 ? (size_t)width : 1;

	if (!o.f)
		return NULL;
	o.indent = (int)wrap_indent(indent, w);
	wrap_each(text, width, indent, wrap_put, &o);
	if (fclose(o.f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int ui_text_lines(const char *text, int width, int indent)
{
	struct wrap_out o = {NULL, indent, 0};

	wrap_each(text, width, indent, wrap_count, &o);
	return o.lines ? o.lines : 1;
}

/* ------------------------------------------------------ notes grouped */

struct note_line {
	const char *p; /* the line */
	size_t n;
	size_t wlen;     /* its first word, with the blanks before it */
	const char *why; /* the reason: after its last ": " */
	size_t whylen;   /* without a closing " (...)" */
	size_t idx;      /* line number */
	size_t count;    /* a group's first line: lines alike; else 0 */
	bool hidden;     /* in a group, not its first */
};

/* Is l a note ("WORD ...: REASON")? Fills wlen, why, whylen. */
static bool note_parse(struct note_line *l)
{
	const char *p = l->p, *e = l->p + l->n, *c = NULL;
	size_t w = 0;

	while (w < l->n && p[w] == ' ')
		w++;
	if (w == l->n ||
	    !((p[w] >= 'a' && p[w] <= 'z') || (p[w] >= 'A' && p[w] <= 'Z')))
		return false;
	while (w < l->n && p[w] != ' ')
		w++;
	l->wlen = w;
	for (const char *q = p + w; q + 1 < e; q++)
		if (q[0] == ':' && q[1] == ' ')
			c = q;
	if (!c && w > 1 && p[w - 1] == ':')
		c = p + w - 1; /* "stays: 0x..0x.. (4 KiB)" */
	if (!c || c + 2 >= e)
		return false;
	l->why = c + 2;
	l->whylen = (size_t)(e - l->why);
	if (l->whylen > 1 && l->why[l->whylen - 1] == ')') {
		for (size_t k = l->whylen - 1; k-- > 0;)
			if (l->why[k] == '(' && k > 0 && l->why[k - 1] == ' ') {
				l->whylen = k - 1;
				break;
			}
	}
	return l->whylen > 0;
}

static int note_cmp(const void *a, const void *b)
{
	const struct note_line *x = *(const struct note_line *const *)a;
	const struct note_line *y = *(const struct note_line *const *)b;
	size_t n = x->wlen < y->wlen ? x->wlen : y->wlen;
	int r = memcmp(x->p, y->p, n);

	if (!r && x->wlen != y->wlen)
		return x->wlen < y->wlen ? -1 : 1;
	n = x->whylen < y->whylen ? x->whylen : y->whylen;
	if (!r)
		r = memcmp(x->why, y->why, n);
	if (!r && x->whylen != y->whylen)
		return x->whylen < y->whylen ? -1 : 1;
	if (!r)
		return x->idx < y->idx ? -1 : x->idx > y->idx;
	return r;
}

static bool note_alike(const struct note_line *x, const struct note_line *y)
{
	return x->wlen == y->wlen && x->whylen == y->whylen &&
	       !memcmp(x->p, y->p, x->wlen) &&
	       !memcmp(x->why, y->why, x->whylen);
}

/* Group the notes of lines [from, to). */
static void notes_block(struct note_line *v, size_t from, size_t to,
                        struct note_line **tmp)
{
	size_t k = 0;

	for (size_t i = from; i < to; i++)
		if (v[i].why)
			tmp[k++] = &v[i];
	mem_sort(tmp, k, sizeof(*tmp), note_cmp);
	for (size_t i = 0; i < k;) {
		size_t j = i + 1;
		while (j < k && note_alike(tmp[i], tmp[j]))
			j++;
		if (j - i >= 3) {
			tmp[i]->count = j - i;
			for (size_t q = i + 1; q < j; q++)
				tmp[q]->hidden = true;
		}
		i = j;
	}
}

char *ui_notes_group(const char *text)
{
	const char *p = text ? text : "";
	struct note_line *v = NULL, **tmp = NULL;
	size_t n = 0, cap = 0, start = 0, len = 0;
	char *out = NULL;
	FILE *f;

	for (const char *q = p; *q;) {
		size_t l = strcspn(q, "\n");
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			struct note_line *nv = realloc(v, nc * sizeof(*v));
			if (!nv) {
				free(v);
				return NULL;
			}
			v = nv;
			cap = nc;
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].p = q;
		v[n].n = l;
		v[n].idx = n;
		if (!note_parse(&v[n]))
			v[n].why = NULL;
		n++;
		q += l + (q[l] == '\n');
	}
	tmp = malloc((n ? n : 1) * sizeof(*tmp));
	f = tmp ? open_memstream(&out, &len) : NULL;
	if (!f) {
		free(v);
		free(tmp);
		return NULL;
	}
	for (size_t i = 0; i <= n; i++)
		if (i == n || (v[i].n >= 2 && !memcmp(v[i].p, "> ", 2))) {
			notes_block(v, start, i, tmp);
			start = i;
		}
	for (size_t i = 0; i < n; i++) {
		const struct note_line *l = &v[i];
		if (l->hidden)
			continue;
		if (!l->count) {
			fprintf(f, "%.*s\n", (int)l->n, l->p);
			continue;
		}
		fprintf(f, "%.*s%s%.*s (x%zu; Enter lists them)\n",
		        (int)l->wlen, l->p,
		        l->p[l->wlen - 1] == ':' ? " ... " : " ...: ",
		        (int)l->whylen, l->why, l->count);
	}
	free(v);
	free(tmp);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
