/* Unit tests for the credential chain: refresh timing on fake clocks, the STS
 * (XML) and container/IMDS (JSON) answers, success and error, and the
 * synchronous sources through the real provider and loop (environment,
 * profile files, misconfigurations): callbacks never inside creds_get, error
 * lines name the source, and never contain a secret. The HTTP sources run
 * against stubs in spec/creds_spec.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "creds.h"
#include "smop.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////////wEaCXVzLWVhc3QtMSJGMEQCIEXAMPLE="

/* ---- refresh timing ---- */

static void test_needs_refresh(void **state)
{
    time_t now = 1700000000;

    (void)state;
    assert_false(creds_needs_refresh(0, now));              /* static: never */
    assert_false(creds_needs_refresh(now + 3600, now));
    assert_false(creds_needs_refresh(now + CREDS_REFRESH_BEFORE, now));
    assert_true(creds_needs_refresh(now + CREDS_REFRESH_BEFORE - 1, now));
    assert_true(creds_needs_refresh(now + 1, now));
    assert_true(creds_needs_refresh(now - 10, now));         /* expired */
    /* the same credentials, as the clock moves */
    assert_false(creds_needs_refresh(now + 900, now + 599));
    assert_false(creds_needs_refresh(now + 900, now + 600));
    assert_true(creds_needs_refresh(now + 900, now + 601));
}

static void test_expired(void **state)
{
    time_t now = 1700000000;

    (void)state;
    assert_false(creds_expired(0, now));
    assert_false(creds_expired(now + 1, now));
    assert_true(creds_expired(now, now));
    assert_true(creds_expired(now - 1, now));
}

static void test_parse_time(void **state)
{
    time_t t = 0;

    (void)state;
    assert_int_equal(creds_parse_time("2019-11-09T13:34:41Z", &t), SMOP_OK);
    assert_int_equal(t, 1573306481);
    assert_int_equal(creds_parse_time("2019-11-09T13:34:41.123456Z", &t), SMOP_OK);
    assert_int_equal(t, 1573306481);
    assert_int_equal(creds_parse_time("2019-11-09T15:34:41+02:00", &t), SMOP_OK);
    assert_int_equal(t, 1573306481);
    assert_int_equal(creds_parse_time("2019-11-09T08:34:41-0500", &t), SMOP_OK);
    assert_int_equal(t, 1573306481);
    assert_int_equal(creds_parse_time("1970-01-01T00:00:00Z", &t), SMOP_OK);
    assert_int_equal(t, 0);
    assert_int_equal(creds_parse_time("2019-11-09 13:34:41Z", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time("2019-11-09T13:34:41", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time("2019-13-09T13:34:41Z", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time("2019-11-09T13:34:41Zjunk", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time("2019-11-09T13:34", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time("", &t), SMOP_ERR);
    assert_int_equal(creds_parse_time(NULL, &t), SMOP_ERR);
}

/* ---- STS answers ---- */

static const char sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>system:serviceaccount:smop:smop</SubjectFromWebIdentityToken>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/smop/smop-1</Arn>\n"
    "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:smop-1</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>" TOKEN "</SessionToken>\n"
    "      <SecretAccessKey>" SECRET "</SecretAccessKey>\n"
    "      <Expiration>2019-11-09T13:34:41Z</Expiration>\n"
    "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

static void test_sts_success(void **state)
{
    creds c;
    char err[512] = "";

    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(creds_parse_sts(sts_ok, strlen(sts_ok), &c, err, sizeof err), SMOP_OK);
    assert_string_equal(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_string_equal(c.session_token, TOKEN);
    assert_int_equal(c.expiration, 1573306481);
}

static void test_sts_entities(void **state)
{
    static const char body[] =
        "<R><Credentials><AccessKeyId>ASIA&amp;X</AccessKeyId>"
        "<SecretAccessKey>a&lt;b&gt;c&#47;d&#x2B;e&quot;&apos;&unknown;</SecretAccessKey>"
        "<SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>"
        "</Credentials></R>";
    creds c;
    char err[512] = "";

    (void)state;
    assert_int_equal(creds_parse_sts(body, strlen(body), &c, err, sizeof err), SMOP_OK);
    assert_string_equal(c.access_key_id, "ASIA&X");
    assert_string_equal(c.secret_access_key, "a<b>c/d+e\"'&unknown;");
}

static void test_sts_error_document(void **state)
{
    static const char body[] =
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <Error>\n"
        "    <Type>Sender</Type>\n"
        "    <Code>InvalidIdentityToken</Code>\n"
        "    <Message>No OpenIDConnect provider found in your account for\n"
        "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE</Message>\n"
        "  </Error>\n"
        "  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
        "</ErrorResponse>\n";
    creds c;
    char err[512] = "";

    (void)state;
    assert_int_equal(creds_parse_sts(body, strlen(body), &c, err, sizeof err), SMOP_ERR);
    /* one line, code then message */
    assert_string_equal(err, "InvalidIdentityToken: No OpenIDConnect provider found in your "
                             "account for https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE");
}

static void test_sts_malformed(void **state)
{
    creds c;
    char err[512] = "";
    char *big;
    size_t n = sizeof c.session_token + 100, len;

    (void)state;
    assert_int_equal(creds_parse_sts("", 0, &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "answer without Credentials");
    assert_int_equal(creds_parse_sts("<html>502 Bad Gateway</html>", 28, &c, err, sizeof err),
                     SMOP_ERR);
    assert_string_equal(err, "answer without Credentials");

    {
        static const char no_exp[] =
            "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>" SECRET
            "</SecretAccessKey><SessionToken>" TOKEN "</SessionToken></Credentials>";
        static const char bad_exp[] =
            "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>" SECRET
            "</SecretAccessKey><SessionToken>" TOKEN "</SessionToken>"
            "<Expiration>" SECRET "</Expiration></Credentials>";
        static const char no_secret[] =
            "<Credentials><AccessKeyId>A</AccessKeyId><SessionToken>" TOKEN
            "</SessionToken></Credentials>";
        static const char unterminated[] =
            "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>" SECRET;

        assert_int_equal(creds_parse_sts(no_exp, strlen(no_exp), &c, err, sizeof err), SMOP_ERR);
        assert_string_equal(err, "answer without Credentials/Expiration");
        assert_int_equal(creds_parse_sts(bad_exp, strlen(bad_exp), &c, err, sizeof err),
                         SMOP_ERR);
        assert_string_equal(err, "Credentials/Expiration is not an ISO 8601 time");
        assert_null(strstr(err, SECRET));
        assert_int_equal(creds_parse_sts(no_secret, strlen(no_secret), &c, err, sizeof err),
                         SMOP_ERR);
        assert_string_equal(err, "answer without Credentials/SecretAccessKey");
        assert_int_equal(creds_parse_sts(unterminated, strlen(unterminated), &c, err,
                                         sizeof err), SMOP_ERR);
        assert_string_equal(err, "answer without Credentials");
    }

    /* a session token that does not fit is an error, never a truncation */
    big = malloc(n + 256);
    assert_non_null(big);
    len = (size_t)snprintf(big, 256, "<Credentials><AccessKeyId>A</AccessKeyId>"
                                     "<SecretAccessKey>S</SecretAccessKey><SessionToken>");
    memset(big + len, 'T', n);
    len += n;
    len += (size_t)snprintf(big + len, 256, "</SessionToken><Expiration>2030-01-01T00:00:00Z"
                                            "</Expiration></Credentials>");
    assert_int_equal(creds_parse_sts(big, len, &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "Credentials/SessionToken longer than 8191 bytes");
    free(big);
}

/* ---- container / IMDS answers ---- */

static void test_json_container(void **state)
{
    static const char body[] =
        "{\"AccessKeyId\": \"ASIACONTAINER\", \"SecretAccessKey\": \"" SECRET "\",\n"
        " \"Token\": \"" TOKEN "\", \"AccountId\": \"123456789012\",\n"
        " \"Expiration\": \"2019-11-09T13:34:41Z\", \"Extra\": {\"nested\": [1, 2, {}]}}";
    creds c;
    char err[512] = "";

    (void)state;
    assert_int_equal(creds_parse_json(body, strlen(body), &c, err, sizeof err), SMOP_OK);
    assert_string_equal(c.access_key_id, "ASIACONTAINER");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_string_equal(c.session_token, TOKEN);
    assert_int_equal(c.expiration, 1573306481);
}

static void test_json_imds(void **state)
{
    static const char ok[] =
        "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2012-04-26T16:39:16Z\",\n"
        "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIMDS\",\n"
        "  \"SecretAccessKey\" : \"se\\/cr\\u0065t\",\n  \"Token\" : \"token\",\n"
        "  \"Expiration\" : \"2017-05-17T15:09:54Z\"\n}";
    static const char failed[] =
        "{\"Code\": \"AssumeRoleUnauthorizedAccess\", \"Message\": \"EC2 cannot assume the "
        "role\", \"AccessKeyId\": \"\"}";
    creds c;
    char err[512] = "";

    (void)state;
    assert_int_equal(creds_parse_json(ok, strlen(ok), &c, err, sizeof err), SMOP_OK);
    assert_string_equal(c.access_key_id, "ASIAIMDS");
    assert_string_equal(c.secret_access_key, "se/cret");
    assert_int_equal(c.expiration, 1495033794);
    assert_int_equal(creds_parse_json(failed, strlen(failed), &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "AssumeRoleUnauthorizedAccess: EC2 cannot assume the role");
}

static void test_json_errors(void **state)
{
    static const char denied[] = "{\"code\":\"AccessDenied\",\"message\":\"Unable to validate "
                                 "the authorization token\"}";
    static const char no_exp[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}";
    static const char bad_exp[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET
                                  "\",\"Expiration\":\"" SECRET "\"}";
    static const char no_secret[] = "{\"AccessKeyId\":\"A\",\"Token\":\"" TOKEN "\"}";
    static const char broken[] = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"";
    creds c;
    char err[512] = "";

    (void)state;
    assert_int_equal(creds_parse_json(denied, strlen(denied), &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "AccessDenied: Unable to validate the authorization token");
    /* no Expiration: credentials that do not expire */
    assert_int_equal(creds_parse_json(no_exp, strlen(no_exp), &c, err, sizeof err), SMOP_OK);
    assert_int_equal(c.expiration, 0);
    assert_int_equal(creds_parse_json(bad_exp, strlen(bad_exp), &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "Expiration is not an ISO 8601 time");
    assert_int_equal(creds_parse_json(no_secret, strlen(no_secret), &c, err, sizeof err),
                     SMOP_ERR);
    assert_string_equal(err, "answer without SecretAccessKey");
    assert_int_equal(creds_parse_json(broken, strlen(broken), &c, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "answer is not a JSON object"));
    assert_null(strstr(err, SECRET));
    assert_int_equal(creds_parse_json("<html/>", 7, &c, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "answer is not a JSON object"));
    assert_int_equal(creds_parse_json("[]", 2, &c, err, sizeof err), SMOP_ERR);
    assert_int_equal(creds_parse_json("{}", 2, &c, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "answer without AccessKeyId");
}

/* ---- the provider, with synchronous sources ---- */

struct outcome {
    int called;
    int ok;
    creds c;
    char err[1024];
};

static void on_creds(void *ud, const creds *c, const char *err)
{
    struct outcome *o = ud;

    o->called++;
    o->ok = c != NULL;
    if (c)
        o->c = *c;
    snprintf(o->err, sizeof o->err, "%s", err ? err : "");
}

/* Asks p once: the answer never comes inside creds_get, always from the loop. */
static void ask(creds_provider *p, struct outcome *o)
{
    creds_wait w;
    char err[256];

    memset(&w, 0, sizeof w);
    memset(o, 0, sizeof *o);
    assert_int_equal(creds_get(p, &w, on_creds, o, err, sizeof err), SMOP_OK);
    assert_int_equal(o->called, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(o->called, 1);
}

static creds_provider *provider(const char *profile, const char *const *env)
{
    creds_config cfg = {profile, env};
    char err[256];
    creds_provider *p = creds_provider_new(&cfg, err, sizeof err);

    assert_non_null(p);
    return p;
}

static void provider_free(creds_provider *p)
{
    creds_provider_free(p);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);   /* its close callback frees it */
}

/* Asks a fresh provider for env once; returns the error ("" on success). */
static const char *outcome_for(const char *profile, const char *const *env, struct outcome *o)
{
    creds_provider *p = provider(profile, env);

    ask(p, o);
    provider_free(p);
    assert_null(strstr(o->err, SECRET));
    assert_null(strstr(o->err, TOKEN));
    return o->err;
}

static void test_env_credentials(void **state)
{
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=" SECRET,
                         "AWS_SESSION_TOKEN=" TOKEN, "AWS_EC2_METADATA_DISABLED=true", NULL};
    creds_provider *p = provider(NULL, env);
    struct outcome o;
    creds_wait w1, w2;
    struct outcome o1, o2;
    char err[256];

    (void)state;
    assert_null(creds_peek(p, time(NULL)));
    ask(p, &o);
    assert_true(o.ok);
    assert_string_equal(o.err, "");
    assert_string_equal(o.c.access_key_id, "AKIDENV");
    assert_string_equal(o.c.secret_access_key, SECRET);
    assert_string_equal(o.c.session_token, TOKEN);
    assert_string_equal(o.c.source, "environment");
    assert_int_equal(o.c.expiration, 0);
    /* static credentials stay cached: the synchronous shortcut sees them */
    assert_non_null(creds_peek(p, time(NULL)));
    assert_string_equal(creds_peek(p, time(NULL))->access_key_id, "AKIDENV");

    /* a cache hit still answers from the loop; a cancelled wait never does */
    memset(&w1, 0, sizeof w1);
    memset(&w2, 0, sizeof w2);
    memset(&o1, 0, sizeof o1);
    memset(&o2, 0, sizeof o2);
    assert_int_equal(creds_get(p, &w1, on_creds, &o1, err, sizeof err), SMOP_OK);
    assert_int_equal(creds_get(p, &w2, on_creds, &o2, err, sizeof err), SMOP_OK);
    assert_int_equal(creds_get(p, &w2, on_creds, &o2, err, sizeof err), SMOP_ERR);
    assert_string_equal(err, "credentials: this wait is already in use");
    creds_cancel(&w2);
    creds_cancel(&w2);   /* twice is harmless */
    assert_int_equal(o1.called, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(o1.called, 1);
    assert_int_equal(o2.called, 0);
    creds_cancel(&w1);   /* after completion: a no-op */

    /* freeing the provider drops waiters silently; their cancel stays safe */
    memset(&w1, 0, sizeof w1);
    memset(&o1, 0, sizeof o1);
    assert_int_equal(creds_get(p, &w1, on_creds, &o1, err, sizeof err), SMOP_OK);
    provider_free(p);
    assert_int_equal(o1.called, 0);
    creds_cancel(&w1);
}

static void test_env_misconfigured(void **state)
{
    const char *only_id[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_ROLE_ARN=arn:aws:iam::1:role/r",
                             NULL};
    const char *only_secret[] = {"AWS_SECRET_ACCESS_KEY=" SECRET, NULL};
    const char *empty_is_unset[] = {"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=",
                                    "AWS_EC2_METADATA_DISABLED=TRUE", NULL};
    struct outcome o;

    (void)state;
    /* the first configured source decides: no fall-through to web identity */
    assert_string_equal(outcome_for(NULL, only_id, &o),
                        "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    assert_false(o.ok);
    assert_string_equal(outcome_for(NULL, only_secret, &o),
                        "environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    assert_string_equal(outcome_for(NULL, empty_is_unset, &o),
                        "no AWS credentials: environment (AWS_ACCESS_KEY_ID not set), "
                        "web identity (AWS_ROLE_ARN not set), profile default (HOME not set), "
                        "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI not set), "
                        "IMDS (AWS_EC2_METADATA_DISABLED=true)");
}

static void test_web_identity_misconfigured(void **state)
{
    const char *no_file[] = {"AWS_ROLE_ARN=arn:aws:iam::123456789012:role/smop", NULL};
    const char *no_role[] = {"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/token", NULL};
    const char *missing[] = {"AWS_ROLE_ARN=arn:aws:iam::123456789012:role/smop",
                             "AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/smop/token", NULL};
    const char *bad_region[] = {"AWS_ROLE_ARN=arn:aws:iam::123456789012:role/smop",
                                "AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/smop/token",
                                "AWS_REGION=us-east-1.evil.example/", NULL};
    struct outcome o;

    (void)state;
    assert_string_equal(outcome_for(NULL, no_file, &o), "web identity: AWS_ROLE_ARN is set but "
                                                        "AWS_WEB_IDENTITY_TOKEN_FILE is not");
    assert_string_equal(outcome_for(NULL, no_role, &o),
                        "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    assert_string_equal(outcome_for(NULL, missing, &o),
                        "web identity: token file /nonexistent/smop/token: "
                        "No such file or directory");
    assert_string_equal(outcome_for(NULL, bad_region, &o),
                        "web identity: region \"us-east-1.evil.example/\" is not a region name");
}

static void test_container_misconfigured(void **state)
{
    const char *plain_http[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.0.0.7:8080/creds",
                                NULL};
    const char *lookalike[] = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1.evil.example/creds", NULL};
    const char *userinfo[] = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23@10.0.0.7/creds", NULL};
    const char *relative[] = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=v2/creds", NULL};
    const char *token_file[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1/creds",
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/nonexistent/eks-token",
                                NULL};
    const char *injected[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://[::1]:1/creds",
                              "AWS_CONTAINER_AUTHORIZATION_TOKEN=abc\r\nX-Evil: 1", NULL};
    struct outcome o;

    (void)state;
    assert_string_equal(outcome_for(NULL, plain_http, &o),
                        "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, a "
                        "loopback host or the ECS/EKS agent address (169.254.170.2, "
                        "169.254.170.23, fd00:ec2::23), not 10.0.0.7");
    assert_non_null(strstr(outcome_for(NULL, lookalike, &o), "not 127.0.0.1.evil.example"));
    assert_non_null(strstr(outcome_for(NULL, userinfo, &o), "not 10.0.0.7"));
    assert_string_equal(outcome_for(NULL, relative, &o),
                        "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
    assert_string_equal(outcome_for(NULL, token_file, &o),
                        "container: authorization token file /nonexistent/eks-token: "
                        "No such file or directory");
    assert_string_equal(outcome_for(NULL, injected, &o),
                        "container: authorization token contains a line break");
}

/* A temporary HOME with ~/.aws/credentials and ~/.aws/config. */
static char home[64];
static char home_env[96];

static void write_file(const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof path, "%s/.aws/%s", home, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int make_home(void **state)
{
    char dir[128];

    (void)state;
    snprintf(home, sizeof home, "/tmp/smop-creds-XXXXXX");
    if (!mkdtemp(home))
        return -1;
    snprintf(home_env, sizeof home_env, "HOME=%s", home);
    snprintf(dir, sizeof dir, "%s/.aws", home);
    return mkdir(dir, 0700);
}

static int remove_home(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_profiles(void **state)
{
    const char *env[] = {home_env, "AWS_EC2_METADATA_DISABLED=true", NULL};
    const char *env_dev[] = {home_env, "AWS_PROFILE=dev", NULL};
    const char *env_none[] = {home_env, "AWS_PROFILE=nope", NULL};
    const char *env_region[] = {home_env, "AWS_DEFAULT_REGION=sa-east-1", NULL};
    creds_config cfg = {NULL, env};
    struct outcome o;
    char region[64], err[256], expected[512];

    (void)state;
    /* no files at all: the default profile is skipped, a named one is missing */
    snprintf(expected, sizeof expected, "profile default (no %s/.aws/credentials, no "
             "%s/.aws/config), container", home, home);
    assert_non_null(strstr(outcome_for(NULL, env, &o), expected));
    snprintf(expected, sizeof expected, "profile dev: not found (no %s/.aws/credentials, no "
             "%s/.aws/config)", home, home);
    assert_string_equal(outcome_for("dev", env, &o), expected);

    write_file("credentials", "[default]\n"
                              "aws_access_key_id = AKIDDEFAULT\n"
                              "aws_secret_access_key = " SECRET "\n"
                              "[dev]\n"
                              "aws_access_key_id = AKIDDEV\n"
                              "aws_secret_access_key = devsecret\n"
                              "aws_session_token = devtoken\n"
                              "[half]\n"
                              "aws_access_key_id = AKIDHALF\n");
    write_file("config", "[default]\n"
                         "region = us-west-2\n"
                         "[profile dev]\n"
                         "region = eu-central-1\n"
                         "[profile proc]\n"
                         "credential_process = /usr/bin/get-creds\n"
                         "[profile sso]\n"
                         "sso_session = corp\n"
                         "[profile chained]\n"
                         "role_arn = arn:aws:iam::123456789012:role/x\n"
                         "source_profile = default\n"
                         "[profile regiononly]\n"
                         "region = ap-east-1\n"
                         "[profile wif]\n"
                         "role_arn = arn:aws:iam::123456789012:role/x\n"
                         "web_identity_token_file = ~/token-not-there\n");

    assert_string_equal(outcome_for(NULL, env, &o), "");
    assert_string_equal(o.c.access_key_id, "AKIDDEFAULT");
    assert_string_equal(o.c.source, "profile");
    assert_string_equal(o.c.session_token, "");

    assert_string_equal(outcome_for(NULL, env_dev, &o), "");
    assert_string_equal(o.c.access_key_id, "AKIDDEV");
    assert_string_equal(o.c.session_token, "devtoken");
    assert_string_equal(outcome_for("dev", env, &o), "");
    assert_string_equal(o.c.access_key_id, "AKIDDEV");

    assert_string_equal(outcome_for("half", env, &o),
                        "profile half: aws_access_key_id is set but aws_secret_access_key is not");
    assert_string_equal(outcome_for("proc", env, &o),
                        "profile proc: credential_process is not supported");
    assert_string_equal(outcome_for("sso", env, &o),
                        "profile sso: SSO credentials are not supported");
    assert_string_equal(outcome_for("chained", env, &o),
                        "profile chained: role_arn without web_identity_token_file "
                        "(source_profile and credential_source are not supported)");
    assert_string_equal(outcome_for("regiononly", env, &o),
                        "profile regiononly: no credentials in its settings");
    /* ~ in settings is HOME; the token file is read at fetch time */
    outcome_for("wif", env, &o);
    assert_non_null(strstr(o.err, "web identity: token file "));
    assert_non_null(strstr(o.err, home));
    assert_non_null(strstr(o.err, "/token-not-there: No such file or directory"));
    /* a profile named by AWS_PROFILE must exist */
    assert_non_null(strstr(outcome_for(NULL, env_none, &o), "profile nope: not found (not in "));

    /* region: environment first, then the profile */
    assert_int_equal(creds_region(&cfg, region, sizeof region, err, sizeof err), SMOP_OK);
    assert_string_equal(region, "us-west-2");
    cfg.profile = "dev";
    assert_int_equal(creds_region(&cfg, region, sizeof region, err, sizeof err), SMOP_OK);
    assert_string_equal(region, "eu-central-1");
    cfg.profile = "proc";
    assert_int_equal(creds_region(&cfg, region, sizeof region, err, sizeof err), SMOP_OK);
    assert_string_equal(region, "");
    cfg.env = env_region;
    assert_int_equal(creds_region(&cfg, region, sizeof region, err, sizeof err), SMOP_OK);
    assert_string_equal(region, "sa-east-1");

    /* a broken file is an error naming file and line, not "no credentials" */
    write_file("config", "[default]\nregion us-west-2\n");
    outcome_for(NULL, env, &o);
    assert_non_null(strstr(o.err, "profile default: "));
    assert_non_null(strstr(o.err, "/.aws/config:2: expected 'key = value'"));
    cfg.profile = NULL;
    cfg.env = env;
    assert_int_equal(creds_region(&cfg, region, sizeof region, err, sizeof err), SMOP_ERR);
    assert_non_null(strstr(err, "/.aws/config:2: expected 'key = value'"));
}

static void test_explicit_profile_ignores_environment(void **state)
{
    const char *env[] = {home_env, "AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=x",
                         NULL};
    struct outcome o;

    (void)state;
    write_file("credentials", "[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = y\n");
    write_file("config", "");
    assert_string_equal(outcome_for(NULL, env, &o), "");
    assert_string_equal(o.c.access_key_id, "AKIDENV");
    assert_string_equal(outcome_for("ops", env, &o), "");
    assert_string_equal(o.c.access_key_id, "AKIDOPS");
    assert_non_null(strstr(outcome_for("other", env, &o), "profile other: not found (not in "));
}

static void test_secrets_never_in_errors(void **state)
{
    char long_token[9000];
    char env_token[9100];
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=" SECRET, env_token,
                         NULL};
    struct outcome o;

    (void)state;
    memset(long_token, 'Q', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = '\0';
    snprintf(env_token, sizeof env_token, "AWS_SESSION_TOKEN=%s", long_token);
    assert_string_equal(outcome_for(NULL, env, &o),
                        "environment: session token longer than 8191 bytes");
    assert_null(strstr(o.err, "QQQQ"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needs_refresh),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_sts_success),
        cmocka_unit_test(test_sts_entities),
        cmocka_unit_test(test_sts_error_document),
        cmocka_unit_test(test_sts_malformed),
        cmocka_unit_test(test_json_container),
        cmocka_unit_test(test_json_imds),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_env_credentials),
        cmocka_unit_test(test_env_misconfigured),
        cmocka_unit_test(test_web_identity_misconfigured),
        cmocka_unit_test(test_container_misconfigured),
        cmocka_unit_test(test_secrets_never_in_errors),
        cmocka_unit_test_setup_teardown(test_profiles, make_home, remove_home),
        cmocka_unit_test_setup_teardown(test_explicit_profile_ignores_environment, make_home,
                                        remove_home),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    uv_loop_close(uv_default_loop());
    return rc;
}
