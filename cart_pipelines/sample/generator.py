"""A deterministic sample store, written as a store export (one JSON Lines file per entity).

Every record is drawn from its own random stream (seed, entity, index), so any record can be recomputed without
the others: orders look up their products and customers by index instead of holding the store in memory, and
the generator streams any size to disk. Faker (Norwegian locale) supplies names and text, æøå included.

The store contains, on purpose, every case the migration rules handle: empty names and cities, guest orders,
orders of deleted customers, reviews without product or customer, products in no category, product URL keys
that collide once category paths are dropped, zero prices and very long descriptions.
"""

from __future__ import annotations

import json
import random
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from faker import Faker

EXPORT_FORMAT = "cart_pipelines.store_export"
EPOCH = datetime(2023, 1, 1, tzinfo=timezone.utc)
# A scheduled sale's dates: fixed and years ahead, so the store is the same bytes on every run and the sale is
# still to come
SALE_FROM, SALE_TO = datetime(2031, 6, 1, tzinfo=timezone.utc), datetime(2031, 6, 15, tzinfo=timezone.utc)
SPAN_SECONDS = 900 * 86400  # records are created over about 2.5 years
# What real shops hold beyond tidy records, by position (a few percent each; the emulators serve them in their
# platform's terms, kit/emulator_cases.py): every 9th product with variants (id % 9 == 4) stopped selling its last
# variant; of every 30 reviews, one is spam and one trashed
DISABLED_VARIANT_EVERY, DISABLED_VARIANT_AT = 9, 4
ALL_DISABLED_EVERY, ALL_DISABLED_AT = 50, 23  # a product whose every variant the shop stopped selling (2 %)
REVIEW_CASES_EVERY, REVIEW_CASES = 30, {8: "spam", 19: "trashed"}

ADJECTIVES = ["Blå", "Grønn", "Rød", "Sort", "Hvit", "Lys", "Mørk", "Myk", "Varm", "Rå", "Ærlig", "Gyllen"]
NOUNS = ["Genser", "Skjorte", "Bukse", "Jakke", "Lue", "Votter", "Sokker", "Kjole", "Støvler", "Sekk", "Skjerf",
         "Kåpe", "Lampe", "Pute", "Teppe", "Kopp", "Kniv", "Bok", "Fjellsko", "Hodeplagg"]
PLACES = ["Tromsø", "Ålesund", "Bodø", "Røros", "Lærdal", "Førde", "Hønefoss", "Sæbø", "Årdal", "Bø", "Mo",
          "Kvaløy", "Göteborg", "Malmö", "Øvre"]
CATEGORY_WORDS = ["Klær", "Herre", "Dame", "Barn", "Sko", "Tilbehør", "Interiør", "Kjøkken", "Bøker", "Sport",
                  "Friluft", "Gaver", "Salg", "Nyheter", "Vinter", "Sommer", "Bad", "Hage", "Leker", "Smykker"]
BRAND_WORDS = ["Nordkapp", "Fjord", "Bjørk", "Isbre", "Vidde", "Skjær", "Lyng", "Tind", "Elv", "Hav"]
STATUSES = ["pending", "processing", "complete", "complete", "complete", "canceled", "refunded", "on_hold"]
CURRENCIES = ["NOK"] * 8 + ["SEK", "EUR"]
TAX_CLASSES = [("1", "Standard 25 %", Decimal("25.000")), ("2", "Næringsmidler 15 %", Decimal("15.000")),
               ("3", "Fritatt 0 %", Decimal("0.000"))]


