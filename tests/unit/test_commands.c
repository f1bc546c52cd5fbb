/* Unit tests: command table, tokenizer, parser, executor. */
#include "config.h"
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "commands.h"
#include "output.h"
#include "session.h"
#include "session_model.h"

static void test_table_sane(void **state)
{
	(void)state;
	for (size_t i = 0; i < cmd_table_len; i++) {
		const struct cmd_def *d = &cmd_table[i];
		assert_non_null(d->name);
		assert_non_null(d->handler);
		assert_non_null(d->help);
		assert_true(strlen(d->help) > 5);
		assert_true(d->argmin <= d->argmax);
		assert_ptr_equal(cmd_find(d->name), d);
		for (size_t k = i + 1; k < cmd_table_len; k++)
			assert_string_not_equal(d->name, cmd_table[k].name);
		int nopts = 0;
		for (int k = 0; d->opts && d->opts[k].name; k++)
			nopts++;
		assert_true(nopts <= CMD_MAX_OPTS);
	}
	assert_null(cmd_find("no-such-command"));
}

static void test_split(void **state)
{
	char ***c;
	size_t n;
	(void)state;
	assert_int_equal(cmd_split("info; free 0 4K ;; extents 'a b' "
	                           "\"c\\\"d\" e\\ f # comment; not",
	                           &c, &n),
	                 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0][0], "info");
	assert_null(c[0][1]);
	assert_string_equal(c[1][0], "free");
	assert_string_equal(c[1][2], "4K");
	assert_null(c[1][3]);
	assert_string_equal(c[2][1], "a b");
	assert_string_equal(c[2][2], "c\"d");
	assert_string_equal(c[2][3], "e f");
	assert_null(c[2][4]);
	cmd_free_split(c, n);

	assert_int_equal(cmd_split("   # only a comment", &c, &n), 0);
	assert_int_equal(n, 0);
	cmd_free_split(c, n);
	assert_int_equal(cmd_split("echo 'open", &c, &n), -EINVAL);
	assert_int_equal(cmd_split("echo \"open", &c, &n), -EINVAL);
	assert_int_equal(cmd_split("echo ''", &c, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0][1], "");
	cmd_free_split(c, n);
}

static void test_split_limits(void **state)
{
	char ***c;
	size_t n;
	char *big;
	(void)state;
	big = malloc(200000);
	memset(big, 'a', 199999);
	big[199999] = 0;
	assert_int_equal(cmd_split(big, &c, &n), -E2BIG);
	/* too many words */
	for (int i = 0; i < 199999; i += 2)
		big[i] = 'x', big[i + 1] = ' ';
	big[199999] = 0;
	assert_int_equal(cmd_split(big + 100000, &c, &n), -E2BIG);
	free(big);
}

static void test_parse(void **state)
{
	struct cmd_call c;
	char err[256];
	char *argv[] = {"allocate",    "--contiguous", "f",  "0",
	                "--fixed-len", "4K",           "8K", NULL};
	char *bad1[] = {"allocate", "--bogus", "f", "0", "1", "2", NULL};
	char *bad2[] = {"allocate", "f", "0", NULL};
	char *bad3[] = {"nonsense", NULL};
	char *dd[] = {"extents", "--", "--weird-name", NULL};
	const char *v;
	(void)state;

	assert_int_equal(cmd_parse(7, argv, &c, err, sizeof(err)), CMD_OK);
	assert_int_equal(c.argc, 4);
	assert_string_equal(c.argv[0], "f");
	assert_string_equal(c.argv[3], "8K");
	assert_true(cmd_has_opt(&c, "contiguous", &v));
	assert_true(cmd_has_opt(&c, "fixed-len", NULL));
	assert_false(cmd_has_opt(&c, "fixed-start", NULL));

	assert_int_equal(cmd_parse(6, bad1, &c, err, sizeof(err)), CMD_USAGE);
	assert_non_null(strstr(err, "--bogus"));
	assert_int_equal(cmd_parse(3, bad2, &c, err, sizeof(err)), CMD_USAGE);
	assert_non_null(strstr(err, "expected 4 arguments, got 2"));
	assert_int_equal(cmd_parse(1, bad3, &c, err, sizeof(err)), CMD_USAGE);
	assert_non_null(strstr(err, "nonsense"));
	assert_int_equal(cmd_parse(3, dd, &c, err, sizeof(err)), CMD_OK);
	assert_string_equal(c.argv[0], "--weird-name");
}

