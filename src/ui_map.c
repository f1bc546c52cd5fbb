/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allocation map: each cell stands for cell_blocks blocks and shows the
 * dominant state of that range with a glyph (the meaning) and a colour
 * role (reinforcement). Geometry, zoom and the cursor live in struct ui;
 * the data comes from the layout model only.
 */
#include "config.h"
#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "layout_model.h"
#include "output.h"
#include "txn.h"
#include "ui.h"
#include "units.h"

const struct ui_cell_style ui_cell_styles[UI_CELL_N] = {
    [UI_CELL_FREE] = {'.', UI_ROLE_FREE, "free"},
    [UI_CELL_MIXED] = {':', UI_ROLE_MIXED, "part-free"},
    [UI_CELL_META] = {'M', UI_ROLE_META, "meta"},
    [UI_CELL_DATA] = {'#', UI_ROLE_DATA, "data"},
    [UI_CELL_FRAG] = {'%', UI_ROLE_FRAG, "frag"},
    [UI_CELL_SHARED] = {'&', UI_ROLE_SHARED, "shared"},
    [UI_CELL_UNWRITTEN] = {'~', UI_ROLE_UNWRITTEN, "unwritten"},
    [UI_CELL_UNKNOWN] = {'?', UI_ROLE_UNKNOWN, "no owner"},
    [UI_CELL_SELECTED] = {'@', UI_ROLE_SELECTED, "selected"},
    [UI_CELL_TARGET] = {'=', UI_ROLE_TARGET, "target"},
    [UI_CELL_PLANNED] = {'P', UI_ROLE_PLANNED, "planned"},
    [UI_CELL_VACATED] = {',', UI_ROLE_FREE, "to be freed"},
    [UI_CELL_MATCH] = {'*', UI_ROLE_MATCH, "found"},
    [UI_CELL_OUTSIDE] = {' ', UI_ROLE_DEFAULT, "outside"},
};

uint64_t ui_map_cell_bytes(const struct ui *ui)
{
	return ui->cell_blocks * ui->block;
}

static uint64_t total_cells(const struct ui *ui)
{
	uint64_t cb = ui_map_cell_bytes(ui);

	return cb ? (ui->size + cb - 1) / cb : 0;
}

static uint64_t total_rows(const struct ui *ui)
{
	return ui->map_w > 0 ? (total_cells(ui) + (uint64_t)ui->map_w - 1) /
	                           (uint64_t)ui->map_w
	                     : 0;
}

/* The legend: these cells, in this order, on one row or two. */
static const int legend_order[] = {
    UI_CELL_FREE,     UI_CELL_MIXED,  UI_CELL_META,      UI_CELL_DATA,
    UI_CELL_FRAG,     UI_CELL_SHARED, UI_CELL_UNWRITTEN, UI_CELL_UNKNOWN,
    UI_CELL_SELECTED, UI_CELL_TARGET, UI_CELL_PLANNED,   UI_CELL_VACATED,
    UI_CELL_MATCH,
};
#define LEGEND_N (sizeof(legend_order) / sizeof(legend_order[0]))

static int legend_rows(int cols)
{
	int x = 0, rows = 1;

	for (size_t i = 0; i < LEGEND_N; i++) {
		int need =
		    3 + (int)strlen(ui_cell_styles[legend_order[i]].name);
		if (x + need - 1 > cols) {
			rows++;
			x = 0;
		}
		x += need;
	}
	return rows > 2 ? 2 : rows;
}