@dataclass(frozen=True)
class StoreSize:
    categories: int = 50
    manufacturers: int = 20
    tax_classes: int = 3
    products: int = 500
    customers: int = 300
    orders: int = 1000
    reviews: int = 400

    @classmethod
    def scaled(cls, products: int) -> "StoreSize":
        """A store shaped like the bundled sample, grown or shrunk to `products` products (at least 10)."""
        products = max(10, int(products))
        return cls(
            categories=min(max(products // 10, 6), 2000),
            manufacturers=min(max(products // 25, 3), 1000),
            tax_classes=3,
            products=products,
            customers=max(int(products * 0.6), 10),
            orders=max(products * 2, 10),
            reviews=max(int(products * 0.8), 10),
        )


def slugify(text: str) -> str:
    """A URL key the way Norwegian shops write them: æ→ae, ø→o, å→a, accents dropped, lowercase, dashes."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out, dash = [], False
    for ch in text:
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


class _Store:
    def __init__(self, seed: int, size: StoreSize):
        self.seed, self.size = seed, size
        self.fake = Faker("no_NO")

    def rng(self, entity: str, i: int, part: str = "") -> random.Random:
        return random.Random(f"{self.seed}/{entity}/{i}/{part}")

    def faker(self, entity: str, i: int) -> Faker:
        self.fake.seed_instance(f"{self.seed}/{entity}/{i}")
        return self.fake

    def when(self, rng: random.Random) -> tuple[datetime, datetime]:
        created = EPOCH + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        updated = created + timedelta(seconds=rng.randrange(0, 120 * 86400))
        return created, updated

    # --- ids that exist in the source; "deleted" ones are referenced by orders and reviews but not exported
    def customer_deleted(self, i: int) -> bool:
        return i % 25 == 13

    def product_count_with_deleted(self) -> int:
        return self.size.products + max(1, self.size.products // 50)

    # --- categories
    @lru_cache(maxsize=4096)
    def category(self, i: int) -> dict:
        rng = self.rng("categories", i)
        roots = max(2, min(6, self.size.categories // 8))
        parent = None if i <= roots else rng.randint(1, i - 1)
        name = rng.choice(CATEGORY_WORDS) + ("" if i <= len(CATEGORY_WORDS) else f" {i}")
        parent_path = self.category(parent)["path"] if parent else ""
        path = f"{parent_path}/{name}" if parent_path else name
        parent_url = self.category(parent)["url_key"] if parent else ""
        created, updated = self.when(rng)
        return {
            "source_id": str(i),
            "parent_id": str(parent) if parent else None,
            "name": name,
            "path": path,
            "url_key": f"{parent_url}/{slugify(name)}" if parent_url else slugify(name),
            "is_visible": rng.random() > 0.1,
            "position": i,
            "updated_at": updated,
        }

    def manufacturer(self, i: int) -> dict:
        rng = self.rng("manufacturers", i)
        name = f"{rng.choice(BRAND_WORDS)}{rng.choice(['', ' AS', ' Design', ' & Co'])} {i}"
        return {"source_id": str(i), "name": name, "url_key": slugify(name), "updated_at": self.when(rng)[1]}

    def tax_class(self, i: int) -> dict:
        sid, name, rate = TAX_CLASSES[(i - 1) % len(TAX_CLASSES)]
        if i > len(TAX_CLASSES):
            sid, name = str(i), f"{name} ({i})"
        rates = [{"country": "NO", "rate": rate}, {"country": "SE", "rate": {Decimal("15.000"): Decimal("12.000")}
                                                                            .get(rate, rate)}]
        return {"source_id": sid, "name": name, "rates": rates, "updated_at": EPOCH}

    # --- products: the core (what orders need) and the rest, from separate streams
    def product_core(self, i: int) -> dict:
        rng = self.rng("products", i, "core")
        if i % 25 == 0 and i > 1:  # same name as the previous product: URL keys collide once paths are dropped
            name = self.product_core(i - 1)["name"]
        else:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(PLACES)}"
        cents = 0 if i % 97 == 3 else rng.randrange(49, 3000) * 100 + rng.choice([0, 50, 90])
        return {
            "source_id": str(i),
            "sku": f"SKU-{i:06d}",
            "name": name,
            "price": Decimal(cents) / 100,
            "tax_class_id": rng.choice(["1", "1", "1", "2", "3"]),
        }

    def selling_price(self, i: int) -> Decimal:
        """What product i sells at now: its special price unless that sale is scheduled (a grouped product's price)."""
        p = self.product(i)
        return p["special_price"] if p["special_price"] is not None and not p.get("special_price_from") \
            else p["price"]

    def product(self, i: int) -> dict:
        core = self.product_core(i)
        rng = self.rng("products", i, "rest")
        fake = self.faker("products", i)
        s = self.size
        if i % 40 == 7:
            category_ids: list[str] = []
        else:
            category_ids = sorted({str(rng.randint(1, s.categories)) for _ in range(rng.choice([1, 1, 2]))})
        slug = slugify(core["name"]) + f"-{i if i % 25 else i - 1}"
        url_key = f"{self.category(int(category_ids[0]))['url_key']}/{slug}" if category_ids else slug
        if i % 25 == 0 and category_ids:  # keep the twins in different categories, as a real shop would
            other = self.category(int(category_ids[0]))["parent_id"] or str(1 + int(category_ids[0]) % s.categories)
            url_key = f"{self.category(int(other))['url_key']}/tilbud/{slug}"
        paragraphs = 200 if i % 100 == 11 else rng.randint(1, 3)
        description = "".join(f"<p>{fake.paragraph(nb_sentences=4)}</p>" for _ in range(paragraphs))
        if i % 53 == 9:
            description += '<ul><li>Størrelse: "M"</li><li>Vask på 40 °C</li></ul>'
        variants = []
        all_disabled = i % ALL_DISABLED_EVERY == ALL_DISABLED_AT
        if rng.random() < 0.3 or all_disabled:  # the draw is made either way: other products keep their bytes
            for k, size in enumerate(rng.sample(["S", "M", "L", "XL"], rng.randint(2, 4))):
                variants.append({
                    "source_id": f"{i}-{k + 1}", "sku": f"{core['sku']}-{size}",
                    "price": core["price"], "stock": rng.randint(0, 40),
                    "options": [{"name": "Størrelse", "value": size},
                                {"name": "Farge", "value": rng.choice(["Blå", "Grå", "Rød", "Hvit"])}],
                    "status": "enabled",
                })
            if i % DISABLED_VARIANT_EVERY == DISABLED_VARIANT_AT and core["price"]:
                # a variation the shop stopped selling, at an old, lower price: the product's price stays what
                # the shop sells (its enabled variants)
                variants[-1].update(status="disabled", price=(core["price"] * Decimal("0.9")).quantize(Decimal("0.01")))
            if all_disabled:  # the shop sells none of its variants: the product keeps its price, and is sold nowhere
                variants = [{**v, "status": "disabled", "price": core["price"]} for v in variants]
        images = [{"url": f"https://cdn.example-shop.no/img/{i}-{k}.jpg", "position": k,
                   "alt": core["name"] if k == 0 else f"{core['name']} ({k + 1})"}
                  for k in range(rng.choice([0, 1, 1, 2, 3]))]
        created, updated = self.when(rng)
        special = None
        if core["price"] and rng.random() < 0.15:
            special = (core["price"] * Decimal("0.8")).quantize(Decimal("0.01"))
        # What real shops hold (a few percent each, by position so the store stays deterministic): grouped and
        # external products, trashed products still on old orders, scheduled sales; disabled variations and products
        # whose variations are all disabled (above) and spam and trashed reviews (review()).
        extra: dict = {}
        price = core["price"]
        if not variants and i % 50 == 17 and i + 2 <= s.products:
            extra = {"type": "grouped", "child_ids": [str(i + 1), str(i + 2)]}
            # no price of its own: its cheapest child's, as it sells now
            price, special = min(self.selling_price(i + 1), self.selling_price(i + 2)), None
        elif not variants and i % 50 == 29:
            extra = {"type": "external", "external_url": f"https://partner.example-shop.no/p/{i}",
                     "button_text": "Kjøp hos partner"}
        if i % 50 == 41:
            extra["lifecycle"] = "trashed"
        if special is not None and i % 4 == 1:  # fixed dates, years ahead: the same bytes on every run
            extra["special_price_from"], extra["special_price_to"] = SALE_FROM, SALE_TO
        return {
            "source_id": core["source_id"],
            "sku": core["sku"],
            "name": core["name"],
            "description_html": description,
            "price": price,
            "special_price": special,
            **{k: v for k, v in extra.items() if k.startswith("special_price_")},
            "weight": round(rng.uniform(0.05, 12.0), 3),
            "stock": rng.randint(0, 250),
            "status": "disabled" if rng.random() < 0.08 or "lifecycle" in extra else "enabled",
            **{k: v for k, v in extra.items() if not k.startswith("special_price_")},
            "url_key": url_key,
            "category_ids": category_ids,
            "manufacturer_id": None if rng.random() < 0.1 else str(rng.randint(1, s.manufacturers)),
            "tax_class_id": core["tax_class_id"] if s.tax_classes >= 3 else "1",
            "variants": variants,
            "images": images,
            "created_at": created,
            "updated_at": updated,
        }

    # --- customers
    def address(self, fake: Faker, rng: random.Random, first: str, last: str) -> dict:
        return {
            "first_name": first, "last_name": last,
            "company": fake.company() if rng.random() < 0.15 else None,
            "street": fake.street_address(), "city": fake.city(), "postcode": fake.postcode(),
            "region": None, "country": rng.choice(["NO", "NO", "NO", "SE", "DK"]), "phone": fake.phone_number(),
        }

    def customer_core(self, i: int) -> dict:
        fake = self.faker("customers", i)
        first, last = fake.first_name(), fake.last_name()
        email = f"{slugify(first)}.{slugify(last)}.{i}@{fake.free_email_domain()}"
        return {"source_id": str(i), "email": email, "first_name": first, "last_name": last}

    def customer(self, i: int) -> dict:
        core = self.customer_core(i)
        rng = self.rng("customers", i, "rest")
        fake = self.faker("customers", i)
        first = "" if i % 30 == 5 else core["first_name"]
        last = "" if i % 31 == 6 else core["last_name"]
        addresses = []
        for k in range(rng.choice([0, 1, 1, 1, 2])):
            a = self.address(fake, rng, first, last)
            if i % 29 == 4:
                a["city"] = ""
            addresses.append({**a, "is_default_billing": k == 0, "is_default_shipping": k == 0})
        created, updated = self.when(rng)
        digest = f"{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}"
        return {
            **core,
            "first_name": first,
            "last_name": last,
            "phone": fake.phone_number() if rng.random() < 0.7 else None,
            "newsletter": rng.random() < 0.35,
            "addresses": addresses,
            "password_hash": f"$2y$10${digest[:53]}",
            "password_algorithm": "bcrypt",
            "created_at": created,
            "updated_at": updated,
        }

    # --- orders
    def order(self, i: int) -> dict:
        rng = self.rng("orders", i)
        fake = self.faker("orders", i)
        s = self.size
        kind = rng.random()
        if kind < 0.12:  # guest checkout
            customer_id, first, last = None, fake.first_name(), fake.last_name()
            email = f"{slugify(first)}.{i}@{fake.free_email_domain()}"
        else:
            j = rng.randint(1, s.customers)
            if kind < 0.17:  # the customer was deleted after ordering
                j = 13 + 25 * rng.randint(0, max(0, (s.customers - 14) // 25))
            elif self.customer_deleted(j):
                j = j - 1 if j > 1 else j + 1
            c = self.customer_core(j)
            customer_id, first, last, email = str(j), c["first_name"], c["last_name"], c["email"]
        items, subtotal, tax = [], Decimal(0), Decimal(0)
        for k in range(rng.choice([1, 1, 2, 2, 3, 4])):
            p = self.product_core(rng.randint(1, s.products))
            qty = rng.choice([1, 1, 1, 2, 3])
            rate = {"1": Decimal("0.25"), "2": Decimal("0.15")}.get(p["tax_class_id"], Decimal(0))
            line_tax = (p["price"] * qty * rate).quantize(Decimal("0.01"))
            items.append({"source_id": f"{i}-{k + 1}", "product_id": p["source_id"], "sku": p["sku"],
                          "name": p["name"], "qty": qty, "price": p["price"], "tax": line_tax})
            subtotal += p["price"] * qty
            tax += line_tax
        shipping = Decimal(rng.choice([0, 49, 79, 99]))
        discount = (subtotal * Decimal("0.1")).quantize(Decimal("0.01")) if rng.random() < 0.1 else Decimal(0)
        billing = self.address(fake, rng, first, last)
        shipping_address = dict(billing) if rng.random() < 0.8 else self.address(fake, rng, first, last)
        if i % 33 == 2:
            billing["first_name"] = ""
        if i % 34 == 3:
            billing["city"] = ""
            shipping_address["city"] = ""
        if i % 35 == 4:
            shipping_address["country"] = ""
        if i % 37 == 5:
            shipping_address["last_name"] = ""
        created, updated = self.when(rng)
        status = rng.choice(STATUSES)
        refund: dict = {}
        if status == "complete" and i % 20 == 7:  # a partial refund: the first line back
            back = items[0]
            amount = min(back["price"] * back["qty"] + back["tax"], subtotal + shipping + tax - discount)
            # the refund pays back the line and its tax; the line's amount is before tax, as the platforms give
            # it (WooCommerce `total`, Shopify `subtotal`, Magento `row_total`: docs/canonical-model.md)
            line = min(back["price"] * back["qty"], amount)
            refund = {"refunds": [{"source_id": f"{i}0",  # numeric, as the platforms number refunds
                                   "amount": amount, "reason": "Returnert",
                                   "created_at": updated, "lines": [{"item_id": back["source_id"],
                                                                     "sku": back["sku"], "qty": back["qty"],
                                                                     "amount": line}]}],
                      "refunded_total": amount, "net_total": subtotal + shipping + tax - discount - amount}
        return {
            "source_id": str(i),
            "number": str(100000 + i),
            "customer_id": customer_id,
            "email": email,
            "customer_first_name": "" if i % 36 == 5 else first,
            "customer_last_name": last,
            "status": status,
            "currency": rng.choice(CURRENCIES),
            "subtotal": subtotal,
            "shipping": shipping,
            "tax": tax,
            "discount": discount,
            "grand_total": subtotal + shipping + tax - discount,
            **refund,
            "items": items,
            "billing_address": billing,
            "shipping_address": shipping_address,
            "created_at": created,
            "updated_at": updated,
        }

    # --- reviews
    def review(self, i: int) -> dict:
        rng = self.rng("reviews", i)
        fake = self.faker("reviews", i)
        s = self.size
        product_id: str | None = str(rng.randint(1, s.products))
        customer_id: str | None = str(rng.randint(1, s.customers))
        kind = rng.random()
        if kind < 0.06:
            customer_id = None  # anonymous review
        elif kind < 0.10:
            product_id = None
        elif kind < 0.13:
            product_id = str(rng.randint(s.products + 1, self.product_count_with_deleted()))  # deleted product
        elif self.customer_deleted(int(customer_id)):
            customer_id = str(int(customer_id) + 1)
        created, updated = self.when(rng)
        return {
            "source_id": str(i),
            "product_id": product_id,
            "customer_id": customer_id,
            "rating": rng.choice([1, 2, 3, 4, 4, 5, 5, 5]),
            "title": fake.sentence(nb_words=4).rstrip("."),
            "text": fake.paragraph(nb_sentences=3),
            "status": REVIEW_CASES.get(i % REVIEW_CASES_EVERY) or rng.choice(["approved", "approved", "approved",
                                                                                "pending"]),
            "created_at": created,
            "updated_at": updated,
        }

    def records(self, entity: str):
        s = self.size
        if entity == "customers":
            for i in range(1, s.customers + 1):
                if not self.customer_deleted(i):
                    yield self.customer(i)
            return
        make = {"categories": self.category, "manufacturers": self.manufacturer, "tax_classes": self.tax_class,
                "products": self.product, "orders": self.order, "reviews": self.review}[entity]
        for i in range(1, getattr(s, entity) + 1):
            yield make(i)


# Records a real export holds now and then; each must end quarantined with a clear reason, never lost.
DEFECTS: dict[str, list[str]] = {
    "products": [
        '{"source_id": "90001", "sku": "SKU-BAD-1", "name": "Pris med komma", "price": "1 299,50"}',
        '{"source_id": "90002", "sku": "SKU-BAD-2", "price": 10}',
        '{"source_id": "1", "sku": "SKU-DUP", "name": "Duplikat av produkt 1", "price": 99}',
        '{"source_id": "90003", "sku": "SKU-BAD-3", "name": "Avkuttet linje", "price": 1',
    ],
    "customers": [
        '{"source_id": "90001", "first_name": "Uten", "last_name": "Epost"}',
        '{"source_id": "90002", "email": "feil.dato@example.no", "created_at": "31.12.2024"}',
    ],
    "orders": [
        '{"source_id": "90001", "number": "190001", "customer_id": "1", "currency": "NOK", "grand_total": 100, '
        '"items": [{"source_id": "90001-1", "product_id": "1", "sku": "SKU-000001", "qty": -2, "price": 50}]}',
        '{"source_id": "90002", "number": "190002", "customer_id": "2", "currency": "NOK", "grand_total": 10, '
        '"items": [{"source_id": "90002-1", "product_id": "999999", "sku": "SKU-GONE", "qty": 1, "price": 10}]}',
    ],
    "reviews": ['{"source_id": "90001", "product_id": "1", "customer_id": "1", "rating": 9, "title": "Elleve av ti"}'],
}


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # two decimals: float repr round-trips exactly; the reader parses floats as Decimal
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def generate_store(out_dir: str | Path, seed: int = 7, size: StoreSize | None = None,
                   entities: tuple[str, ...] | None = None, defects: bool = False) -> dict[str, int]:
    """Write a store export to `out_dir`; returns records (lines) written per entity.
    With `defects`, a few malformed records (DEFECTS) are appended, as real exports have them."""
    size = size or StoreSize()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = _Store(seed, size)
    counts: dict[str, int] = {}
    for entity in entities or ("categories", "manufacturers", "tax_classes", "products", "customers", "orders",
                               "reviews"):
        n = 0
        with open(out / f"{entity}.jsonl", "w", encoding="utf-8") as fh:
            for record in store.records(entity):
                fh.write(json.dumps(record, ensure_ascii=False, default=_json_default))
                fh.write("\n")
                n += 1
            for line in DEFECTS.get(entity, []) if defects else []:
                fh.write(line + "\n")
                n += 1
        counts[entity] = n
    manifest = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "source": "cart_pipelines sample store generator",
        "seed": seed,
        "size": asdict(size),
        "counts": counts,
        "exported_at": "2025-07-01T00:00:00Z",
        "defects": defects,
        "delta_capable": False,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts
