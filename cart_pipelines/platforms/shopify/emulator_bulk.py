"""Bulk mutations for the Shopify emulator: staged upload of a JSONL variables file, then one mutation per line.

Documented behaviour followed (shopify.dev, found with the search tool):
- `stagedUploadsCreate(input: [{resource: BULK_MUTATION_VARIABLES, filename, mimeType: "text/jsonl",
  httpMethod: POST}])` answers a target `url` and form `parameters` (a `key`, a signed policy, ...); the file is
  sent there as a multipart form POST with the parameters first and the file last (field `file`); the storage
  answers 201 when `success_action_status` is 201. The `key` parameter is the `stagedUploadPath`
  (https://shopify.dev/docs/api/usage/bulk-operations/imports; Shopify CLI's stage-file.ts does the same);
- files up to 100 MB ("Faster bulk operations", https://shopify.dev/changelog/posts/faster-bulk-operations);
  the storage refuses larger ones with `EntityTooLarge`;
- `bulkOperationRunMutation(mutation:, stagedUploadPath:)` runs the mutation once per line, each line's JSON being
  its variables; any Admin API mutation may be used (same changelog). Before API version 2026-01 one bulk mutation
  runs at a time per shop (a bulk query may run alongside); a second one answers `OPERATION_IN_PROGRESS`. Other
  `BulkMutationErrorCode`s: `NO_SUCH_FILE`, `INVALID_MUTATION`, `INVALID_STAGED_UPLOAD_FILE`;
- `currentBulkOperation(type: MUTATION)` follows it to COMPLETED; its `url` is a JSONL file with one line per input
  line: `{"data": {<mutation>: {..., "userErrors": [...]}}, "__lineNumber": n}`, or `"errors"` for a line whose
  variables GraphQL refused. The lines run outside the cost bucket: only the two calls cost points.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from pathlib import Path

from graphql import GraphQLError, OperationType, execute, parse, validate
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.shopify.emulator_schema import field_resolver

UPLOAD_MAX_BYTES = 100 * 1024 * 1024
BULK_SDL = """
enum StagedUploadTargetGenerateUploadResource { BULK_MUTATION_VARIABLES COLLECTION_IMAGE FILE IMAGE MODEL_3D
  PRODUCT_IMAGE SHOP_IMAGE VIDEO URL_REDIRECT_IMPORT RETURN_LABEL DISPUTE_FILE_UPLOAD }
enum StagedUploadHttpMethodType { POST PUT }
input StagedUploadInput { resource: StagedUploadTargetGenerateUploadResource! filename: String! mimeType: String!
  httpMethod: StagedUploadHttpMethodType fileSize: UnsignedInt64 }
type StagedUploadParameter { name: String! value: String! }
type StagedMediaUploadTarget { url: URL resourceUrl: URL parameters: [StagedUploadParameter!]! }
type StagedUploadsCreatePayload { stagedTargets: [StagedMediaUploadTarget!] userErrors: [UserError!]! }
enum BulkMutationErrorCode { INTERNAL_FILE_SERVER_ERROR INVALID_MUTATION INVALID_STAGED_UPLOAD_FILE LIMIT_REACHED
  NO_SUCH_FILE OPERATION_IN_PROGRESS }
