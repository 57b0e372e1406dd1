#!/usr/bin/env python3
"""moto_server for pgbackup's tests, patched to answer as AWS does where stock moto does not.

Usage:
  INITIAL_NO_AUTH_ACTION_COUNT=3 [PGBACKUP_TEST_STS_LIFETIME_SECONDS=N] scripts/moto-server.py -H 127.0.0.1 -p PORT
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
(below). Everything else is stock `moto.server.main`, apart from the patches that follow, each of
which makes moto answer as real AWS does (never to suit a client):

- STS AssumeRoleWithWebIdentity is unsigned on AWS (the token is the credential); stock moto
  answers 500 (KeyError HTTP_AUTHORIZATION) once request checking is on. Here a request for that
  action without an Authorization header skips the signature and policy check (and does not use
  up one of the unauthenticated requests). Its WebIdentityToken is then checked as AWS does:
  * not a JWT (three base64url parts, a JSON object as payload, a numeric `exp`): HTTP 400
    `InvalidIdentityToken`, "The ID Token provided is not a valid JWT. (You may see this error if
    you sent an Access Token)";
  * `exp` (unix seconds) not in the future: HTTP 400 `ExpiredTokenException`, "Token expired:
    current date/time NOW must be before the expiration date/time EXP" (both unix seconds);
  * RoleArn naming no role of moto's IAM: HTTP 403 `AccessDenied`, "Not authorized to perform
    sts:AssumeRoleWithWebIdentity".
  These come in STS's XML shape: <ErrorResponse><Error><Type>Sender</Type><Code>…</Code>
  <Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>. The token's signature,
  issuer and audience are not checked (there is no identity provider to check them against).
- PGBACKUP_TEST_STS_LIFETIME_SECONDS=N in the environment: every credential STS issues
  (AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken, GetFederationToken, SAML) lasts at
  most N seconds, as if the role's maximum session were that short; the answer's <Expiration>
  says so. Unset: moto's lifetimes (the requested DurationSeconds, 3600 by default).
- Assumed-role credentials past their expiration are refused, as AWS refuses them (stock moto
  accepts them for ever). The session-token check stays first (a wrong token is still 400
  `InvalidToken`, "The provided token is malformed or otherwise invalid.").
  * S3: HTTP 400 `ExpiredToken`, "The provided token has expired.";
  * STS and the other query APIs (AssumeRole, GetCallerIdentity, …): HTTP 403 `ExpiredToken`,
    "The security token included in the request is expired".
- PGBACKUP_TEST_STS_EXPIRE_FILE=PATH in the environment (a test's control, not AWS behaviour):
  once PATH exists, every assumed-role credential issued before its modification time is past
  its expiration and refused as above; touching it again expires the ones issued since. It
  makes "these credentials have just expired" an event a test causes, whatever the load.
- SSE-KMS: a PUT object, CopyObject or CreateMultipartUpload with
  `x-amz-server-side-encryption: aws:kms` (or `aws:kms:dsse`) and an
  `x-amz-server-side-encryption-aws-kms-key-id` that is not a key id, key ARN, alias name
  (`alias/…`) or alias ARN of moto's KMS in the bucket's account and region: HTTP 400
  `KMS.NotFoundException`, "Invalid keyId KEY" (S3's answer for an unknown key). Stock moto
  stores any string. HEAD and GET of an SSE object answer `x-amz-server-side-encryption` and, for
  aws:kms with an explicit key, `x-amz-server-side-encryption-aws-kms-key-id` (stock moto; with
  aws:kms and no key, moto names no key where S3 names the aws/s3 key: left as is).
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
    if _is_unsigned_web_identity_request(self):
        return
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

# --- STS: AssumeRoleWithWebIdentity unsigned, its token and role checked (see the docstring) ---
import base64
import datetime
import json
import os
import time
import uuid

from werkzeug.exceptions import HTTPException

from moto.core.utils import utcnow
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.s3.exceptions import S3ClientError
from moto.sts import models as sts_models
from moto.sts.responses import TokenResponse


def _is_unsigned_web_identity_request(response):
    return (isinstance(response, TokenResponse)
            and "Authorization" not in response.headers
            and response._get_action() == "AssumeRoleWithWebIdentity")


def _sts_error(status, code, message):
    """An error in STS's XML shape (moto puts its own request id in the RequestId)."""
    body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return body, {"status": status, "Content-Type": "text/xml"}


