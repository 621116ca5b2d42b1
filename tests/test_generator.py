"""The sample store generator: deterministic, any size, and holding every case the rules handle."""

import json
from decimal import Decimal
from types import SimpleNamespace

from conftest import SAMPLE

from cart_pipelines.sample.generator import DEFECTS, StoreSize, generate_store, slugify


def lines(path):
    """The generated records of a file, without the deliberately malformed ones appended after them."""
    defects = set(DEFECTS.get(path.stem, []))
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.rstrip("\n") not in defects]


def test_same_seed_same_bytes_other_seed_other_store(tmp_path):
    size = StoreSize.scaled(40)
    generate_store(tmp_path / "a", seed=11, size=size)
    generate_store(tmp_path / "b", seed=11, size=size)
    generate_store(tmp_path / "c", seed=12, size=size)
    for f in ("products.jsonl", "orders.jsonl", "customers.jsonl", "reviews.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes()


def test_sizes_scale_down_to_ten_and_up(tmp_path):
    counts = generate_store(tmp_path / "tiny", size=StoreSize.scaled(10))
    assert counts["products"] == 10 and all(n >= 3 for n in counts.values())
    big = StoreSize.scaled(1_000_000)
    assert big.products == 1_000_000 and big.orders == 2_000_000 and big.categories == 2000


def test_committed_sample_matches_its_manifest():
    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    assert manifest["format"] == "cart_pipelines.store_export" and manifest["delta_capable"] is False
    for entity, n in manifest["counts"].items():
        with open(SAMPLE / f"{entity}.jsonl", encoding="utf-8") as fh:
            assert sum(1 for _ in fh) == n


def test_sample_store_contains_every_case_the_rules_handle():
    customers = lines(SAMPLE / "customers.jsonl")
    orders = lines(SAMPLE / "orders.jsonl")
    products = lines(SAMPLE / "products.jsonl")
    reviews = lines(SAMPLE / "reviews.jsonl")
    customer_ids = {c["source_id"] for c in customers}
    product_ids = {p["source_id"] for p in products}
    assert 45 <= len(lines(SAMPLE / "categories.jsonl")) <= 55 and len(products) >= 500
    assert any(a["city"] == "" for c in customers for a in c["addresses"])  # rule 1
    assert any(c["first_name"] == "" for c in customers) and any(c["last_name"] == "" for c in customers)
    assert any(o["billing_address"]["first_name"] == "" for o in orders)  # rule 2
    assert any(o["shipping_address"]["country"] == "" for o in orders)
    assert any(o["customer_first_name"] == "" for o in orders)
    assert any(not p.get("category_ids") for p in products)  # rule 3
    assert any(r["customer_id"] is None for r in reviews)  # rule 4
    assert any(r["product_id"] is None for r in reviews)
    assert any(r["product_id"] and r["product_id"] not in product_ids for r in reviews)
    assert any(o["customer_id"] is None for o in orders)  # rule 5: guests
    assert any(o["customer_id"] and o["customer_id"] not in customer_ids for o in orders)  # deleted customers
    last_segments = [p["url_key"].rsplit("/", 1)[-1] for p in products]  # rule 6
    assert len(last_segments) > len(set(last_segments))
    assert len({p["url_key"] for p in products}) == len({p["source_id"] for p in products})
    assert any(set("æøå") & set(p["name"].lower()) for p in products)
    assert any(p["price"] == 0 for p in products)
    assert max(len(p["description_html"]) for p in products) > 20_000
    for o in orders:  # totals add up in the source
        assert round(o["subtotal"] + o["shipping"] + o["tax"] - o["discount"], 2) == o["grand_total"]


def test_slugify_transliterates_norwegian():
    assert slugify("Blå Ærlig Genser – Øvre Göteborg!") == "bla-aerlig-genser-ovre-goteborg"


def test_sample_store_holds_what_real_shops_hold():
    """Issue 14: grouped and external products, trashed products still on orders, scheduled sales, refunds, disabled
    variants, spam and trashed reviews."""
    products = {p["source_id"]: p for p in lines(SAMPLE / "products.jsonl")}
    orders = lines(SAMPLE / "orders.jsonl")
    grouped = [p for p in products.values() if p.get("type") == "grouped"]
    assert grouped and all(len(p["child_ids"]) == 2 and set(p["child_ids"]) <= set(products) for p in grouped)
    assert any(p.get("type") == "external" and p["external_url"].startswith("https://") for p in products.values())
    trashed = {s for s, p in products.items() if p.get("lifecycle") == "trashed"}
    assert trashed and all(products[s]["status"] == "disabled" for s in trashed)
    assert any(i["product_id"] in trashed for o in orders for i in o["items"])  # old orders name them
    assert any(p.get("special_price_from") and p["special_price"] for p in products.values())
    reviews = lines(SAMPLE / "reviews.jsonl")
    assert {"spam", "trashed"} <= {r["status"] for r in reviews}  # a few percent each
    assert sum(r["status"] in ("spam", "trashed") for r in reviews) <= len(reviews) // 10
    with_variants = [p for p in products.values() if p["variants"]]
    none_sold = [p for p in with_variants if all(v["status"] == "disabled" for v in p["variants"])]
    # products whose variants the shop sells none of: a few percent, most of them enabled themselves (rule
    # variants_all_disabled_archived into Shopify), at the price their variants had
    assert 0 < len(none_sold) <= len(products) // 25
    assert any(p["status"] == "enabled" for p in none_sold)
    assert all(v["price"] == p["price"] for p in none_sold for v in p["variants"])
    off = [p for p in with_variants if any(v["status"] == "disabled" for v in p["variants"]) and p not in none_sold]
    assert off and len(off) < len(with_variants) // 4
    for p in off:  # the product's price is what it sells at: its enabled variants', not the old lower price
        sold = [v for v in p["variants"] if v["status"] == "enabled"]
        assert sold and all(v["price"] == p["price"] for v in sold)
        assert all(v["price"] < p["price"] for v in p["variants"] if v["status"] == "disabled")
    refunded = [o for o in orders if o.get("refunds")]
    assert all(isinstance(o["customer_first_name"], str) for o in refunded)  # the rest of the order is as before
    assert refunded and all(Decimal(str(o["net_total"])) == Decimal(str(o["grand_total"]))
                            - Decimal(str(o["refunded_total"])) >= 0 for o in refunded)


def refund_lines(orders):
    """(order item, refund, refund line) of every refund line of the orders."""
    for o in orders:
        items = {i["source_id"]: i for i in o["items"]}
        for r in o.get("refunds") or []:
            for ln in r["lines"]:
                yield items[ln["item_id"]], r, ln


def test_refund_line_amounts_are_before_tax_as_the_platforms_give_them(tmp_path):
    """A refund line's amount is before tax (WooCommerce `total`, Shopify `subtotal`, Magento `row_total`), the
    refund's amount with tax: the generator wrote the line with its tax (2661.12 for a 2128.90 line with 532.22
    tax) while the shared emulator helper and the connectors take it before tax."""
    from cart_pipelines.platforms.kit import emulator_cases as cases
    from cart_pipelines.platforms.magento.emulator import MagentoEmulator
    from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator, _conn_nodes

    generate_store(tmp_path, seed=7, size=StoreSize.scaled(200))
    for store in (SAMPLE, tmp_path):
        orders = lines(store / "orders.jsonl")
        found = list(refund_lines(orders))
        assert found, store
        for item, refund, ln in found:
            unit = Decimal(str(item["price"]))
            assert Decimal(str(ln["amount"])) == unit * ln["qty"], (refund, item)  # before tax
            tax = Decimal(str(item["tax"])) * ln["qty"] / item["qty"]
            assert Decimal(str(refund["amount"])) <= Decimal(str(ln["amount"])) + tax  # the line and its tax back
        # the shared helper's refunds of the same orders keep to it too
        helped = [(o, r) for o in orders if not o.get("refunds") for r in cases.refunds(o)
                  if r["lines"] and o["status"] != "refunded"]
        assert helped
        for o, r in helped:
            first = o["items"][0]
            assert r["lines"][0]["amount"] == Decimal(str(first["price"]))
            assert r["amount"] - r["lines"][0]["amount"] == (Decimal(str(first["tax"])) / first["qty"]).quantize(
                Decimal("0.01"))
    # the emulators give the line before tax and its tax apart, as their platforms do
    item, refund, ln = found[0]
    order = next(o for o in orders if any(r is refund for r in o.get("refunds") or []))
    memo = MagentoEmulator._creditmemo(None, order, refund)
    tax = Decimal(str(item["tax"])) * ln["qty"] / item["qty"]
    assert memo["items"][0]["row_total"] == Decimal(str(ln["amount"]))
    assert memo["items"][0]["tax_amount"] == tax.quantize(Decimal("0.01"))
    assert memo["subtotal"] + memo["tax_amount"] + memo["adjustment"] == Decimal(str(refund["amount"]))
    bag = lambda v: {"shopMoney": {"amount": str(v)}}  # noqa: E731
    shop_line = {"_source_id": item["source_id"], "_tax": item["tax"], "quantity": item["qty"]}
    shopify = ShopifyEmulator._refund({**refund, "source_id": refund["source_id"]}, [shop_line], bag)
    (rl,) = _conn_nodes(shopify["refundLineItems"](SimpleNamespace(context={"bulk": True}), first=10))
    assert Decimal(rl["subtotalSet"]["shopMoney"]["amount"]) == Decimal(str(ln["amount"]))
    assert Decimal(rl["totalTaxSet"]["shopMoney"]["amount"]) == tax.quantize(Decimal("0.01"))
