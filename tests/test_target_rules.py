"""Target rules (what a target platform requires beyond the Mystore shape, rules.TARGET_RULES) and the tax-class
mapping table, through the local target; the last test runs both through the Dagster job."""

import json

import dagster as dg
import pytest
from helpers import base_store, write_store

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import (
    LocalMystoreTarget,
    StagingResource,
    StoreExportSource,
)
from cart_pipelines.pipeline.rules import RuleSettings

BIGCOMMERCE = RuleSettings(target_platform="bigcommerce")


def counts(r, rule):
    return r.query("SELECT entity, records FROM rule_counts WHERE rule = ?", [rule])


def test_duplicate_product_names_get_the_sku_then_a_number(store, run):
    p = store.records["products"][0]
    products = [
        {**p, "source_id": "10", "sku": "S-10", "url_key": "a", "name": "Blå genser"},
        {**p, "source_id": "2", "sku": "S-2", "url_key": "b", "name": "Blå genser"},
        {**p, "source_id": "3", "sku": "S-3", "url_key": "c", "name": "BLÅ GENSER"},  # BigCommerce ignores case
        {**p, "source_id": "7", "sku": None, "url_key": "d", "name": "Blå genser"},
        {**p, "source_id": "8", "sku": "S-8", "url_key": "e", "name": "Rød lue"},
    ]
    r = run(store({"products": products}))
    r(settings=BIGCOMMERCE)
    names = {row["_source_id"]: row["name"] for row in r.target_rows("products")}
    # source-id order: 2 keeps the name, 3 and 10 get their SKU, 7 has none and gets a number
    assert names == {"2": "Blå genser", "3": "BLÅ GENSER (S-3)", "7": "Blå genser -1", "10": "Blå genser (S-10)",
                     "8": "Rød lue"}
    assert counts(r, "product_name_unique") == [("products", 3)]
    r(settings=BIGCOMMERCE)  # deterministic: a re-run renames the same way and writes nothing
    assert {row["_source_id"]: row["name"] for row in r.target_rows("products")} == names
    plain = run(store())
    plain()  # Mystore takes duplicate names: the rule is BigCommerce's only
    assert sorted(row["name"] for row in plain.target_rows("products")) == sorted(p["name"] for p in products)
    assert counts(plain, "product_name_unique") == []


def test_a_suffixed_name_that_meets_another_name_moves_on(store, run):
    p = store.records["products"][0]
    products = [{**p, "source_id": "1", "sku": "X", "url_key": "a", "name": "Kopp"},
                {**p, "source_id": "2", "sku": "X2", "url_key": "b", "name": "Kopp (X3)"},
                {**p, "source_id": "3", "sku": "X3", "url_key": "c", "name": "Kopp"}]
    r = run(store({"products": products}))
    r(settings=BIGCOMMERCE)
    names = {row["_source_id"]: row["name"] for row in r.target_rows("products")}
    assert names == {"1": "Kopp", "2": "Kopp (X3)", "3": "Kopp (X3) -1"}


def test_customer_names_required(store, run):
    c = store.records["customers"][0]
    customers = [c, {**c, "source_id": "2", "email": "b@example.no", "first_name": "", "last_name": None},
                 {**c, "source_id": "3", "email": "c@example.no", "first_name": "Per", "last_name": " "}]
    r = run(store({"customers": customers}))
    r(settings=BIGCOMMERCE)
    by = {row["_source_id"]: (row["first_name"], row["last_name"]) for row in r.target_rows("customers")}
    assert by == {"1": ("Kari", "Nordmann"), "2": ("N/A", "N/A"), "3": ("Per", "N/A")}
    assert counts(r, "customer_name_required") == [("customers", 2)]
    r2 = run(store())
    r2(settings=RuleSettings(target_platform="bigcommerce", customer_name_default="Ukjent"))
    assert {row["_source_id"]: row["last_name"] for row in r2.target_rows("customers")}["2"] == "Ukjent"


