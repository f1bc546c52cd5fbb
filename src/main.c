/* SPDX-License-Identifier: GPL-2.0-or-later */
/* relayout: command line entry point. */
#include "config.h"
#include <errno.h>
#include <getopt.h>
#include <relayout/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd_model.h"
#include "commands.h"
#include "demo.h"
#include "output.h"
#include "session.h"
#include "ui.h"
#include "vlock.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: relayout [OPTIONS] [PATH]\n"
	    "Show where files physically live on a mounted filesystem and "
	    "move data\nwhere you choose, online.\n\n"
	    "PATH is any file or directory on the mounted filesystem "
	    "(default: the\ncurrent directory).\n\n"
	    "Options:\n"
	    "  -e, --execute 'CMD; CMD'  run commands (repeatable)\n"
	    "  -x, --script FILE         run a command script ('-': "
	    "stdin; repeatable)\n"
	    "      --json                one JSON document per command "
	    "(byte units)\n"
	    "  -k, --keep-going          continue after a failed command\n"
	    "  -r, --record FILE         append every command run to FILE, a "
	    "replayable\n                            script (paths relative to "
	    "the volume)\n"
	    "  -f, --force               replay a script recorded on another "
	    "volume\n"
	    "      --theme NAME          UI colour theme (default, "
	    "high-contrast, mono,\n                            light; "
	    "NO_COLOR selects mono)\n"
	    "      --ui                  open the UI even with -e/-x (run "
	    "them in it first)\n"
	    "      --journal-dir DIR     keep the undo journal in DIR "
	    "(default\n                            $RELAYOUT_JOURNAL_DIR, "
	    "else /var/lib/relayout\n                            as root, "
	    "$XDG_STATE_HOME/relayout/journal\n"
	    "                            (~/.local/state/...) "
	    "otherwise)\n"
	    "      --demo[=KIND]         make a scratch fragmented volume "
	    "(ext4, xfs or\n                            btrfs; root) and "
	    "open it; it is removed at exit;\n"
	    "                            the same volume (UUID, files, "
	    "layout) every time\n"
	    "  -h, --help                this help; 'relayout -e help' "
	    "lists commands\n"
	    "  -V, --version             print the version\n\n"
	    "Without -e or -x relayout opens the interactive map (a "
	    "terminal is needed).\n"
	    "PATH may also be a JSON snapshot (read-only view).\n"
	    "Exit status: 0 all commands succeeded, 1 a command failed, "
	    "2 usage error.\n");
}

/* Tunables a killed run left changed: put back, and say so. */
static void report_restored(const struct rl_tunable_restored *r, void *arg)
{
	(void)arg;
	if (r->err == 0)
		fprintf(stderr,
		        "relayout: restored /sys/fs/ext4/%s/%s to %s (left "
		        "changed by an interrupted run)\n",
		        r->dev, r->name, r->value);
	else
		fprintf(stderr,
		        "relayout: could not restore /sys/fs/ext4/%s/%s to %s: "
		        "%s\n",
		        r->dev, r->name, r->value, rl_strerror(r->err));
}

/* Put back the ext4 tunables that placements killed mid-way (SIGKILL, a
 * crash) left changed, from the journals they left in dir. */
static void recover_tunables(const char *dir)
{
	int r = rl_tunables_recover(dir, report_restored, NULL);

	if (r < 0 && r != -EACCES && r != -EPERM)
		fprintf(stderr,
		        "relayout: checking %s for tunables to "
		        "restore: %s\n",
		        dir, rl_strerror(r));
}

/* relayout --demo: the scratch volume, removed at exit however main ends
 * (a crash takes the mount namespace and the loop device with it). */
static struct demo_volume demo;

static void demo_at_exit(void)
{
	demo_destroy(&demo);
}

/* Make the demo volume and point the session (and, unless the user chose
 * otherwise, the journal and state directories) at it. */
static int demo_start(struct rl_session *s, const char *kind)
{
	char why[512], dir[PATH_MAX + 16];
	int r = demo_create(kind, &demo, why, sizeof(why));

	if (r < 0) {
		fprintf(stderr, "relayout: %s\n", why);
		return r;
	}
	atexit(demo_at_exit);
	snprintf(dir, sizeof(dir), "%s/journal", demo.dir);
	if (!s->journal_dir)
		setenv("RELAYOUT_JOURNAL_DIR", dir, 0);
	fprintf(stderr,
	        "relayout: demo volume (%s on %s) at %s; it is removed when "
	        "relayout exits\n",
	        kind, demo.loopdev, demo.mnt);
	s->path = strdup(demo.mnt);
	return s->path ? 0 : -ENOMEM;
}

