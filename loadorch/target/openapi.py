"""The reference shop's OpenAPI 3 document."""

from __future__ import annotations

from loadorch.target.store import ApiJson


def _json(schema: ApiJson) -> ApiJson:
    return {"content": {"application/json": {"schema": schema}}}


def document() -> ApiJson:
    product = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "price_cents": {"type": "integer"},
        },
    }
    order = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "customer": {"type": "string"},
            "product_id": {"type": "integer"},
            "qty": {"type": "integer"},
        },
    }
    category = {"name": "category", "in": "query", "schema": {"type": "string", "enum": ["books", "games", "toys"]}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "loadorch reference shop", "version": "1.0"},
        "paths": {
            "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "ok"}}}},
            "/products": {
                "get": {
                    "operationId": "listProducts",
                    "parameters": [category],
                    "responses": {"200": {"description": "a page of products"}},
                },
                "post": {
                    "operationId": "createProduct",
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "example": "widget"},
                                    "category": {"type": "string", "enum": ["books", "games", "toys"]},
                                    "price_cents": {"type": "integer", "minimum": 0},
                                },
                            }
                        ),
                    },
                    "responses": {"201": {"description": "created", **_json(product)}},
                },
            },
            "/products/{id}": {
                "get": {
                    "operationId": "getProduct",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50},
                        }
                    ],
                    "responses": {"200": {"description": "a product", **_json(product)}},
                }
            },
            "/categories": {
                "get": {"operationId": "listCategories", "responses": {"200": {"description": "categories"}}}
            },
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "required": ["customer", "product_id", "qty"],
                                "properties": {
                                    "customer": {"type": "string"},
                                    "product_id": {"type": "integer", "minimum": 1, "maximum": 50},
                                    "qty": {"type": "integer", "minimum": 1, "maximum": 5},
                                },
                            }
                        ),
                    },
                    "responses": {"201": {"description": "created", **_json(order)}},
                }
            },
        },
    }
