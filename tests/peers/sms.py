"""An Aliyun Dysmsapi ``SendSms`` endpoint (RPC style, form-encoded POST) that checks requests like Aliyun.

The signature is recomputed from the received form following Aliyun's documented recipe (URL-encode,
then fix up ``+``, ``*`` and ``%7E``), independently of the adapter's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.server import Peer

TIMESTAMP_TOLERANCE = 15 * 60
REQUIRED = (
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Signature",
)
MAINLAND_MOBILE = re.compile(r"1\d{10}")
VARIABLE_MAX = 35  # characters Aliyun takes in one template variable


class SmsPeer(Peer):
    """Aliyun SMS for one AccessKey, one approved signature (签名) and its approved templates.

    Args:
        access_key_id: the AccessKey ID requests must carry.
        access_key_secret: the secret their signature must be made with.
        sign_name: the only approved SignName.
        template_code: the generic approved TemplateCode (any variables).
        templates: more approved TemplateCodes, each with its variables: a request must give every one of
            them and no other, each at most 35 characters, as Aliyun checks.
        clock: epoch seconds, to judge the request's Timestamp.

    ``messages`` holds the accepted requests' form fields (``TemplateParam`` still a JSON string).
    """

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str = "美好生活",
        template_code: str = "SMS_123456789",
        templates: Mapping[str, tuple[str, ...]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.templates = dict(templates or {})
        self._clock = clock
        self._nonces: set[str] = set()
        self._biz_ids = itertools.count(900_000_000)

    @property
    def endpoint(self) -> str:
        """The URL to give the adapter."""
        return f"{self.base_url}/"

    def fail_next(self, code: str, times: int = 1, *, status: int = 200) -> None:
        """Answers the next ``times`` signed requests with ``code`` (e.g. ``isv.BUSINESS_LIMIT_CONTROL``)."""
        self.can({"Code": code, "Message": f"canned {code}", "RequestId": str(uuid.uuid4())}, times, status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self._rpc, methods=["POST"])])

    async def _rpc(self, request: Request) -> JSONResponse:
        await self.stall()
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if missing := [name for name in REQUIRED if name not in form]:
            return self._refuse(400, f"Missing{missing[0]}", f"{missing[0]} is mandatory", form)
        if form["AccessKeyId"] != self.access_key_id:
            return self._refuse(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found", form)
        if (form["SignatureMethod"], form["SignatureVersion"]) != ("HMAC-SHA1", "1.0"):
            return self._refuse(400, "InvalidParameter", "unsupported signature method or version", form)
        try:
            sent_at = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._refuse(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.", form)
        if abs(self._clock() - sent_at.timestamp()) > TIMESTAMP_TOLERANCE:
            return self._refuse(400, "InvalidTimeStamp.Expired", "Specified time stamp or date expired", form)
        if not hmac.compare_digest(form["Signature"], self._signature(form)):
            message = "Specified signature is not matched with our calculation."
            return self._refuse(400, "SignatureDoesNotMatch", message, form)
        if form["SignatureNonce"] in self._nonces:
            return self._refuse(400, "SignatureNonceUsed", "Specified signature nonce was used", form)
        self._nonces.add(form["SignatureNonce"])
        if (form["Action"], form["Version"]) != ("SendSms", "2017-05-25"):
            return self._refuse(404, "InvalidAction.NotFound", "Specified api is not found", form)
        canned = self.take_canned()
        if canned is not None:
            self.reject(f"canned {canned.answer['Code']}", form)
            return JSONResponse(canned.answer, status_code=canned.status)
        code, message = _business_problem(form, self.sign_name, self.template_code, self.templates)
        if code:
            return self._refuse(200, code, message, form)
        self.accept(form)
        biz_id = f"{next(self._biz_ids)}^0"
        return JSONResponse({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()})

    def _signature(self, form: dict[str, str]) -> str:
        pairs = sorted((key, value) for key, value in form.items() if key != "Signature")
        canonical = "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)
        string_to_sign = "POST&" + _encode("/") + "&" + _encode(canonical)
        key = (self.access_key_secret + "&").encode()
        return base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha1).digest()).decode()

    def _refuse(self, status: int, code: str, message: str, form: dict[str, str]) -> JSONResponse:
        self.reject(code, form)
        answer = {"Code": code, "Message": message, "RequestId": _request_id()}
        return JSONResponse(answer, status_code=status)


def _encode(value: str) -> str:
    # Aliyun's own recipe: form-encode as UTF-8, then undo what form encoding does differently from RFC 3986.
    encoded = quote_plus(value, safe="", encoding="utf-8")
    return encoded.replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def _business_problem(
    form: dict[str, str], sign_name: str, template_code: str, templates: Mapping[str, tuple[str, ...]]
) -> tuple[str, str]:
    numbers = form.get("PhoneNumbers", "")
    if not numbers or not all(MAINLAND_MOBILE.fullmatch(number) for number in numbers.split(",")):
        return "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"
    if form.get("SignName") != sign_name:
        return "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名"
    code = form.get("TemplateCode", "")
    if code != template_code and code not in templates:
        return "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"
    try:
        params = json.loads(form.get("TemplateParam", "{}"))
    except ValueError:
        params = None
    if not isinstance(params, dict) or not all(isinstance(value, str) for value in params.values()):
        return "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"
    if code in templates:
        if set(params) != set(templates[code]):
            return "isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量"
        if any(len(value) > VARIABLE_MAX for value in params.values()):
            return "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制"
    return "", ""


def _request_id() -> str:
    return str(uuid.uuid4()).upper()
