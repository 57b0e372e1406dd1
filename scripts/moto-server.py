#!/usr/bin/env python3
"""moto_server for pgbackup's tests, with one fix to its SigV4 check.

Usage:
  INITIAL_NO_AUTH_ACTION_COUNT=3 scripts/moto-server.py -H 127.0.0.1 -p PORT
      runs moto_server; it exits by itself when the process that started it ends
  scripts/moto-server.py --bootstrap http://127.0.0.1:PORT
      spends the three unauthenticated requests: IAM user, access key, allow-all policy;
      prints {"AccessKeyId": …, "SecretAccessKey": …}

moto checks signatures against the request URL as werkzeug rebuilds it, an IRI in which
percent-escapes such as `%2F` in query values are already decoded. Real S3 signs the URL as sent
(`prefix=wal%2F`), so every correctly signed listing with a `/` in its prefix fails on stock moto,
even from the aws CLI. Before moto computes the signature, this launcher rewrites the URL it
looks at into what S3 signs: the path exactly as the client sent it (S3 does not normalize it),
each query key and value quoted with only `-_.~` left bare. The client's encoding is never
bent to please moto; the test server is. It also makes conditional writes atomic, as S3's are
(below). Everything else is stock `moto.server.main`.
"""
import sys
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from moto.core import authorization

_original = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action


def _canonical_query(query):
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append(quote(unquote(key), safe="-_.~") + "=" + quote(unquote(value), safe="-_.~"))
    return "&".join(pairs)


def _authenticate_and_authorize_action(self, iam_request_cls, resource="*"):
    uri = self.uri
    parts = urlsplit(uri)
    # raw_path: the path as sent (werkzeug's RAW_URI); the IRI's path has some escapes decoded.
    raw_path = getattr(self, "raw_path", None) or quote(unquote(parts.path), safe="/~")
    query = _canonical_query(parts.query) if parts.query else ""
    self.uri = urlunsplit(parts._replace(path=raw_path, query=query))
    try:
        return _original(self, iam_request_cls, resource)
    finally:
        self.uri = uri


authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action

# Real S3 decides a conditional write (`If-None-Match: *` on PUT and CompleteMultipartUpload)
# atomically: of concurrent creators exactly one wins. moto's threaded server checks and stores
# in two steps, so two concurrent creators can both be told 200 (seen: 2 of 16 won). Conditional
# writes are serialized here, as S3 serializes them; every other request runs as before.
import threading

from moto.s3.responses import S3Response

_conditional_writes = threading.Lock()
_key_response = S3Response.key_response


def _key_response_atomic_when_conditional(self, request, full_url, headers):
    if request.headers.get("If-None-Match") is None:
        return _key_response(self, request, full_url, headers)
    with _conditional_writes:
        return _key_response(self, request, full_url, headers)


S3Response.key_response = _key_response_atomic_when_conditional

def bootstrap(endpoint):
    import json

    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="pgbackup")
    key = iam.create_access_key(UserName="pgbackup")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="pgbackup", PolicyName="allow-all", PolicyDocument=json.dumps(policy))
    print(json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}))


def exit_with_parent():
    """A test process that dies without stopping its server (SIGKILL, a crash) must not leave
    moto behind: once the parent is gone, so is the server."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bootstrap":
        bootstrap(sys.argv[2])
        sys.exit(0)
    from moto.server import main

    exit_with_parent()
    sys.exit(main())
