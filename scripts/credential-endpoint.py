#!/usr/bin/env python3
"""A local EC2 instance-metadata (IMDSv2) or container-credentials endpoint for pgbackup's tests.

Usage:
  scripts/credential-endpoint.py --mode imds|container --moto http://127.0.0.1:PORT \\
      --access-key-id AKIA… --secret-access-key … --role-arn arn:aws:iam::…:role/NAME \\
      [--port 0] [--imds-v1-only] [--path /creds] [--authorization-token TOKEN |
      --authorization-token-file FILE] [--fail-after N]

It listens on 127.0.0.1 (port 0: a free one), prints `{"port": N}` on a line of its own once it
listens, and exits by itself when the process that started it ends.

The credentials it serves are real moto credentials: each credentials request calls moto's STS
AssumeRole for --role-arn, signed with the given user keys, and serves the answer; moto checks
and expires them (scripts/moto-server.py, PGBACKUP_TEST_STS_LIFETIME_SECONDS).

--mode imds (EC2 instance metadata, as an instance with HttpTokens=required answers):
  PUT /latest/api/token with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600`
      → 200, a random token (text/plain), valid for that many seconds; the header missing or out
        of range → 400.
  GET /latest/meta-data/iam/security-credentials/      → the role name (the ARN's last part)
  GET /latest/meta-data/iam/security-credentials/ROLE  → {"Code": "Success", "LastUpdated",
      "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
      (times as 2026-12-07T22:00:00Z); another role name → 404.
  A GET without a valid, unexpired `X-aws-ec2-metadata-token` → 401.
  --imds-v1-only: a metadata service without the token API. Real IMDS always serves the PUT
      (HttpTokens=optional only makes the token optional on GETs), so this emulates what the
      SDKs meet on older metadata emulators and proxies: PUT /latest/api/token → 404 Not Found.
      botocore, the Go and Java SDKs fall back to tokenless GETs on 403, 404 or 405 (400 is an
      error). GETs are then served without a token.

--mode container (ECS task role, EKS Pod Identity):
  GET PATH (--path, default /creds) → {"AccessKeyId", "SecretAccessKey", "Token",
      "Expiration", "RoleArn"}. With --authorization-token (or --authorization-token-file,
      re-read on every request, trailing whitespace dropped as no header value can carry it),
      the request's `Authorization` header must be exactly that value: missing → 401, another
      value → 403, both with a JSON {"code", "message"} body.

Both modes:
  --fail-after N: after N credential documents served, answer 500 to credential requests
      (a credential source that breaks); the token and role-name requests keep working.
  GET /_requests → JSON {path: count} of every request so far (not counting itself), for tests
      to assert how often credentials were fetched.
  Any other path → 404.
"""
import argparse
import datetime
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_ROLES_PATH = "/latest/meta-data/iam/security-credentials/"


