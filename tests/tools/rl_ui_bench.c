/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Map redraw benchmark: a synthetic model of N extents (files of 1..8
 * extents scattered over a volume with free space between them), then the
 * time of full redraws of a COLSxROWS map at the outermost zoom and at a
 * 16x zoom, drawn into a curses screen writing to /dev/null.
 *
 *   rl_ui_bench [EXTENTS [COLS ROWS [REPEATS]]]   (default 1000000 200 60 20)
 */
#include "config.h"
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "layout_model.h"
#include "ui.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t next = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	int cols = argc > 3 ? atoi(argv[2]) : 200;
	int rows = argc > 3 ? atoi(argv[3]) : 60;
	int reps = argc > 4 ? atoi(argv[4]) : 20;
	const uint64_t bs = 4096, ext_len = 8 * bs, gap = 4 * bs;
	struct rl_fs_info fs = {.mountpoint = "/bench",
	                        .fstype = "ext4",
	                        .type = RL_FS_EXT4,
	                        .block_size = 4096};
	struct lm_geometry g;
	struct lm_model *m;
	struct ui ui;
	uint64_t addr = 0, done = 0;
	uint32_t id, nf = 0;
	double t0, t1;
	FILE *devnull;
	SCREEN *scr;

	fs.size = next * (ext_len + gap) + (1 << 20);
	fs.group_size = 128ull << 20;
	fs.group_count = (fs.size + fs.group_size - 1) / fs.group_size;
	lm_geometry_from_fs(&g, &fs);
	m = lm_new(&g);
	if (!m)
		return 1;
	t0 = now();
	while (done < next) {
		struct rl_extent e[8];
		unsigned n = 1 + (unsigned)(done % 8);
		char path[32];
		struct lm_file_info fi = {.ino = 100 + nf,
		                          .mode = S_IFREG | 0644};

		if (n > next - done)
			n = (unsigned)(next - done);
		for (unsigned i = 0; i < n; i++) {
			e[i] =
			    (struct rl_extent){i * ext_len, addr, ext_len, 0};
			lm_add_free(m, addr + ext_len, gap);
			addr += ext_len + gap;
		}
		fi.size = n * ext_len;
		snprintf(path, sizeof(path), "f%u", nf++);
		if (lm_add_file(m, &fi, path, e, n, &id) < 0)
			return 1;
		done += n;
	}
	lm_sync(m);
	t1 = now();
	fprintf(stderr,
	        "model: %llu extents, %u files, %.1f MiB, built in "
	        "%.2f s\n",
	        (unsigned long long)next, nf, lm_memory(m) / 1048576.0,
	        t1 - t0);

	devnull = fopen("/dev/null", "w");
	setenv("TERM", "xterm-256color", 0);
	scr = newterm(NULL, devnull, stdin);
	if (!scr)
		return 1;
	resizeterm(rows, cols);
	memset(&ui, 0, sizeof(ui));
	ui.model = m;
	ui.pane_file = LM_NONE;
	ui.active = true;
	ui.no_color = true;
	ui.rows = rows;
	ui.cols = cols;
	ui_map_layout(&ui);
	for (int z = 0; z < 2; z++) {
		double best = 1e9, sum = 0;
		if (z == 1)
			ui_map_zoom_to(&ui, ui.max_cell_blocks / 16);
		for (int r = 0; r < reps; r++) {
			t0 = now();
			ui_draw(&ui);
			t1 = now();
			sum += t1 - t0;
			if (t1 - t0 < best)
				best = t1 - t0;
		}
		fprintf(stderr,
		        "%s zoom (%llu blocks/cell), %dx%d map: redraw best "
		        "%.2f ms, mean %.2f ms\n",
		        z ? "16x" : "outermost",
		        (unsigned long long)ui.cell_blocks, ui.map_w, ui.map_h,
		        best * 1e3, sum / reps * 1e3);
	}
	endwin();
	delscreen(scr);
	fclose(devnull);
	lm_free(m);
	return 0;
}