def test_review_titles_derived_from_text_or_rating(store, run):
    ok = store.records["reviews"][0]
    long = "Denne genseren er varm og god, men ermene er litt lange for meg og fargen bleknet"
    reviews = [ok,
               {**ok, "source_id": "2", "title": None, "text": "Veldig fin genser.\nAndre linje"},
               {**ok, "source_id": "3", "title": "", "text": long},
               {**ok, "source_id": "4", "title": " ", "text": "<p>Bra <b>kvalitet</b></p>"},
               {**ok, "source_id": "5", "title": None, "text": None, "rating": 4}]
    r = run(store({"reviews": reviews}))
    r(settings=BIGCOMMERCE)
    titles = {row["_source_id"]: row["title"] for row in r.target_rows("reviews")}
    assert titles == {"1": "Fin", "2": "Veldig fin genser.", "3": "Denne genseren er varm og god, men ermene er litt lange for…",
                      "4": "Bra kvalitet", "5": "Rated 4 of 5"}
    assert len(titles["3"]) <= 61 and long.startswith(titles["3"][:-1])
    assert counts(r, "review_title_required") == [("reviews", 4)]
    plain = run(store())
    plain()
    assert {row["_source_id"]: row["title"] for row in plain.target_rows("reviews")}["2"] is None


def tax_store(store):
    p = store.records["products"][0]
    classes = [{"source_id": "1", "name": "Standard"}, {"source_id": "2", "name": "Taxable Goods"},
               {"source_id": "3", "name": "Zero rate"}, {"source_id": "4", "name": "MVA 15 %"}]
    products = [{**p, "source_id": str(i), "sku": f"T-{i}", "url_key": f"t{i}", "tax_class_id": str(i)}
                for i in range(1, 5)]
    return store({"tax_classes": classes, "products": products})


def test_tax_classes_mapped_by_name_merged_and_unmapped_reported(store, run):
    r = run(tax_store(store))
    r()  # Mystore defaults: the built-in classes of the platforms become plain names
    classes = {row["_source_id"]: row for row in r.target_rows("tax_classes")}
    assert {s: c["name"] for s, c in classes.items()} == {"1": "Standard", "3": "Zero rate", "4": "MVA 15 %"}
    products = {row["_source_id"]: row["tax_class_id"] for row in r.target_rows("products")}
    # Magento's "Taxable Goods" is the Standard class: merged into source class 1, its product follows
    assert products == {"1": classes["1"]["id"], "2": classes["1"]["id"], "3": classes["3"]["id"],
                        "4": classes["4"]["id"]}
    assert r.query("SELECT outcome, rule FROM ledger WHERE entity = 'tax_classes' AND source_id = '2'") == [
        ("skipped", "tax_class_mapping")]
    assert counts(r, "tax_class_unmapped") == [("tax_classes", 1)]
    assert sorted(counts(r, "tax_class_mapping")) == [("products", 1), ("tax_classes", 1)]


def test_tax_class_map_overrides_and_platform_defaults(store, run):
    r = run(tax_store(store))
    r(settings=RuleSettings(tax_class_map={" mva 15 % ": "Redusert sats", "Zero rate": "Standard"}))
    classes = {row["_source_id"]: row["name"] for row in r.target_rows("tax_classes")}
    assert classes == {"1": "Standard", "4": "Redusert sats"}
    ids = {row["_source_id"]: row["tax_class_id"] for row in r.target_rows("products")}
    assert ids["1"] == ids["2"] == ids["3"] != ids["4"]
    assert counts(r, "tax_class_unmapped") == []
    bc = run(tax_store(store))
    bc(settings=BIGCOMMERCE)
    assert {row["_source_id"]: row["name"] for row in bc.target_rows("tax_classes")} == {
        "1": "Default Tax Class", "3": "Non-Taxable Products", "4": "MVA 15 %"}


