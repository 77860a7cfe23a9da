/*
 * bench_sigv4.c - how fast sigv4_sign signs a typical SageMaker call.
 *
 * Prints signatures per second and microseconds per signature for a
 * DescribeTrainingJob-shaped request (JSON 1.1 POST, session token). A
 * figure to watch, never asserted on.
 *
 *   bench_sigv4 [iterations]   (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"
#include "smop.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char body[] = "{\"TrainingJobName\":\"xgboost-mnist-2f9c1a7e\"}";
    static const sigv4_header headers[] = {
        { "Host", "api.sagemaker.us-west-2.amazonaws.com" },
        { "Content-Type", "application/x-amz-json-1.1" },
        { "X-Amz-Target", "SageMaker.DescribeTrainingJob" },
        { "User-Agent", "smop/0.1.0" },
    };
    sigv4_request req = {
        .method = "POST", .path = "/", .headers = headers,
        .nheaders = sizeof(headers) / sizeof(headers[0]),
        .body = body, .body_len = sizeof(body) - 1,
    };
    sigv4_credentials creds = {
        "ASIAEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "IQoJb3JpZ2luX2VjEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLE"
        "tokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtoken==",
    };
    sigv4_params params = { "us-west-2", "sagemaker", 1700000000, 1, 0, 0 };
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    sigv4_result out;
    char err[256];
    double start, secs;

    if (iterations <= 0) {
        fprintf(stderr, "usage: bench_sigv4 [iterations > 0]\n");
        return 2;
    }
    start = now();
    for (long i = 0; i < iterations; i++) {
        params.time = 1700000000 + i % 3600;  /* a new date string now and then */
        if (sigv4_sign(&req, &creds, &params, &out, NULL, err, sizeof(err)) != SMOP_OK) {
            fprintf(stderr, "bench_sigv4: %s\n", err);
            return 1;
        }
    }
    secs = now() - start;
    printf("sigv4_sign: %ld signatures in %.3f s: %.0f signatures/s, %.2f us each\n",
           iterations, secs, (double)iterations / secs, secs * 1e6 / (double)iterations);
    return 0;
}