type BulkMutationUserError { field: [String!] message: String! code: BulkMutationErrorCode }
type BulkOperationRunMutationPayload { bulkOperation: BulkOperation userErrors: [BulkMutationUserError!]! }
extend type Mutation {
  stagedUploadsCreate(input: [StagedUploadInput!]!): StagedUploadsCreatePayload
  bulkOperationRunMutation(mutation: String!, stagedUploadPath: String!, clientIdentifier: String):
    BulkOperationRunMutationPayload
}
"""


def _storage_error(code: str, message: str, status: int) -> Response:
    return Response(f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
                    "</Error>", status, content_type="application/xml")


def _bulk_error(code: str, field: str, message: str) -> dict:
    return {"bulkOperation": None, "userErrors": [{"field": [field], "code": code, "message": message}]}


class ShopifyBulkMutations:
    """Staged uploads and bulk mutations; mixed into ShopifyEmulator (store, lock, bulk_ops, bulk_dir, _root)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_secret = secrets.token_bytes(32)  # signs upload policies, as the storage's credentials do
        self.uploads: dict[str, Path] = {}  # staged key -> the uploaded file
        self.bulk_lines = 0  # mutation lines run by bulk operations (tests tell bulk writes from per-call ones)

    def _bulk_mutations(self) -> dict:
        return {"stagedUploadsCreate": self._staged_uploads_create,
                "bulkOperationRunMutation": self._bulk_run_mutation}

    # --- staged uploads
    def _sign(self, policy: str) -> str:
        return hmac.new(self.upload_secret, policy.encode(), hashlib.sha256).hexdigest()

    def _staged_uploads_create(self, info, input):
        targets, errors = [], []
        for k, item in enumerate(input):
            if item["resource"] != "BULK_MUTATION_VARIABLES":  # media uploads are not emulated
                errors.append({"field": ["input", str(k), "resource"], "code": "INVALID",
                               "message": f"Resource {item['resource']} is not supported by this emulator"})
                continue
            key = f"tmp/1/bulk/{uuid.uuid4()}/bulk_op_vars"
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            policy = base64.b64encode(json.dumps({"expiration": expires, "conditions": [
                {"key": key}, {"Content-Type": item["mimeType"]}, {"success_action_status": "201"},
                {"acl": "private"}, ["content-length-range", 1, UPLOAD_MAX_BYTES]]}).encode()).decode()
            params = {"key": key, "Content-Type": item["mimeType"], "success_action_status": "201", "acl": "private",
                      "policy": policy, "x-goog-algorithm": "GOOG4-HMAC-SHA256",
                      "x-goog-credential": f"emulator/{time.strftime('%Y%m%d')}/auto/storage/goog4_request",
                      "x-goog-date": time.strftime("%Y%m%dT%H%M%SZ"), "x-goog-signature": self._sign(policy)}
            targets.append({"url": f"{self.base_url}/staged-uploads/", "resourceUrl": None,
                            "parameters": [{"name": n, "value": v} for n, v in params.items()]})
        return {"stagedTargets": targets, "userErrors": errors}

    def upload(self, request: Request) -> Response:
        """The storage behind a staged target: a multipart form POST with a signed policy (no access token)."""
        if request.content_length and request.content_length > UPLOAD_MAX_BYTES + 64 * 1024:
            return _storage_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
        form, file = request.form, request.files.get("file")
        policy, key = form.get("policy", ""), form.get("key", "")
        if not hmac.compare_digest(form.get("x-goog-signature", ""), self._sign(policy)):
            return _storage_error("AccessDenied", "Invalid argument: the policy signature does not match", 403)
        conditions = json.loads(base64.b64decode(policy))["conditions"]
        if {"key": key} not in conditions:
            return _storage_error("AccessDenied", "Invalid according to Policy: Policy Condition failed: "
                                  f'["eq", "$key", "{key}"]', 403)
        if file is None:
            return _storage_error("InvalidArgument", "The form has no file field (it must come last)", 400)
        path = Path(self.bulk_dir.name) / f"upload-{hashlib.sha1(key.encode()).hexdigest()}.jsonl"
        file.save(path)
        if path.stat().st_size > UPLOAD_MAX_BYTES:
            path.unlink()
            return _storage_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
        with self.lock:
            self.uploads[key] = path
        return Response(f"<?xml version='1.0' encoding='UTF-8'?><PostResponse><Location>{self.base_url}/staged-"
                        f"uploads/{key}</Location><Key>{key}</Key></PostResponse>", 201,
                        content_type="application/xml")

    # --- bulk mutations
    def _bulk_run_mutation(self, info, mutation: str, stagedUploadPath: str, clientIdentifier=None):
        current = self._bulk_view("MUTATION")
        if current and current["status"] in {"CREATED", "RUNNING"}:
            return _bulk_error("OPERATION_IN_PROGRESS", "mutation", "A bulk mutation operation for this app and "
                               f"shop is already in progress: {current['id']}.")
        try:
            document = parse(mutation)
            problems = [p.message for p in validate(self.schema, document)]
        except GraphQLError as exc:
            document, problems = None, [exc.message]
        ops = [d for d in getattr(document, "definitions", []) if hasattr(d, "operation")]
        if not problems and (len(ops) != 1 or ops[0].operation != OperationType.MUTATION
                             or len(ops[0].selection_set.selections) != 1):
            problems = ["Bulk mutations must contain exactly one mutation field."]
        if not problems and ops[0].selection_set.selections[0].name.value.startswith(("bulkOperation",
                                                                                        "stagedUploads")):
            problems = ["Bulk operations cannot be nested."]
        if problems:
            return _bulk_error("INVALID_MUTATION", "mutation", f"Invalid mutation: {problems[0]}")
        path = self.uploads.get(stagedUploadPath)
        if path is None:
            return _bulk_error("NO_SUCH_FILE", "stagedUploadPath", "The JSONL file could not be found. Try "
                               "uploading the file again, and check that you've entered the URL correctly for the "
                               "stagedUploadPath mutation argument.")
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                try:
                    if not isinstance(json.loads(line), dict):
                        raise ValueError
                except ValueError:
                    return _bulk_error("INVALID_STAGED_UPLOAD_FILE", "stagedUploadPath", "Unexpected file "
                                       f"structure - expected JSONL (line {n + 1} is not a JSON object)")
        op = self._bulk_start("MUTATION", mutation)
        threading.Thread(target=self._bulk_mutation_work, args=(op, document, path), daemon=True).start()
        return {"bulkOperation": {**self._bulk_view("MUTATION"), "status": "CREATED"}, "userErrors": []}

    def _bulk_mutation_work(self, op: dict, document, variables_file: Path) -> None:
        out = Path(self.bulk_dir.name) / op["file"]
        lines = 0
        try:
            with open(variables_file, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as fh:
                for n, raw in enumerate(src):
                    result = execute(self.schema, document, root_value=self._root(), variable_values=json.loads(raw),
                                     context_value={"items": 0, "scopes_checked": True},
                                     field_resolver=field_resolver)
                    row = {"data": result.data}
                    if result.errors:
                        row["errors"] = [e.formatted for e in result.errors]
                    row["__lineNumber"] = n
                    fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    lines += 1
                    with self.lock:
                        self.bulk_lines += 1
                    op["objectCount"] = op["rootObjectCount"] = lines
                    self.delay_bulk_line()
            op.update(fileSize=out.stat().st_size, completedAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        except Exception:  # an emulator bug: the operation fails, as a real one can, with what it did so far
            op.update(final="FAILED", errorCode="INTERNAL_SERVER_ERROR", url=None,
                      partialDataUrl=op["url"] if lines else None)
        op["done"].set()

    def delay_bulk_line(self) -> None:
        """Shopify runs each line as a mutation on its side: the per-record part of the latency applies."""
        if self.knobs.latency_per_item_ms > 0:
            time.sleep(self.knobs.latency_per_item_ms / 1000)
