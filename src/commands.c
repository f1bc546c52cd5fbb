/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command table, the tokenizer, the parser and the executor. */
#include "config.h"
#include "commands.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "layout_model.h"
#include "mem.h"
#include "output.h"
#include "session.h"
#include "session_model.h"
#include "units.h"

const struct cmd_opt cmd_opts_select[] = {
    {"off", NULL, "deselect instead of select"},
    {NULL, NULL, NULL},
};

/* The handler of every UI command: the front end's. */
static enum cmd_status ui_command(struct rl_session *s,
                                  const struct cmd_call *c)
{
	const struct rl_frontend *fe = s->frontend;
	cmd_handler h = fe && fe->commands ? fe->commands[c->def->ui_id] : NULL;

	if (!h) {
		session_error(s, "needs the interactive UI, which this "
		                 "program does not have");
		return CMD_FAIL;
	}
	return h(s, c);
}

#define ROW(n, a, mn, mx, fl, o, h)                                            \
	.name = n, .args = a, .argmin = mn, .argmax = mx, .flags = fl,         \
	.opts = o, .help = h
#define X(n, id, a, mn, mx, fl, o, h)                                          \
	{ROW(n, a, mn, mx, fl, o, h), .handler = cmd_##id},
#define XUI(n, id, a, mn, mx, fl, o, h)                                        \
	{ROW(n, a, mn, mx, fl, o, h), .handler = ui_command,                   \
	 .ui_id = CMD_UI_##id},
const struct cmd_def cmd_table[] = {RL_COMMAND_TABLE(X, XUI)};
#undef XUI
#undef X
#undef ROW
const size_t cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);

const struct cmd_flag_note cmd_flag_notes[] = {
    {CMD_F_DISK, "changes the disk"},
    {CMD_F_ROOT_MAP, "needs root on btrfs, for its free-space map; any "
                     "user on ext4 and XFS"},
    {CMD_F_ROOT_EXT4, "needs root on ext4: exact placement reads the "
                      "device's geometry and changes the allocator's "
                      "tunables; any user on XFS, for the files they may "
                      "write"},
    {CMD_F_UI, "interactive only"},
};
const size_t cmd_flag_notes_len =
    sizeof(cmd_flag_notes) / sizeof(cmd_flag_notes[0]);

const char *cmd_map_root_hint(int err)
{
	return err == -EPERM || err == -EACCES
	           ? " (the free-space map needs root)"
	           : "";
}

void cmd_root_hint(struct rl_session *s, int err)
{
	if (err != -EOPNOTSUPP || s->fs.type != RL_FS_EXT4 || geteuid() == 0)
		return;
	for (size_t i = 0; i < cmd_flag_notes_len; i++)
		if (cmd_flag_notes[i].flag == CMD_F_ROOT_EXT4)
			fprintf(s->err, "relayout: note: %s %s\n",
			        s->cur_cmd ? s->cur_cmd : "relayout",
			        cmd_flag_notes[i].note);
}

/* Longest input line a script may have. */
#define CMD_MAX_LINE 65536
/* Deepest nesting of `source`. */

const struct cmd_def *cmd_find(const char *name)
{
	for (size_t i = 0; i < cmd_table_len; i++)
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	return NULL;
}

bool cmd_has_opt(const struct cmd_call *c, const char *name, const char **val)
{
	const struct cmd_opt *o = c->def->opts;

	for (int i = 0; o && o[i].name; i++) {
		if (strcmp(o[i].name, name) == 0 && (c->opts & (1u << i))) {
			if (val)
				*val = c->optval[i];
			return true;
		}
	}
	return false;
}

/* Word k of d's synopsis (the last one repeats when it ends "..."), less
 * its brackets and dots, into *w, *wl. false: there is none. */
static bool synopsis_word(const struct cmd_def *d, int k, const char **w,
                          size_t *wl)
{
	const char *p = d->args;

	*w = NULL;
	*wl = 0;
	if (k < 0)
		return false;
	for (int i = 0; *p; i++) {
		p += strspn(p, " ");
		if (!*p)
			break;
		*w = p;
		*wl = strcspn(p, " ");
		p += *wl;
		if (i == k)
			break;
		if (!*p && !(*wl > 3 && !strncmp(*w + *wl - 3, "...", 3)) &&
		    !(*wl > 4 && !strncmp(*w + *wl - 4, "...]", 4)))
			return false;
	}
	if (!*w)
		return false;
	if (**w == '[') {
		(*w)++;
		(*wl)--;
	}
	while (*wl && ((*w)[*wl - 1] == ']' || (*w)[*wl - 1] == '.'))
		(*wl)--;
	return true;
}

bool cmd_arg_is_path(const struct cmd_def *d, int k)
{
	static const char *const names[] = {"FILE", "PATH", "DATAFILE",
	                                    "SPACEFILE"};
	const char *w;
	size_t wl;

	if (!(d->flags & CMD_F_PATHS) || !synopsis_word(d, k, &w, &wl))
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == wl && !strncmp(w, names[i], wl))
			return true;
	return false;
}