/* The journaled command: the whole call as typed (options too), quoted
 * so that it splits back into the same words, paths replaced when the
 * command made them absolute. */
static void test_call_text(void **state)
{
	struct cmd_call c;
	char err[256];
	char *argv[] = {"defrag", "--recursive", "sp", "--min-extents",
	                "2",      "it's a;b",    NULL};
	const char *args[CMD_MAX_ARGS] = {"/m/sp"};
	char ***cmds;
	size_t n;
	char *t;
	(void)state;

	assert_int_equal(cmd_parse(6, argv, &c, err, sizeof(err)), CMD_OK);
	t = cmd_call_text(&c, NULL);
	assert_string_equal(t, "defrag --recursive sp --min-extents 2 "
	                       "'it'\\''s a;b'");
	assert_int_equal(cmd_split(t, &cmds, &n), 0);
	assert_int_equal(n, 1);
	for (int i = 0; i < 6; i++)
		assert_string_equal(cmds[0][i], argv[i]);
	assert_null(cmds[0][6]);
	cmd_free_split(cmds, n);
	free(t);
	t = cmd_call_text(&c, args);
	assert_string_equal(t, "defrag --recursive /m/sp --min-extents 2 "
	                       "'it'\\''s a;b'");
	free(t);
	t = cmd_words_text(argv + 2, 1);
	assert_string_equal(t, "sp");
	free(t);
}

/* Run a line with output captured in a memory stream. */
static enum cmd_status run(const char *line, char **out, char **err)
{
	struct rl_session s;
	size_t ol, el;
	enum cmd_status st;

	session_init(&s);
	s.out = open_memstream(out, &ol);
	s.err = open_memstream(err, &el);
	st = cmd_exec_line(&s, line);
	fclose(s.out);
	fclose(s.err);
	s.out = s.err = NULL;
	session_free(&s);
	return st;
}

static void test_exec(void **state)
{
	char *o, *e;
	(void)state;
	assert_int_equal(run("echo a b; echo c", &o, &e), CMD_OK);
	assert_string_equal(o, "a b\nc\n");
	free(o), free(e);
	assert_int_equal(run("echo a; bogus; echo c", &o, &e), CMD_USAGE);
	assert_string_equal(o, "a\n");
	assert_non_null(strstr(e, "unknown command 'bogus'"));
	free(o), free(e);
	assert_int_equal(run("set continue-on-error on; bogus; echo c", &o, &e),
	                 CMD_USAGE);
	assert_string_equal(o, "c\n");
	free(o), free(e);
	assert_int_equal(run("help", &o, &e), CMD_OK);
	for (size_t i = 0; i < cmd_table_len; i++)
		assert_non_null(strstr(o, cmd_table[i].name));
	free(o), free(e);
	assert_int_equal(run("set json maybe", &o, &e), CMD_USAGE);
	free(o), free(e);
}

/* The executor probes the volume for every command flagged CMD_F_LIVE
 * before its handler runs: with no volume each fails with one message
 * that names the problem and nothing else (the handler did not run). */
