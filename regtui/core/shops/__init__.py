"""One adapter per shop kind: verify a delivery, parse it to plain order data, read its CSV
order export, call its admin API. No models, no database: services.shops holds the rules."""

from __future__ import annotations

from types import ModuleType

from regtui.core.shops import shopify, spree, woocommerce

ADAPTERS: dict[str, ModuleType] = {"shopify": shopify, "woocommerce": woocommerce, "spree": spree}
KINDS = tuple(ADAPTERS)


def adapter(kind: str) -> ModuleType:
    return ADAPTERS[kind]