def _jwt_expiry(token):
    """The token's `exp` claim, or None when the token is not a JWT with a numeric `exp`."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    expiry = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
        return None
    return expiry


_assume_role_with_web_identity = TokenResponse.assume_role_with_web_identity


def _assume_role_with_web_identity_checked(self):
    expiry = _jwt_expiry(self._get_param("WebIdentityToken"))
    if expiry is None:
        return _sts_error(400, "InvalidIdentityToken",
                          "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    now = int(time.time())
    if expiry <= now:
        return _sts_error(400, "ExpiredTokenException",
                          f"Token expired: current date/time {now} must be before the expiration date/time {int(expiry)}")
    role_arn = self._get_param("RoleArn") or ""
    try:
        iam_backends[self.current_account][self.partition].get_role_by_arn(role_arn)
    except NotFoundException:
        return _sts_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    return _assume_role_with_web_identity(self)


TokenResponse.assume_role_with_web_identity = _assume_role_with_web_identity_checked

# --- STS: PGBACKUP_TEST_STS_LIFETIME_SECONDS caps every credential's lifetime ---
_lifetime = os.environ.get("PGBACKUP_TEST_STS_LIFETIME_SECONDS")
if _lifetime:
    _max_seconds = int(_lifetime)
    _assumed_role_init = sts_models.AssumedRole.__init__
    _token_init = sts_models.Token.__init__

    def _assumed_role_init_capped(self, *args, **kwargs):
        _assumed_role_init(self, *args, **kwargs)
        self.expiration = min(self.expiration, utcnow() + datetime.timedelta(seconds=_max_seconds))

    def _token_init_capped(self, duration, name=None):
        _token_init(self, min(int(duration), _max_seconds), name)

    sts_models.AssumedRole.__init__ = _assumed_role_init_capped
    sts_models.Token.__init__ = _token_init_capped

# --- Expired assumed-role credentials are refused (S3: 400, STS/IAM: 403 ExpiredToken) ---
from moto.iam import access_control

_assumed_role_access_key_init = access_control.AssumedRoleAccessKey.__init__
_expire_file = os.environ.get("PGBACKUP_TEST_STS_EXPIRE_FILE")
_assumed_role_init_issued = sts_models.AssumedRole.__init__


def _assumed_role_init_recording_issue(self, *args, **kwargs):
    _assumed_role_init_issued(self, *args, **kwargs)
    self.pgbackup_issued = utcnow()


sts_models.AssumedRole.__init__ = _assumed_role_init_recording_issue


def _expired_on_demand(role):
    """Issued before PGBACKUP_TEST_STS_EXPIRE_FILE's modification time."""
    if not _expire_file or not os.path.exists(_expire_file):
        return False
    touched = datetime.datetime.fromtimestamp(os.path.getmtime(_expire_file), datetime.timezone.utc).replace(tzinfo=None)
    return getattr(role, "pgbackup_issued", touched) <= touched


def _assumed_role_access_key_init_unexpired(self, account_id, partition, access_key_id, headers):
    _assumed_role_access_key_init(self, account_id, partition, access_key_id, headers)
    role = sts_models.sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
    if role is not None and (role.expiration <= utcnow() or _expired_on_demand(role)):
        raise access_control.CreateAccessKeyFailure(reason="ExpiredToken")


access_control.AssumedRoleAccessKey.__init__ = _assumed_role_access_key_init_unexpired


class S3ExpiredTokenError(S3ClientError):
    def __init__(self):
        super().__init__("ExpiredToken", "The provided token has expired.")


class ExpiredTokenError(HTTPException):
    """moto's query-API handler answers an HTTPException raised by the auth check with its code
    and description."""
    code = 403

    def __init__(self):
        super().__init__(_sts_error(403, "ExpiredToken", "The security token included in the request is expired")[0])


def _wrap_invalid_access_key(cls, expired_error):
    original = cls._raise_invalid_access_key

    def _raise_invalid_access_key(self, reason):
        if reason == "ExpiredToken":
            raise expired_error()
        return original(self, reason)

    cls._raise_invalid_access_key = _raise_invalid_access_key


_wrap_invalid_access_key(access_control.S3IAMRequest, S3ExpiredTokenError)
_wrap_invalid_access_key(access_control.IAMRequest, ExpiredTokenError)

# --- SSE-KMS: an unknown key is refused with KMS.NotFoundException ---
from moto.kms.models import kms_backends
from moto.s3.models import S3Backend


class KMSNotFoundError(S3ClientError):
    def __init__(self, key_id):
        super().__init__("KMS.NotFoundException", f"Invalid keyId {key_id}")


def _kms_key_exists(account_id, region, key_id):
    if key_id.startswith("arn:"):
        fields = key_id.split(":", 5)
        if len(fields) != 6 or fields[2] != "kms" or fields[3] != region or fields[4] != account_id:
            return False
    backend = kms_backends[account_id][region]
    try:
        return backend.any_id_to_key_id(key_id) in backend.keys
    except Exception:  # an alias naming no key: moto fails on None
        return False


def _check_sse_kms_key(backend, bucket_name, encryption, kms_key_id):
    if not kms_key_id or encryption not in ("aws:kms", "aws:kms:dsse"):
        return
    region = backend.get_bucket(bucket_name).region_name
    if not _kms_key_exists(backend.account_id, region, kms_key_id):
        raise KMSNotFoundError(kms_key_id)


_put_object = S3Backend.put_object
_create_multipart_upload = S3Backend.create_multipart_upload


def _put_object_checked(self, bucket_name, key_name, value, *args, **kwargs):
    _check_sse_kms_key(self, bucket_name, kwargs.get("encryption"), kwargs.get("kms_key_id"))
    return _put_object(self, bucket_name, key_name, value, *args, **kwargs)


def _create_multipart_upload_checked(self, bucket_name, key_name, metadata, storage_type, tags, acl,
                                     sse_encryption, kms_key_id):
    _check_sse_kms_key(self, bucket_name, sse_encryption, kms_key_id)
    return _create_multipart_upload(self, bucket_name, key_name, metadata, storage_type, tags, acl,
                                    sse_encryption, kms_key_id)


S3Backend.put_object = _put_object_checked
S3Backend.create_multipart_upload = _create_multipart_upload_checked


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