/* Keep the cursor inside the volume and its row on screen. */
static void clamp_view(struct ui *ui)
{
	uint64_t cb = ui_map_cell_bytes(ui), rows = total_rows(ui), row;

	if (!cb || ui->map_w <= 0 || ui->map_h <= 0)
		return;
	if (ui->size && ui->cursor >= ui->size)
		ui->cursor = ui->size - 1;
	row = ui->cursor / cb / (uint64_t)ui->map_w;
	if (row < ui->view_row)
		ui->view_row = row;
	if (row >= ui->view_row + (uint64_t)ui->map_h)
		ui->view_row = row - (uint64_t)ui->map_h + 1;
	if (rows <= (uint64_t)ui->map_h)
		ui->view_row = 0;
	else if (ui->view_row > rows - (uint64_t)ui->map_h)
		ui->view_row = rows - (uint64_t)ui->map_h;
}

/* The narrowest map that still gets row addresses beside it. */
#define UI_MAP_MIN_W 48

void ui_map_layout(struct ui *ui)
{
	const struct lm_geometry *g = ui->model ? lm_geometry(ui->model) : NULL;
	uint64_t cells, blocks;
	int pane_w = 0;

	if (g) {
		ui->block = g->fs.block_size ? g->fs.block_size : 4096;
		ui->size = g->fs.size;
	}
	if (!ui->block)
		ui->block = 4096;
	if (ui->pane != UI_PANE_NONE && ui->cols >= 60) {
		/* the inode pane's lines are up to 40 columns */
		pane_w = ui->cols < 100 ? ui->cols / 2 : ui->cols * 2 / 5;
		if (pane_w > 60)
			pane_w = 60;
	}
	ui->map_x = 0;
	ui->map_y = 1;
	ui->map_w = ui->cols - pane_w - (pane_w ? 1 : 0);
	/* title, legend (one or two rows), message, status */
	ui->map_h = ui->rows - 3 - legend_rows(ui->cols);
	/* Row addresses in a gutter on the left, when the map keeps at
	 * least UI_MAP_MIN_W cells a row without it: "0x" and the digits of
	 * the highest address, a space. */
	int gw = 4;
	for (uint64_t v = ui->size ? (ui->size - 1) >> 4 : 0; v; v >>= 4)
		gw++;
	if (ui->map_w - gw >= UI_MAP_MIN_W) {
		ui->map_x = gw;
		ui->map_w -= gw;
	}
	if (ui->map_w < 1)
		ui->map_w = 1;
	if (ui->map_h < 1)
		ui->map_h = 1;
	cells = (uint64_t)ui->map_w * (uint64_t)ui->map_h;
	blocks = (ui->size + ui->block - 1) / ui->block;
	ui->max_cell_blocks = blocks ? (blocks + cells - 1) / cells : 1;
	if (ui->max_cell_blocks < 1)
		ui->max_cell_blocks = 1;
	if (ui->cell_blocks == 0 || ui->cell_blocks > ui->max_cell_blocks)
		ui->cell_blocks = ui->max_cell_blocks;
	clamp_view(ui);
}

/* Change the zoom keeping the cursor's screen row. */
void ui_map_zoom_to(struct ui *ui, uint64_t n)
{
	uint64_t cb = ui_map_cell_bytes(ui), screen_row = 0, row;

	if (n < 1)
		n = 1;
	if (n > ui->max_cell_blocks)
		n = ui->max_cell_blocks;
	if (cb && ui->map_w > 0) {
		row = ui->cursor / cb / (uint64_t)ui->map_w;
		screen_row = row >= ui->view_row ? row - ui->view_row : 0;
	}
	ui->cell_blocks = n;
	cb = ui_map_cell_bytes(ui);
	if (cb && ui->map_w > 0) {
		row = ui->cursor / cb / (uint64_t)ui->map_w;
		ui->view_row = row >= screen_row ? row - screen_row : 0;
	}
	clamp_view(ui);
}

bool ui_map_zoom(struct ui *ui, int dir)
{
	uint64_t n = ui->cell_blocks;

	if (dir > 0) {
		if (n <= 1)
			return false;
		n /= 2;
	} else {
		if (n >= ui->max_cell_blocks)
			return false;
		n = n * 2 > ui->max_cell_blocks ? ui->max_cell_blocks : n * 2;
	}
	ui_map_zoom_to(ui, n);
	return true;
}

