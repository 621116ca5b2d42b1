"""Shopify bulk mutations, for volume (https://shopify.dev/docs/api/usage/bulk-operations/imports).

stagedUploadsCreate (resource BULK_MUTATION_VARIABLES) → the JSONL file of variables POSTed as a multipart form to
the staged URL → bulkOperationRunMutation(mutation:, stagedUploadPath: the form's `key`) → poll
currentBulkOperation(type: MUTATION) until COMPLETED → the result file: one line per input line, in any order,
`__lineNumber` pointing back to it, with the mutation's payload (and its userErrors) or GraphQL `errors`.
A start whose answer is lost is not sent again when a new current operation shows it began.
The lines run on Shopify's side outside the cost bucket: two calls cost points, not one per record.
"""

from __future__ import annotations

import json
import time

from cart_pipelines.platforms.kit.http import ConnectionProblem, WriteUnconfirmed
from cart_pipelines.platforms.shopify.source import BULK_POLL_S, ShopifySource

# Rows of one write above which a bulk mutation beats requests of aliased mutations (as the source's bulk export).
BULK_THRESHOLD = 2_000
# Lines per bulk mutation: a productSet line is 1–3 KB, so the file stays far under Shopify's 100 MB and the
# upload (built in memory by requests) stays small.
BULK_MAX_LINES = 5_000
IN_PROGRESS_WAIT_S = 900.0  # how long to wait for another bulk mutation of this app (an interrupted run's) to end

STAGE = ("mutation($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) { stagedTargets { url "
         "parameters { name value } } userErrors { field message } } }")
RUN = ("mutation($mutation: String!, $path: String!) { bulkOperationRunMutation(mutation: $mutation, "
       "stagedUploadPath: $path) { bulkOperation { id status } userErrors { field message code } } }")


def run_bulk(api: ShopifySource, mutation: str, field: str, variables: list[dict], what: str) -> list[dict | str]:
    """Run `mutation` once per variables dict; per line the mutation's payload, or Shopify's message for it."""
    body = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in variables).encode()
    op_id = _start(api, mutation, _stage(api, body, what), what)
    op = api.wait_bulk(op_id, "MUTATION", what)
    answers: list[dict | str | None] = [None] * len(variables)
    for row in api.jsonl(op["url"]) if op["url"] else ():
        n = row.get("__lineNumber")
        if not isinstance(n, int) or not 0 <= n < len(answers):
            continue
        errors = row.get("errors")
        answers[n] = ("; ".join(str(e.get("message")) for e in errors) if errors
                      else (row.get("data") or {}).get(field) or f"Shopify answered no {field} payload")
    missing = sum(a is None for a in answers)
    if missing:
        raise ConnectionProblem("bad_response", f"Shopify's {what} answered no result for {missing} of "
                                f"{len(answers)} lines; run again (records it made are adopted by their source id)")
    return answers


def _stage(api: ShopifySource, body: bytes, what: str) -> str:
    """Upload the variables file to a staged target; its `key` is the stagedUploadPath."""
    data = api.query(STAGE, {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "bulk_op_vars.jsonl",
                                        "mimeType": "text/jsonl", "httpMethod": "POST",
                                        "fileSize": str(len(body))}]},
                     cost=10, what=f"a staged upload for the {what}")["stagedUploadsCreate"]
    if data["userErrors"] or not data["stagedTargets"]:
        raise ConnectionProblem("bad_request", f"Shopify refused a staged upload for the {what}: "
                                f"{'; '.join(e['message'] for e in data['userErrors'])}")
    target = data["stagedTargets"][0]
    form = {p["name"]: p["value"] for p in target["parameters"]}
    try:  # the storage is signed by the form's policy: the access token is not sent there
        api.client.request("POST", target["url"], what=f"the upload of the {what} variables", data=form,
                           files={"file": ("bulk_op_vars.jsonl", body, "text/jsonl")},
                           headers={"X-Shopify-Access-Token": None, "Content-Type": None})
    except ConnectionProblem as exc:
        if exc.status not in (400, 403, 404):
            raise
        raise ConnectionProblem("bad_request", f"Shopify's upload storage refused the variables file of the {what} "
                                f"(HTTP {exc.status}, {len(body):,} bytes); run again for a fresh staged upload",
                                exc.status) from None
    return form["key"]


def _current(api: ShopifySource) -> str | None:
    op = api.query("{ currentBulkOperation(type: MUTATION) { id } }", cost=1,
                   what="the current bulk mutation")["currentBulkOperation"]
    return op and op["id"]


def _start(api: ShopifySource, mutation: str, path: str, what: str) -> str:
    """Start the operation; while another bulk mutation of this app runs (one at a time per shop), wait for it."""
    deadline = time.monotonic() + IN_PROGRESS_WAIT_S
    while True:
        before = _current(api)
        try:
            data = api.query(RUN, {"mutation": mutation, "path": path}, cost=10, what=f"the start of the {what}",
                             idempotent=False)["bulkOperationRunMutation"]
        except WriteUnconfirmed:  # started or not: a new current operation says it did (one runs at a time)
            started = _current(api)
            if started is not None and started != before:
                return started
            if time.monotonic() > deadline:
                raise
            continue
        errors = data["userErrors"]
        if not errors:
            return data["bulkOperation"]["id"]
        if errors[0].get("code") != "OPERATION_IN_PROGRESS" or time.monotonic() > deadline:
            raise ConnectionProblem("bad_request", f"Shopify refused the {what}: {errors[0]['message']}")
        time.sleep(BULK_POLL_S * 4)