bool cmd_arg_names_file(const struct cmd_def *d, int k, const char *arg)
{
	const char *w, *end;
	size_t wl;
	bool file = false;
	uint64_t v;

	if (!(d->flags & CMD_F_PATHS) || !synopsis_word(d, k, &w, &wl) ||
	    !memchr(w, '|', wl))
		return false;
	if (strchr(arg, '>') && strchr(d->args, '>'))
		return false; /* a filter: frag>N, size>SIZE */
	for (end = w + wl; w < end;) {
		size_t al = strcspn(w, "| ");
		if (w + al > end)
			al = (size_t)(end - w);
		if (al == 4 && !strncmp(w, "FILE", 4))
			file = true;
		else if (al == 4 && !strncmp(w, "ADDR", 4) &&
		         units_parse_size(arg, &v) == 0)
			return false; /* an address */
		else if (strlen(arg) == al && !strncmp(w, arg, al))
			return false; /* a keyword: clear, path */
		w += al + 1;
	}
	return file;
}

void cmd_synopsis(const struct cmd_def *d, char *buf, size_t size)
{
	size_t used = 0;
	int n = snprintf(buf, size, "%s", d->name);

	used = n > 0 ? (size_t)n : 0;
	for (int i = 0; d->opts && d->opts[i].name && used < size; i++) {
		n = snprintf(buf + used, size - used, " [--%s%s%s]",
		             d->opts[i].name, d->opts[i].arg ? " " : "",
		             d->opts[i].arg ? d->opts[i].arg : "");
		if (n < 0)
			return;
		used += (size_t)n;
	}
	if (d->args[0] && used < size)
		snprintf(buf + used, size - used, " %s", d->args);
}

/* ------------------------------------------------------------- tokenizer */

struct words {
	char **v;
	size_t n, cap;
};

static int words_push(struct words *w, char *word)
{
	if (w->n + 2 > w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 8;
		char **p;

		if (ncap > CMD_MAX_ARGS + 2)
			ncap = CMD_MAX_ARGS + 2;
		if (w->n + 2 > ncap)
			return -E2BIG;
		p = realloc(w->v, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->v = p;
		w->cap = ncap;
	}
	w->v[w->n++] = word;
	w->v[w->n] = NULL;
	return 0;
}

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

void cmd_free_split(char ***cmds, size_t ncmds)
{
	for (size_t i = 0; i < ncmds; i++) {
		for (size_t k = 0; cmds[i] && cmds[i][k]; k++)
			free(cmds[i][k]);
		free(cmds[i]);
	}
	free(cmds);
}

static int push_cmd(char ****cmds, size_t *n, size_t *cap, struct words *w)
{
	if (w->n == 0)
		return 0;
	if (mem_grow(cmds, cap, *n + 1, sizeof(**cmds)) < 0)
		return -ENOMEM;
	(*cmds)[(*n)++] = w->v;
	memset(w, 0, sizeof(*w));
	return 0;
}

int cmd_split(const char *line, char ****out, size_t *nout)
{
	size_t len = strlen(line);
	char ***cmds = NULL;
	size_t ncmds = 0, cmds_cap = 0;
	struct words w = {0};
	char *buf = NULL;
	size_t blen = 0;
	bool inword = false;
	int ret = 0;
	const char *p = line;

	*out = NULL;
	*nout = 0;
	if (len > CMD_MAX_LINE)
		return -E2BIG;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;

	for (;;) {
		char ch = *p;

		if (ch == '\0' || ch == ';' || ch == ' ' || ch == '\t' ||
		    ch == '\n' || ch == '\r') {
			if (inword) {
				char *word = strndup(buf, blen);
				if (!word) {
					ret = -ENOMEM;
					goto fail;
				}
				ret = words_push(&w, word);
				if (ret < 0) {
					free(word);
					goto fail;
				}
				inword = false;
				blen = 0;
			}
			if (ch == ';' || ch == '\0') {
				ret = push_cmd(&cmds, &ncmds, &cmds_cap, &w);
				if (ret < 0)
					goto fail;
			}
			if (ch == '\0')
				break;
			p++;
			continue;
		}
		if (ch == '#' && !inword) {
			/* comment to the end of the line */
			while (*p && *p != '\n')
				p++;
			continue;
		}
		inword = true;
		if (ch == '\'') {
			p++;
			while (*p && *p != '\'')
				buf[blen++] = *p++;
			if (*p != '\'') {
				ret = -EINVAL;
				goto fail;
			}
			p++;
		} else if (ch == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				buf[blen++] = *p++;
			}
			if (*p != '"') {
				ret = -EINVAL;
				goto fail;
			}
			p++;
		} else if (ch == '\\') {
			p++;
			if (*p)
				buf[blen++] = *p++;
		} else {
			buf[blen++] = ch;
			p++;
		}
	}
	free(buf);
	*out = cmds;
	*nout = ncmds;
	return 0;
fail:
	free(buf);
	words_free(&w);
	cmd_free_split(cmds, ncmds);
	return ret;
}

