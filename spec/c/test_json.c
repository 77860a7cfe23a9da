/* Unit tests for the pure JSON reader and writer helpers (json.h): the token
 * stream, the grammar's edges, error positions, string decoding and the
 * shortest float form. The Lua-facing behaviour is in spec/json_spec.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Renders the whole token stream of text as one line, e.g.
 * "[ 1 s:x k:a ]" or "... ERR@3:msg". */
static const char *tokens(const char *text, int max_depth)
{
    static char out[8192];
    json_reader r;
    json_token t;
    size_t used = 0;

    json_reader_init(&r, text, strlen(text), max_depth);
    out[0] = '\0';
    do {
        char tok[160];
        t = json_next(&r);
        switch (t) {
        case JSON_END: snprintf(tok, sizeof tok, "END"); break;
        case JSON_NULL: snprintf(tok, sizeof tok, "null"); break;
        case JSON_TRUE: snprintf(tok, sizeof tok, "true"); break;
        case JSON_FALSE: snprintf(tok, sizeof tok, "false"); break;
        case JSON_INTEGER: snprintf(tok, sizeof tok, "i:%lld", (long long)r.integer); break;
        case JSON_DOUBLE: snprintf(tok, sizeof tok, "d:%.17g", r.number); break;
        case JSON_STRING:
        case JSON_KEY:
            snprintf(tok, sizeof tok, "%s%s:%.*s", t == JSON_KEY ? "k" : "s",
                     r.escaped ? "e" : "", (int)r.str_len, r.str);
            break;
        case JSON_ARRAY: snprintf(tok, sizeof tok, "["); break;
        case JSON_ARRAY_END: snprintf(tok, sizeof tok, "]"); break;
        case JSON_OBJECT: snprintf(tok, sizeof tok, "{"); break;
        case JSON_OBJECT_END: snprintf(tok, sizeof tok, "}"); break;
        default: snprintf(tok, sizeof tok, "ERR@%zu:%s", r.error_pos, r.error); break;
        }
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? " " : "", tok);
        assert_true(used < sizeof out);
    } while (t != JSON_END && t != JSON_ERROR);
    return out;
}

static void test_token_stream(void **state)
{
    assert_string_equal(tokens("[1, -2, 3.5, true, false, null, \"x\"]", 200),
                        "[ i:1 i:-2 d:3.5 true false null s:x ] END");
    assert_string_equal(tokens(" {\"a\" : {\"b\":[]}, \"c\":{}} ", 200),
                        "{ k:a { k:b [ ] } k:c { } } END");
    assert_string_equal(tokens("\"a\\nb\"", 200), "se:a\\nb END");
    assert_string_equal(tokens("[[[]]]", 3), "[ [ [ ] ] ] END");
}

static void test_numbers(void **state)
{
    assert_string_equal(tokens("9223372036854775807", 1), "i:9223372036854775807 END");
    assert_string_equal(tokens("-9223372036854775808", 1), "i:-9223372036854775808 END");
    assert_string_equal(tokens("9223372036854775808", 1), "d:9.2233720368547758e+18 END");
    assert_string_equal(tokens("-0", 1), "i:0 END");
    assert_string_equal(tokens("0.5e-3", 1), "d:0.00050000000000000001 END");
    assert_string_equal(tokens("1E+2", 1), "d:100 END");
    assert_string_equal(tokens("01", 1), "ERR@1:leading zeros are not allowed in numbers");
    assert_string_equal(tokens("-", 1), "ERR@1:expected a digit after '-'");
    assert_string_equal(tokens("1.e5", 1), "ERR@2:expected a digit after '.'");
    assert_string_equal(tokens("1e+", 1), "ERR@3:expected a digit in the exponent");
}

static void test_grammar_errors(void **state)
{
    assert_string_equal(tokens("", 1), "ERR@0:unexpected end of input");
    assert_string_equal(tokens("   ", 1), "ERR@3:unexpected end of input");
    assert_string_equal(tokens("[1,]", 2), "[ i:1 ERR@3:trailing comma before ']'");
    assert_string_equal(tokens("{\"a\":1,}", 2), "{ k:a i:1 ERR@7:trailing comma before '}'");
    assert_string_equal(tokens("[,1]", 2), "[ ERR@1:unexpected character ','");
    assert_string_equal(tokens("{,}", 2), "{ ERR@1:expected a string key but found ','");
    assert_string_equal(tokens("{\"a\"}", 2),
                        "{ ERR@4:expected ':' after object key but found '}'");
    assert_string_equal(tokens("{\"a\":}", 2), "{ k:a ERR@5:unexpected character '}'");
    assert_string_equal(tokens("[1}", 2), "[ i:1 ERR@2:expected ',' or ']' but found '}'");
    assert_string_equal(tokens("{\"a\":1]", 2),
                        "{ k:a i:1 ERR@6:expected ',' or '}' but found ']'");
    assert_string_equal(tokens("1 2", 1), "i:1 ERR@2:unexpected data after the value: '2'");
    assert_string_equal(tokens("truex", 1), "true ERR@4:unexpected data after the value: 'x'");
    assert_string_equal(tokens("[\x01]", 2), "[ ERR@1:unexpected character (byte 0x01)");
    assert_string_equal(tokens("[[[]]]", 2), "[ [ ERR@2:nesting deeper than 2 levels");
}