struct action {
	char kind; /* 'e' or 'x' */
	const char *text;
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"execute", required_argument, NULL, 'e'},
	    {"script", required_argument, NULL, 'x'},
	    {"json", no_argument, NULL, 'j'},
	    {"keep-going", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"record", required_argument, NULL, 'r'},
	    {"force", no_argument, NULL, 'f'},
	    {"theme", required_argument, NULL, 't'},
	    {"ui", no_argument, NULL, 'u'},
	    {"journal-dir", required_argument, NULL, 'J'},
	    {"demo", optional_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0},
	};
	struct rl_session s;
	struct action *acts;
	int nacts = 0, opt;
	const char *record = NULL, *theme = NULL, *demo_kind = NULL;
	bool want_ui = false;
	enum cmd_status st = CMD_OK;
	int rc, snap;

	acts = calloc((size_t)argc + 1, sizeof(*acts));
	if (!acts) {
		fprintf(stderr, "relayout: out of memory\n");
		return 1;
	}
	session_init(&s);
	s.frontend = &ui_frontend;
	while ((opt = getopt_long(argc, argv, "e:x:r:fkhV", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'e':
		case 'x':
			acts[nacts].kind = (char)opt;
			acts[nacts++].text = optarg;
			break;
		case 'r':
			record = optarg;
			break;
		case 'f':
			s.force = true;
			break;
		case 't':
			theme = optarg;
			break;
		case 'u':
			want_ui = true;
			break;
		case 'D':
			demo_kind = optarg ? optarg : "ext4";
			break;
		case 'J':
			free(s.journal_dir);
			s.journal_dir = strdup(optarg);
			break;
		case 'j':
			s.json = true;
			break;
		case 'k':
			s.continue_on_error = true;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'V':
			printf("relayout %s\n", PACKAGE_VERSION);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = CMD_USAGE;
			goto out;
		}
	}
	{
		char buf[4096];
		const char *dir = vl_state_dir(buf, sizeof(buf));
		const char *env = getenv(VL_ENV_STATE_DIR);

		if (dir)
			recover_tunables(dir);
		/* where earlier versions saved them: before the volume
		 * lock, and where the variable said */
		if (!dir || strcmp(dir, VL_OLD_STATE_DIR))
			recover_tunables(VL_OLD_STATE_DIR);
		if (env && *env && (!dir || strcmp(dir, env)) &&
		    strcmp(env, VL_OLD_STATE_DIR))
			recover_tunables(env);
	}
	if (argc - optind > 1) {
		fprintf(stderr,
		        "relayout: expected one PATH, got %d "
		        "(see relayout --help)\n",
		        argc - optind);
		rc = CMD_USAGE;
		goto out;
	}
	if (demo_kind && argc - optind > 0) {
		fprintf(stderr, "relayout: --demo makes its own volume: no "
		                "PATH (see relayout --help)\n");
		rc = CMD_USAGE;
		goto out;
	}
	if (demo_kind) {
		int r = demo_start(&s, demo_kind);
		if (r < 0) {
			rc = r == -EINVAL ? CMD_USAGE : CMD_FAIL;
			goto out;
		}
	} else {
		s.path = strdup(optind < argc ? argv[optind] : ".");
	}
	if (!s.path) {
		rc = 1;
		goto out;
	}
	/* relayout SNAPSHOT.json: a read-only view of a snapshot */
	snap = cmd_model_open_snapshot(&s);
	if (snap < 0) {
		rc = CMD_FAIL;
		goto out;
	}
	if (nacts == 0)
		want_ui = true;
	if (want_ui && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr,
		        "relayout: the interactive map needs a terminal "
		        "(standard input and output are not both one).\n"
		        "For batch use give commands: relayout -e '%s' %s\n"
		        "or a script: relayout -x SCRIPT %s\n",
		        snap ? "frag; freefrag" : "info; free --map --summary",
		        s.path, s.path);
		rc = CMD_USAGE;
		goto out;
	}
	if (record) {
		int r = session_record_start(&s, record);
		if (r < 0) {
			fprintf(stderr, "relayout: %s: cannot record: %s\n",
			        OUT_ESC(record), session_record_strerror(r));
			rc = CMD_FAIL;
			goto out;
		}
	}
	if (want_ui) {
		const char **lines = calloc((size_t)nacts + 1, sizeof(*lines));
		char *kinds = calloc((size_t)nacts + 1, 1);
		rc = 1;
		if (lines && kinds) {
			for (int i = 0; i < nacts; i++) {
				lines[i] = acts[i].text;
				kinds[i] = acts[i].kind;
			}
			rc = ui_run(&s, theme, lines, kinds, nacts);
		}
		free(lines);
		free(kinds);
		goto out;
	}
	for (int i = 0; i < nacts; i++) {
		enum cmd_status r = acts[i].kind == 'e'
		                        ? cmd_exec_line(&s, acts[i].text)
		                        : cmd_exec_file(&s, acts[i].text);
		if (r > st)
			st = r;
		if (s.stop_signal) {
			if (st < CMD_FAIL)
				st = CMD_FAIL;
			break;
		}
		if (r != CMD_OK && !s.continue_on_error)
			break;
	}
	rc = (int)st;
out:
	free(acts);
	session_free(&s);
	return rc;
}
