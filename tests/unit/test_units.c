/* Unit tests: size parsing and formatting. */
#include "config.h"
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include "units.h"

static void test_parse_ok(void **state)
{
	static const struct {
		const char *in;
		uint64_t want;
	} cases[] = {
	    {"0", 0},           {"4096", 4096},
	    {"4K", 4096},       {"4k", 4096},
	    {"4KiB", 4096},     {"4KB", 4096},
	    {"1M", 1048576},    {"2G", 2ull << 30},
	    {"1T", 1ull << 40}, {"0x1000", 4096},
	    {"0X10", 16},       {"512B", 512},
	    {"1P", 1ull << 50}, {"18446744073709551615", UINT64_MAX},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 1234;
		assert_int_equal(units_parse_size(cases[i].in, &v), 0);
		assert_true(v == cases[i].want);
	}
}

static void test_parse_bad(void **state)
{
	static const char *bad[] = {"",   "-1",  "+4",  "4X",   "1.5M", "K",
	                            "0x", "4 K", "4Kx", "0xZZ", "4iB",  "1e3"};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;
		assert_int_equal(units_parse_size(bad[i], &v), -EINVAL);
		assert_true(v == 77);
	}
}

static void test_parse_range(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(units_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(units_parse_size("16384P", &v), -ERANGE);
	assert_int_equal(units_parse_size("0x10000000000000000", &v), -ERANGE);
}

static void test_format(void **state)
{
	char b[32];
	(void)state;
	units_format_size(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	units_format_size(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	units_format_size(4096, b, sizeof(b));
	assert_string_equal(b, "4.0 KiB");
	units_format_size(3ull << 29, b, sizeof(b));
	assert_string_equal(b, "1.5 GiB");
}

/* Words of safe characters stay as they are; any other word (and the
 * empty one) goes in single quotes, a quote inside as '\''. */
static void test_put_word(void **state)
{
	static const char *const cases[][2] = {
	    {"move", "move"},
	    {"--to=0x1000", "--to=0x1000"},
	    {"a/b-c_d.e:f,g+h@i%j", "a/b-c_d.e:f,g+h@i%j"},
	    {"", "''"},
	    {"two words", "'two words'"},
	    {"it's", "'it'\\''s'"},
	    {"a;b", "'a;b'"},
	    {"#x", "'#x'"},
	    {"$HOME", "'$HOME'"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		assert_non_null(f);
		units_put_word(f, cases[i][0]);
		assert_int_equal(fclose(f), 0);
		assert_string_equal(buf, cases[i][1]);
		free(buf);
	}
}

/* The one text for a refused size, after "WHAT 'WORD': ". */
static void test_size_error(void **state)
{
	(void)state;
	assert_string_equal(units_size_error(-ERANGE, false), "too large");
	assert_string_equal(units_size_error(-ERANGE, true), "too large");
	assert_string_equal(units_size_error(-EINVAL, false),
	                    "not a size (bytes, 0x hex, or with K/M/G/T "
	                    "suffix)");
	assert_string_equal(units_size_error(-EINVAL, true),
	                    "not a size or address (bytes, 0x hex, or with "
	                    "K/M/G/T suffix)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_range),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_put_word),
	    cmocka_unit_test(test_size_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
