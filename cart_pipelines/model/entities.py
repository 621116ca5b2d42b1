"""The one entity registry: what exists, in which order it loads, and what it needs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entity:
    name: str
    label: str
    # Entities whose records this one references; they transform and load first.
    depends_on: tuple[str, ...] = ()
    # Selecting this entity without these is a configuration error (seed 001: no orders without customers and products).
    requires: tuple[str, ...] = ()
    # Selecting this entity brings these along (products keep their categories, manufacturers and tax classes).
    brings: tuple[str, ...] = ()
    cursor_field: str = "updated_at"
    primary_key: str = "source_id"
    description: str = ""
    preview_columns: tuple[str, ...] = field(default=("source_id",))


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in [
        Entity("categories", "Categories", description="The category tree (parent, path, URL key, visibility).",
               preview_columns=("source_id", "parent_id", "name", "url_key")),
        Entity("manufacturers", "Manufacturers / brands", preview_columns=("source_id", "name")),
        Entity("tax_classes", "Tax classes (rates per country)", preview_columns=("source_id", "name")),
        Entity("products", "Products (variants, images)",
               depends_on=("categories", "manufacturers", "tax_classes"),
               brings=("categories", "manufacturers", "tax_classes"),
               preview_columns=("source_id", "sku", "name", "price", "url_key")),
        Entity("customers", "Customers (addresses)", preview_columns=("source_id", "email", "first_name", "last_name")),
        Entity("orders", "Orders (items, addresses)", depends_on=("customers", "products"),
               requires=("customers", "products"),
               preview_columns=("source_id", "number", "email", "status", "grand_total")),
        Entity("reviews", "Reviews", depends_on=("products", "customers"), requires=("products", "customers"),
               preview_columns=("source_id", "product_id", "customer_id", "rating")),
    ]
}
ENTITY_NAMES: tuple[str, ...] = tuple(ENTITIES)


class SelectionError(ValueError):
    """An entity selection that cannot be migrated."""


def resolve_selection(selected: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The entities a run migrates, in load order: the selection plus what it brings. Raises on a bad selection."""
    chosen = set(ENTITY_NAMES if not selected else selected)
    unknown = sorted(chosen - set(ENTITY_NAMES))
    if unknown:
        raise SelectionError(f"entities: unknown entity {', '.join(unknown)}; choose from {', '.join(ENTITY_NAMES)}")
    for name in sorted(chosen):
        missing = [r for r in ENTITIES[name].requires if r not in chosen]
        if missing:
            raise SelectionError(
                f"entities: {name} cannot be migrated without {' and '.join(missing)} "
                f"({name} depend on them); add {', '.join(missing)} to the selection"
            )
    for name in list(chosen):
        chosen.update(ENTITIES[name].brings)
    return tuple(n for n in ENTITY_NAMES if n in chosen)

#: Source ids of customers made from guest orders (rule 5, opt-in): every stage and target must tell them apart.
GUEST_PREFIX = "guest:"