/* ---------------------------------------------------------------- parser */

enum cmd_status cmd_parse(int argc, char **argv, struct cmd_call *c, char *err,
                          size_t errlen)
{
	const struct cmd_def *d;
	int i, npos = 0;
	bool opts_done = false;

	memset(c, 0, sizeof(*c));
	if (argc < 1) {
		snprintf(err, errlen, "empty command");
		return CMD_USAGE;
	}
	d = cmd_find(argv[0]);
	if (!d) {
		snprintf(err, errlen, "unknown command '%s' (try 'help')",
		         argv[0]);
		return CMD_USAGE;
	}
	c->def = d;
	c->words = argv;
	c->nwords = argc;
	for (i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (!opts_done && a[0] == '-' && a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			int k;

			for (k = 0; d->opts && d->opts[k].name; k++)
				if (strlen(d->opts[k].name) == nlen &&
				    strncmp(d->opts[k].name, name, nlen) == 0)
					break;
			if ((!d->opts || !d->opts[k].name) && nlen == 4 &&
			    strncmp(name, "json", 4) == 0) {
				/* Every command takes --json: the global
				 * option for this command only. */
				if (eq) {
					snprintf(err, errlen,
					         "%s: option '--json' takes no "
					         "value",
					         d->name);
					return CMD_USAGE;
				}
				c->json = true;
				continue;
			}
			if (!d->opts || !d->opts[k].name) {
				snprintf(err, errlen, "%s: unknown option '%s'",
				         d->name, a);
				return CMD_USAGE;
			}
			if (d->opts[k].arg) {
				if (eq) {
					c->optval[k] = eq + 1;
				} else if (i + 1 < argc) {
					c->optval[k] = argv[++i];
				} else {
					snprintf(err, errlen,
					         "%s: option '--%s' needs a "
					         "value (%s)",
					         d->name, d->opts[k].name,
					         d->opts[k].arg);
					return CMD_USAGE;
				}
			} else if (eq) {
				snprintf(err, errlen,
				         "%s: option '--%s' takes no value",
				         d->name, d->opts[k].name);
				return CMD_USAGE;
			}
			c->opts |= 1u << k;
			continue;
		}
		if (npos >= CMD_MAX_ARGS) {
			snprintf(err, errlen,
			         "%s: too many arguments (at most %d)", d->name,
			         CMD_MAX_ARGS);
			return CMD_USAGE;
		}
		c->argv[npos++] = a;
	}
	c->argc = npos;
	c->argv[npos] = NULL;
	if (npos < d->argmin || npos > d->argmax) {
		char syn[512];
		int want = npos < d->argmin ? d->argmin : d->argmax;
		const char *how = d->argmin == d->argmax ? ""
		                  : npos < d->argmin     ? "at least "
		                                         : "at most ";

		cmd_synopsis(d, syn, sizeof(syn));
		snprintf(err, errlen,
		         "%s: expected %s%d argument%s, got %d (usage: %s)",
		         d->name, how, want, want == 1 ? "" : "s", npos, syn);
		return CMD_USAGE;
	}
	return CMD_OK;
}

/* -------------------------------------------------------------- executor */

/* Word i of c, or its replacement from args when it is a positional
 * argument that args replaces. */
static const char *call_word(const struct cmd_call *c, const char *const *args,
                             int i)
{
	for (int k = 0; args && i > 0 && k < c->argc; k++)
		if (c->argv[k] == c->words[i] && args[k])
			return args[k];
	return c->words[i];
}

/* words[0..n) to f, quoted, separated by blanks; with c, those of the
 * call (call_word). */
static void put_words(FILE *f, const struct cmd_call *c, char *const *words,
                      int n, const char *const *args)
{
	for (int i = 0; i < n; i++) {
		fputs(i ? " " : "", f);
		units_put_word(f, c ? call_word(c, args, i) : words[i]);
	}
}

static char *call_text(const struct cmd_call *c, char *const *words, int n,
                       const char *const *args)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	put_words(f, c, words, n, args);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *cmd_words_text(char *const *words, int n)
{
	return call_text(NULL, words, n, NULL);
}

char *cmd_call_text(const struct cmd_call *c, const char *const *args)
{
	return call_text(c, c->words, c->nwords, args);
}

/* Write the command to the recording: its path arguments (rel[i] for
 * word i when not NULL) relative to the volume's root, so that it
 * replays on another volume (or a fresh demo). */
static void record_command(struct rl_session *s, char **argv, char **rel)
{
	int n = 0;

	if (!s->record)
		return;
	while (argv[n])
		n++;
	for (int i = 0; i < n; i++) {
		fputs(i ? " " : "", s->record);
		units_put_word(s->record, rel && rel[i] ? rel[i] : argv[i]);
	}
	fputc('\n', s->record);
	fflush(s->record);
}

/* The executor's one path resolver: each path argument of c (see
 * cmd_arg_is_path) becomes the path under the mount point in argv (the
 * handler sees it; the journal records it), and its volume-relative form
 * goes to rel (for the recording). 0, or -errno after reporting. */
static int resolve_path_args(struct rl_session *s, struct cmd_call *c,
                             char **argv, char **rel)
{
	for (int k = 0; k < c->argc; k++) {
		char buf[4096], *abs = NULL;
		int i = 1, r;

		while (argv[i] && argv[i] != c->argv[k])
			i++;
		if (!argv[i])
			continue;
		if (!cmd_arg_is_path(c->def, k)) {
			/* goto FILE, select FILE: the handler resolves it;
			 * the recording gets the model's path */
			uint32_t id;
			if (!s->model ||
			    !cmd_arg_names_file(c->def, k, argv[i]) ||
			    (id = session_model_find(s, s->model, argv[i])) ==
			        LM_NONE)
				continue;
			rel[i] = strdup(lm_file_path(s->model, id, 0));
			if (!rel[i])
				return -ENOMEM;
			continue;
		}
		r = session_resolve_path(s, argv[i], buf, sizeof(buf), &abs);
		if (r < 0)
			return r;
		rel[i] = strdup(buf);
		if (!rel[i]) {
			free(abs);
			return -ENOMEM;
		}
		free(argv[i]);
		argv[i] = abs;
		c->argv[k] = abs;
	}
	return 0;
}

/* Why a command that would change the disk cannot run in this session,
 * before it starts (NULL: it may). */
static const char *change_refused(struct rl_session *s,
                                  const struct cmd_call *c)
{
	if (!(c->def->flags & CMD_F_ROOT_EXT4) ||
	    cmd_has_opt(c, "dry-run", NULL) || s->read_only_snapshot ||
	    (s->plan_mode && strcmp(c->def->name, "apply") != 0))
		return NULL;
	/* allocate places exactly only with --fixed-start (else it is
	 * fallocate, which any user may) */
	if (!strcmp(c->def->name, "allocate") &&
	    !cmd_has_opt(c, "fixed-start", NULL))
		return NULL;
	return session_change_refusal(s);
}

static enum cmd_status exec_call(struct rl_session *s, struct cmd_call *cp,
                                 char **argv, char **rel);

static enum cmd_status exec_words(struct rl_session *s, char **argv)
{
	struct cmd_call c;
	char err[1024], **rel;
	enum cmd_status st;
	int argc = 0;
	const char *saved = s->cur_cmd;