static void test_live_volume(void **state)
{
	char line[128], *o, *e;
	size_t live = 0;
	(void)state;
	for (size_t i = 0; i < cmd_table_len; i++) {
		const struct cmd_def *d = &cmd_table[i];
		if (!(d->flags & CMD_F_LIVE))
			continue;
		assert_true(d->flags & CMD_F_VOLUME);
		live++;
		/* enough arguments of the right kind for every command */
		snprintf(line, sizeof(line), "%s%s", d->name,
		         d->argmin == 0   ? ""
		         : d->argmin == 1 ? " 0"
		         : d->argmin == 2 ? " 0 4096"
		                          : " f 0 0 4096");
		assert_int_equal(run(line, &o, &e), CMD_FAIL);
		assert_string_equal(o, "");
		assert_non_null(strstr(e, "no volume"));
		assert_null(strchr(strchr(e, '\n') + 1, '\n'));
		free(o), free(e);
	}
	assert_true(live >= 10);
	/* a model command works on a snapshot too: not flagged */
	assert_false(cmd_find("frag")->flags & CMD_F_LIVE);
}

/* help says where a command needs root, and only there (what each
 * flag means: CMD_F_ROOT_MAP, CMD_F_ROOT_EXT4; privileges.sh checks it
 * against a user's runs). */
static void test_help_root(void **state)
{
	static const char *const any_user[] = {"scan",     "who", "frag",
	                                       "movedata", "log", NULL};
	char *o, *e, line[64];
	(void)state;

	assert_int_equal(run("help free", &o, &e), CMD_OK);
	assert_non_null(strstr(o, "(needs root on btrfs, for its free-space "
	                          "map; any user on ext4 and XFS)"));
	free(o), free(e);
	assert_int_equal(run("help defrag", &o, &e), CMD_OK);
	assert_non_null(strstr(o, "(changes the disk)\n  (needs root on "
	                          "ext4: exact placement"));
	free(o), free(e);
	for (int i = 0; any_user[i]; i++) {
		snprintf(line, sizeof(line), "help %s", any_user[i]);
		assert_int_equal(run(line, &o, &e), CMD_OK);
		assert_null(strstr(o, "needs root"));
		free(o), free(e);
	}
}

static void test_script(void **state)
{
	char path[] = "/tmp/rl-unit-XXXXXX";
	int fd = mkstemp(path);
	struct rl_session s;
	char *o, *e;
	size_t ol, el;
	FILE *f;
	(void)state;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# a script\n\necho one\n  echo two # trailing\nbogus x\n"
	      "echo never\n",
	      f);
	fclose(f);
	session_init(&s);
	s.out = open_memstream(&o, &ol);
	s.err = open_memstream(&e, &el);
	assert_int_equal(cmd_exec_file(&s, path), CMD_USAGE);
	fclose(s.out);
	fclose(s.err);
	s.out = s.err = NULL;
	assert_string_equal(o, "one\ntwo\n");
	char want[128];
	snprintf(want, sizeof(want), "%s:5: ", path);
	assert_non_null(strstr(e, want));
	free(o), free(e);
	session_free(&s);
	unlink(path);
}

/* Run script path in a fresh session with continue-on-error, its output
 * and errors in *o and *e (malloc'ed). *recording: whether it left a
 * recording going (stopped here). */
static enum cmd_status run_script_file(const char *path, bool *recording,
                                       char **o, char **e)
{
	struct rl_session s;
	enum cmd_status st;
	size_t ol, el;

	session_init(&s);
	s.continue_on_error = true;
	s.out = open_memstream(o, &ol);
	s.err = open_memstream(e, &el);
	st = cmd_exec_file(&s, path);
	*recording = s.record != NULL;
	session_record_stop(&s);
	fclose(s.out);
	fclose(s.err);
	s.out = s.err = NULL;
	session_free(&s);
	return st;
}

/* Run a script made of len bytes with continue-on-error on. */
static enum cmd_status run_script(const char *data, size_t len, char **o,
                                  char **e)
{
	char path[] = "/tmp/rl-unit-XXXXXX";
	int fd = mkstemp(path);
	enum cmd_status st;
	bool recording;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	st = run_script_file(path, &recording, o, e);
	unlink(path);
	return st;
}

/* Scripts that are not scripts stop at once, even with continue-on-error:
 * a NUL byte, a line longer than the limit (not read into memory); a
 * directory is an error, not an empty script. */
