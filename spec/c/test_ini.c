/* Unit tests for the AWS shared config/credentials file parser: the format as
 * the SDKs read it (comments, blanks, profile sections, nested sub-settings,
 * CRLF, last-wins duplicates) and clear errors for what they reject. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini.h"
#include "smop.h"

static ini_file *parse(const char *text)
{
    char err[256] = "";
    ini_file *f = ini_parse(text, strlen(text), "test.ini", err, sizeof err);

    if (!f)
        fail_msg("parse failed: %s", err);
    return f;
}

static void parse_error(const char *text, const char *expected)
{
    char err[256] = "";
    ini_file *f = ini_parse(text, strlen(text), "test.ini", err, sizeof err);

    assert_null(f);
    assert_string_equal(err, expected);
}

static void test_sections_and_keys(void **state)
{
    ini_file *f = parse("[default]\n"
                        "aws_access_key_id = AKIDEXAMPLE\n"
                        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"
                        "\n"
                        "[profile dev]\n"
                        "region = eu-west-1\n");

    (void)state;
    assert_string_equal(ini_get(f, "default", "aws_access_key_id"), "AKIDEXAMPLE");
    /* '=' and '/' and '+' inside a value are the value */
    assert_string_equal(ini_get(f, "default", "aws_secret_access_key"),
                        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_string_equal(ini_get(f, "profile dev", "region"), "eu-west-1");
    assert_null(ini_get(f, "default", "region"));
    assert_null(ini_get(f, "dev", "region"));
    assert_true(ini_has_section(f, "profile dev"));
    assert_false(ini_has_section(f, "prod"));
    ini_free(f);
}

static void test_comments_and_whitespace(void **state)
{
    ini_file *f = parse("# a comment\n"
                        "; another\n"
                        "   [  profile    spaced   ]   ; trailing comment\n"
                        "\tregion\t=\t us-west-2 \t\n"
                        "  # indented comment\n"
                        "output = json # inline comment\n"
                        "url = https://example.com/#fragment\n"
                        "empty =\n"
                        "KeyCase = kept\n");

    (void)state;
    assert_true(ini_has_section(f, "profile spaced"));
    assert_string_equal(ini_get(f, "profile spaced", "region"), "us-west-2");
    assert_string_equal(ini_get(f, "profile spaced", "output"), "json");
    /* a '#' not preceded by a blank is part of the value */
    assert_string_equal(ini_get(f, "profile spaced", "url"), "https://example.com/#fragment");
    assert_string_equal(ini_get(f, "profile spaced", "empty"), "");
    /* keys are case-insensitive, values keep their case */
    assert_string_equal(ini_get(f, "profile spaced", "keycase"), "kept");
    assert_string_equal(ini_get(f, "profile spaced", "KEYCASE"), "kept");
    ini_free(f);
}

static void test_nested_settings_are_skipped(void **state)
{
    ini_file *f = parse("[default]\n"
                        "region = us-east-1\n"
                        "s3 =\n"
                        "    max_concurrent_requests = 20\n"
                        "    region = not-this-one\n"
                        "output = text\n");

    (void)state;
    assert_string_equal(ini_get(f, "default", "s3"), "");
    assert_null(ini_get(f, "default", "max_concurrent_requests"));
    assert_string_equal(ini_get(f, "default", "region"), "us-east-1");
    assert_string_equal(ini_get(f, "default", "output"), "text");
    ini_free(f);
}

static void test_indented_section_body(void **state)
{
    /* the first key sets the indentation; same-indented keys are keys */
    ini_file *f = parse("[default]\n"
                        "  aws_access_key_id = A\n"
                        "  aws_secret_access_key = B\n");

    (void)state;
    assert_string_equal(ini_get(f, "default", "aws_access_key_id"), "A");
    assert_string_equal(ini_get(f, "default", "aws_secret_access_key"), "B");
    ini_free(f);
}

static void test_duplicates_last_wins(void **state)
{
    ini_file *f = parse("[default]\n"
                        "region = first\n"
                        "region = second\n"
                        "[other]\n"
                        "x = 1\n"
                        "[default]\n"
                        "region = third\n"
                        "output = json\n");

    (void)state;
    assert_string_equal(ini_get(f, "default", "region"), "third");
    assert_string_equal(ini_get(f, "default", "output"), "json");
    assert_string_equal(ini_get(f, "other", "x"), "1");
    ini_free(f);
}

static void test_crlf(void **state)
{
    ini_file *f = parse("[default]\r\naws_access_key_id = AKID\r\n\r\n[b]\r\nk = v\r\n");

    (void)state;
    assert_string_equal(ini_get(f, "default", "aws_access_key_id"), "AKID");
    assert_string_equal(ini_get(f, "b", "k"), "v");
    ini_free(f);
}

static void test_no_trailing_newline_and_empty(void **state)
{
    ini_file *f = parse("[a]\nk = v");

    (void)state;
    assert_string_equal(ini_get(f, "a", "k"), "v");
    ini_free(f);
    f = parse("");
    assert_null(ini_get(f, "a", "k"));
    assert_false(ini_has_section(f, "a"));
    ini_free(f);
    /* lookups on a missing file (NULL) are simply empty */
    assert_null(ini_get(NULL, "a", "k"));
    assert_false(ini_has_section(NULL, "a"));
}

static void test_errors(void **state)
{
    (void)state;
    parse_error("key = value\n", "test.ini:1: setting before any [section]");
    parse_error("[a]\nno equals sign\n", "test.ini:2: expected 'key = value'");
    parse_error("[a]\n = value\n", "test.ini:2: expected 'key = value'");
    parse_error("# c\n[unterminated\n", "test.ini:2: section header without ']'");
    parse_error("[  ]\n", "test.ini:1: empty section name");
}

static void test_load_missing_and_present(void **state)
{
    char path[] = "/tmp/smop-test-ini-XXXXXX";
    char err[256] = "";
    ini_file *f = (ini_file *)1;
    FILE *fp;
    int fd;

    (void)state;
    assert_int_equal(ini_load("/nonexistent/smop/credentials", &f, err, sizeof err), SMOP_OK);
    assert_null(f);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    fputs("[default]\nregion = ap-south-1\n", fp);
    fclose(fp);
    assert_int_equal(ini_load(path, &f, err, sizeof err), SMOP_OK);
    assert_non_null(f);
    assert_string_equal(ini_get(f, "default", "region"), "ap-south-1");
    ini_free(f);

    fp = fopen(path, "w");
    fputs("[default]\nbroken\n", fp);
    fclose(fp);
    assert_int_equal(ini_load(path, &f, err, sizeof err), SMOP_ERR);
    assert_null(f);
    assert_non_null(strstr(err, ":2: expected 'key = value'"));
    assert_non_null(strstr(err, path));
    unlink(path);

    /* a directory is not a config file */
    assert_int_equal(ini_load("/tmp", &f, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "/tmp: not a regular file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_and_keys),
        cmocka_unit_test(test_comments_and_whitespace),
        cmocka_unit_test(test_nested_settings_are_skipped),
        cmocka_unit_test(test_indented_section_body),
        cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_no_trailing_newline_and_empty),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load_missing_and_present),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