void ui_map_move(struct ui *ui, int64_t dx, int64_t dy)
{
	uint64_t cb = ui_map_cell_bytes(ui), cells = total_cells(ui);
	int64_t idx, max;

	if (!cb || !cells)
		return;
	idx = (int64_t)(ui->cursor / cb);
	max = (int64_t)cells - 1;
	idx += dx + dy * ui->map_w;
	if (idx < 0)
		idx = 0;
	if (idx > max)
		idx = max;
	ui->cursor = (uint64_t)idx * cb;
	clamp_view(ui);
}

void ui_map_goto(struct ui *ui, uint64_t addr)
{
	ui->cursor = addr;
	clamp_view(ui);
}

void ui_map_cursor_range(const struct ui *ui, uint64_t *start, uint64_t *end)
{
	uint64_t cb = ui_map_cell_bytes(ui);

	*start = cb ? ui->cursor / cb * cb : 0;
	*end = *start + cb;
	if (ui->size && *end > ui->size)
		*end = ui->size;
}

enum ui_cell ui_map_classify(struct ui *ui, uint64_t start, uint64_t end)
{
	struct lm_stats st;
	uint64_t len, freeb, meta, data, unk;

	if (end <= start || (ui->size && start >= ui->size))
		return UI_CELL_OUTSIDE;
	if (!ui->model || lm_range_stats(ui->model, start, end, &st) < 0)
		return UI_CELL_UNKNOWN;
	len = end - start;
	freeb = st.bytes[LM_CAT_FREE] < len ? st.bytes[LM_CAT_FREE] : len;
	if (st.bytes[LM_CAT_SELECTED])
		return UI_CELL_SELECTED;
	if (freeb * 4 >= len * 3)
		return UI_CELL_FREE;
	if (freeb * 4 > len)
		return UI_CELL_MIXED;
	meta = st.bytes[LM_CAT_META];
	data = st.bytes[LM_CAT_DATA];
	unk = st.unknown;
	if (meta >= data && meta >= unk)
		return UI_CELL_META;
	if (unk > data)
		return UI_CELL_UNKNOWN;
	if (st.bytes[LM_CAT_FRAG] * 2 >= data)
		return UI_CELL_FRAG;
	if (st.bytes[LM_CAT_SHARED] * 2 >= data)
		return UI_CELL_SHARED;
	if (st.bytes[LM_CAT_UNWRITTEN] * 2 >= data)
		return UI_CELL_UNWRITTEN;
	return UI_CELL_DATA;
}

/* Does a group/AG start strictly inside (start, end]? (Group 0 at 0 is
 * not drawn.) */
static bool group_starts_in(struct ui *ui, uint64_t start, uint64_t end)
{
	const struct lm_geometry *g = lm_geometry(ui->model);
	uint64_t gs, ge, k;

	if (!g->fs.group_size || g->fs.group_count < 2)
		return false;
	k = start / g->fs.group_size;
	for (uint64_t i = k; i <= k + 1 && i < g->fs.group_count; i++) {
		lm_group_range(ui->model, i, &gs, &ge);
		if (gs > 0 && gs >= start && gs < end)
			return true;
	}
	return false;
}

static void put_text(int y, int x, int w, int attr, const char *text)
{
	int n = (int)strlen(text);

	if (w <= 0)
		return;
	attrset(attr);
	mvhline(y, x, ' ', w);
	mvaddnstr(y, x, text, n < w ? n : w);
	attrset(A_NORMAL);
}