static void test_script_hostile(void **state)
{
	char *o, *e, *big;
	size_t n = 200000;
	(void)state;

	assert_int_equal(run_script("echo a\nx\0y\necho b\n", 16, &o, &e),
	                 CMD_USAGE);
	assert_string_equal(o, "a\n");
	assert_non_null(strstr(e, ":2: binary data"));
	free(o), free(e);

	big = malloc(n + 32);
	assert_non_null(big);
	memcpy(big, "echo a\necho ", 12);
	memset(big + 12, 'x', n);
	memcpy(big + 12 + n, "\necho c\n", 8);
	assert_int_equal(run_script(big, n + 20, &o, &e), CMD_USAGE);
	assert_string_equal(o, "a\n");
	assert_non_null(strstr(e, ":2: line too long"));
	free(o), free(e), free(big);

	/* too many words: the message names the limit and the way out */
	{
		char words[512] = "echo";
		for (int i = 0; i < 70; i++)
			strcat(words, " w");
		strcat(words, "\n");
		assert_int_equal(run_script(words, strlen(words), &o, &e),
		                 CMD_USAGE);
		assert_non_null(strstr(e, "at most 64 words per command"));
		free(o), free(e);
	}

	/* a truncated last line (no newline) still runs */
	assert_int_equal(run_script("echo a\necho b", 13, &o, &e), CMD_OK);
	assert_string_equal(o, "a\nb\n");
	free(o), free(e);

	assert_int_equal(run("source /", &o, &e), CMD_FAIL);
	assert_non_null(strstr(e, "Is a directory"));
	free(o), free(e);
}

/* A script that sources itself (by its name or through /proc/self/fd)
 * is refused at once, not run again at every level of nesting (with
 * continue-on-error that was 2^16 runs of each line). */