	while (argv[argc])
		argc++;
	st = cmd_parse(argc, argv, &c, err, sizeof(err));
	if (st != CMD_OK) {
		s->cur_cmd = NULL;
		session_error(s, "%s", err);
		s->cur_cmd = saved;
		return st;
	}
	s->cur_cmd = c.def->name;
	rel = calloc((size_t)argc + 1, sizeof(*rel));
	if (!rel) {
		session_error(s, "out of memory");
		st = CMD_FAIL;
	} else if ((c.def->flags & CMD_F_PATHS) && c.argc &&
	           (s->model || (s->path && !s->read_only_snapshot)) &&
	           resolve_path_args(s, &c, argv, rel) < 0) {
		st = CMD_FAIL;
	} else {
		st = exec_call(s, &c, argv, rel);
		if (s->frontend && s->frontend->after)
			s->frontend->after(s);
	}
	for (int i = 0; rel && i < argc; i++)
		free(rel[i]);
	free(rel);
	s->cur_cmd = saved;
	return st;
}

static enum cmd_status exec_call(struct rl_session *s, struct cmd_call *cp,
                                 char **argv, char **rel)
{
	struct cmd_call c = *cp;
	const char *saved = s->cur_cmd, *why;
	enum cmd_status st;
	uint64_t group = s->txn_group; /* a command's transactions: one group */

	/* A snapshot is a read-only view: nothing may change the disk. */
	if (s->read_only_snapshot && (c.def->flags & CMD_F_DISK)) {
		session_error(s, "the view is a snapshot (read-only)");
		s->cur_cmd = saved;
		return CMD_FAIL;
	}
	/* Refused before anything runs, with the real reason (not root on
	 * ext4), rather than failing half-way with "not supported". */
	why = change_refused(s, &c);
	if (why) {
		session_error(s, "%s", why);
		s->cur_cmd = saved;
		return CMD_FAIL;
	}
	/* One relayout at a time changes a volume: the first command that
	 * would (a dry run changes nothing) takes the volume lock for the
	 * rest of the session. */
	if ((c.def->flags & CMD_F_DISK) && !cmd_has_opt(&c, "dry-run", NULL) &&
	    session_volume_lock(s) < 0) {
		s->cur_cmd = saved;
		return CMD_FAIL;
	}
	if (!(c.def->flags & CMD_F_NOREC))
		record_command(s, argv, rel);
	bool json = s->json;
	if (c.json)
		s->json = true;
	/* A command on the mounted volume itself: probe it (once a session),
	 * or say why there is none (no path, a snapshot, probe failed). */
	s->txn_group = 0;
	if ((c.def->flags & CMD_F_LIVE) && session_volume(s) < 0)
		st = CMD_FAIL;
	else
		st = c.def->handler(s, &c);
	s->txn_group = group;
	if (c.json)
		s->json = json;
	s->cur_cmd = saved;
	return st;
}

static enum cmd_status worst(enum cmd_status a, enum cmd_status b)
{
	return a > b ? a : b;
}

enum cmd_status cmd_exec_line(struct rl_session *s, const char *line)
{
	char ***cmds;
	size_t n;
	enum cmd_status st = CMD_OK;
	int ret = cmd_split(line, &cmds, &n);

	if (ret < 0) {
		if (ret == -E2BIG)
			session_error(
			    s,
			    "line too long (at most %d characters) or "
			    "too many arguments (at most %d words per "
			    "command: split a long list into several "
			    "commands joined with ';')",
			    CMD_MAX_LINE, CMD_MAX_ARGS);
		else
			session_error(s, "%s",
			              ret == -EINVAL ? "unterminated quote"
			                             : "out of memory");
		return CMD_USAGE;
	}
	for (size_t i = 0; i < n; i++) {
		enum cmd_status r = exec_words(s, cmds[i]);
		st = worst(st, r);
		if (s->stop_signal) {
			st = worst(st, CMD_FAIL);
			break;
		}
		if (r != CMD_OK && !s->continue_on_error)
			break;
	}
	cmd_free_split(cmds, n);
	return st;
}

/* Read one line of at most CMD_MAX_LINE bytes into buf (size
 * CMD_MAX_LINE + 2). Returns its length, 0 at the end of the file, -E2BIG
 * for a longer line (the rest of which is not read), -EILSEQ for a NUL
 * byte, or -errno for a read error. */