static void draw_title(struct ui *ui)
{
	char line[512], cs[32];
	const struct lm_geometry *g = lm_geometry(ui->model);
	uint64_t first =
	    ui->view_row * (uint64_t)ui->map_w * ui_map_cell_bytes(ui);
	uint64_t last = first + (uint64_t)ui->map_w * (uint64_t)ui->map_h *
	                            ui_map_cell_bytes(ui);

	if (last > ui->size)
		last = ui->size;
	units_format_size(ui_map_cell_bytes(ui), cs, sizeof(cs));
	snprintf(line, sizeof(line),
	         "%.200s (%.30s)  1 cell = %s, 0x%" PRIx64 "-0x%" PRIx64 "%s",
	         OUT_ESC(g->fs.mountpoint[0] ? g->fs.mountpoint : g->fs.device),
	         g->fs.fstype, cs, first, last ? last - 1 : 0,
	         ui->cell_blocks == 1 ? "  [1 block/cell]" : "");
	put_text(0, 0, ui->cols, ui_attr(ui, UI_ROLE_TITLE), line);
}

static void draw_legend(struct ui *ui, int y)
{
	int x = 0, rows = legend_rows(ui->cols);

	attrset(ui_attr(ui, UI_ROLE_LEGEND));
	for (int r = 0; r < rows; r++)
		mvhline(y + r, 0, ' ', ui->cols);
	for (size_t i = 0; i < LEGEND_N; i++) {
		const struct ui_cell_style *cs =
		    &ui_cell_styles[legend_order[i]];
		int need = 3 + (int)strlen(cs->name);

		if (x + need - 1 > ui->cols) {
			if (--rows <= 0)
				break;
			y++;
			x = 0;
		}
		attrset(ui_attr(ui, cs->role));
		mvaddch(y, x, (chtype)(unsigned char)cs->glyph);
		attrset(ui_attr(ui, UI_ROLE_LEGEND));
		mvaddstr(y, x + 1, " ");
		mvaddstr(y, x + 2, cs->name);
		x += need;
	}
	attrset(A_NORMAL);
}

/* Does [a, b) meet one of the n sorted, disjoint ranges v? */
static bool ranges_meet(const struct ui_range *v, size_t n, uint64_t a,
                        uint64_t b)
{
	size_t lo = 0, hi = n;

	/* the first range that ends after a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].start + v[mid].len <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].start < b;
}

void ui_map_draw(struct ui *ui)
{
	uint64_t cb = ui_map_cell_bytes(ui);
	uint64_t cur = cb ? ui->cursor / cb : 0;
	const struct lm_geometry *g = lm_geometry(ui->model);
	bool groups = g->fs.group_size && g->fs.group_size >= 4 * cb;

	draw_title(ui);
	for (int r = 0; r < ui->map_h; r++) {
		uint64_t row = ui->view_row + (uint64_t)r;

		if (ui->map_x > 1) {
			uint64_t a = row * (uint64_t)ui->map_w * cb;
			char t[32] = "";
			if (!ui->size || a < ui->size)
				snprintf(t, sizeof(t), "0x%0*" PRIx64,
				         ui->map_x - 3, a);
			put_text(ui->map_y + r, 0, ui->map_x,
			         ui_attr(ui, UI_ROLE_LEGEND), t);
		}
		for (int c = 0; c < ui->map_w; c++) {
			uint64_t idx = row * (uint64_t)ui->map_w + (uint64_t)c;
			uint64_t a = idx * cb, b = a + cb;
			enum ui_cell k;
			int attr;
			char glyph;

			if (ui->size && b > ui->size)
				b = ui->size;
			k = ui_map_classify(ui, a, b);
			glyph = ui_cell_styles[k].glyph;
			attr = ui_attr(ui, ui_cell_styles[k].role);
			if (ui->have_target && k != UI_CELL_OUTSIDE &&
			    a < ui->mark_end && b > ui->mark_start) {
				/* free cells show the target; the others
				 * what lies under it, in its colour */
				if (k == UI_CELL_FREE)
					glyph = ui_cell_styles[UI_CELL_TARGET]
					            .glyph;
				attr = ui_attr(ui, UI_ROLE_TARGET);
			}
			/* The search's matches (find, / n N). */
			if (k != UI_CELL_OUTSIDE && k != UI_CELL_SELECTED &&
			    ranges_meet(ui->hits, ui->nhits, a, b)) {
				glyph = ui_cell_styles[UI_CELL_MATCH].glyph;
				attr = ui_attr(ui, UI_ROLE_MATCH);
			}
			/* Preview (the planner's pending plan): the
			 * places it frees, and where the data goes. */
			if (k != UI_CELL_OUTSIDE &&
			    ranges_meet(ui->vacated, ui->nvacated, a, b)) {
				glyph = ui_cell_styles[UI_CELL_VACATED].glyph;
				attr = ui_attr(ui, UI_ROLE_SELECTED);
			}
			if (ranges_meet(ui->planned, ui->nplanned, a, b)) {
				glyph = ui_cell_styles[UI_CELL_PLANNED].glyph;
				attr = ui_attr(ui, UI_ROLE_PLANNED);
			}
			if (groups && k != UI_CELL_OUTSIDE &&
			    group_starts_in(ui, a, b))
				attr |= ui_attr(ui, UI_ROLE_GROUP);
			if (idx == cur)
				attr = ui_attr(ui, UI_ROLE_CURSOR);
			attrset(attr);
			mvaddch(ui->map_y + r, ui->map_x + c,
			        (chtype)(unsigned char)glyph);
		}
	}
	attrset(A_NORMAL);
	draw_legend(ui, ui->map_y + ui->map_h);
}

