#!/usr/bin/python3
"""Credential endpoints for spec/creds_spec.lua: STS, the container agent, IMDSv2.

Answers derive from what the caller sent, so a spec can tell which token a
fetch read:

  STS (POST, query protocol, unsigned)  Action=AssumeRoleWithWebIdentity:
      AccessKeyId "ASIA-<WebIdentityToken>", SecretAccessKey "secret-<token>",
      SessionToken "session-<token>-<RoleSessionName>". Requests that are not
      the form the SDKs send (missing fields, a signature) get a 400
      StubRejected error naming what is wrong.
  Container (GET /container)  Authorization must be present: AccessKeyId
      "ASIA-container-<Authorization>"; without it 401 {"code","message"}.
  IMDSv2  PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds),
      then GET /latest/meta-data/iam/security-credentials/[smop-node-role]
      with X-aws-ec2-metadata-token; AccessKeyId "ASIA-imds".

State directory (argv[1]), read at every request, written by the spec:
  ttl    seconds until Expiration (default 3600)
  fail   if present: STS answers 400 with this error code
  calls  appended: one line per credential answer or refusal,
         "sts <token> <session>", "container <auth>", "imds"

Binds 127.0.0.1 on a free port, prints "<port> <pid>" first, and exits when
its parent dies.
"""
import json
import os
import sys
import threading
import time
from stubkit import serve
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

STATE = sys.argv[1]
LOCK = threading.Lock()
IMDS_TOKEN = "imds-session-token"
ROLE = "smop-node-role"


def read_state(name, default=None):
    try:
        with open(os.path.join(STATE, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def record(line):
    with LOCK, open(os.path.join(STATE, "calls"), "a") as f:
        f.write(line + "\n")


def expiration():
    ttl = int(read_state("ttl", "3600"))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + ttl))


def sts_error(code, message):
    return ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>stub</RequestId></ErrorResponse>" % (code, message))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        field = lambda k: form.get(k, [""])[0]
        wrong = None
        if field("Action") != "AssumeRoleWithWebIdentity" or field("Version") != "2011-06-15":
            wrong = "Action or Version"
        elif not field("RoleArn").startswith("arn:aws:iam::"):
            wrong = "RoleArn"
        elif not field("RoleSessionName") or not field("WebIdentityToken"):
            wrong = "RoleSessionName or WebIdentityToken"
        elif self.headers.get("Authorization") or self.headers.get("X-Amz-Security-Token"):
            wrong = "a signature (AssumeRoleWithWebIdentity is unsigned)"
        elif not self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"):
            wrong = "Content-Type"
        if wrong:
            record("sts-rejected " + wrong)
            return self.reply(400, sts_error("StubRejected", "unexpected " + wrong), "text/xml")
        token, session = field("WebIdentityToken"), field("RoleSessionName")
        record("sts %s %s" % (token, session))
        fail = read_state("fail")
        if fail:
            return self.reply(400, sts_error(fail, "token rejected by the stub"), "text/xml")
        body = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                "<AssumeRoleWithWebIdentityResult><Credentials>"
                "<AccessKeyId>ASIA-%s</AccessKeyId>"
                "<SecretAccessKey>secret-%s</SecretAccessKey>"
                "<SessionToken>session-%s-%s</SessionToken>"
                "<Expiration>%s</Expiration>"
                "</Credentials></AssumeRoleWithWebIdentityResult>"
                "</AssumeRoleWithWebIdentityResponse>" % (token, token, token, session, expiration()))
        self.reply(200, body, "text/xml")

    def creds_json(self, key_id):
        return json.dumps({"Code": "Success", "AccessKeyId": key_id,
                           "SecretAccessKey": "secret-" + key_id, "Token": "token-" + key_id,
                           "Expiration": expiration()})

    def do_PUT(self):
        if self.path != "/latest/api/token" or not self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "", "text/plain")
        self.reply(200, IMDS_TOKEN, "text/plain")

    def do_GET(self):
        if self.path == "/container":
            auth = self.headers.get("Authorization")
            record("container %s" % auth)
            if not auth:
                return self.reply(401, json.dumps({"code": "AccessDenied",
                                                   "message": "no authorization token"}),
                                  "application/json")
            return self.reply(200, self.creds_json("ASIA-container-" + auth), "application/json")
        prefix = "/latest/meta-data/iam/security-credentials/"
        if self.path.startswith(prefix):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.reply(401, "", "text/plain")
            if self.path == prefix:
                return self.reply(200, ROLE + "\n", "text/plain")
            if self.path == prefix + ROLE:
                record("imds")
                return self.reply(200, self.creds_json("ASIA-imds"), "text/plain")
        self.reply(404, "", "text/plain")


def main():
    serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


if __name__ == "__main__":
    main()
