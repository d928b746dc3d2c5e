"""Scenarios from OpenAPI documents (pure)."""

from __future__ import annotations

import pytest

from loadorch.commands.openapi import OpenApiError, example_of, scenario_from_openapi

PETSTORE = {
    "openapi": "3.0.1",
    "info": {"title": "Swagger Petstore", "version": "1.0.7"},
    "servers": [{"url": "https://petstore.example.com/v2"}],
    "paths": {
        "/pet/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True,
                            "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9999}}],
            "get": {"operationId": "getPetById", "responses": {"200": {"description": "ok"}, "404": {"description": "no"}}},
            "delete": {"operationId": "deletePet", "responses": {"200": {"description": "ok"}}},
        },
        "/pet/findByStatus": {"get": {"operationId": "findPetsByStatus", "parameters": [
            {"name": "status", "in": "query", "required": True,
             "schema": {"type": "string", "enum": ["available", "pending", "sold"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "ok"}}}},
        "/pet": {"post": {"operationId": "addPet", "requestBody": {"$ref": "#/components/requestBodies/Pet"},
                          "responses": {"201": {"description": "created"}}}},
        "/user/{username}": {"put": {"parameters": [{"name": "username", "in": "path", "required": True,
                                                      "schema": {"type": "string", "minLength": 3}}],
                                     "requestBody": {"content": {"application/json": {"example": {"note": "a {brace}"}}}},
                                     "responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "requestBodies": {"Pet": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
        "schemas": {
            "Pet": {"allOf": [{"$ref": "#/components/schemas/Named"}, {
                "type": "object", "required": ["status", "photoUrls", "age"],
                "properties": {"status": {"type": "string", "enum": ["available", "sold"]},
                               "photoUrls": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                               "age": {"type": "integer", "minimum": 0}, "tag": {"type": "string"}}}]},
            "Named": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "example": "doggie"}}},
        },
    },
}


def test_one_request_per_operation_reads_weighted_over_writes() -> None:
    scenario = scenario_from_openapi(PETSTORE)
    requests = {r["name"]: r for r in scenario["users"][0]["requests"]}
    assert set(requests) == {"getPetById", "deletePet", "findPetsByStatus", "addPet", "PUT /user/{username}"}
    assert requests["getPetById"]["kind"] == "read" and requests["getPetById"]["weight"] == 3
    assert requests["deletePet"]["kind"] == "write" and requests["deletePet"]["weight"] == 1
    assert requests["getPetById"]["path"] == "/pet/{petId}" and scenario["data"]["petId"] == {"int": [1, 9999]}
    assert requests["getPetById"]["expect"] == {"status": [200]}


def test_query_parameters_and_enums() -> None:
    scenario = scenario_from_openapi(PETSTORE)
    find = next(r for r in scenario["users"][0]["requests"] if r["name"] == "findPetsByStatus")
    assert find["path"] == "/pet/findByStatus?status={status}"  # optional, non-enum `limit` left out
    assert scenario["data"]["status"] == {"choice": ["available", "pending", "sold"]}
    assert scenario["data"]["username"] == {"pattern": "???"}


def test_bodies_from_schemas_and_examples() -> None:
    scenario = scenario_from_openapi(PETSTORE)
    requests = {r["name"]: r for r in scenario["users"][0]["requests"]}
    assert requests["addPet"]["json"] == {"name": "doggie", "status": "available", "photoUrls": ["x"], "age": 0}
    assert requests["PUT /user/{username}"]["json"] == {"note": "a {{brace}}"}  # literal braces, not placeholders


def test_not_openapi_and_bad_references() -> None:
    with pytest.raises(OpenApiError, match="not an OpenAPI 3"):
        scenario_from_openapi({"swagger": "2.0", "paths": {}})
    with pytest.raises(OpenApiError, match="no paths"):
        scenario_from_openapi({"openapi": "3.1.0", "paths": {}})
    bad = {"openapi": "3.0.0", "paths": {"/a": {"post": {"requestBody": {"$ref": "#/nope"}, "responses": {}}}}}
    with pytest.raises(OpenApiError, match="points nowhere"):
        scenario_from_openapi(bad)


def test_example_of_handles_recursion_depth() -> None:
    spec = {"components": {"schemas": {"Node": {"type": "object", "required": ["child"],
                                                "properties": {"child": {"$ref": "#/components/schemas/Node"}}}}}}
    value = example_of(spec, {"$ref": "#/components/schemas/Node"})
    depth = 0
    while isinstance(value, dict):
        value, depth = value["child"], depth + 1
    assert 5 <= depth <= 10
