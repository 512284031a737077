"""How an API route is declared: one decorator holds what it takes and what it is, and both the
request checks and the OpenAPI document (`openapi()`) are made from it.

    @operation("POST", "/children/<int:child_id>/pause", "Pause a child", body=PauseBody,
               write=True)
    def pause_child(child_id: int, body: PauseBody) -> Any: ...

`body` and `query` are pydantic models: a request is validated against them before the handler
runs (a 400 naming the field otherwise), and their JSON Schema is what the document says. A
route registered any other way is not described, which a test catches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, g, request
from pydantic import BaseModel, ValidationError

from dashboard.api.errors import ApiError

PREFIX = "/api/v1"
VERSION = "1.0.0"


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # Flask's, under PREFIX
    summary: str
    description: str
    endpoint: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    write: bool
    tag: str

    @property
    def path(self) -> str:
        """The OpenAPI path: "/children/{child_id}"."""
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.rule)


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    method: str,
    rule: str,
    summary: str,
    *,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    write: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(
            method,
            rule,
            summary,
            " ".join((fn.__doc__ or summary).split()),
            fn.__name__,
            body,
            query,
            write,
            tag,
        )
        OPERATIONS.append(op)

        @wraps(fn)
        def view(**kwargs: Any) -> Any:
            if op.write and not g.api_token.can_write:
                raise ApiError(403, "This token is read-only: make a read-write one in Settings.")
            if op.body is not None:
                kwargs["body"] = _parse(op.body, request.get_json(silent=True), "body")
            if op.query is not None:
                kwargs["query"] = _parse(op.query, request.args.to_dict(), "query")
            return fn(**kwargs)

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        return fn

    return register


def _parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    if data is None and where == "body":
        raise ApiError(400, "Send a JSON object as the request body.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:3]:
            field = ".".join(str(p) for p in error["loc"]) or where
            problems.append(f"{field}: {error['msg']}")
        raise ApiError(400, "Check the request: " + "; ".join(problems) + ".") from None


# The document ------------------------------------------------------------------------------

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What went wrong, for a person"}},
    "required": ["error"],
}
_FAILURES = {
    "400": "The request is not right (the message says which field)",
    "401": "No token, or not a valid one",
    "404": "No such child, device, request or schedule",
    "429": "Too many wrong tokens from this address: wait and try again",
}


def openapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _describe(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HouseRules",
            "version": VERSION,
            "description": (
                "The box's own API: children and their rules in force now, devices, pauses, "
                "more time and timed allows, children's requests, schedules, events and "
                "summaries. Send a token made in Settings as `Authorization: Bearer <token>`."
            ),
        },
        "servers": [{"url": PREFIX}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def _describe(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "integer"}}
        for p in op.path_params
    ]
    if op.query is not None:
        for name, field in op.query.model_fields.items():
            one = _schema(op.query, schemas)["properties"][name]
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": one,
                }
            )
    responses: dict[str, Any] = {"200": {"description": "Done", "content": _json({})}}
    for code, words in _FAILURES.items():
        responses[code] = {"description": words, "content": _json(_ref("Error"))}
    if op.write:
        responses["403"] = {
            "description": "The token is read-only",
            "content": _json(_ref("Error")),
        }
    out: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "description": op.description,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        _schema(op.body, schemas)
        out["requestBody"] = {"required": True, "content": _json(_ref(op.body.__name__))}
    return out


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    if model.__name__ not in schemas:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas[model.__name__]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
