#!/usr/bin/python3
"""A minimal AWS endpoint for the `smop aws` specs, until `smop fake-aws` exists.

It checks every request's SigV4 signature with botocore's own signer (Debian's
python3-botocore, an implementation independent of ours), so a spec that passes
proves smop signs exactly as the AWS SDKs do. Answers:

  SageMaker JSON 1.1 (X-Amz-Target: SageMaker.<Op>):
    DescribeTrainingJob  {"TrainingJobName": n, "TrainingJobStatus": "InProgress"},
                         or ValidationException when n starts with "missing"
    ListTrainingJobs     {"TrainingJobSummaries": []}
    any other            {}
  STS query protocol:    GetCallerIdentity -> XML
  A bad signature:       403 InvalidSignatureException (JSON) / SignatureDoesNotMatch (XML)

Control: POST /_throttle?n=N makes the next N calls answer 400 ThrottlingException;
GET /_calls returns the calls seen as JSON lines "op signature-ok".
Binds 127.0.0.1 on a free port, prints "<port> <pid>" as the first line, and exits when
its parent dies. Credentials accepted: AKIDEXAMPLE / the documentation secret.
"""
import json
import os
import sys
import threading
from stubkit import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SECRETS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
STATE = {"throttle": 0, "calls": []}
LOCK = threading.Lock()


def signature_ok(handler, body):
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, "missing Authorization"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    akid, date, region, service, _ = fields["Credential"].split("/")
    if akid not in SECRETS:
        return False, "unknown key"
    signed = fields["SignedHeaders"].split(";")
    headers = {h: handler.headers.get(h) for h in signed}
    url = "http://%s%s" % (handler.headers.get("Host"), handler.path)
    req = AWSRequest(method=handler.command, url=url, data=body, headers=headers)
    req.context["timestamp"] = handler.headers.get("X-Amz-Date")
    creds = Credentials(akid, SECRETS[akid], handler.headers.get("X-Amz-Security-Token"))
    signer = SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if expected != fields["Signature"]:
        return False, "signature mismatch; canonical request:\n" + canonical
    return True, ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/x-amz-json-1.1"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "11111111-2222-3333-4444-555555555555")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_calls":
            with LOCK:
                self.reply(200, "\n".join(STATE["calls"]) + "\n", "text/plain")
        else:
            self.reply(404, "{}")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        url = urlsplit(self.path)
        if url.path == "/_throttle":
            with LOCK:
                STATE["throttle"] = int(parse_qs(url.query)["n"][0])
            return self.reply(200, "{}")
        target = self.headers.get("X-Amz-Target")
        if target:
            op = target.split(".", 1)[1]
        else:
            op = parse_qs(body.decode()).get("Action", ["?"])[0]
        ok, why = signature_ok(self, body)
        with LOCK:
            STATE["calls"].append("%s %s" % (op, "signed" if ok else "unsigned"))
            throttled = STATE["throttle"] > 0
            if throttled and ok:
                STATE["throttle"] -= 1
        if not ok:
            if os.environ.get("AWS_STUB_DEBUG"):
                sys.stderr.write("aws_stub: %s\n" % why)
            if target:
                return self.reply(403, json.dumps({
                    "__type": "InvalidSignatureException",
                    "message": "The request signature we calculated does not match the "
                               "signature you provided."}))
            return self.reply(403, "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch"
                                   "</Code><Message>Signature mismatch</Message></Error>"
                                   "<RequestId>r-1</RequestId></ErrorResponse>", "text/xml")
        if throttled:
            return self.reply(400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}))
        if not target:
            return self.reply(200, (
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/smop</Arn>"
                "<UserId>AIDEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
                "<ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>"
                "</GetCallerIdentityResponse>"), "text/xml")
        params = json.loads(body or b"{}")
        if op == "DescribeTrainingJob":
            name = params.get("TrainingJobName", "")
            if name.startswith("missing"):
                return self.reply(400, json.dumps({
                    "__type": "com.amazon.coral.validate#ValidationException",
                    "message": "Requested resource not found."}))
            return self.reply(200, json.dumps({"TrainingJobName": name, "TrainingJobStatus": "InProgress"}))
        if op == "ListTrainingJobs":
            return self.reply(200, json.dumps({"TrainingJobSummaries": []}))
        return self.reply(200, "{}")


def main():
    serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


if __name__ == "__main__":
    main()