def test_migration_job_applies_target_rules_and_tax_class_map(store, tmp_path):
    """The job takes the target's platform from the target resource (here a local preview of BigCommerce) and
    the tax-class map from run config."""
    records = base_store()
    p, c, rv = records["products"][0], records["customers"][0], records["reviews"][0]
    records["tax_classes"].append({"source_id": "2", "name": "Taxable Goods"})
    records["products"].append({**p, "source_id": "2", "sku": "A-2", "url_key": "annen", "tax_class_id": "2"})
    records["customers"].append({**c, "source_id": "2", "email": "x@example.no", "last_name": ""})
    records["reviews"] = [{**rv, "title": None, "text": "Varm og god"}]
    source = write_store(tmp_path / "store", records)
    resources = {"staging": StagingResource(directory=str(tmp_path / "staging"),
                                            reports_directory=str(tmp_path / "reports")),
                 "source": StoreExportSource(path=str(source)),
                 "target": LocalMystoreTarget(path=str(tmp_path / "t.duckdb"), rules_of="bigcommerce")}
    defs = build_definitions(resources)
    keys = [k for a in defs.assets for k in a.keys]
    result = defs.resolve_job_def("full_migration").execute_in_process(
        run_config=run_config(keys, tax_class_map={"MVA 25 %": "Default Tax Class"}),
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    rep = json.loads((tmp_path / "reports" / "migration_report.json").read_text())
    applied = {(r["entity"], r["rule"]): r["records"] for r in rep["rules_applied"]}
    assert applied[("products", "product_name_unique")] == 1
    assert applied[("customers", "customer_name_required")] == 1
    assert applied[("reviews", "review_title_required")] == 1
    assert applied[("tax_classes", "tax_class_mapping")] == 2  # renamed 1, merged 2
    target = resources["target"].open()
    assert [r["name"] for r in target.scan("tax_classes").to_pylist()] == ["Default Tax Class"]
    assert sorted(r["name"] for r in target.scan("products").to_pylist()) == ["Blå genser", "Blå genser (A-2)"]
    assert [r["title"] for r in target.scan("reviews").to_pylist()] == ["Varm og god"]
    assert rep["all_accounted_for"]


def test_the_target_resource_names_its_platform():
    from cart_pipelines.defs.platform_resources import BigCommerceTargetResource

    assert BigCommerceTargetResource(store_hash="abc", access_token="t").rules_platform() == "bigcommerce"
    assert LocalMystoreTarget(path="unused.duckdb").rules_platform() == "mystore"
    with pytest.raises(dg.Failure, match="rules_of: 'bigcomerce' is not a target platform; choose from bigcommerce"):
        LocalMystoreTarget(path="unused.duckdb", rules_of="bigcomerce").rules_platform()


def test_spam_and_trashed_reviews_become_rejected_for_bigcommerce(store, run):
    rv = store.records["reviews"][0]
    reviews = [rv, {**rv, "source_id": "2", "status": "spam", "title": "Kjøp billig"},
               {**rv, "source_id": "3", "status": "trashed", "title": "Slettet"}]
    r = run(store({"reviews": reviews}))
    r(settings=BIGCOMMERCE)
    assert {x["_source_id"]: x["status"] for x in r.target_rows("reviews")} == {
        "1": "approved", "2": "rejected", "3": "rejected"}
    assert counts(r, "review_status_nearest") == [("reviews", 2)]
    plain = run(store())
    plain()  # the local Mystore target keeps them as the source has them
    assert sorted(x["status"] for x in plain.target_rows("reviews")) == ["approved", "spam", "trashed"]


def test_an_enabled_but_unpublished_product_is_not_active_on_mystore(store, run):
    """Mystore's one product status is sold or not: a product Magento holds enabled but not visible individually or
    off the store's website (lifecycle private) is written not active there, counted by product_lifecycle_as_status;
    the local target previews Mystore and does the same, and so does BigCommerce (is_visible only: it was written
    visible, on sale); the Magento round trip into Mystore read it back inactive, unexplained."""
    p = store.records["products"][0]
    products = [{**p, "source_id": "1", "sku": "A", "url_key": "a", "status": "enabled", "lifecycle": "private"},
                {**p, "source_id": "2", "sku": "B", "url_key": "b", "status": "enabled", "lifecycle": "published"},
                {**p, "source_id": "3", "sku": "C", "url_key": "c", "status": "disabled", "lifecycle": "draft"}]
    mystore = RuleSettings(target_platform="mystore")
    r = run(store({"products": products}))
    r(settings=mystore)
    assert {row["_source_id"]: row["active"] for row in r.target_rows("products")} == {
        "1": False, "2": True, "3": False}
    assert counts(r, "product_lifecycle_as_status") == [("products", 1)]  # 3 was not active anyway
    other = run(store())
    other(settings=BIGCOMMERCE)
    assert {row["_source_id"]: row["active"] for row in other.target_rows("products")}["1"] is False
    assert counts(other, "product_lifecycle_as_status") == [("products", 1)]
    woo = run(store())
    woo(settings=RuleSettings(target_platform="woocommerce"))  # holds private: not sold, no rule needed
    assert {row["_source_id"]: (row["active"], row["lifecycle"]) for row in woo.target_rows("products")} == {
        "1": (False, "private"), "2": (True, "published"), "3": (False, "draft")}
    assert counts(woo, "product_lifecycle_as_status") == counts(woo, "product_lifecycle_nearest") == []


def test_a_rejected_review_becomes_spam_for_woocommerce(store, run):
    """WooCommerce has no rejected review (approved, hold, spam, trash): a BigCommerce disapproved review was
    written as spam and read back differing from the source, unexplained; now rule review_rejected_as_spam."""
    rv = store.records["reviews"][0]
    reviews = [rv, {**rv, "source_id": "2", "status": "rejected"}]
    r = run(store({"reviews": reviews}))
    r(settings=RuleSettings(target_platform="woocommerce"))
    assert {x["_source_id"]: x["status"] for x in r.target_rows("reviews")} == {"1": "approved", "2": "spam"}
    assert counts(r, "review_rejected_as_spam") == [("reviews", 1)]


def test_a_disabled_variant_is_not_written_into_shopify(store, run):
    """Shopify variants have no status: every variant of a product is on sale there, and a shop stops selling one by
    deleting it. A variant the source holds disabled was written as a sold one, so the shop would start selling
    what the source stopped selling; now rule variant_disabled_not_written leaves it out, counted; the product and
    its other variants load. The local target (Mystore) keeps it with its status."""
    p = store.records["products"][0]
    variants = [{"source_id": f"v{n}", "sku": f"V-{n}", "price": p["price"], "stock": 2,
                 "options": [{"name": "Farge", "value": c}], "status": status}
                for n, (c, status) in enumerate([("Rød", "enabled"), ("Blå", "disabled"), ("Grønn", None)])]
    products = [{**p, "source_id": "1", "sku": "A", "url_key": "a", "variants": variants},
                {**p, "source_id": "2", "sku": "B", "url_key": "b", "variants": [{**variants[0], "sku": "W-0"}]}]
    r = run(store({"products": products}))
    r(settings=RuleSettings(target_platform="shopify"))
    written = {row["_source_id"]: [v["sku"] for v in row["variants"]] for row in r.target_rows("products")}
    assert written == {"1": ["V-0", "V-2"], "2": ["W-0"]}
    assert counts(r, "variant_disabled_not_written") == [("products", 1)]
    plain = run(store({"products": products}))
    plain()
    kept = {row["_source_id"]: [v["sku"] for v in row["variants"]] for row in plain.target_rows("products")}
    assert kept == {"1": ["V-0", "V-1", "V-2"], "2": ["W-0"]}
    assert counts(plain, "variant_disabled_not_written") == []
    assert plain.report()["variants_not_written_count"] == 0


def test_the_report_lists_each_variant_not_written(store, run, tmp_path):
    """The report counted the products variant_disabled_not_written touched but not which variants stayed off the
    target: a shop owner could not see what is not for sale there. Now it lists each (product, variant SKU, rule),
    the first 50 in the report and all in variants_not_written.csv; only for loaded products."""
    from cart_pipelines.pipeline import report

    p = store.records["products"][0]

    def variant(n, status):
        return {"source_id": f"v{n}", "sku": f"V-{n}", "price": p["price"], "stock": 1,
                "options": [{"name": "Str", "value": str(n)}], "status": status}

    products = [{**p, "source_id": "10", "sku": "A", "url_key": "a",
                 "variants": [variant(1, "disabled"), variant(2, "enabled"), variant(3, "Disabled ")]},
                {**p, "source_id": "9", "sku": "B", "url_key": "b",
                 "variants": [variant(4, "enabled"), variant(5, "disabled")]},
                {**p, "source_id": "8", "sku": "C", "url_key": "c", "variants": [variant(6, None)]},
                {**p, "source_id": "7", "sku": "D", "url_key": "d", "manufacturer_id": "404",  # quarantined
                 "variants": [variant(7, "enabled"), variant(8, "disabled")]}]
    r = run(store({"products": products}))
    r(settings=RuleSettings(target_platform="shopify"))
    assert r.query("SELECT source_id FROM ledger WHERE entity = 'products' AND outcome = 'quarantined'") == [("7",)]
    rep = r.report()
    assert rep["variants_not_written_count"] == 3
    assert rep["variants_not_written"] == [
        {"product_source_id": "9", "variant_sku": "V-5", "rule": "variant_disabled_not_written"},
        {"product_source_id": "10", "variant_sku": "V-1", "rule": "variant_disabled_not_written"},
        {"product_source_id": "10", "variant_sku": "V-3", "rule": "variant_disabled_not_written"}]
    assert "| 10 | V-3 | variant_disabled_not_written |" in report.markdown(rep)
    with r.staging.connect() as con:
        report.build(con, directory=tmp_path / "out")
    assert (tmp_path / "out" / "variants_not_written.csv").read_text().splitlines() == [
        "product_source_id,variant_sku,rule", "9,V-5,variant_disabled_not_written",
        "10,V-1,variant_disabled_not_written", "10,V-3,variant_disabled_not_written"]