static void test_string_errors(void **state)
{
    assert_string_equal(tokens("\"abc", 1), "ERR@0:unterminated string");
    assert_string_equal(tokens("\"abc\\", 1), "ERR@0:unterminated string");
    assert_string_equal(tokens("\"a\tb\"", 1), "ERR@2:unescaped control character 0x09 in string");
    assert_string_equal(tokens("\"\\a\"", 1), "ERR@2:invalid escape 'a'");
    assert_string_equal(tokens("\"\\u00\"", 1),
                        "ERR@1:invalid \\u escape (expected 4 hex digits)");
    assert_string_equal(tokens("\"\\u00zz\"", 1),
                        "ERR@1:invalid \\u escape (expected 4 hex digits)");
}

/* The reader stays failed: further calls keep returning the error. */
static void test_error_is_sticky(void **state)
{
    json_reader r;

    json_reader_init(&r, "[1,]", 4, 10);
    assert_int_equal(json_next(&r), JSON_ARRAY);
    assert_int_equal(json_next(&r), JSON_INTEGER);
    assert_int_equal(json_next(&r), JSON_ERROR);
    assert_int_equal(json_next(&r), JSON_ERROR);
    assert_int_equal(r.error_pos, 3);
}

static void test_max_depth_is_clamped(void **state)
{
    char deep[2 * JSON_MAX_DEPTH + 3];

    memset(deep, '[', JSON_MAX_DEPTH + 1);
    memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
    deep[2 * JSON_MAX_DEPTH + 2] = '\0';
    assert_string_equal(strstr(tokens(deep, 1000000), "ERR"),
                        "ERR@1000:nesting deeper than 1000 levels");
    assert_string_equal(tokens("[]", 0), "[ ] END");
}

static const char *unescape(const char *raw)
{
    static char out[256];
    size_t n = json_unescape(raw, strlen(raw), out);

    assert_true(n <= strlen(raw));
    out[n] = '\0';
    return out;
}

static void test_unescape(void **state)
{
    assert_string_equal(unescape("plain"), "plain");
    assert_string_equal(unescape("\\\"\\\\\\/\\b\\f\\n\\r\\t"), "\"\\/\b\f\n\r\t");
    assert_string_equal(unescape("\\u0041\\u00e9\\u20ac"), "A\xc3\xa9\xe2\x82\xac");
    assert_string_equal(unescape("\\uD83D\\uDE00"), "\xf0\x9f\x98\x80");
    /* lone or reversed surrogates: U+FFFD each */
    assert_string_equal(unescape("\\ud800"), "\xef\xbf\xbd");
    assert_string_equal(unescape("\\ud800\\u0041"), "\xef\xbf\xbd" "A");
    assert_string_equal(unescape("\\ude00\\ud83d"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(unescape("\\ud83d\\ud83d\\ude00"), "\xef\xbf\xbd\xf0\x9f\x98\x80");
}

static void test_position(void **state)
{
    const char *s = "{\n  \"\xc3\xa9\": x";
    size_t line, col;

    json_position(s, strlen(s), 0, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    json_position(s, strlen(s), strlen(s) - 1, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 8); /* the 2-byte e-acute counts once */
    json_position(s, strlen(s), 9999, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 9);
}

static void test_escape(void **state)
{
    const char in[] = "a\"b\\c\n\x01\x1f\x7f\xc3\xa9/";
    char out[64];
    size_t n = json_escaped_len(in, sizeof in - 1);
    char *end = json_escape(out, in, sizeof in - 1);

    assert_int_equal((size_t)(end - out), n);
    *end = '\0';
    assert_string_equal(out, "a\\\"b\\\\c\\n\\u0001\\u001f\x7f\xc3\xa9/");
    assert_int_equal(json_escaped_len("abc", 3), 3);
}

static void test_format_double(void **state)
{
    char buf[32];
    const double samples[] = {0.1, 1.0 / 3, 1e300, 5e-324, 2.5, -0.0, 123456789.125,
                              9007199254740993.0, 1574290955.123, 1e21, 1e-7};
    size_t i;

    assert_int_equal(json_format_double(0.1, buf), 3);
    assert_string_equal(buf, "0.1");
    json_format_double(3.0, buf);
    assert_string_equal(buf, "3");
    json_format_double(1e300, buf);
    assert_string_equal(buf, "1e+300");
    json_format_double(0.1 + 0.2, buf);
    assert_string_equal(buf, "0.30000000000000004");
    assert_int_equal(json_format_double(NAN, buf), -1);
    assert_int_equal(json_format_double(INFINITY, buf), -1);
    assert_int_equal(json_format_double(-INFINITY, buf), -1);
    for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        assert_true(json_format_double(samples[i], buf) > 0);
        assert_true(strtod(buf, NULL) == samples[i]);
        /* and the text is valid JSON */
        assert_string_equal(strstr(tokens(buf, 1), "END") ? "ok" : buf, "ok");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_stream),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_grammar_errors),
        cmocka_unit_test(test_string_errors),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_max_depth_is_clamped),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_position),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_format_double),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