static void test_script_self(void **state)
{
	char path[] = "/tmp/rl-unit-XXXXXX", *text, *o, *e;
	int fd = mkstemp(path);
	bool rec;
	(void)state;

	assert_true(fd >= 0);
	assert_true(asprintf(&text,
	                     "echo x\nsource %s\nsource /proc/self/fd/%d\n"
	                     "echo y\n",
	                     path, fd) > 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(run_script_file(path, &rec, &o, &e), CMD_FAIL);
	assert_false(rec);
	assert_string_equal(o, "x\ny\n");
	assert_non_null(strstr(e, ":2: "));
	assert_non_null(strstr(e, "is already running"));
	assert_non_null(strstr(e, ":3: "));
	free(o), free(e), free(text);
	close(fd);
	unlink(path);
}

/* A script that sources the recording in progress would read what it
 * records for ever (each line run is appended to the file being read),
 * and recording into a script being run is the same loop: both refused,
 * the script goes on. */
static void test_script_record_loop(void **state)
{
	char dir[] = "/tmp/rl-unit-XXXXXX", rec[64], scr[64], *text, *o, *e;
	struct stat st;
	bool recording;
	FILE *f;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(rec, sizeof(rec), "%s/rec.rl", dir);
	snprintf(scr, sizeof(scr), "%s/s.rl", dir);
	assert_true(asprintf(&text,
	                     "record %s\necho x\nsource %s\nrecord %s\n"
	                     "echo y\n",
	                     rec, rec, scr) > 0);
	assert_non_null(f = fopen(scr, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(run_script_file(scr, &recording, &o, &e), CMD_FAIL);
	/* the refused "record" left the first recording going */
	assert_true(recording);
	assert_string_equal(o, "x\ny\n");
	assert_non_null(strstr(e, ":3: "));
	assert_non_null(strstr(e, "is the recording in progress"));
	assert_non_null(strstr(e, ":4: "));
	assert_non_null(strstr(e, "is a script being run"));
	assert_int_equal(stat(rec, &st), 0);
	assert_true(st.st_size < 4096);
	free(o), free(e), free(text);
	unlink(rec);
	unlink(scr);
	rmdir(dir);
}

/* A plan's report for people: the notes made by the thousand are cut
 * after OUT_REPORT_KEEP of each kind and counted; others stay. */
static void test_report_group(void **state)
{
	char *text = NULL, *out = NULL;
	size_t tlen = 0, olen = 0;
	FILE *t = open_memstream(&text, &tlen), *o;
	(void)state;

	assert_non_null(t);
	fprintf(t, "defrag a: 3 runs -> 1 at 0x1000 (4.0 KiB)\n");
	for (int i = 0; i < 25; i++)
		fprintf(t, "skip f%d: already optimal (1 contiguous run)\n", i);
	for (int i = 0; i < 12; i++)
		fprintf(t, "skip e%d: no data blocks\n", i);
	fprintf(t, "skip x: cannot move: a directory\n");
	fprintf(t, "skip odd: already optimal (but not the end\n");
	fclose(t);
	o = open_memstream(&out, &olen);
	assert_non_null(o);
	out_report(o, text);
	fclose(o);
	assert_non_null(strstr(out, "defrag a: 3 runs -> 1"));
	assert_non_null(strstr(out, "skip f9: already optimal (1 contiguous"));
	assert_null(strstr(out, "skip f10:"));
	assert_null(strstr(out, "skip f24:"));
	assert_non_null(strstr(out, "skip ...: already optimal: 15 more "
	                            "files (--json lists each)\n"));
	assert_non_null(strstr(out, "skip e9: no data blocks\n"));
	assert_null(strstr(out, "skip e10:"));
	assert_non_null(
	    strstr(out, "skip ...: no data blocks: 2 more files (--json"));
	assert_non_null(strstr(out, "skip x: cannot move: a directory\n"));
	assert_non_null(strstr(out, "skip odd: already optimal (but not"));
	/* the summary stands where the first line left out was */
	assert_true(strstr(out, "skip f9:") < strstr(out, "skip ...: already"));
	assert_true(strstr(out, "skip ...: already") < strstr(out, "skip e0:"));
	free(out);
	out = NULL;
	o = open_memstream(&out, &olen);
	out_report(o, "skip a: no data blocks");
	out_report(o, NULL);
	fclose(o);
	assert_string_equal(out, "skip a: no data blocks\n");
	free(out);
	free(text);
}

/* The escaping of names (src/output.c), text and JSON. */
static void test_escape(void **state)
{
	char buf[OUT_ESC_MAX], small[12];
	cJSON *j;
	(void)state;

	assert_string_equal(out_esc("plain/name.txt", buf, sizeof(buf)),
	                    "plain/name.txt");
	assert_string_equal(out_esc("a\nb\tc\\d", buf, sizeof(buf)),
	                    "a\\nb\\tc\\\\d");
	assert_string_equal(out_esc("\x1b[31mred", buf, sizeof(buf)),
	                    "\\x1b[31mred");
	assert_string_equal(out_esc("caf\xc3\xa9", buf, sizeof(buf)),
	                    "caf\xc3\xa9");
	assert_string_equal(out_esc("bad\xff\xfe", buf, sizeof(buf)),
	                    "bad\\xff\\xfe");
	/* overlong '/', surrogate, truncated sequence, C1 CSI, RLO */
	assert_string_equal(out_esc("\xc0\xaf", buf, sizeof(buf)),
	                    "\\xc0\\xaf");
	assert_string_equal(out_esc("\xed\xa0\x80", buf, sizeof(buf)),
	                    "\\xed\\xa0\\x80");
	assert_string_equal(out_esc("x\xe2\x82", buf, sizeof(buf)),
	                    "x\\xe2\\x82");
	assert_string_equal(out_esc("\xc2\x9b", buf, sizeof(buf)),
	                    "\\xc2\\x9b");
	assert_string_equal(out_esc("\xe2\x80\xae", buf, sizeof(buf)),
	                    "\\xe2\\x80\\xae");
	assert_string_equal(out_esc("0123456789abcdef", small, sizeof(small)),
	                    "01234567...");
	assert_string_equal(
	    out_esc("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", small,
	            sizeof(small)),
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");

	assert_true(out_utf8_valid("caf\xc3\xa9 \n"));
	assert_false(out_utf8_valid("a\xff"));
	j = out_json_name("a\nb");
	assert_string_equal(j->valuestring, "a\nb"); /* valid: exact */
	cJSON_Delete(j);
	j = out_json_name("a\xff\\b");
	assert_string_equal(j->valuestring, "a\\xff\\\\b");
	assert_true(out_utf8_valid(j->valuestring));
	cJSON_Delete(j);
}

/* The search pattern: substring or glob, name or whole path, smartcase. */
static void test_name_match(void **state)
{
	(void)state;
	/* substring of the name */
	assert_true(session_name_match("note", "docs/note001.txt"));
	assert_true(session_name_match("001", "docs/note001.txt"));
	assert_false(session_name_match("docs", "docs/note001.txt"));
	/* with a '/': the whole path */
	assert_true(session_name_match("docs/", "docs/note001.txt"));
	assert_true(session_name_match("s/no", "docs/note001.txt"));
	assert_false(session_name_match("frag/", "docs/note001.txt"));
	/* globs: the whole name (or path), not a part */
	assert_true(session_name_match("*.txt", "docs/note001.txt"));
	assert_true(session_name_match("note0?1.txt", "docs/note001.txt"));
	assert_true(session_name_match("note[0-9]*", "docs/note001.txt"));
	assert_false(session_name_match("*.db", "docs/note001.txt"));
	assert_false(session_name_match("note*", "docs/xnote"));
	assert_true(session_name_match("note", "docs/xnote"));
	assert_false(session_name_match("note?", "docs/note"));
	assert_true(session_name_match("docs/*", "docs/note001.txt"));
	assert_false(session_name_match("*.txt", "docs.txt/data"));
	/* case ignored unless the pattern has upper case */
	assert_true(session_name_match("readme", "README"));
	assert_true(session_name_match("read*", "README"));
	assert_false(session_name_match("Readme", "README"));
	assert_false(session_name_match("README", "readme"));
	assert_true(session_name_match("README", "x/README"));
	/* a name at the root; nothing matches an empty pattern */
	assert_true(session_name_match("top", "top"));
	assert_false(session_name_match("", "top"));
	assert_false(session_name_match("x", ""));
}

/* A fake volume for the resolver: these paths exist. */
static bool fake_exists(const char *abs, void *ctx)
{
	const char *const *p = ctx;

	for (; *p; p++)
		if (!strcmp(*p, abs))
			return true;
	return false;
}

static void test_path_resolve(void **state)
{
	static const char *const have[] = {"/mnt/v/docs/a", "/mnt/v/a",
	                                   "/mnt/v/docs/only-here",
	                                   "/mnt/v/root-only", NULL};
	/* mount point, cwd, argument: result (0 or -errno), path wanted */
	static const struct {
		const char *mp, *cwd, *arg;
		int r;
		const char *want;
	} t[] = {
	    /* absolute: under the mount point, normalized */
	    {"/mnt/v", NULL, "/mnt/v/docs/a", 0, "docs/a"},
	    {"/mnt/v", NULL, "/mnt/v/docs/../a", 0, "a"},
	    {"/mnt/v", NULL, "/mnt/v", 0, "."},
	    {"/mnt/v", NULL, "/mnt/v/", 0, "."},
	    {"/mnt/v", NULL, "/mnt/vx/a", -EXDEV, NULL},
	    {"/mnt/v", NULL, "/etc/passwd", -EXDEV, NULL},
	    {"/mnt/v", NULL, "/mnt/v/../v2/a", -EXDEV, NULL},
	    /* relative, cwd off the volume: from the volume's root */
	    {"/mnt/v", NULL, "docs/a", 0, "docs/a"},
	    {"/mnt/v", "/home/u", "docs//./a/", 0, "docs/a"},
	    {"/mnt/v", "/home/u", "./a", 0, "a"},
	    {"/mnt/v", NULL, "../x", -EXDEV, NULL},
	    /* cwd on the volume: from there when it exists there, */
	    {"/mnt/v", "/mnt/v/docs", "a", 0, "docs/a"},
	    {"/mnt/v", "/mnt/v/docs", "only-here", 0, "docs/only-here"},
	    /* or exists nowhere (a file to create), */
	    {"/mnt/v", "/mnt/v/docs", "new", 0, "docs/new"},
	    /* else from the root, where it exists */
	    {"/mnt/v", "/mnt/v/docs", "root-only", 0, "root-only"},
	    {"/mnt/v", "/mnt/v/docs", "docs/a", 0, "docs/a"},
	    /* ./ and ../ always from cwd */
	    {"/mnt/v", "/mnt/v/docs", "./root-only", 0, "docs/root-only"},
	    {"/mnt/v", "/mnt/v/docs", "../a", 0, "a"},
	    {"/mnt/v", "/mnt/v/docs", "..", 0, "."},
	    {"/mnt/v", "/mnt/v/docs", "../../etc", -EXDEV, NULL},
	    /* the mount point "/" */
	    {"/", "/home", "u/f", 0, "home/u/f"},
	    {"/", NULL, "/etc/x", 0, "etc/x"},
	    /* too long for out; empty */
	    {"/mnt/v", NULL,
	     "docs/"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	     -ENAMETOOLONG, NULL},
	    {"/mnt/v", NULL, "", -ENOENT, NULL},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = session_path_resolve(t[i].mp, t[i].cwd, t[i].arg,
		                             fake_exists, (void *)have, out,
		                             sizeof(out));
		assert_int_equal(r, t[i].r);
		if (t[i].want)
			assert_string_equal(out, t[i].want);
	}
}

/* Which arguments the executor resolves as paths on the volume (files
 * off the volume, patterns and sizes are not). */
static void test_path_args(void **state)
{
	static const struct {
		const char *cmd;
		int k;
		bool path;
	} t[] = {
	    {"move", 0, true},      {"move", 1, false},
	    {"movedata", 0, true},  {"movedata", 1, true},
	    {"movedata", 2, false}, {"frag", 0, true},
	    {"frag", 5, true},      {"defrag", 3, true},
	    {"group", 2, true},     {"extents", 0, true},
	    {"extents", 1, false},  {"place", 1, false},
	    {"export", 0, false},   {"import", 0, false},
	    {"record", 0, false},   {"source", 0, false},
	    {"find", 0, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(cmd_arg_is_path(cmd_find(t[i].cmd), t[i].k),
		                 t[i].path);
	/* a FILE among other forms: recorded volume-relative when a file */
	assert_true(cmd_arg_names_file(cmd_find("goto"), 0, "/mnt/v/a"));
	assert_true(cmd_arg_names_file(cmd_find("goto"), 0, "docs/a"));
	assert_false(cmd_arg_names_file(cmd_find("goto"), 0, "0x1000"));
	assert_false(cmd_arg_names_file(cmd_find("goto"), 0, "64K"));
	assert_true(cmd_arg_names_file(cmd_find("select"), 0, "docs/a"));
	assert_false(cmd_arg_names_file(cmd_find("select"), 0, "clear"));
	assert_false(cmd_arg_names_file(cmd_find("select"), 0, "path"));
	assert_false(cmd_arg_names_file(cmd_find("select"), 0, "frag>3"));
	assert_false(cmd_arg_names_file(cmd_find("select"), 1, "*.txt"));
	assert_false(cmd_arg_names_file(cmd_find("move"), 0, "docs/a"));
	assert_false(cmd_arg_is_path(cmd_find("goto"), 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_sane),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_split_limits),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_call_text),
	    cmocka_unit_test(test_exec),
	    cmocka_unit_test(test_live_volume),
	    cmocka_unit_test(test_help_root),
	    cmocka_unit_test(test_script),
	    cmocka_unit_test(test_script_hostile),
	    cmocka_unit_test(test_script_self),
	    cmocka_unit_test(test_script_record_loop),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_report_group),
	    cmocka_unit_test(test_name_match),
	    cmocka_unit_test(test_path_resolve),
	    cmocka_unit_test(test_path_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