struct status_ctx {
	struct ui *ui;
	char *buf;
	size_t size, used;
	int shown, more;
	uint32_t first_file;
	int last_kind;
};

static void sc_add(struct status_ctx *sc, const char *text)
{
	int n;

	if (sc->used >= sc->size)
		return;
	n = snprintf(sc->buf + sc->used, sc->size - sc->used, "%s%s",
	             sc->shown ? ", " : "", text);
	if (n > 0)
		sc->used += (size_t)n < sc->size - sc->used
		                ? (size_t)n
		                : sc->size - sc->used - 1;
	sc->shown++;
}

static int status_owner(const struct lm_owner *o, void *arg)
{
	struct status_ctx *sc = arg;
	char t[300];

	/* Adjacent free (or unknown) records read as one. */
	if ((o->kind == LM_OWN_FREE || o->kind == LM_OWN_UNKNOWN) &&
	    (int)o->kind == sc->last_kind)
		return 0;
	sc->last_kind = (int)o->kind;
	if (sc->shown >= 2) {
		sc->more++;
		return 0;
	}
	switch (o->kind) {
	case LM_OWN_FREE:
		snprintf(t, sizeof(t), "free");
		break;
	case LM_OWN_META:
		snprintf(t, sizeof(t), "metadata (%s)",
		         o->label ? o->label : "?");
		break;
	case LM_OWN_FILE: {
		const char *p = lm_file_path(sc->ui->model, o->file, 0);
		snprintf(t, sizeof(t), "%s @ 0x%" PRIx64, p ? OUT_ESC(p) : "?",
		         o->logical);
		break;
	}
	default:
		snprintf(t, sizeof(t), "%s", LM_UNATTRIBUTED);
		break;
	}
	sc_add(sc, t);
	return 0;
}