static ssize_t read_script_line(FILE *f, char *buf)
{
	size_t len = 0;
	int ch;

	while ((ch = getc(f)) != EOF) {
		if (ch == '\0')
			return -EILSEQ;
		if (len == CMD_MAX_LINE)
			return -E2BIG;
		buf[len++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (ch == EOF && ferror(f))
		return errno ? -errno : -EIO;
	buf[len] = '\0';
	return (ssize_t)len;
}

enum cmd_status cmd_exec_file(struct rl_session *s, const char *path)
{
	FILE *f;
	char *line;
	ssize_t len;
	enum cmd_status st = CMD_OK;
	const char *saved_name = s->src_name;
	int saved_line = s->src_line;
	int lineno = 0;
	struct stat sb;

	if (s->source_depth >= RL_SOURCE_MAX) {
		session_error(s, "%s: scripts nested deeper than %d", path,
		              RL_SOURCE_MAX);
		return CMD_FAIL;
	}
	if (strcmp(path, "-") == 0) {
		if (fstat(STDIN_FILENO, &sb) == 0 &&
		    session_is_recording(s, &sb)) {
			session_error(s,
			              "<stdin>: is the recording in progress");
			return CMD_FAIL;
		}
		f = stdin;
	} else {
		/* Non-blocking open: a FIFO without a writer must not hang
		 * us here; blocking reads are restored below. */
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0) {
			session_error(s, "%s: cannot open script: %s", path,
			              strerror(errno));
			return CMD_FAIL;
		}
		if (fstat(fd, &sb) < 0 || S_ISDIR(sb.st_mode) ||
		    (s->source_depth > 0 && !S_ISREG(sb.st_mode))) {
			/* A script sourced from a script must be a regular
			 * file: a pipe, FIFO or terminal could block it
			 * forever. The top level (-x) may read a pipe. */
			session_error(s, "%s: cannot read script: %s", path,
			              S_ISDIR(sb.st_mode)
			                  ? strerror(EISDIR)
			                  : "not a regular file (source "
			                    "reads regular files only)");
			close(fd);
			return CMD_FAIL;
		}
		/* A script that runs itself (directly or through others)
		 * would go round until the depth limit, each level running
		 * every line again: refuse. */
		if (session_is_sourcing(s, &sb)) {
			session_error(s,
			              "%s: is already running (a script cannot "
			              "source itself)",
			              path);
			close(fd);
			return CMD_FAIL;
		}
		/* The recording grows with every line run: reading it
		 * while recording would never reach its end. */
		if (session_is_recording(s, &sb)) {
			session_error(
			    s,
			    "%s: is the recording in progress ('record "
			    "stop' first)",
			    path);
			close(fd);
			return CMD_FAIL;
		}
		/* A regular file is read in non-blocking mode too: real
		 * files ignore it, and a pseudo-file that would wait for
		 * ever (tracefs' trace_pipe) fails the read instead. */
		if (!S_ISREG(sb.st_mode))
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		f = fdopen(fd, "re");
		if (!f) {
			session_error(s, "%s: cannot open script: %s", path,
			              strerror(errno));
			close(fd);
			return CMD_FAIL;
		}
	}
	line = malloc(CMD_MAX_LINE + 2);
	if (!line) {
		session_error(s, "%s: out of memory", path);
		if (f != stdin)
			fclose(f);
		return CMD_FAIL;
	}
	/* only regular files are compared: stdin's entry stays empty */
	s->sourcing[s->source_depth].dev = f != stdin ? sb.st_dev : 0;
	s->sourcing[s->source_depth].ino = f != stdin ? sb.st_ino : 0;
	s->source_depth++;
	for (;;) {
		enum cmd_status r;

		errno = 0;
		len = read_script_line(f, line);
		if (len == 0)
			break;
		lineno++;
		s->src_name = strcmp(path, "-") == 0 ? "<stdin>" : path;
		s->src_line = lineno;
		/* Not a script: stop here even with continue-on-error (a
		 * device or a binary file would go on for ever). */
		if (len == -EILSEQ || len == -E2BIG) {
			if (len == -EILSEQ)
				session_error(s, "binary data (NUL byte): "
				                 "not a script");
			else
				session_error(s,
				              "line too long (over %d bytes): "
				              "not a script",
				              CMD_MAX_LINE);
			st = worst(st, CMD_USAGE);
			break;
		}
		if (len < 0) {
			session_error(s, "read error: %s", strerror((int)-len));
			st = worst(st, CMD_FAIL);
			break;
		}
		r = cmd_exec_line(s, line);
		st = worst(st, r);
		if (s->stop_signal) {
			st = worst(st, CMD_FAIL);
			break;
		}
		if (r != CMD_OK && !s->continue_on_error)
			break;
	}
	free(line);
	s->source_depth--;
	s->src_name = saved_name;
	s->src_line = saved_line;
	if (f != stdin)
		fclose(f);
	return st;
}