def iso8601(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Endpoint:
    """The state shared by the request threads."""

    def __init__(self, options):
        import boto3

        self.options = options
        self.role_name = options.role_arn.rsplit("/", 1)[-1]
        self.sts = boto3.client("sts", endpoint_url=options.moto, region_name="us-east-1",
                                aws_access_key_id=options.access_key_id,
                                aws_secret_access_key=options.secret_access_key)
        self.lock = threading.Lock()
        self.counts = {}
        self.served = 0
        self.sessions = 0
        self.imds_tokens = {}  # token → monotonic expiry

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1

    def credentials(self):
        """Fresh moto credentials, or None once --fail-after is used up."""
        with self.lock:
            if self.options.fail_after is not None and self.served >= self.options.fail_after:
                return None
            self.sessions += 1
            session = f"credential-endpoint-{self.sessions}"
        answer = self.sts.assume_role(RoleArn=self.options.role_arn, RoleSessionName=session)["Credentials"]
        with self.lock:
            self.served += 1
        return answer

    def issue_imds_token(self, ttl):
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.imds_tokens[token] = time.monotonic() + ttl
        return token

    def imds_token_valid(self, token):
        with self.lock:
            expiry = self.imds_tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def authorization_token(self):
        if self.options.authorization_token_file:
            with open(self.options.authorization_token_file, encoding="utf-8") as file:
                return file.read().rstrip()
        return self.options.authorization_token


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    endpoint: Endpoint = None  # set in main

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))

    def answer(self, status, body, content_type="text/plain", headers=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def answer_json(self, status, value):
        self.answer(status, json.dumps(value), "application/json")

    def do_PUT(self):
        self.drain_body()
        path = self.path.split("?", 1)[0]
        self.endpoint.count(path)
        if self.endpoint.options.mode != "imds" or path != IMDS_TOKEN_PATH or self.endpoint.options.imds_v1_only:
            return self.answer(404, "Not Found")
        try:
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= 21600:
            return self.answer(400, "Bad Request")
        token = self.endpoint.issue_imds_token(ttl)
        self.answer(200, token, headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/_requests":
            with self.endpoint.lock:
                counts = dict(self.endpoint.counts)
            return self.answer_json(200, counts)
        self.endpoint.count(path)
        if self.endpoint.options.mode == "imds":
            self.serve_imds(path)
        else:
            self.serve_container(path)

    def drain_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def serve_imds(self, path):
        options = self.endpoint.options
        if not options.imds_v1_only and not self.endpoint.imds_token_valid(self.headers.get("X-aws-ec2-metadata-token")):
            return self.answer(401, "Unauthorized")
        if path == IMDS_ROLES_PATH:
            return self.answer(200, self.endpoint.role_name)
        if path != IMDS_ROLES_PATH + self.endpoint.role_name:
            return self.answer(404, "Not Found")
        credentials = self.fetch_credentials()
        if credentials is None:
            return
        self.answer_json(200, {
            "Code": "Success",
            "LastUpdated": iso8601(datetime.datetime.now(datetime.timezone.utc)),
            "Type": "AWS-HMAC",
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["SessionToken"],
            "Expiration": iso8601(credentials["Expiration"]),
        })

    def serve_container(self, path):
        if path != self.endpoint.options.path:
            return self.answer_json(404, {"code": "NotFound", "message": f"no credentials at {path}"})
        expected = self.endpoint.authorization_token()
        if expected is not None:
            given = self.headers.get("Authorization")
            if given is None:
                return self.answer_json(401, {"code": "AccessDeniedException", "message": "Authorization header missing"})
            if given != expected:
                return self.answer_json(403, {"code": "AccessDeniedException", "message": "Authorization header does not match"})
        credentials = self.fetch_credentials()
        if credentials is None:
            return
        self.answer_json(200, {
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["SessionToken"],
            "Expiration": iso8601(credentials["Expiration"]),
            "RoleArn": self.endpoint.options.role_arn,
        })

    def fetch_credentials(self):
        """moto's credentials, or None after answering 500 (--fail-after, or moto refused)."""
        try:
            credentials = self.endpoint.credentials()
        except Exception as error:  # moto refused or is gone: the source is broken
            self.answer_json(500, {"code": "InternalError", "message": f"unable to assume the role: {error}"})
            return None
        if credentials is None:
            self.answer_json(500, {"code": "InternalError", "message": "the credential source is failing (--fail-after)"})
        return credentials


def exit_with_parent():
    """Once the process that started this one is gone, so is this one."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description="IMDSv2 / container credentials endpoint backed by moto STS")
    parser.add_argument("--mode", choices=["imds", "container"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--imds-v1-only", action="store_true")
    parser.add_argument("--path", default="/creds")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--authorization-token")
    token.add_argument("--authorization-token-file")
    parser.add_argument("--moto", required=True)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--fail-after", type=int)
    options = parser.parse_args()

    exit_with_parent()
    Handler.endpoint = Endpoint(options)
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
