"""aws-lambda: invoke an AWS Lambda function instead of the upstream (carried, not run).

Schema from Kong 3.9's ``kong/plugins/aws-lambda/schema.lua``. The local runtime does not call
AWS, and the function's answer would replace the upstream's, so requests are refused.
"""

from __future__ import annotations

from ..jsontypes import JSONObject
from ..model import typedefs
from ..model.schema import Boolean, Custom, Integer, MutuallyRequired, Number, Record, String
from .base import PluginSpec
from .not_run import Refuses


def _proxy_url_scheme(entity: JSONObject) -> str | None:
    proxy_url = (entity.get("config") or {}).get("proxy_url")
    if isinstance(proxy_url, str) and "://" in proxy_url and proxy_url.split("://", 1)[0] != "http":
        return "proxy_url scheme must be http"
    return None


CONFIG = Record([
    ("timeout", Number(required=True, default=60000, description="An optional timeout in milliseconds when invoking the function.")),
    ("keepalive", Number(required=True, default=60000, description="An optional value in milliseconds that defines how long an idle connection lives before being closed.")),
    ("aws_key", String(secret=True, description="The AWS key credential to be used when invoking the function.")),
    ("aws_secret", String(secret=True, description="The AWS secret credential to be used when invoking the function. ")),
    ("aws_assume_role_arn", String(secret=True, description="The target AWS IAM role ARN used to invoke the Lambda function.")),
    ("aws_role_session_name", String(default="kong", description="The identifier of the assumed role session.")),
    ("aws_sts_endpoint_url", typedefs.url()),
    ("aws_region", typedefs.host()),
    ("function_name", String(description="The AWS Lambda function to invoke. Both function name and function ARN (including partial) are supported.")),
    ("qualifier", String(description="The qualifier to use when invoking the function.")),
    ("invocation_type", String(required=True, default="RequestResponse", one_of=("RequestResponse", "Event", "DryRun"),
                               description="The InvocationType to use when invoking the function. Available types are RequestResponse, Event, DryRun.")),
    ("log_type", String(required=True, default="Tail", one_of=("Tail", "None"),
                        description="The LogType to use when invoking the function. By default, None and Tail are supported.")),
    ("host", typedefs.host()),
    ("port", typedefs.port(default=443)),
    ("disable_https", Boolean(default=False)),
    ("unhandled_status", Integer(between=(100, 999), description="The response status code to use (instead of the default 200, 202, or 204) in the case of an Unhandled Function Error.")),
    ("forward_request_method", Boolean(default=False, description="An optional value that defines whether the original HTTP request method verb is sent in the request_method field of the JSON-encoded request.")),
    ("forward_request_uri", Boolean(default=False, description="An optional value that defines whether the original HTTP request URI is sent in the request_uri field of the JSON-encoded request.")),
    ("forward_request_headers", Boolean(default=False, description="An optional value that defines whether the original HTTP request headers are sent as a map in the request_headers field of the JSON-encoded request.")),
    ("forward_request_body", Boolean(default=False, description="An optional value that defines whether the request body is sent in the request_body field of the JSON-encoded request. If the body arguments can be parsed, they are sent in the separate request_body_args field of the request. ")),
    ("is_proxy_integration", Boolean(default=False, description="An optional value that defines whether the response format to receive from the Lambda to this format.")),
    ("awsgateway_compatible", Boolean(default=False, description="An optional value that defines whether the plugin should wrap requests into the Amazon API gateway.")),
    ("proxy_url", typedefs.url()),
    ("skip_large_bodies", Boolean(default=True, description="An optional value that defines whether Kong should send large bodies that are buffered to disk")),
    ("base64_encode_body", Boolean(default=True, description="An optional value that Base64-encodes the request body.")),
    ("aws_imds_protocol_version", String(required=True, default="v1", one_of=("v1", "v2"),
                                         description="Identifier to select the IMDS protocol version to use: `v1` or `v2`.")),
    ("empty_arrays_mode", String(required=True, default="legacy", one_of=("legacy", "correct"),
                                 description="An optional value that defines whether Kong should send empty arrays (returned by Lambda function) as `[]` arrays or `{}` objects in JSON responses. The value `legacy` means Kong will send empty arrays as `{}` objects in response")),
], nullable=False)

PLUGIN = PluginSpec(
    name="aws-lambda",
    priority=750,
    config=CONFIG,
    description="Invoke an AWS Lambda function and answer with its result instead of the upstream's.",
    handler=Refuses,
    entity_checks=[
        MutuallyRequired(["config.aws_key", "config.aws_secret"]),
        Custom(["config.proxy_url"], _proxy_url_scheme),
    ],
    not_run="it invokes an AWS Lambda function, and the local runtime does not call AWS",
)