void ui_map_status(struct ui *ui, char *buf, size_t size)
{
	uint64_t a, b;
	char owners[400], zoom[32];
	struct status_ctx sc = {ui, owners, sizeof(owners), 0, 0, 0, 0, -1};

	owners[0] = '\0';
	ui_map_cursor_range(ui, &a, &b);
	if (ui->model && b > a)
		lm_owners(ui->model, a, b, status_owner, &sc);
	if (sc.more) {
		char t[32];
		snprintf(t, sizeof(t), "+%d more", sc.more);
		sc_add(&sc, t);
	}
	snprintf(zoom, sizeof(zoom), "%" PRIu64 " block%s/cell",
	         ui->cell_blocks, ui->cell_blocks == 1 ? "" : "s");
	/* The right part (zoom, state) always shows; owners are cut. */
	char right[128], left[600];
	int w = ui->cols > 0 ? ui->cols : 80, rl, ll;

	rl = snprintf(right, sizeof(right), " | %s | %s%s%s", zoom,
	              ui->readonly ? "read-only" : "read-write",
	              ui->ro_why ? ": " : "", ui->ro_why ? ui->ro_why : "");
	ll = snprintf(left, sizeof(left), "0x%" PRIx64 "-0x%" PRIx64 " %s", a,
	              b ? b - 1 : 0, owners[0] ? owners : "-");
	if (ll + rl > w && w - rl > 3 && (size_t)(w - rl) < sizeof(left)) {
		left[w - rl - 3] = '\0';
		strcat(left, "...");
	}
	snprintf(buf, size, "%s%s", left, right);
}

struct first_file {
	uint32_t id, prefer;
};

static int first_file_cb(const struct lm_owner *o, void *arg)
{
	struct first_file *ff = arg;

	if (o->kind != LM_OWN_FILE)
		return 0;
	if (ff->id == LM_NONE)
		ff->id = o->file;
	if (o->file == ff->prefer) {
		ff->id = o->file;
		return 1;
	}
	return 0;
}

/* The file last jumped to or selected wins when it owns part of the cell
 * (at coarse zooms a cell holds several files). */
uint32_t ui_map_first_file(struct ui *ui, uint64_t start, uint64_t end)
{
	struct first_file ff = {LM_NONE, ui->pane_file};

	if (ui->model && end > start)
		lm_owners(ui->model, start, end, first_file_cb, &ff);
	return ff.id;
}

void ui_progress_format(char *buf, size_t size, int width,
                        const struct tx_progress *p)
{
	char bar[21], d[32], t[32], eta[32], files[64] = "";
	double frac = p->reserving ? (double)p->reserved / (double)p->reserving
	              : p->total   ? (double)p->done / (double)p->total
	                           : 1.0;
	int fill, n;

	if (frac > 1)
		frac = 1;
	fill = (int)(frac * 10);
	for (int i = 0; i < 10; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[10] = '\0';
	if (p->reserving) {
		/* before the first step: the targets are being held */
		snprintf(buf, size,
		         "[%s] holding the targets of %zu steps: %zu", bar,
		         p->reserving, p->reserved);
		if (width >= 0 && strlen(buf) > (size_t)width &&
		    (size_t)width < size)
			buf[width] = '\0';
		return;
	}
	units_format_size(p->done, d, sizeof(d));
	units_format_size(p->total, t, sizeof(t));
	units_format_eta(p->eta, eta, sizeof(eta));
	if (p->files > 1) /* one file: the step says it */
		snprintf(files, sizeof(files), "%zu/%zu files, ", p->files_done,
		         p->files);
	n = snprintf(buf, size,
	             "[%s] %d%% %s%s of %s, %.1f MB/s, ETA %s, step %zu/%zu ",
	             bar, (int)(frac * 100), files, d, t, p->rate / 1048576.0,
	             eta, p->step + 1, p->nsteps);
	if (n < 0 || (size_t)n >= size)
		return;
	if (p->path) {
		/* the path's end matters most: elide its start to fit */
		const char *e = OUT_ESC(p->path);
		size_t el = strlen(e);
		long room = width >= 0 ? (long)width - n : (long)el;

		if ((long)el > room && room > 3) {
			e += el - (size_t)(room - 3);
			snprintf(buf + n, size - (size_t)n, "...%s", e);
		} else {
			snprintf(buf + n, size - (size_t)n, "%s", e);
		}
	}
	if (width >= 0 && strlen(buf) > (size_t)width && (size_t)width < size)
		buf[width] = '\0';
	n = (int)strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}
