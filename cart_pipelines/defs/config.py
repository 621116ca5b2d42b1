"""Run configuration shared by every migration asset (set once per job, editable in the Launchpad)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from cart_pipelines.model.entities import (
    ENTITY_NAMES,
    SelectionError,
    resolve_selection,
)
from cart_pipelines.pipeline.rules import RuleSettings


class MigrationConfig(dg.Config):
    mode: str = Field(default="full", description="full: every record; demo: a random sample (seed 001); "
                                                  "delta: what changed since the last successful run (seed 001's "
                                                  "post-migration).")
    lookback_seconds: int = Field(default=300, description="A delta re-reads this much before the high-water mark, "
                                                           "against clock skew and same-second updates.")
    detect_deletions: bool = Field(
        default=False, description="A delta also lists the source's ids (id-only, about records/100 requests per "
                                   "entity) to find records deleted at the source. A full migration always finds "
                                   "them, for free.")
    delete_on_target: bool = Field(
        default=False, description="Delete records deleted at the source on the target too. Off: they are "
                                   "reported ('deleted at source, kept on target') and left alone.")
    dry_run: bool = Field(
        default=False, description="Extract and transform, then report what the load would create, update and "
                                   "delete or flag per entity, writing nothing to the target and advancing neither "
                                   "the high-water marks nor the id map.")
    reextract: bool = Field(
        default=False, description="Read the source and transform every entity again even where nothing changed. "
                                   "Off: a re-run keeps the staged copy of a store-export file that is unchanged "
                                   "(path, size, modification time) and the transform of an entity whose inputs "
                                   "are all unchanged (an API source is read every run).")
    entities: list[str] = Field(default_factory=lambda: list(ENTITY_NAMES),
                                description="Entities to migrate. Orders and reviews need customers and products.")
    demo_size: int = Field(default=10, description="Products, customers and orders drawn for a demo migration.")
    demo_seed: int = Field(default=1, description="Seed of the demo draw: the same seed draws the same records.")
    keep_guest_orders: bool = Field(
        default=False, description="Keep orders without a customer by creating the customer from the order e-mail.")
    # Rule defaults live in RuleSettings (rules.py); the run config only exposes them.
    customer_address_default: str = RuleSettings.customer_address_default
    order_first_name: str = RuleSettings.order_first_name
    order_last_name: str = RuleSettings.order_last_name
    order_city: str = RuleSettings.order_city
    order_country: str = RuleSettings.order_country
    hidden_category_name: str = RuleSettings.hidden_category_name
    preserve_ids: bool = Field(default=False, description="Keep source ids on the target where it allows it "
                                                          "(order numbers are always kept).")
    clear_target: bool = Field(default=False, description="Delete the target's current data of the selected "
                                                          "entities before loading (seed 000 option; counts logged).")
    order_status_map: dict[str, str] = Field(
        default_factory=dict, description="Source order status → target status, over the built-in table "
                                          "(rules.ORDER_STATUS_MAP); unmapped statuses are carried and reported.")
    tax_class_map: dict[str, str] = Field(
        default_factory=dict, description="Source tax-class name → the target's tax-class name, over the target "
                                          "platform's defaults (rules.TAX_CLASS_MAP); classes mapped to one name "
                                          "are merged; unmapped classes keep their name and are reported.")
    customer_name_default: str = Field(
        default=RuleSettings.customer_name_default,
        description="Rule customer_name_required (targets that require names, e.g. BigCommerce).")

    def selection(self) -> tuple[str, ...]:
        """The entities this run migrates; a bad selection or mode stops the run with one clear sentence."""
        if self.mode not in ("full", "demo", "delta"):
            raise dg.Failure(description=f"mode: {self.mode!r} is not one of full, demo, delta")
        try:
            return resolve_selection(self.entities)
        except SelectionError as exc:
            raise dg.Failure(description=str(exc)) from None

    def rules(self, target_platform: str = "mystore") -> RuleSettings:
        """The rule settings of this run, with the target rules and tax-class defaults of `target_platform`."""
        return RuleSettings(
            target_platform=target_platform, customer_name_default=self.customer_name_default,
            tax_class_map=dict(self.tax_class_map),
            customer_address_default=self.customer_address_default, order_first_name=self.order_first_name,
            order_last_name=self.order_last_name, order_city=self.order_city, order_country=self.order_country,
            hidden_category_name=self.hidden_category_name, keep_guest_orders=self.keep_guest_orders,
            order_status_map=dict(self.order_status_map), preserve_ids=self.preserve_ids)
